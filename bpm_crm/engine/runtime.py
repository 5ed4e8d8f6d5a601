"""Run SpiffWorkflow instances: start, restore, complete, timers, messages, serialization.

Diagram code and service tasks run through the script engine of bpm_crm.engine.scripting.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions import timer as timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from bpm_crm import clock
from bpm_crm.engine import limits
from bpm_crm.engine.definitions import ParsedDefinition
from bpm_crm.engine.limits import BOUNDED_SPECS, RunGuard
from bpm_crm.engine.limits import EngineLimitExceeded as EngineLimitExceeded  # re-exported for the services
from bpm_crm.engine.scripting import ScriptEngine

# Parsed definitions by content hash, for states stored with a reference to their diagram instead of a copy.
_SPECS: dict[str, ParsedDefinition] = {}


class StateUnreadable(RuntimeError):
    """A stored instance state that cannot be turned back into a running instance."""


class _WorkflowByReference(BpmnWorkflowConverter):
    """Stores a workflow without its diagram (the definition row holds it): half the size and the time.

    States written before carry the whole spec and still restore.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        reference = getattr(workflow, "spec_reference", None)
        if reference is None:
            return super().to_dict(workflow)
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["spec_ref"] = reference
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        reference = dct.pop("spec_ref", None)
        if reference is None:
            return super().from_dict(dct)
        definition = _SPECS.get(reference)
        if definition is None:
            raise StateUnreadable(f"the diagram {reference[:12]} of this state is not loaded")
        workflow = self.target_class(definition.spec, definition.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        workflow.spec_reference = reference
        return workflow


def _serializer() -> BpmnWorkflowSerializer:
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
    for library_class, bounded_class in BOUNDED_SPECS.items():
        # Under the library's type name: stored states restore into the bounded classes, and stay readable.
        SPIFF_CONFIG[library_class](bounded_class, registry, typename=library_class.__name__)
    _WorkflowByReference(BpmnWorkflow, registry)
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _serializer()


class _ClockedDatetime(datetime):
    """Stands in for datetime inside SpiffWorkflow's timer module so timers follow bpm_crm.clock."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz else current.astimezone().replace(tzinfo=None)


timer_module.datetime = _ClockedDatetime  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReadyUserTask:
    """What the inbox needs to know about one ready user task: its ids, lane, properties and timer."""

    guid: str
    bpmn_id: str
    name: str
    lane: str | None
    properties: dict[str, str]
    timer_due: datetime | None

    @property
    def form_key(self) -> str | None:
        return self.properties.get("form")

    @property
    def assignee_expression(self) -> str | None:
        return self.properties.get("assignee")

    @property
    def due_expression(self) -> str | None:
        return self.properties.get("due")


_RESTORE_ERRORS = (RecursionError, ValueError, KeyError, TypeError, AttributeError, IndexError, WorkflowException)


class ProcessRuntime:
    """One SpiffWorkflow instance in memory, between a restore and a dump."""

    def __init__(self, workflow: BpmnWorkflow) -> None:
        self.workflow = workflow

    @classmethod
    def start(cls, definition: ParsedDefinition, data: dict[str, Any], engine: ScriptEngine,
              start_event: str | None = None) -> ProcessRuntime:
        """Create an instance with its start data and run it to its first wait state.

        A timer start event is fired at once: the scheduler decides when a scheduled instance starts.
        """
        _SPECS[definition.content_hash] = definition
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs, script_engine=engine)
        workflow.spec_reference = definition.content_hash
        workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
        runtime = cls(workflow)
        runtime._prime_start_timers(start_event)
        runtime._advance(RunGuard())
        return runtime

    def _prime_start_timers(self, start_event: str | None) -> None:
        """Mark timer start events as fired before the engine evaluates them (their rule is the scheduler's)."""
        for task in self.workflow.get_tasks():
            spec = task.task_spec
            definition = getattr(spec, "event_definition", None)
            if not isinstance(spec, StartEvent) or not isinstance(definition, TimerEventDefinition):
                continue
            if start_event is not None and spec.bpmn_id != start_event:
                continue
            if isinstance(definition, CycleTimerEventDefinition):
                # One period, already due: the event fires once and is then done.
                task._set_internal_data(event_value={"cycles": 1, "next": "1970-01-01T00:00:00+00:00",
                                                     "duration": 3600})
            else:
                task._set_internal_data(event_value="1970-01-01T00:00:00+00:00", event_fired=True)

    @classmethod
    def restore(cls, state: str, engine: ScriptEngine, definition: ParsedDefinition | None = None) -> ProcessRuntime:
        """Rebuild an instance from its stored state; StateUnreadable when that is impossible."""
        if definition is not None:
            _SPECS[definition.content_hash] = definition
        try:
            workflow = SERIALIZER.deserialize_json(state)
        except StateUnreadable:
            raise
        except _RESTORE_ERRORS as exc:
            raise StateUnreadable(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        if not isinstance(workflow, BpmnWorkflow):
            raise StateUnreadable("the stored state is not a process instance")
        workflow.script_engine = engine  # the script engine is not serialized
        if definition is not None:
            workflow.spec_reference = definition.content_hash
        return cls(workflow)

    def dump(self) -> str:
        return SERIALIZER.serialize_json(self.workflow)

    def advance(self) -> None:
        """Fire due timers and run engine steps until only people or timers can move it."""
        self._advance(RunGuard())

    def _advance(self, guard: RunGuard) -> None:
        # The guard bounds the run in steps and seconds; EngineLimitExceeded leaves the instance
        # half-run in memory, so the caller must not store it.
        self.workflow.refresh_timers()
        self.workflow.do_engine_steps(did_complete_task=guard.step)
        # do_engine_steps refreshes timers only at its end; a timer due by then runs now.
        while self._ready_engine_tasks() or self._interrupt():
            guard.step()
            self.workflow.do_engine_steps(did_complete_task=guard.step)
        self._end_after_main_flow()

    def _end_after_main_flow(self) -> None:
        """End the process when its flow has ended and only untriggered event subprocesses still wait.

        SpiffWorkflow 3.2 connects an event subprocess to the process's start the first time any instance
        is triggered by it — it changes the shared, cached spec — so every later instance starts it waiting,
        and its end waits for it: a churn warning confirmed after another was closed by an order would never
        end. In BPMN an event subprocess that has not been triggered ends with its process.
        """
        if self.workflow.completed:
            return
        start = self.workflow.spec.start
        triggers = {self.workflow.spec.task_specs.get(name) for name in getattr(start, "trigger_specs", [])}
        triggers.discard(None)
        if not triggers:
            return
        pending = self.workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK, skip_subprocesses=True)
        waiting = [task for task in pending if task.task_spec in triggers and not self._event_caught(task)]
        if not waiting:
            return
        inside = {descendant.id for task in waiting for descendant in task}
        for task in pending:
            if task.id in inside:
                continue
            if not (task.task_spec.name == "End" or task.task_spec.name.endswith(".EndJoin")):
                return  # the flow itself still has work
        self.workflow.cancel()
        self.workflow.success = True  # it ended as its flow says, not by being called off

    def _interrupt(self) -> bool:
        """Give interrupting event subprocesses their BPMN meaning, which SpiffWorkflow 3.2 lacks.

        Once one is triggered, the rest of the process is cancelled (its open tasks leave the inbox);
        once it has finished, so has the process. True when something changed.
        """
        definition = _SPECS.get(getattr(self.workflow, "spec_reference", ""))
        interrupting = definition.interrupting_subprocesses if definition is not None else frozenset()
        if not interrupting or self.workflow.completed:
            return False
        changed = False
        triggered = self.workflow.get_tasks(state=TaskState.STARTED | TaskState.COMPLETED, skip_subprocesses=True)
        for task in triggered:
            if task.task_spec.bpmn_id not in interrupting or not self._event_caught(task):
                continue
            if not task.internal_data.get("interrupted"):
                task.internal_data["interrupted"] = True
                for other in self.workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK, skip_subprocesses=True):
                    if other is task:
                        continue
                    if other.id in self.workflow.subprocesses:
                        self.workflow.cancel(self.workflow.subprocesses[other.id])
                    other.cancel()
                changed = True
            if task.state == TaskState.COMPLETED:
                self.workflow.cancel()  # nothing else is left: the process ends here
                return False
        return changed

    def _event_caught(self, task: SpiffTask) -> bool:
        """Whether an event subprocess has been triggered (it waits, started, for its event until then)."""
        if task.state == TaskState.COMPLETED:
            return True
        inner = self.workflow.subprocesses.get(task.id)
        return inner is not None and any(
            isinstance(child.task_spec, StartEvent) for child in inner.get_tasks(state=TaskState.COMPLETED))

    def _ready_engine_tasks(self) -> bool:
        return any(not t.task_spec.manual for t in self.workflow.get_tasks(state=TaskState.READY))

    @property
    def completed(self) -> bool:
        return self.workflow.completed

    @property
    def data(self) -> dict[str, Any]:
        return self.workflow.data

    def last_task_data(self) -> dict[str, Any]:
        """The instance's current variables: those of the tasks it waits in, else of its last task."""
        waiting = self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
        if waiting:
            merged: dict[str, Any] = {}
            for task in waiting:
                merged.update(task.data)
            return merged
        tasks = self.workflow.get_tasks(state=TaskState.COMPLETED)
        if not tasks:
            return {}
        ends = [task for task in tasks if task.task_spec.name == "End"]  # the workflow's own end
        return ends[-1].data if ends else max(tasks, key=lambda t: t.last_state_change).data

    def ready_user_tasks(self) -> list[ReadyUserTask]:
        ready = []
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            properties = (getattr(spec, "extensions", None) or {}).get("properties", {})
            ready.append(ReadyUserTask(
                guid=str(task.id), bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, lane=spec.lane,
                properties=dict(properties), timer_due=self._boundary_timer_due(task),
            ))
        return ready

    def ready_user_task_guids(self) -> set[str]:
        """The guids of ready_user_tasks, without reading their properties."""
        return {str(task.id) for task in self.workflow.get_tasks(state=TaskState.READY, manual=True)}

    def task_data(self, task_guid: str) -> dict[str, Any]:
        """A copy of one task's data (the variables its form and expressions see)."""
        return copy.deepcopy(self.get_task(task_guid).data)

    def set_task_data(self, task_guid: str, name: str, value: Any) -> None:
        """Change one variable of a ready task; the steps after it inherit the change."""
        self.get_task(task_guid).data[name] = value

    def waiting_messages(self) -> list[str]:
        """Names of the messages the instance waits for."""
        names = {event.name for event in self.workflow.waiting_events()
                 if event.event_type.endswith("MessageEventDefinition") and event.name}
        # A message start event of an event subprocess waits from the process's start, but SpiffWorkflow 3.2
        # lists it among the waiting events only once the instance has been restored: read the triggers too.
        if not self.workflow.completed:
            for spec_name in getattr(self.workflow.spec.start, "trigger_specs", []):
                subprocess_spec = self.workflow.subprocess_specs.get(spec_name)
                for event in getattr(subprocess_spec, "bpmn_start_events", []):
                    definition = event.event_definition
                    if type(definition).__name__.endswith("MessageEventDefinition") and definition.name:
                        names.add(definition.name)
        return sorted(names)

    def send_message(self, name: str, payload: dict[str, Any]) -> bool:
        """Deliver a message and run on; False when the instance does not wait for it."""
        event = BpmnEvent(MessageEventDefinition(name), payload=payload)
        try:
            self.workflow.send_event(event)
        except WorkflowException:
            return False
        self._advance(RunGuard())
        return True

    def add_approver(self, task_guid: str, user_id: int, *, before: bool) -> None:
        """加签: ask one more person in the multi-instance step this ready task belongs to.

        In a sequential step the new person comes right after the current one (after), or the current
        one's turn comes back after the new person has decided (before: his task is completed as
        deferred by the caller). In a parallel step the new person is asked at once, beside the others.
        """
        task = self.get_task(task_guid)
        parent = task.parent
        spec = parent.task_spec if parent is not None else None
        if not isinstance(spec, MultiInstanceTask) or spec.data_input is None:
            raise ValueError("this task is not part of a multi-person step")
        people = spec.data_input.get(parent)
        votes = spec.data_output.get(parent) if spec.data_output is not None else None
        if not isinstance(people, list):
            raise ValueError("the step's people are not a list")
        if len(people) >= limits.MAX_MULTI_INSTANCE:
            raise ValueError(f"a step asks at most {limits.MAX_MULTI_INSTANCE} people")
        me = task.data.get(spec.input_item.bpmn_id) if spec.input_item is not None else None
        added = [user_id, me] if before and spec.__class__.__name__.find("Sequential") >= 0 else [user_id]
        for person in added:
            people.append(person)
            if isinstance(votes, list):
                votes.append(None)
        if "Sequential" in spec.__class__.__name__:
            remaining = parent.internal_data.get("remaining", [])
            parent.internal_data["remaining"] = list(range(len(people) - len(added), len(people))) + remaining
        else:
            spec.create_child(parent, user_id, len(people) - 1)

    def reset_to(self, bpmn_id: str) -> None:
        """Go back to a step that already ran (退回): it is ready again with the data it had, later work is undone."""
        reached = [task for task in self.workflow.get_tasks()
                   if task.task_spec.bpmn_id == bpmn_id and task.state in (TaskState.COMPLETED, TaskState.READY)]
        if not reached:
            raise KeyError(f"the instance has not reached '{bpmn_id}'")
        latest = max(reached, key=lambda task: task.last_state_change)
        self.workflow.reset_from_task_id(latest.id)
        self._advance(RunGuard())

    def cancel(self) -> None:
        """End the instance: every task that has not finished is cancelled."""
        self.workflow.cancel()

    def evaluate(self, task_guid: str, expression: str) -> Any:
        """Evaluate a diagram expression against one task's data."""
        task = self.get_task(task_guid)
        return self.workflow.script_engine.evaluate(task, expression)

    def get_task(self, task_guid: str) -> SpiffTask:
        task = self.workflow.get_task_from_id(UUID(task_guid))
        if task is None:
            raise KeyError(task_guid)
        return task

    def is_ready(self, task_guid: str) -> bool:
        try:
            task = self.get_task(task_guid)
        except (KeyError, ValueError):
            return False
        return task.state == TaskState.READY

    def complete(self, task_guid: str, data: dict[str, Any]) -> None:
        """Complete a ready user task with form data and run on to the next wait state."""
        task = self.get_task(task_guid)
        task.data.update(data)
        guard = RunGuard()
        task.run()
        guard.step(task)
        self._advance(guard)

    def next_timer_due(self) -> datetime | None:
        """Earliest due time among the instance's waiting timers (aware UTC)."""
        dues = []
        for event in self.workflow.waiting_events():
            if event.event_type in _TIMER_TYPES:
                due = _parse_due(event.value)
                if due is not None:
                    dues.append(due)
        return min(dues) if dues else None

    def _boundary_timer_due(self, task: SpiffTask) -> datetime | None:
        parent = task.parent
        if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
            return None
        dues = []
        for sibling in parent.children:
            definition = getattr(sibling.task_spec, "event_definition", None)
            if sibling is not task and isinstance(definition, TimerEventDefinition):
                due = _parse_due(sibling._get_internal_data("event_value"))
                if due is not None:
                    dues.append(due)
        return min(dues) if dues else None


def _timer_types() -> frozenset[str]:
    found, pending = set(), [TimerEventDefinition]
    while pending:
        kind = pending.pop()
        found.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return frozenset(found)


_TIMER_TYPES = _timer_types()


def _parse_due(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    if value.startswith("R"):  # cycle: "R3/2026-01-01T00:00:00+00:00/P1D" carries its next start
        parts = value.split("/")
        value = parts[1] if len(parts) > 1 else value
    try:
        due = datetime.fromisoformat(value)
    except ValueError:
        return None
    return due if due.tzinfo else due.replace(tzinfo=UTC)
