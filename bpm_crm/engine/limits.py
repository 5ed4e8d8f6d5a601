"""Bounds on every engine run: steps, time, multi-instance size, timer cycles and call depth.

A diagram that breaks a limit in a way its XML already shows is refused at deploy
(definitions.py); where data decides, the run stops with EngineLimitExceeded. The bounded
task specs below replace SpiffWorkflow's own through its parser and serializer hooks.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sized
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.spiff.specs.defaults import (
    CallActivity,
    ParallelMultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

MAX_ENGINE_STEPS = 2_000  # tasks the engine may run in one start/advance/complete
MAX_RUN_SECONDS = 5.0  # wall clock of one start/advance/complete, service calls included
MAX_MULTI_INSTANCE = 200  # instances one multi-instance activity may create
MAX_INSTANCE_TASKS = 5_000  # tasks one process instance may hold (nested multi-instances multiply)
MAX_CYCLE_REPETITIONS = 100  # repetitions of one timer cycle; "R/…" (no end) is refused
MIN_CYCLE_PERIOD = timedelta(minutes=1)  # shortest period of a timer cycle
MAX_CALL_DEPTH = 5  # nesting of subprocesses and call activities below the process


class EngineLimitExceeded(RuntimeError):
    """A run broke one of the engine limits; `bpmn_id` names the element when it is known."""

    def __init__(
        self, bpmn_id: str | None, detail: str, *, limit: str, value: float | None = None, maximum: float | None = None
    ) -> None:
        super().__init__(f"'{bpmn_id}': {detail}" if bpmn_id else detail)
        self.bpmn_id = bpmn_id
        self.detail = detail
        # A stable code for translation: engine_steps, run_seconds, multi_instance, instance_tasks,
        # cycle_repetitions, cycle_period, cycle_format, call_depth.
        self.limit = limit
        self.value = value  # what the run or the diagram asked for, when it is a number
        self.maximum = maximum  # the limit it broke


def _bpmn_id(task: SpiffTask | None) -> str | None:
    # Internal tasks (Start, End, joins) have no diagram id: name their subprocess or process instead.
    while task is not None:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id:
            return str(bpmn_id)
        parent_id = task.workflow.parent_task_id
        if parent_id is None:
            return str(task.workflow.spec.name)
        task = task.workflow.top_workflow.get_task_from_id(parent_id)
    return None


class RunGuard:
    """Counts the engine steps of one run and stops it past the step or time budget."""

    __slots__ = ("steps", "max_steps", "max_seconds", "started", "deadline")

    def __init__(self, max_steps: int | None = None, max_seconds: float | None = None) -> None:
        # Read the limits now, not at import, so a deployment (or a test) can change them.
        self.steps = 0
        self.max_steps = MAX_ENGINE_STEPS if max_steps is None else max_steps
        self.max_seconds = MAX_RUN_SECONDS if max_seconds is None else max_seconds
        self.started = time.monotonic()
        self.deadline = self.started + self.max_seconds

    def step(self, task: SpiffTask | None = None) -> None:
        """Count one engine step (a do_engine_steps did_complete_task callback)."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise EngineLimitExceeded(
                _bpmn_id(task),
                f"the run took more than {self.max_steps:,} engine steps without waiting for a person or a timer; "
                f"the limit is {self.max_steps:,}",
                limit="engine_steps", value=self.steps, maximum=self.max_steps,
            )
        now = time.monotonic()
        if now > self.deadline:
            raise EngineLimitExceeded(
                _bpmn_id(task),
                f"the run took longer than {self.max_seconds:g} seconds; the limit is {self.max_seconds:g} seconds",
                limit="run_seconds", value=round(now - self.started, 3), maximum=self.max_seconds,
            )


def multi_instance_violation(count: Any) -> str | None:
    """Why a multi-instance of `count` instances must not run, or None."""
    if isinstance(count, int | float) and count > MAX_MULTI_INSTANCE:
        return f"the multi-instance would create {count:,} instances; the limit is {MAX_MULTI_INSTANCE:,}"
    return None


