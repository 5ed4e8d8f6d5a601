"""Every engine run is bounded: hostile diagrams are refused at deploy or stopped at run time."""
from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from bpm_crm import clock
from bpm_crm.engine import limits
from bpm_crm.engine.definitions import BoundedBpmnParser, DefinitionInvalid, ParsedDefinition, parse_definition
from bpm_crm.engine.runtime import EngineLimitExceeded, ProcessRuntime
from bpm_crm.engine.scripting import ScriptEngine
from bpm_crm.engine.xmlsafe import parse_bpmn_xml

pytestmark = pytest.mark.timeout(30)

HOSTILE = sorted((Path(__file__).parent / "hostile").glob("*.bpmn"))
EXPECT = re.compile(r"<!-- expect: (deploy|run) (\S+) \| (.+?) -->")
HANDLERS = {"crm.known"}


def hostile(name: str) -> str:
    return (Path(__file__).parent / "hostile" / f"{name}.bpmn").read_text(encoding="utf-8")


def unchecked(xml: str, process_id: str) -> ParsedDefinition:
    """A definition as a deployment made before these limits could have stored it: parsed, never checked."""
    parser = BoundedBpmnParser()
    parser.add_bpmn_xml(parse_bpmn_xml(xml), filename=f"{process_id}.bpmn")
    spec = parser.get_spec(process_id)
    return ParsedDefinition(process_id, process_id, "", xml, spec, parser.get_subprocess_specs(process_id))


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_a_hostile_diagram_is_refused_at_deploy_or_stopped_at_run_time_quickly(path: Path) -> None:
    xml = path.read_text(encoding="utf-8")
    match = EXPECT.search(xml)
    assert match, f"{path.name} needs an '<!-- expect: deploy|run ELEMENT | MESSAGE -->' line"
    where, element_id, message = match.groups()
    began = time.perf_counter()

    if where == "deploy":
        with pytest.raises(DefinitionInvalid) as refused:
            parse_definition(xml, handler_names=HANDLERS)
        assert any(p.element_id == element_id and message in p.message for p in refused.value.problems), (
            refused.value.problems
        )
    else:
        definition = parse_definition(xml, handler_names=HANDLERS)
        with pytest.raises(EngineLimitExceeded) as stopped:
            ProcessRuntime.start(definition, {}, ScriptEngine())
        assert message in str(stopped.value)
        assert stopped.value.bpmn_id is not None
        if element_id != "*":
            assert stopped.value.bpmn_id == element_id and str(stopped.value).startswith(f"'{element_id}': ")
    assert time.perf_counter() - began < 10


def test_the_corpus_covers_both_ways_a_diagram_is_bounded() -> None:
    kinds = {EXPECT.search(p.read_text(encoding="utf-8")).group(1) for p in HOSTILE}  # type: ignore[union-attr]
    assert kinds == {"deploy", "run"} and len(HOSTILE) >= 20


@pytest.mark.parametrize(("name", "element_id"), [("call_self", "recurse"), ("call_mutual", "call_again")])
def test_recursion_stored_before_the_deploy_check_is_stopped_at_the_depth_limit(name: str, element_id: str) -> None:
    with pytest.raises(EngineLimitExceeded) as stopped:
        ProcessRuntime.start(unchecked(hostile(name), name), {}, ScriptEngine())
    assert stopped.value.bpmn_id == element_id and stopped.value.limit == "call_depth"
    assert stopped.value.maximum == limits.MAX_CALL_DEPTH


