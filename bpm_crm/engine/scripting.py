"""The script engine of every run: diagram code in the sandbox, service tasks dispatched to our handlers."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.task import Task as SpiffTask

from bpm_crm.engine import sandbox, workdays
from bpm_crm.errors import DomainError

ServiceCaller = Callable[[SpiffTask, str, dict[str, Any]], Any]


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

    def __init__(self, timeout: float, hours: workdays.WorkingHours | None = None) -> None:
        super().__init__({})
        self.timeout = timeout
        self.hours = hours  # of a working day, for workhours_after(); None: the default

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict | None = None) -> Any:
        variables = {**(external_context or {}), **context}
        with workdays.using_hours(self.hours):
            return sandbox.evaluate(expression, variables, timeout=self.timeout)

    def execute(self, script: str, context: dict[str, Any], external_context: dict | None = None) -> bool:
        with workdays.using_hours(self.hours):
            sandbox.execute(script, context, timeout=self.timeout)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> str:
        raise RuntimeError("service tasks are dispatched by ScriptEngine.call_service")


class ScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with the sandbox and our service-task dispatch."""

    def __init__(self, service_caller: ServiceCaller | None = None, timeout: float = 1.0,
                 working_hours: workdays.WorkingHours | None = None) -> None:
        super().__init__(environment=SandboxEnvironment(timeout, working_hours))
        self.service_caller = service_caller

    def validate(self, expression: str) -> None:
        sandbox.check_expression(expression)

    def evaluate(self, task: SpiffTask, expression: str, external_context: dict | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except (sandbox.SandboxError, sandbox.SandboxTimeout, sandbox.UnsafeCode) as exc:
            raise ScriptFailed(task, expression, exc) from exc

    def evaluate_data(self, task: SpiffTask, expression: str, data: dict[str, Any]) -> Any:
        """Evaluate an expression over `data` instead of the task's own; failures name the task."""
        try:
            return self.environment.evaluate(expression, data, None)
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
