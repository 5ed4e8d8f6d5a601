"""Parse, validate and fingerprint BPMN diagrams before anything runs them."""
from __future__ import annotations

import ast
import copy
import hashlib
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import BPMN_MODEL_NS
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, MultiInstanceTask, StandardLoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ScriptTask, ServiceTask, UserTask

from bpm_crm.engine import approval, decision_tables, limits, sandbox
from bpm_crm.engine.xmlsafe import UnsafeXml, parse_bpmn_xml, parse_dmn_xml

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


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
    # The spiffworkflow properties of every user task, by element id (form, assignee, candidates, due …).
    user_tasks: dict[str, dict[str, str]] = field(default_factory=dict)
    lanes: set[str] = field(default_factory=set)
    # Timer start events of the top-level process and their rule (the scheduler, not the engine, fires them).
    start_timers: list[tuple[str, str]] = field(default_factory=list)
    # Approval steps (审批节点) by element id, as configured before they were compiled to plain BPMN.
    approval_steps: dict[str, approval.ApprovalStep] = field(default_factory=dict)
    # Event subprocesses of the top-level process whose start event interrupts it (the runtime ends the rest
    # of the process when one is triggered: SpiffWorkflow 3.2 runs every event subprocess beside it).
    interrupting_subprocesses: frozenset[str] = frozenset()


class _BoundedTaskParsing:
    """Makes a SpiffWorkflow task parser build the bounded specs of limits.py."""

    PARALLEL_MI_CLASS = limits.BoundedParallelMultiInstanceTask
    SEQUENTIAL_MI_CLASS = limits.BoundedSequentialMultiInstanceTask

    def parse_timer_event(self, event: etree._Element) -> TimerEventDefinition:
        definition = super().parse_timer_event(event)  # type: ignore[misc]
        if type(definition) is CycleTimerEventDefinition:
            return limits.BoundedCycleTimerEventDefinition(
                definition.name, definition.expression, description=definition.description
            )
        return definition


class BoundedBpmnParser(SpiffBpmnParser):
    """SpiffBpmnParser whose multi-instances, call activities and timer cycles honour the engine limits."""

    OVERRIDE_PARSER_CLASSES = {
        tag: (type(parser.__name__, (_BoundedTaskParsing, parser), {}), limits.BOUNDED_SPECS.get(spec, spec))
        for tag, (parser, spec) in SpiffBpmnParser.OVERRIDE_PARSER_CLASSES.items()
    }


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
    decisions: Mapping[str, str] | None = None,
) -> ParsedDefinition:
    """Parse and check a diagram (with the decision tables it calls); DefinitionInvalid lists every problem."""
    try:
        root = parse_bpmn_xml(xml)
    except UnsafeXml as exc:
        raise DefinitionInvalid([Problem(None, str(exc))]) from exc
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml

    original = root
    root = copy.deepcopy(root)
    try:
        approval_steps = approval.compile_approvals(root)
    except approval.ApprovalInvalid as exc:
        raise DefinitionInvalid([Problem(element, message) for element, message in exc.problems]) from exc
    problems = _check_handlers(original, handler_names)
    parser = BoundedBpmnParser(validator=VALIDATOR)
    problems += _add_decisions(parser, decisions or {})
    try:
        parser.add_bpmn_xml(root, filename=file_name)
        process_ids = parser.get_process_ids()
        if not process_ids:
            raise DefinitionInvalid([Problem(None, "a diagram must hold exactly one executable process, found 0")])
        if len(process_ids) > 1:
            raise DefinitionInvalid([
                Problem(pid, f"one of {len(process_ids)} executable processes; a diagram must hold exactly one")
                for pid in process_ids
            ])
        process_id = process_ids[0]
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        element_id = getattr(exc, "id", None) or _element_at(root, exc)
        raise DefinitionInvalid([*problems, Problem(element_id, _plain(exc))]) from exc
    except etree.DocumentInvalid as exc:
        raise DefinitionInvalid([*problems, Problem(None, f"not valid BPMN: {exc}")]) from exc
    except RecursionError as exc:
        raise DefinitionInvalid([Problem(None, "subprocesses or call activities nest too deeply")]) from exc

    for one_spec in [spec, *subprocess_specs.values()]:
        _wire(one_spec)
    interrupting, nested = _interrupting_subprocesses(root, process_id)
    problems += [Problem(element_id, "an interrupting event subprocess must sit in the top-level process; "
                                     "mark its start event non-interrupting or move it") for element_id in nested]
    start_timers = _start_timers(spec)
    scheduled = {event_id for event_id, _rule in start_timers}
    for one_spec in [spec, *subprocess_specs.values()]:
        problems.extend(_check_spec(one_spec, form_keys, lane_names, scheduled if one_spec is spec else set()))
    problems.extend(_check_nesting(process_id, {process_id: spec, **subprocess_specs}))
    if problems:
        raise DefinitionInvalid(problems)
    return ParsedDefinition(
        process_id=process_id,
        name=spec.description or process_id,
        content_hash=content_hash(text),
        xml=text,
        spec=spec,
        subprocess_specs=subprocess_specs,
        user_tasks={
            ts.bpmn_id: dict((getattr(ts, "extensions", None) or {}).get("properties", {}))
            for one_spec in [spec, *subprocess_specs.values()] for ts in one_spec.task_specs.values()
            if isinstance(ts, UserTask)
        },
        lanes={ts.lane for one_spec in [spec, *subprocess_specs.values()] for ts in one_spec.task_specs.values()
               if getattr(ts, "lane", None)},
        start_timers=start_timers,
        approval_steps={step.element_id: step for step in approval_steps},
        interrupting_subprocesses=frozenset(interrupting),
    )


