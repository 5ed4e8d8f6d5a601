"""The engine wrapper on its own: service calls, sandboxed scripts, timers, serialization."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bpm_crm import clock
from bpm_crm.engine.definitions import parse_definition
from bpm_crm.engine.runtime import ProcessRuntime
from bpm_crm.engine.scripting import ScriptEngine, ScriptFailed, ServiceTaskFailed

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="mini" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="销售主管">
      <bpmn:flowNodeRef>approve</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="prepare"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>SCRIPT</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="approve" name="审批"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="approve" cancelActivity="true">
      <bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT4H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="notify"><bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="test.notify" resultVariable="sent">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="total" type="int" value="total"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="timed_out"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="approve"/>
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="notify"/>
    <bpmn:sequenceFlow id="f4" sourceRef="notify" targetRef="end"/>
    <bpmn:sequenceFlow id="f5" sourceRef="late" targetRef="timed_out"/>
  </bpmn:process>
</bpmn:definitions>"""


def start(script: str = "total = sum([line * 2 for line in lines])", caller=None) -> ProcessRuntime:
    definition = parse_definition(DIAGRAM.replace("SCRIPT", script), handler_names={"test.notify"})
    return ProcessRuntime.start(definition, {"lines": [1, 2, 3]}, ScriptEngine(caller))


def test_scripts_run_in_the_sandbox_and_service_results_land_in_task_data():
    calls = []
    runtime = start(caller=lambda task, op, params: calls.append((op, params)) or {"ok": True})
    [task] = runtime.ready_user_tasks()
    assert (task.bpmn_id, task.name, task.lane) == ("approve", "审批", "销售主管")
    runtime.complete(task.guid, {"approved": True})
    assert calls == [("test.notify", {"total": 12})]
    assert runtime.completed and runtime.last_task_data()["sent"] == {"ok": True}


def test_a_failing_handler_names_the_task_instead_of_a_name_error():
    def explode(task, op, params):
        raise ValueError("SMTP down")

    runtime = start(caller=explode)
    [task] = runtime.ready_user_tasks()
    with pytest.raises(ServiceTaskFailed) as err:
        runtime.complete(task.guid, {})
    assert err.value.bpmn_id == "notify" and "SMTP down" in str(err.value)


def test_unsafe_script_is_refused_at_deploy_and_at_run_time():
    from bpm_crm.engine.definitions import DefinitionInvalid

    with pytest.raises(DefinitionInvalid) as err:
        start(script="total = ().__class__.__base__.__subclasses__()")
    assert err.value.problems[0].element_id == "prepare"
    engine = ScriptEngine()
    with pytest.raises(ScriptFailed):
        runtime = start()
        engine.execute(runtime.get_task(runtime.ready_user_tasks()[0].guid), "x = open('/etc/passwd')")


def test_timer_due_time_is_exposed_and_fires_with_the_controlled_clock():
    moment = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    clock.freeze(moment)
    try:
        runtime = start()
        [task] = runtime.ready_user_tasks()
        assert task.timer_due == moment + timedelta(hours=4)
        assert runtime.next_timer_due() == moment + timedelta(hours=4)
        restored = ProcessRuntime.restore(runtime.dump(), ScriptEngine())
        clock.freeze(moment + timedelta(hours=3, minutes=59))
        restored.advance()
        assert restored.ready_user_tasks() and not restored.completed
        clock.freeze(moment + timedelta(hours=4, seconds=1))
        restored.advance()
        assert restored.ready_user_tasks() == [] and restored.completed
        assert restored.next_timer_due() is None
    finally:
        clock.unfreeze()


def test_serialization_round_trip_keeps_task_data():
    runtime = start()
    restored = ProcessRuntime.restore(runtime.dump(), ScriptEngine(lambda *a: {}))
    [task] = restored.ready_user_tasks()
    assert restored.get_task(task.guid).data["total"] == 12
    restored.complete(task.guid, {"note": "通过"})
    assert restored.completed and restored.last_task_data()["note"] == "通过"