def parse_cycle(text: str) -> tuple[int, datetime, timedelta]:
    """Repetitions (-1 for no end), first due time and period of an ISO 8601 repeating interval."""
    try:
        cycles, start, period = TimerEventDefinition.parse_iso_recurring_interval(text)
    except Exception as exc:  # the library raises bare Exception and parse errors of every kind
        raise ValueError(f"'{text}' is not an ISO 8601 repeating interval such as R3/PT1H") from exc
    return cycles, start, period


def cycle_violation(cycles: int, period: timedelta) -> str | None:
    """Why a timer cycle must not run, or None."""
    if cycles < 0:
        return (f"the cycle repeats without end; give it a repetition count (R3/…); "
                f"the limit is {MAX_CYCLE_REPETITIONS:,}")
    if cycles > MAX_CYCLE_REPETITIONS:
        return f"the cycle repeats {cycles:,} times; the limit is {MAX_CYCLE_REPETITIONS:,}"
    if period < MIN_CYCLE_PERIOD:
        shortest = _seconds(MIN_CYCLE_PERIOD)
        return f"the cycle repeats every {_seconds(period)}; the shortest period allowed is {shortest}"
    return None


def _seconds(period: timedelta) -> str:
    seconds = period.total_seconds()
    if seconds >= 60 and seconds % 60 == 0:
        return "1 minute" if seconds == 60 else f"{seconds / 60:g} minutes"
    return "1 second" if seconds == 1 else f"{seconds:g} seconds"


def _instance_task_count(task: SpiffTask) -> int:
    top = task.workflow.top_workflow
    return len(top.tasks) + sum(len(sub.tasks) for sub in top.subprocesses.values())


def _check_instances(bpmn_id: str, task: SpiffTask, count: Any, *, all_at_once: bool) -> None:
    violation = multi_instance_violation(count)
    if violation:
        raise EngineLimitExceeded(bpmn_id, violation, limit="multi_instance", value=count, maximum=MAX_MULTI_INSTANCE)
    if all_at_once and isinstance(count, int):
        total = _instance_task_count(task) + count
        if total > MAX_INSTANCE_TASKS:
            raise EngineLimitExceeded(
                bpmn_id,
                f"the multi-instance would grow the process instance to {total:,} tasks; "
                f"the limit is {MAX_INSTANCE_TASKS:,}",
                limit="instance_tasks", value=total, maximum=MAX_INSTANCE_TASKS,
            )


def _completion_reached(spec: MultiInstanceTask, my_task: SpiffTask) -> bool:
    """The completion condition, read against the whole multi-instance, not only its last child.

    The library evaluates it on the last finished child, whose copy of the output collection is the
    one it started with: "2 of 3 approved" could never be true in parallel. Here the condition sees the
    multi-instance's own data (its output collection as merged so far) and BPMN's counters.
    """
    merged = my_task.internal_data.get("merged", [])
    if not merged or spec.condition is None:
        return False
    last = next(child for child in my_task.children if str(child.id) == merged[-1])
    instances = list(spec._instances(my_task))
    counters = {
        "nrOfInstances": len(instances),
        "nrOfCompletedInstances": len(merged),
        "nrOfActiveInstances": len([c for c in instances if not c.has_state(TaskState.FINISHED_MASK)]),
    }
    data = {**last.data, **my_task.data, **counters}
    return bool(my_task.workflow.script_engine.evaluate_data(last, spec.condition, data))


class BoundedParallelMultiInstanceTask(ParallelMultiInstanceTask):
    """A parallel multi-instance that counts its instances before it creates any."""

    def check_completion_condition(self, my_task: SpiffTask) -> bool:
        return _completion_reached(self, my_task)

    def create_children(self, my_task: SpiffTask) -> None:
        if self.data_input is not None:
            items = self.data_input.get(my_task)
            count = len(items) if isinstance(items, Sized) else None
        else:
            # Evaluated again by the library below; an expression is cheap next to the children it makes.
            count = my_task.workflow.script_engine.evaluate(my_task, self.cardinality)
        _check_instances(self.bpmn_id, my_task, count, all_at_once=True)
        super().create_children(my_task)