def nested(depth: int) -> str:
    """A process with embedded subprocesses `depth` deep and a script at the bottom."""
    child = '<bpmn:scriptTask id="bottom"><bpmn:script>reached = True</bpmn:script></bpmn:scriptTask>'
    child_id = "bottom"
    for level in range(depth, -1, -1):
        body = (
            f'<bpmn:startEvent id="s{level}"/>{child}<bpmn:endEvent id="e{level}"/>'
            f'<bpmn:sequenceFlow id="a{level}" sourceRef="s{level}" targetRef="{child_id}"/>'
            f'<bpmn:sequenceFlow id="b{level}" sourceRef="{child_id}" targetRef="e{level}"/>'
        )
        child_id = f"level_{level}"
        child = f'<bpmn:subProcess id="{child_id}">{body}</bpmn:subProcess>'
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="nested" isExecutable="true">{body}</bpmn:process>
</bpmn:definitions>"""


def test_subprocesses_nested_up_to_the_limit_deploy_and_run() -> None:
    runtime = ProcessRuntime.start(parse_definition(nested(limits.MAX_CALL_DEPTH)), {}, ScriptEngine())
    assert runtime.completed and runtime.last_task_data()["reached"] is True
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(nested(limits.MAX_CALL_DEPTH + 1))
    assert [p.element_id for p in refused.value.problems] == [f"level_{limits.MAX_CALL_DEPTH + 1}"]


def test_a_stopped_run_names_a_diagram_element_even_inside_internal_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    definition = parse_definition(nested(3))
    named = set()
    for budget in range(1, 20):
        monkeypatch.setattr(limits, "MAX_ENGINE_STEPS", budget)
        with pytest.raises(EngineLimitExceeded) as stopped:
            ProcessRuntime.start(definition, {}, ScriptEngine())
        named.add(stopped.value.bpmn_id)
    assert named >= {"nested", "level_1", "level_2", "level_3", "bottom"} and None not in named


def multi_instance(cardinality: str, script: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="mi" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="prepare"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script or "prepared = True"}</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="tally"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="false">
        <bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>
        <bpmn:loopDataOutputRef>tallies</bpmn:loopDataOutputRef>
        <bpmn:outputDataItem id="tallied" name="tallied"/>
        <bpmn:completionCondition>tallied &gt; 10000</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>tallied = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="tally"/>
    <bpmn:sequenceFlow id="f3" sourceRef="tally" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_multi_instance_at_the_limit_runs_and_one_more_is_refused() -> None:
    top = limits.MAX_MULTI_INSTANCE
    runtime = ProcessRuntime.start(parse_definition(multi_instance(str(top))), {}, ScriptEngine())
    assert runtime.completed and runtime.last_task_data()["tallies"] == [1] * top
    with pytest.raises(DefinitionInvalid):
        parse_definition(multi_instance(str(top + 1)))
    over = parse_definition(multi_instance("count", script=f"count = {top + 1}"))
    with pytest.raises(EngineLimitExceeded) as stopped:
        ProcessRuntime.start(over, {}, ScriptEngine())
    assert (stopped.value.bpmn_id, stopped.value.limit, stopped.value.value) == ("tally", "multi_instance", top + 1)


def test_a_completion_condition_is_checked_at_deploy() -> None:
    bad = multi_instance("3").replace("tallied &gt; 10000", "tallied.__class__")
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(bad)
    assert [(p.element_id, p.message.split(":")[0]) for p in refused.value.problems] == [
        ("tally", "completion condition")
    ]


def test_an_xml_schema_error_names_the_element_it_is_about() -> None:
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(hostile("service_no_parameters"), handler_names=HANDLERS)
    assert {p.element_id for p in refused.value.problems} == {"notify"}
    assert any("spiffworkflow:parameters" in p.message for p in refused.value.problems)


def test_the_step_budget_and_the_clock_bound_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    definition = parse_definition(multi_instance("20"))
    monkeypatch.setattr(limits, "MAX_ENGINE_STEPS", 10)
    with pytest.raises(EngineLimitExceeded) as stopped:
        ProcessRuntime.start(definition, {}, ScriptEngine())
    assert stopped.value.limit == "engine_steps" and "more than 10 engine steps" in str(stopped.value)
    monkeypatch.setattr(limits, "MAX_ENGINE_STEPS", 2_000)
    monkeypatch.setattr(limits, "MAX_RUN_SECONDS", 0.0)
    with pytest.raises(EngineLimitExceeded) as stopped:
        ProcessRuntime.start(definition, {}, ScriptEngine())
    assert stopped.value.limit == "run_seconds" and isinstance(stopped.value, RuntimeError)


def reminders(runtime: ProcessRuntime) -> int:
    return len(runtime.workflow.get_tasks(spec_name="count_reminder"))


def cycle_diagram(cycle: str) -> str:
    return hostile("cycle_r1000").replace('"R1000/2000-01-01T00:00:00+00:00/PT1M"', cycle)


def test_a_cycle_that_fell_behind_fires_once_for_the_periods_it_missed() -> None:
    moment = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    clock.freeze(moment)
    try:
        # 100 one-minute periods, all long past: the library would fire them in one burst.
        past = parse_definition(cycle_diagram('"R100/2000-01-01T00:00:00+00:00/PT1M"'))
        runtime = ProcessRuntime.start(past, {}, ScriptEngine())
        assert reminders(runtime) == 1 and runtime.next_timer_due() is None

        hourly = parse_definition(cycle_diagram('"R3/2026-11-23T09:00:00+00:00/PT1H"'))
        runtime = ProcessRuntime.start(hourly, {}, ScriptEngine())
        assert reminders(runtime) == 0 and runtime.next_timer_due() == moment + timedelta(hours=1)
        clock.freeze(moment + timedelta(hours=2, minutes=30))  # 09:00 and 10:00 both passed
        runtime = ProcessRuntime.restore(runtime.dump(), ScriptEngine())
        runtime.advance()
        assert reminders(runtime) == 1 and runtime.next_timer_due() == moment + timedelta(hours=3)
        clock.freeze(moment + timedelta(hours=3, seconds=1))
        runtime.advance()
        runtime.advance()
        assert reminders(runtime) == 2 and runtime.next_timer_due() is None
        [task] = runtime.ready_user_tasks()
        runtime.complete(task.guid, {})
        assert runtime.completed
    finally:
        clock.unfreeze()


def legacy_state(xml: str, process_id: str) -> str:
    """A state written by the library's own classes and serializer, as stored before these limits."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(parse_bpmn_xml(xml), filename="legacy.bpmn")
    workflow = BpmnWorkflow(parser.get_spec(process_id), parser.get_subprocess_specs(process_id))
    workflow.do_engine_steps()
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG)).serialize_json(workflow)


