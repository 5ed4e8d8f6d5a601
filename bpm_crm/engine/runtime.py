"""Run SpiffWorkflow instances: sandboxed scripts, service calls, timers, serialization."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions import timer as timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from bpm_crm import clock
from bpm_crm.engine import sandbox
from bpm_crm.engine.definitions import ParsedDefinition
from bpm_crm.errors import DomainError

ServiceCaller = Callable[[SpiffTask, str, dict[str, Any]], Any]

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


class _ClockedDatetime(datetime):
    """Stands in for datetime inside SpiffWorkflow's timer module so timers follow bpm_crm.clock."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz else current.astimezone().replace(tzinfo=None)


timer_module.datetime = _ClockedDatetime  # type: ignore[attr-defined]


class ServiceTaskFailed(RuntimeError):
    """A handler called by a service task failed; names the task and the handler."""

    def __init__(self, task: SpiffTask, operation: str, cause: BaseException) -> None:
        super().__init__(
            f"service task '{task.task_spec.bpmn_id}' ({operation}) failed: {cause}"
        )
        self.bpmn_id = task.task_spec.bpmn_id
        self.operation = operation
        self.cause = cause


class ScriptFailed(RuntimeError):
    """An expression or script in the diagram failed; names the element and the code."""

    def __init__(self, task: SpiffTask, source: str, cause: BaseException) -> None:
        super().__init__(f"'{task.task_spec.bpmn_id}': {cause} (in: {source.strip()[:120]})")
        self.bpmn_id = task.task_spec.bpmn_id
        self.cause = cause


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates diagram code in the restricted sandbox, never with plain eval/exec."""

    def __init__(self, timeout: float) -> None:
        super().__init__({})
        self.timeout = timeout

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict | None = None) -> Any:
        variables = {**(external_context or {}), **context}
        return sandbox.evaluate(expression, variables, timeout=self.timeout)

    def execute(self, script: str, context: dict[str, Any], external_context: dict | None = None) -> bool:
        sandbox.execute(script, context, timeout=self.timeout)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> str:
        raise RuntimeError("service tasks are dispatched by ScriptEngine.call_service")


class ScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with the sandbox and our service-task dispatch."""

    def __init__(self, service_caller: ServiceCaller | None = None, timeout: float = 1.0) -> None:
        super().__init__(environment=SandboxEnvironment(timeout))
        self.service_caller = service_caller

    def validate(self, expression: str) -> None:
        sandbox.check_expression(expression)

    def evaluate(self, task: SpiffTask, expression: str, external_context: dict | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except (sandbox.SandboxError, sandbox.SandboxTimeout, sandbox.UnsafeCode) as exc:
            raise ScriptFailed(task, expression, exc) from exc

    def execute(self, task: SpiffTask, script: str, external_context: dict | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context)
        except (sandbox.SandboxError, sandbox.SandboxTimeout, sandbox.UnsafeCode) as exc:
            raise ScriptFailed(task, script, exc) from exc

    def call_service(self, task: SpiffTask, operation_name: str, operation_params: dict, **_: Any) -> str:
        # The base class's error branch names an undefined variable; report the real cause instead.
        if self.service_caller is None:
            raise ServiceTaskFailed(task, operation_name, RuntimeError("no handlers are available here"))
        params = {name: param["value"] for name, param in operation_params.items()}
        try:
            result = self.service_caller(task, operation_name, params)
        except (ServiceTaskFailed, DomainError):
            raise  # a domain error (e.g. an inactive assignee) is the user's to read as it is
        except Exception as exc:
            raise ServiceTaskFailed(task, operation_name, exc) from exc
        return json.dumps(result, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class ReadyUserTask:
    """What the inbox needs to know about one ready user task."""

    guid: str
    bpmn_id: str
    name: str
    lane: str | None
    form_key: str | None
    assignee_expression: str | None
    due_expression: str | None
    timer_due: datetime | None


class ProcessRuntime:
    """One SpiffWorkflow instance in memory, between a restore and a dump."""

    def __init__(self, workflow: BpmnWorkflow) -> None:
        self.workflow = workflow

    @classmethod
    def start(cls, definition: ParsedDefinition, data: dict[str, Any], engine: ScriptEngine) -> ProcessRuntime:
        """Create an instance with its start data and run it to its first wait state."""
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs, script_engine=engine)
        workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
        runtime = cls(workflow)
        runtime.advance()
        return runtime

    @classmethod
    def restore(cls, state: str, engine: ScriptEngine) -> ProcessRuntime:
        """Rebuild an instance from its stored state (the script engine is not serialized)."""
        workflow = SERIALIZER.deserialize_json(state)
        workflow.script_engine = engine
        return cls(workflow)

    def dump(self) -> str:
        return SERIALIZER.serialize_json(self.workflow)

    def advance(self) -> None:
        """Fire due timers and run engine steps until only people or timers can move it."""
        self.workflow.refresh_timers()
        self.workflow.do_engine_steps()
        # do_engine_steps refreshes timers only at its end; a timer due by then runs now.
        while self._ready_engine_tasks():
            self.workflow.do_engine_steps()

    def _ready_engine_tasks(self) -> bool:
        return any(not t.task_spec.manual for t in self.workflow.get_tasks(state=TaskState.READY))

    @property
    def completed(self) -> bool:
        return self.workflow.completed

    @property
    def data(self) -> dict[str, Any]:
        return self.workflow.data

    def last_task_data(self) -> dict[str, Any]:
        """Data of the most recently completed task: the instance's current variables."""
        tasks = self.workflow.get_tasks(state=TaskState.COMPLETED)
        if not tasks:
            return {}
        return max(tasks, key=lambda t: t.last_state_change).data

    def ready_user_tasks(self) -> list[ReadyUserTask]:
        ready = []
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            properties = (getattr(spec, "extensions", None) or {}).get("properties", {})
            ready.append(
                ReadyUserTask(
                    guid=str(task.id),
                    bpmn_id=spec.bpmn_id,
                    name=spec.bpmn_name or spec.bpmn_id,
                    lane=spec.lane,
                    form_key=properties.get("form"),
                    assignee_expression=properties.get("assignee"),
                    due_expression=properties.get("due"),
                    timer_due=self._boundary_timer_due(task),
                )
            )
        return ready

    def evaluate(self, task_guid: str, expression: str) -> Any:
        """Evaluate a diagram expression against one task's data."""
        task = self.get_task(task_guid)
        return self.workflow.script_engine.evaluate(task, expression)

    def get_task(self, task_guid: str) -> SpiffTask:
        from uuid import UUID

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
        task.run()
        self.advance()

    def next_timer_due(self) -> datetime | None:
        """Earliest due time among the instance's waiting timers (aware UTC)."""
        dues = []
        for event in self.workflow.waiting_events():
            if event.event_type == TimerEventDefinition.__name__ or "Timer" in event.event_type:
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
