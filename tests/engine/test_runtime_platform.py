"""What the engine wrapper offers the process platform: scheduled starts, messages, state by reference."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bpm_crm.engine.definitions import parse_definition
from bpm_crm.engine.runtime import ProcessRuntime, StateUnreadable
from bpm_crm.engine.scripting import ScriptEngine

BUNDLES = Path(__file__).resolve().parents[1] / "processes" / "bundles"
OPPORTUNITY = Path(__file__).resolve().parents[2] / "processes" / "opportunity.bpmn"


@pytest.fixture(scope="module")
def watch():
    return parse_definition((BUNDLES / "scheduled_watch.bpmn").read_text())


def test_a_timer_start_event_is_the_schedulers_and_fires_at_once(watch):
    assert watch.start_timers == [("weekly", '"0 2 * * 6 Asia/Shanghai"')]
    runtime = ProcessRuntime.start(watch, {"scheduled_at": "2026-12-05T18:00:00Z"}, ScriptEngine())
    assert runtime.last_task_data()["checked"] is True
    assert runtime.waiting_messages() == ["order_placed"]
    assert runtime.next_timer_due() is None  # the start event does not fire again inside the instance


def test_a_message_wakes_only_a_waiting_instance(watch):
    runtime = ProcessRuntime.start(watch, {}, ScriptEngine())
    assert runtime.send_message("something_else", {}) is False
    assert runtime.send_message("order_placed", {"order_id": 5}) is True
    assert runtime.completed and runtime.waiting_messages() == []


def test_state_is_stored_by_reference_and_old_states_still_restore(watch):
    runtime = ProcessRuntime.start(watch, {}, ScriptEngine())
    state = runtime.dump()
    assert json.loads(state)["spec_ref"] == watch.content_hash and '"spec"' not in state
    restored = ProcessRuntime.restore(state, ScriptEngine(), watch)
    assert restored.waiting_messages() == ["order_placed"]

    legacy = ProcessRuntime(runtime.workflow)
    del runtime.workflow.spec_reference  # a state written before references: the whole spec inside
    embedded = legacy.dump()
    assert '"spec"' in embedded and len(embedded) > 2 * len(state)
    assert ProcessRuntime.restore(embedded, ScriptEngine()).waiting_messages() == ["order_placed"]


@pytest.mark.parametrize("state", [
    "not json", "{}", json.dumps({"serializer_version": "1.5", "spec_ref": "0" * 64, "tasks": {}}),
    "[" * 5000 + "]" * 5000,
])
def test_an_unreadable_state_is_reported_as_such(state):
    with pytest.raises(StateUnreadable):
        ProcessRuntime.restore(state, ScriptEngine())


def test_reassigning_changes_the_variable_later_steps_read():
    definition = parse_definition(OPPORTUNITY.read_text())
    runtime = ProcessRuntime.start(definition, {"opportunity_id": 1}, ScriptEngine(lambda *a: {"ok": True}))
    assign = runtime.ready_user_tasks()[0]
    assert assign.bpmn_id == "assign" and assign.form_key == "assign_opportunity"
    runtime.complete(assign.guid, {"assignee_id": 3})
    plan = runtime.ready_user_tasks()[0]
    assert plan.properties["assignee"] == "assignee_id" and runtime.task_data(plan.guid)["assignee_id"] == 3
    runtime.set_task_data(plan.guid, "assignee_id", 5)
    runtime.complete(plan.guid, {"plan_items": []})
    execute = runtime.ready_user_tasks()[0]
    assert execute.bpmn_id == "execute_plan" and runtime.evaluate(execute.guid, "assignee_id") == 5


def test_going_back_to_an_earlier_step_undoes_the_later_work():
    definition = parse_definition(OPPORTUNITY.read_text())
    runtime = ProcessRuntime.start(definition, {"opportunity_id": 1}, ScriptEngine(lambda *a: [{"id": 1}]))
    runtime.complete(runtime.ready_user_tasks()[0].guid, {"assignee_id": 3})
    runtime.complete(runtime.ready_user_tasks()[0].guid, {"plan_items": [{"date": "2026-12-01", "content": "a"}]})
    assert [t.bpmn_id for t in runtime.ready_user_tasks()] == ["execute_plan"]
    runtime.reset_to("make_plan")
    ready = runtime.ready_user_tasks()
    assert [t.bpmn_id for t in ready] == ["make_plan"] and runtime.task_data(ready[0].guid)["assignee_id"] == 3
    with pytest.raises(KeyError):
        runtime.reset_to("outcome_never_reached")