def _wire(spec: BpmnProcessSpec) -> None:
    """Make the connections SpiffWorkflow 3.2 otherwise makes later, on the parsed diagram every instance shares.

    - A multi-instance hears its children complete through a connection made when it creates the first child
      (or when a serialized copy of the diagram is read back). Diagrams here are parsed, not read back, so a
      server process that parsed the diagram after the children were created (a restart, another worker)
      would never hear them: the step would wait for ever. Connected here, every parse hears them.
    - An event subprocess that waits for a message or signal is connected to its process's start and end the
      first time the event arrives. That changes the diagram under instances already running, and differs
      between server processes: an instance can end up waiting at an end join for a branch it never had.
      Connected here, the diagram is the same for every instance, in every server process, from the start.
    """
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child_spec = spec.task_specs.get(task_spec.task_spec)
            if child_spec is not None and not child_spec.completed_event.is_connected(task_spec.merge_child):
                child_spec.completed_event.connect(task_spec.merge_child)
    start = spec.start
    for name in getattr(start, "trigger_specs", ()):
        sub = spec.task_specs.get(name)
        if sub is not None and start not in sub.inputs:
            start.connect(sub)
            sub.connect(spec.end)


def _interrupting_subprocesses(root: etree._Element, process_id: str) -> tuple[list[str], list[str]]:
    """Event subprocesses whose start event interrupts (the BPMN default): in the top process, and nested."""
    top: list[str] = []
    nested: list[str] = []
    for process in root.iter(f"{{{BPMN_MODEL_NS}}}process"):
        for sub in process.iter(f"{{{BPMN_MODEL_NS}}}subProcess"):
            if sub.get("triggeredByEvent") != "true":
                continue
            starts = [child for child in sub if etree.QName(child).localname == "startEvent"]
            if not any(start.get("isInterrupting", "true") != "false" for start in starts):
                continue
            at_top = sub.getparent() is process and process.get("id") == process_id
            (top if at_top else nested).append(sub.get("id", ""))
    return top, nested


def _start_timers(spec: BpmnProcessSpec) -> list[tuple[str, str]]:
    return [
        (ts.bpmn_id, ts.event_definition.expression) for ts in spec.task_specs.values()
        if isinstance(ts, StartEvent) and isinstance(getattr(ts, "event_definition", None), TimerEventDefinition)
    ]