def test_states_stored_before_the_limits_restore_into_the_bounded_specs() -> None:
    xml = hostile("mi_cardinality_from_data").replace("100 * 100", "3")
    runtime = ProcessRuntime.restore(legacy_state(xml, "mi_cardinality_from_data"), ScriptEngine())
    assert len(runtime.ready_user_tasks()) == 3
    approve = runtime.workflow.spec.task_specs["approve"]
    assert isinstance(approve, limits.BoundedParallelMultiInstanceTask)
    assert '"typename": "ParallelMultiInstanceTask"' in runtime.dump()
    assert "Bounded" not in runtime.dump()


def test_a_stored_cycle_that_comes_due_on_every_refresh_is_stopped() -> None:
    clock.freeze(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    try:
        state = json.loads(legacy_state(cycle_diagram('"R3/2026-11-23T09:00:00+00:00/PT1H"'), "cycle_r1000"))
        for task in state["tasks"].values():
            if isinstance(task["internal_data"].get("event_value"), dict):
                task["internal_data"]["event_value"].update(cycles=-1, duration=0.0)
        runtime = ProcessRuntime.restore(json.dumps(state), ScriptEngine())
        clock.freeze(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
        with pytest.raises(EngineLimitExceeded) as stopped:
            runtime.advance()
        assert stopped.value.bpmn_id == "remind" and stopped.value.limit == "cycle_repetitions"
    finally:
        clock.unfreeze()