class BoundedSequentialMultiInstanceTask(SequentialMultiInstanceTask):
    """A sequential multi-instance that counts its instances before it creates the first."""

    def check_completion_condition(self, my_task: SpiffTask) -> bool:
        return _completion_reached(self, my_task)

    def add_next_child(self, my_task: SpiffTask) -> None:
        if not my_task.internal_data.get("merged"):
            if self.data_input is not None:
                count = len(my_task.internal_data.get("remaining", []))
            else:
                count = my_task.internal_data.get("cardinality")
            _check_instances(self.bpmn_id, my_task, count, all_at_once=False)
        super().add_next_child(my_task)


class BoundedCallActivity(CallActivity):
    """A call activity that refuses to nest deeper than MAX_CALL_DEPTH (recursion included)."""

    def start_workflow(self, my_task: SpiffTask) -> None:
        depth = my_task.workflow.depth + 1
        if depth > MAX_CALL_DEPTH:
            raise EngineLimitExceeded(
                self.bpmn_id,
                f"calling '{self.spec}' would nest subprocesses {depth} deep; the limit is {MAX_CALL_DEPTH}",
                limit="call_depth", value=depth, maximum=MAX_CALL_DEPTH,
            )
        super().start_workflow(my_task)


class BoundedCycleTimerEventDefinition(CycleTimerEventDefinition):
    """A timer cycle held to the repetition and period limits that fires at most once per refresh."""

    def cycle_complete(self, my_task: SpiffTask) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = self._first_event_value(my_task)
        elif event_value["duration"] < MIN_CYCLE_PERIOD.total_seconds():
            # A value stored before these limits may keep its count (it fires once per refresh now),
            # but a period under the minimum would come due again on every refresh.
            self._refuse(my_task, event_value["cycles"], timedelta(seconds=event_value["duration"]))
        self._skip_missed_periods(event_value)
        my_task._set_internal_data(event_value=event_value)
        return bool(super().cycle_complete(my_task))

    def _first_event_value(self, my_task: SpiffTask) -> dict[str, Any]:
        text = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        try:
            cycles, start, period = parse_cycle(str(text))
        except ValueError as exc:
            raise EngineLimitExceeded(_bpmn_id(my_task), str(exc), limit="cycle_format") from exc
        self._refuse(my_task, cycles, period)
        return {"cycles": cycles, "next": start.isoformat(), "duration": period.total_seconds()}

    @staticmethod
    def _refuse(my_task: SpiffTask, cycles: int, period: timedelta) -> None:
        violation = cycle_violation(cycles, period)
        if violation:
            too_fast = 0 <= cycles <= MAX_CYCLE_REPETITIONS
            raise EngineLimitExceeded(
                _bpmn_id(my_task), violation,
                limit="cycle_period" if too_fast else "cycle_repetitions",
                value=period.total_seconds() if too_fast else cycles,
                maximum=MIN_CYCLE_PERIOD.total_seconds() if too_fast else MAX_CYCLE_REPETITIONS,
            )

    @staticmethod
    def _skip_missed_periods(event_value: dict[str, Any]) -> None:
        # A cycle that fell behind (server down, start in the past) fires once for all the periods
        # it missed, which count as used, instead of once per period in a burst: leave only the
        # latest missed period due, and the library fires it and moves past now.
        now = timer_module.datetime.now(UTC)
        due = datetime.fromisoformat(event_value["next"])
        if event_value["cycles"] == 0 or due >= now:
            return
        missed = math.ceil((now - due).total_seconds() / event_value["duration"])  # periods due by now
        skipped = missed - 1
        if event_value["cycles"] > 0:
            skipped = min(skipped, event_value["cycles"] - 1)
            event_value["cycles"] -= skipped
        event_value["next"] = (due + timedelta(seconds=skipped * event_value["duration"])).isoformat()


# SpiffWorkflow's class -> ours. Stored states keep the library's type names, so states written
# before these limits existed restore into the bounded classes.
BOUNDED_SPECS: dict[type, type] = {
    ParallelMultiInstanceTask: BoundedParallelMultiInstanceTask,
    SequentialMultiInstanceTask: BoundedSequentialMultiInstanceTask,
    CallActivity: BoundedCallActivity,
    CycleTimerEventDefinition: BoundedCycleTimerEventDefinition,
}
