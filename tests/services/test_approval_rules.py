"""Who approves an approval step: every rule read from the org chart, and every exception recorded."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bpm_crm.extensions import db
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.models import ProcessEvent, ProcessInstance, Role, User
from bpm_crm.services import approval_rules, definitions


def context(requester) -> HandlerContext:
    definition = definitions.latest_definition("quote_approval")
    instance = ProcessInstance(definition_id=definition.id, process_id="quote_approval", title="测试申请",
                               started_by_id=requester.id, owner_id=requester.id, state="")
    db.session.add(instance)
    db.session.flush()
    db.session.add(ProcessEvent(instance_id=instance.id, action="started", user_id=requester.id))
    db.session.flush()
    return HandlerContext(instance=instance, user=requester, task_bpmn_id="review__resolve")


def resolve(requester, approvers: str, *, on_empty="admin", self_approval="pass", mode="sequential", chosen=None,
            dedupe=True, ctx: HandlerContext | None = None) -> dict:
    return approval_rules.resolve(ctx or context(requester), step="review", approvers=approvers, on_empty=on_empty,
                                  self_approval=self_approval, mode=mode, dedupe=dedupe, chosen=chosen)


def names(ids) -> list[str]:
    return [db.session.get(User, user_id).username for user_id in ids]


def notes_recorded(ctx: HandlerContext) -> list[dict]:
    rows = db.session.scalars(select(ProcessEvent.data).where(ProcessEvent.instance_id == ctx.instance.id,
                                                              ProcessEvent.action == "approval_auto")).all()
    return [note for data in rows for note in data["notes"]]


@pytest.mark.parametrize(("rule", "approvers"), [
    ("user:director, user:ceo", ["director", "ceo"]),
    ("role:sales_supervisor", ["supervisor1"]),  # the holders whose scope covers the requester, not supervisor2
    ("role:sales_director", ["director"]),
    ("superior:1", ["supervisor1"]),
    ("superior:2", ["director"]),
    ("superiors:3", ["supervisor1", "director", "ceo"]),  # 连续多级主管, nearest first
    ("department_head", ["supervisor1"]),
    ("department_head:质量部", ["quality"]),
    ("superior:1, role:sales_director, user:supervisor1", ["supervisor1", "director"]),  # each person once
])
def test_each_rule_reads_the_org_chart(users, rule, approvers):
    result = resolve(users["manager1"], rule)
    assert names(result["approvers"]) == approvers and result["auto"] is None


def test_people_the_requester_chose_or_a_person_field(users):
    chosen = [users["quality"].id, str(users["ceo"].id), {"value": str(users["director"].id), "label": "周总监"}]
    assert names(resolve(users["manager1"], "chosen:reviewers", chosen=chosen)["approvers"]) == [
        "quality", "ceo", "director"]
    assert names(resolve(users["manager1"], "field:reviewer", chosen=users["ceo"].id)["approvers"]) == ["ceo"]


def test_an_approver_who_has_left_is_replaced_by_his_superior(users):
    users["supervisor1"].active = False
    db.session.flush()
    ctx = context(users["manager1"])
    assert names(resolve(users["manager1"], "superior:1", ctx=ctx)["approvers"]) == ["director"]
    assert notes_recorded(ctx) == [{"rule": "left", "user_id": users["supervisor1"].id,
                                    "instead": users["director"].id}]


def test_the_requester_is_not_asked_to_approve_his_own_request(users):
    supervisor = users["supervisor1"]
    ctx = context(supervisor)
    result = resolve(supervisor, "user:supervisor1, user:director", ctx=ctx)
    assert names(result["approvers"]) == ["director"]
    assert notes_recorded(ctx) == [{"rule": "self", "user_id": supervisor.id}]
    alone = context(supervisor)
    assert resolve(supervisor, "department_head", ctx=alone) == {
        "approvers": [], "auto": "approved", "notes": [{"rule": "self", "user_id": supervisor.id}]}
    assert notes_recorded(alone) == [{"rule": "self", "user_id": supervisor.id}]
    kept = resolve(supervisor, "department_head", self_approval="keep")
    assert names(kept["approvers"]) == ["supervisor1"]  # configured to ask him anyway


def test_someone_who_approved_earlier_in_the_request_is_not_asked_twice(users):
    manager, director = users["manager1"], users["director"]
    ctx = context(manager)
    db.session.add(ProcessEvent(instance_id=ctx.instance.id, action="completed_task", user_id=director.id,
                                data={"decision": "approve"}))
    db.session.flush()
    result = resolve(manager, "role:sales_director, user:ceo", ctx=ctx)
    assert names(result["approvers"]) == ["ceo"]
    assert notes_recorded(ctx) == [{"rule": "dedupe", "user_ids": [director.id]}]
    assert resolve(manager, "role:sales_director", ctx=ctx)["auto"] == "approved"
    assert names(resolve(manager, "role:sales_director", ctx=ctx, dedupe=False)["approvers"]) == ["director"]
    # A resubmission is a new round: earlier approvals no longer count.
    db.session.add(ProcessEvent(instance_id=ctx.instance.id, action="resubmitted", user_id=manager.id))
    db.session.flush()
    assert names(resolve(manager, "role:sales_director", ctx=ctx)["approvers"]) == ["director"]


@pytest.mark.parametrize(("policy", "outcome", "approvers"), [
    ("admin", None, ["admin"]),
    ("user:owner", None, ["owner"]),
    ("pass", "approved", []),
    ("reject", "rejected", []),
])
def test_nobody_found_follows_the_steps_rule_and_says_so(users, policy, outcome, approvers):
    ctx = context(users["manager1"])
    result = resolve(users["manager1"], "department_head:不存在的部门", on_empty=policy, ctx=ctx)
    assert result["auto"] == outcome and names(result["approvers"]) == approvers
    assert notes_recorded(ctx)[-1]["rule"] == "empty" and notes_recorded(ctx)[-1]["policy"] == policy


def test_nobody_found_and_no_administrator_stops_the_step_instead_of_passing_it(users):
    admin_role = db.session.scalar(select(Role).where(Role.code == "admin"))
    for holder in db.session.scalars(select(User).join(User.roles).where(Role.id == admin_role.id)):
        holder.active = False
    db.session.flush()
    with pytest.raises(LookupError, match="nobody can approve"):
        resolve(users["manager1"], "superior:9")


def test_a_share_larger_than_the_people_found_is_refused(users):
    with pytest.raises(ValueError, match="needs 3 approvals but found only 2"):
        resolve(users["manager1"], "user:director, user:ceo", mode="share:3")
    assert len(resolve(users["manager1"], "user:director, user:ceo", mode="share:2")["approvers"]) == 2


def test_an_unknown_user_and_a_fallback_who_has_left_find_nobody(users):
    db.session.execute(update(User).where(User.username == "owner").values(active=False))
    with pytest.raises(LookupError, match="nobody can approve"):
        resolve(users["manager1"], "user:nobody_here", on_empty="user:owner")