def _add_decisions(parser: BoundedBpmnParser, decisions: Mapping[str, str]) -> list[Problem]:
    """Give the parser the decision tables, each one checked for gaps and overlaps first."""
    problems: list[Problem] = []
    for decision_id, text in decisions.items():
        try:
            root = parse_dmn_xml(text)
            table = decision_tables.read_table(root)
        except (UnsafeXml, decision_tables.TableInvalid) as exc:
            messages = exc.problems if isinstance(exc, decision_tables.TableInvalid) else [str(exc)]
            problems.extend(Problem(decision_id, f"decision table: {message}") for message in messages)
            continue
        problems.extend(Problem(decision_id, f"decision table: {message}")
                        for message in decision_tables.check_table(table))
        for _label, expression in table.inputs:
            _check_code(problems, decision_id, "decision input", expression, script=False)
        for rule in table.rules:
            for output in rule.outputs:
                _check_code(problems, decision_id, f"output of {rule.rule_id}", output, script=False)
        try:
            parser.add_dmn_xml(root, filename=f"{decision_id}.dmn")
        except (ValidationException, etree.DocumentInvalid) as exc:
            problems.append(Problem(decision_id, f"decision table: {str(exc).splitlines()[0]}"))
    return problems


@lru_cache(maxsize=64)
def _load(xml: str, decisions: tuple[tuple[str, str], ...]) -> ParsedDefinition:
    return parse_definition(xml, decisions=dict(decisions))


def load_definition(xml: str, decisions: Mapping[str, str] | None = None) -> ParsedDefinition:
    """Parse a definition that was validated when it was deployed (cached by content)."""
    return _load(xml, tuple(sorted((decisions or {}).items())))


def _plain(exc: ValidationException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    message = message.replace(f"{{{BPMN_MODEL_NS}}}", "bpmn:").replace(f"{{{SPIFF_NS}}}", "spiffworkflow:")
    line = getattr(exc, "line_number", None)
    return f"{message} (line {line})" if line else message


def _element_at(root: etree._Element, exc: ValidationException) -> str | None:
    """Id of the diagram element an XML-schema error points at (by its line), for the problem list."""
    line = getattr(exc, "line_number", None)
    if not line:
        return None
    named = re.search(r"Element '([^']+)'", str(exc))
    on_line = [el for el in root.iter() if el.sourceline == line and isinstance(el.tag, str)]
    element = next((el for el in on_line if named and el.tag == named.group(1)), on_line[0] if on_line else None)
    # Extension elements carry ids of their own (a handler name); the diagram element is a BPMN ancestor.
    while element is not None:
        if etree.QName(element).namespace == BPMN_MODEL_NS and element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


def _check_handlers(root: etree._Element, handler_names: Collection[str] | None) -> list[Problem]:
    # Read from the XML, so an unknown handler is reported even when the schema check fails too.
    if handler_names is None:
        return []
    problems = []
    for task in root.iter(f"{{{BPMN_MODEL_NS}}}serviceTask"):
        operator = task.find(f"{{{BPMN_MODEL_NS}}}extensionElements/{{{SPIFF_NS}}}serviceTaskOperator")
        name = operator.get("id") if operator is not None else None
        if name is None:
            problems.append(Problem(task.get("id"), "service task names no handler"))
        elif name not in handler_names:
            problems.append(Problem(task.get("id"), f"service task calls '{name}', which is not a handler"))
    return problems


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
    form_keys: Collection[str] | None,
    lane_names: Collection[str] | None,
    scheduled: set[str],
) -> list[Problem]:
    problems: list[Problem] = []
    for task_spec in spec.task_specs.values():
        element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
        extensions: dict[str, Any] = getattr(task_spec, "extensions", None) or {}
        properties: dict[str, str] = extensions.get("properties", {})

        if isinstance(task_spec, UserTask):
            assignee = properties.get("assignee")
            people = assignee or properties.get("candidates")
            if not task_spec.lane and not people:
                problems.append(Problem(element_id, "a user task needs a lane, candidates or an assignee expression"))
            if task_spec.lane and lane_names is not None and task_spec.lane not in lane_names and not people:
                problems.append(Problem(element_id, f"lane '{task_spec.lane}' does not name a role"))
            _check_code(problems, element_id, "assignee expression", assignee, script=False)
            for name in ("due", "remind", "escalate"):
                _check_code(problems, element_id, f"{name} expression", properties.get(name), script=False)
            if properties.get("calendar", "working").strip() not in ("working", "natural"):
                problems.append(Problem(element_id, "calendar must be 'working' or 'natural'"))
            if properties.get("escalate_mode", "watch").strip() not in ("watch", "reassign"):
                problems.append(Problem(element_id, "escalate_mode must be 'watch' or 'reassign'"))
            for name in ("candidates", "watchers"):
                value = (properties.get(name) or "").lstrip()
                if value.startswith("="):
                    _check_code(problems, element_id, f"{name} expression", value[1:], script=False)
            form = properties.get("form")
            if form_keys is not None and form and form not in form_keys:
                problems.append(Problem(element_id, f"form '{form}' does not exist"))

        if isinstance(task_spec, ServiceTask):
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

        if isinstance(task_spec, MultiInstanceTask):
            _check_loop(problems, element_id, task_spec)
        if isinstance(task_spec, StandardLoopTask):
            _check_code(problems, element_id, "loop condition", task_spec.condition, script=False)

        for event_definition in _event_definitions(getattr(task_spec, "event_definition", None)):
            if element_id in scheduled:
                continue  # a schedule rule, checked by the service that keeps the schedule
            if isinstance(event_definition, TimerEventDefinition):
                _check_code(problems, element_id, "timer", event_definition.expression, script=False)
            if isinstance(event_definition, CycleTimerEventDefinition):
                _check_cycle(problems, element_id, event_definition.expression)
            if isinstance(event_definition, ConditionalEventDefinition):
                _check_code(problems, element_id, "condition", event_definition.expression, script=False)
    return problems


