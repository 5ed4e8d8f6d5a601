"""Parse, validate and fingerprint BPMN diagrams before anything runs them."""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ScriptTask, ServiceTask, UserTask

from bpm_crm.engine import sandbox
from bpm_crm.engine.xmlsafe import UnsafeXml, parse_bpmn_xml


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a diagram, tied to the element it is about."""

    element_id: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.element_id}: {self.message}" if self.element_id else self.message


class DefinitionInvalid(ValueError):
    """A diagram that must not be deployed; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class ParsedDefinition:
    """A validated diagram: its executable process and everything it needs to run."""

    process_id: str
    name: str
    content_hash: str
    xml: str
    spec: BpmnProcessSpec = field(repr=False)
    subprocess_specs: dict[str, BpmnProcessSpec] = field(repr=False, default_factory=dict)


def content_hash(xml: str) -> str:
    """The fingerprint that tells one deployed version from another."""
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


def parse_definition(
    xml: bytes | str,
    *,
    file_name: str = "upload.bpmn",
    handler_names: Collection[str] | None = None,
    form_keys: Collection[str] | None = None,
    lane_names: Collection[str] | None = None,
) -> ParsedDefinition:
    """Parse and check a diagram; raise DefinitionInvalid listing every problem found."""
    try:
        root = parse_bpmn_xml(xml)
    except UnsafeXml as exc:
        raise DefinitionInvalid([Problem(None, str(exc))]) from exc
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml

    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(root, filename=file_name)
        process_ids = parser.get_process_ids()
        if len(process_ids) != 1:
            raise DefinitionInvalid(
                [Problem(None, f"a diagram must hold exactly one executable process, found {len(process_ids)}")]
            )
        process_id = process_ids[0]
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise DefinitionInvalid([Problem(getattr(exc, "id", None), _plain(exc))]) from exc
    except etree.DocumentInvalid as exc:
        raise DefinitionInvalid([Problem(None, f"not valid BPMN: {exc}")]) from exc

    problems: list[Problem] = []
    for one_spec in [spec, *subprocess_specs.values()]:
        problems.extend(_check_spec(one_spec, handler_names, form_keys, lane_names))
    if problems:
        raise DefinitionInvalid(problems)
    return ParsedDefinition(
        process_id=process_id,
        name=spec.description or process_id,
        content_hash=content_hash(text),
        xml=text,
        spec=spec,
        subprocess_specs=subprocess_specs,
    )


@lru_cache(maxsize=64)
def load_definition(xml: str) -> ParsedDefinition:
    """Parse a definition that was validated when it was deployed (cached by content)."""
    return parse_definition(xml)


def _plain(exc: ValidationException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    line = getattr(exc, "line_number", None)
    return f"{message} (line {line})" if line else message


def _check_code(problems: list[Problem], element_id: str, what: str, source: str | None, script: bool) -> None:
    if not source:
        return
    try:
        (sandbox.check_script if script else sandbox.check_expression)(source)
    except sandbox.UnsafeCode as exc:
        for message in exc.problems:
            problems.append(Problem(element_id, f"{what}: {message}"))


def _check_spec(
    spec: BpmnProcessSpec,
    handler_names: Collection[str] | None,
    form_keys: Collection[str] | None,
    lane_names: Collection[str] | None,
) -> list[Problem]:
    problems: list[Problem] = []
    for task_spec in spec.task_specs.values():
        element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
        extensions: dict[str, Any] = getattr(task_spec, "extensions", None) or {}
        properties: dict[str, str] = extensions.get("properties", {})

        if isinstance(task_spec, UserTask):
            assignee = properties.get("assignee")
            if not task_spec.lane and not assignee:
                problems.append(Problem(element_id, "a user task needs a lane or an assignee expression"))
            if task_spec.lane and lane_names is not None and task_spec.lane not in lane_names and not assignee:
                problems.append(Problem(element_id, f"lane '{task_spec.lane}' does not name a role"))
            _check_code(problems, element_id, "assignee expression", assignee, script=False)
            _check_code(problems, element_id, "due expression", properties.get("due"), script=False)
            form = properties.get("form")
            if form_keys is not None and form and form not in form_keys:
                problems.append(Problem(element_id, f"form '{form}' does not exist"))

        if isinstance(task_spec, ServiceTask):
            if handler_names is not None and task_spec.operation_name not in handler_names:
                problems.append(
                    Problem(element_id, f"service task calls '{task_spec.operation_name}', which is not a handler")
                )
            for name, param in task_spec.operation_params.items():
                _check_code(problems, element_id, f"parameter '{name}'", param.get("value"), script=False)

        if isinstance(task_spec, ScriptTask):
            _check_code(problems, element_id, "script", task_spec.script, script=True)
        for hook in ("prescript", "postscript"):
            _check_code(problems, element_id, hook, getattr(task_spec, hook, None), script=True)

        if isinstance(task_spec, MultiChoice):
            for condition, _target in task_spec.cond_task_specs:
                if condition is not None:
                    _check_code(problems, element_id, "condition", condition.args[0], script=False)

        event_definition = getattr(task_spec, "event_definition", None)
        if isinstance(event_definition, TimerEventDefinition):
            _check_code(problems, element_id, "timer", event_definition.expression, script=False)
    return problems
