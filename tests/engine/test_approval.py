"""The approval step: configured on one user task, compiled to plain BPMN, deciding as its mode says."""
from __future__ import annotations

from pathlib import Path

import pytest

from bpm_crm.engine.definitions import DefinitionInvalid, parse_definition
from bpm_crm.engine.runtime import ProcessRuntime
from bpm_crm.engine.scripting import ScriptEngine

STEP = (Path(__file__).parent / "approval" / "step.bpmn").read_text(encoding="utf-8")


def diagram(mode: str, approvers: str = "role:sales_supervisor", extra: str = "") -> str:
    return STEP.replace("MODE_APPROVERS", approvers).replace('value="MODE"/>', f'value="{mode}"/>{extra}')


def run(mode: str, decisions: list[str], approvers: list[int] | None = None, auto: str | None = None):
    """Start the step with these approvers and let them decide in turn; (outcome, who was asked, open at once)."""
    resolved = {"approvers": [1, 2, 3] if approvers is None else approvers, "auto": auto}
    runtime = ProcessRuntime.start(parse_definition(diagram(mode)), {}, ScriptEngine(lambda *_: resolved))
    asked = []
    for decision in decisions:
        ready = runtime.ready_user_tasks()
        if not ready:
            break
        task = ready[0]
        approver = runtime.task_data(task.guid)["review__approver"]
        asked.append((approver, len(ready)))
        runtime.complete(task.guid, {"decision": decision,
                                     "review__vote": {"approver": approver, "decision": decision, "comment": None}})
    assert runtime.completed
    return runtime.last_task_data()["review_outcome"], asked


def test_sequential_asks_one_after_another_and_stops_at_a_rejection():
    assert run("sequential", ["approve"] * 3) == ("approved", [(1, 1), (2, 1), (3, 1)])
    assert run("sequential", ["approve", "reject", "approve"]) == ("rejected", [(1, 1), (2, 1)])


def test_all_asks_everyone_at_once_and_one_rejection_decides():
    assert run("all", ["approve"] * 3) == ("approved", [(1, 3), (2, 2), (3, 1)])
    assert run("all", ["approve", "reject", "approve"]) == ("rejected", [(1, 3), (2, 2)])


def test_any_takes_the_first_decision():
    assert run("any", ["reject", "approve"]) == ("rejected", [(1, 3)])
    assert run("any", ["approve"]) == ("approved", [(1, 3)])


@pytest.mark.parametrize(("decisions", "outcome", "asked"), [
    (["approve", "approve", "approve"], "approved", 2),  # two of three decide it; the third is not asked
    (["reject", "approve", "approve"], "approved", 3),
    (["approve", "reject", "approve"], "approved", 3),
    (["reject", "reject", "approve"], "rejected", 2),  # two refusals leave no way to reach two approvals
    (["return", "approve"], "returned", 1),
])
def test_a_share_is_counted_over_every_vote_in_parallel(decisions, outcome, asked):
    result, who = run("share:2", decisions)
    assert result == outcome and len(who) == asked and who[0][1] == 3


def test_an_automatic_decision_skips_the_people():
    assert run("all", ["approve"], approvers=[], auto="approved") == ("approved", [])
    assert run("all", ["approve"], approvers=[], auto="rejected") == ("rejected", [])


def test_the_drawn_diagram_keeps_one_box_and_the_run_gets_plain_bpmn():
    parsed = parse_definition(diagram("all"))
    assert "review__resolve" not in parsed.xml and parsed.approval_steps["review"].mode == "all"
    assert parsed.user_tasks["review"]["assignee"] == "review__approver"
    properties = parsed.user_tasks["review"]
    assert properties["approval_step"] == "review" and properties["form"] == "approval"
    assert "review__resolve" in parsed.spec.task_specs


@pytest.mark.parametrize(("mode", "approvers", "problem"), [
    ("all", "", "needs an 'approvers' rule"),
    ("everyone", "role:sales_supervisor", "mode must be one of"),
    ("share:0", "role:sales_supervisor", "at least 1 approval"),
    ("share:3", "user:u1, user:u2", "more than the 2 people named"),
    ("all", "boss:1", "unknown rule 'boss:1'"),
    ("all", "superior:99", "a level from 1 to 10"),
    ("all", "chosen:1x", "must name a variable"),
])
def test_a_step_that_cannot_run_is_refused_at_deploy(mode, approvers, problem):
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(diagram(mode, approvers))
    assert any(p.element_id == "review" and problem in p.message for p in refused.value.problems)


def _decide(runtime: ProcessRuntime, decision: str) -> int:
    task = runtime.ready_user_tasks()[0]
    approver = runtime.task_data(task.guid)["review__approver"]
    runtime.complete(task.guid, {"decision": decision, "review__vote": {"approver": approver, "decision": decision}})
    return approver


def _started(mode: str) -> ProcessRuntime:
    resolved = {"approvers": [1, 2], "auto": None}
    return ProcessRuntime.start(parse_definition(diagram(mode)), {}, ScriptEngine(lambda *_: resolved))


def test_adding_a_signer_after_oneself_in_order():
    runtime = _started("sequential")
    runtime.add_approver(runtime.ready_user_tasks()[0].guid, 9, before=False)
    assert [_decide(runtime, "approve") for _ in range(3)] == [1, 9, 2]
    assert runtime.last_task_data()["review_outcome"] == "approved"


def test_adding_a_signer_before_oneself_brings_ones_turn_back():
    runtime = _started("sequential")
    mine = runtime.ready_user_tasks()[0]
    runtime.add_approver(mine.guid, 9, before=True)
    runtime.complete(mine.guid, {"decision": "deferred", "review__vote": None})  # the turn passes to the new signer
    assert [_decide(runtime, "approve") for _ in range(3)] == [9, 1, 2]
    assert runtime.last_task_data()["review_outcome"] == "approved"


def test_adding_a_signer_in_parallel_asks_him_at_once():
    runtime = _started("all")
    runtime.add_approver(runtime.ready_user_tasks()[0].guid, 9, before=False)
    assert sorted(runtime.task_data(t.guid)["review__approver"] for t in runtime.ready_user_tasks()) == [1, 2, 9]
    assert sorted(_decide(runtime, "approve") for _ in range(3)) == [1, 2, 9]
    assert runtime.last_task_data()["review_outcome"] == "approved"