def _event_definitions(definition: object) -> Iterator[object]:
    if isinstance(definition, MultipleEventDefinition):
        yield from definition.event_definitions
    elif definition is not None:
        yield definition


def _constant(source: str | None) -> object:
    """The value of a literal expression ('"R3/PT1H"', '12'); None when data decides it."""
    try:
        return ast.literal_eval(source.strip()) if source else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _check_loop(problems: list[Problem], element_id: str, task_spec: MultiInstanceTask) -> None:
    _check_code(problems, element_id, "loop cardinality", task_spec.cardinality, script=False)
    _check_code(problems, element_id, "completion condition", task_spec.condition, script=False)
    violation = limits.multi_instance_violation(_constant(task_spec.cardinality))
    if violation:
        problems.append(Problem(element_id, f"loop cardinality: {violation}"))


def _check_cycle(problems: list[Problem], element_id: str, expression: str | None) -> None:
    text = _constant(expression)
    if not isinstance(text, str):
        return  # data decides; the bounded timer checks the value when it is first evaluated
    try:
        cycles, _start, period = limits.parse_cycle(text)
    except ValueError as exc:
        problems.append(Problem(element_id, f"timer: {exc}"))
        return
    violation = limits.cycle_violation(cycles, period)
    if violation:
        problems.append(Problem(element_id, f"timer: {violation}"))


def _check_nesting(process_id: str, specs: dict[str, BpmnProcessSpec]) -> list[Problem]:
    """Refuse recursive calls and subprocesses nested deeper than the engine will run them."""
    calls = {
        name: [(ts.bpmn_id or ts.name, ts.spec) for ts in spec.task_specs.values() if isinstance(ts, SubWorkflowTask)]
        for name, spec in specs.items()
    }
    problems: list[Problem] = []
    heights: dict[str, int] = {}
    running: list[str] = []

    def height(name: str) -> int:
        # Memoised: a diagram fanning out to many calls per level stays linear to check.
        if name not in heights:
            running.append(name)
            best = 0
            for element_id, called in calls.get(name, []):
                if called in running:
                    chain = " → ".join([*running[running.index(called):], called])
                    problems.append(Problem(element_id, f"recursive call ({chain}); a process may not call itself"))
                else:
                    best = max(best, 1 + height(called))
            running.pop()
            heights[name] = best
        return heights[name]

    depth = height(process_id)
    if depth > limits.MAX_CALL_DEPTH and not problems:
        # Follow the deepest chain to the call that goes one level too far, and name it.
        name = process_id
        for _level in range(limits.MAX_CALL_DEPTH + 1):
            element_id, name = max(calls[name], key=lambda call: heights[call[1]])
        problems.append(Problem(
            element_id,
            f"subprocesses and call activities nest {depth} deep; the limit is {limits.MAX_CALL_DEPTH}",
        ))
    return problems
