"""Quote approval (SPEC §4.4) through the services, on each backend: the route from the decision table,
every approver action on a real quote, resubmission with what changed, withdrawal, the PDF job."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from bpm_crm.engine import definitions as engine_definitions
from bpm_crm.engine import runtime
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import (
    Customer,
    HumanTask,
    InstanceStatus,
    Job,
    Notification,
    ProcessEvent,
    ProcessInstance,
    Quote,
    QuoteStatus,
    TaskStatus,
)
from bpm_crm.services import approval_trail, approvals, definitions, human_tasks, instances, quote_approval, quotes


def a_quote(owner, amount: str = "80000.00", discount: str = "0", quantity: int = 1) -> Quote:
    customer = Customer(name="杭州云启科技有限公司", owner_id=owner.id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    # The line's price is chosen so that quantity × price less the discount comes to `amount`.
    price = (Decimal(amount) / quantity / (1 - Decimal(discount) / 100)).quantize(Decimal("0.01"))
    return quotes.create_quote(user=owner, values={"customer_id": customer.id, "name": "办公软件报价",
                                                   "quote_date": date(2026, 11, 20)},
                               lines=[{"product_name": "办公软件标准版", "quantity": quantity, "unit_price": str(price),
                                       "discount_pct": discount}])


def waiting(quote: Quote) -> list[HumanTask]:
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == quote.process_instance_id, HumanTask.status == TaskStatus.OPEN)
        .order_by(HumanTask.id)))


def the_task(quote: Quote, user) -> HumanTask:
    found = [task for task in waiting(quote) if task.assignee_id == user.id]
    assert len(found) == 1, [(t.bpmn_id, t.assignee_id) for t in waiting(quote)]
    return found[0]


def approve(quote: Quote, user, comment: str | None = None) -> None:
    approvals.decide(task_id=the_task(quote, user).id, user=user, decision="approve", comment=comment)


def status(quote: Quote) -> str:
    db.session.expire_all()
    return db.session.get(Quote, quote.id).status


def steps_asked(quote: Quote, users) -> list[tuple[str, str]]:
    """Approve whatever is waiting until the request ends; the (step, approver) pairs asked on the way."""
    by_id = {user.id: user for user in users.values()}
    asked = []
    for _turn in range(10):
        tasks = waiting(quote)
        if not tasks:
            break
        task = tasks[0]
        approver = by_id[task.assignee_id]
        asked.append((task.bpmn_id, approver.username))
        approvals.decide(task_id=task.id, user=approver, decision="approve")
    return asked


@pytest.mark.parametrize(("amount", "discount", "route"), [
    ("49999.99", "0", ["approve_supervisor"]),
    ("49999.99", "20", ["approve_supervisor"]),
    ("49999.99", "20.01", ["approve_supervisor", "approve_director"]),  # a deep discount needs the director
    ("50000.00", "0", ["approve_supervisor", "approve_director"]),  # exactly the first limit
    ("199999.99", "0", ["approve_supervisor", "approve_director"]),
    ("200000.00", "0", ["approve_supervisor", "approve_director", "approve_executive"]),  # the second limit
])
def test_the_route_follows_the_decision_table_at_its_limits(users, amount, discount, route):
    manager = users["manager1"]
    quote = a_quote(manager, amount, discount)
    assert quote.total == Decimal(amount)
    quote_approval.submit(quote_id=quote.id, user=manager)
    assert status(quote) == QuoteStatus.PENDING
    asked = steps_asked(quote, users)
    assert [step for step, _who in asked] == route
    assert dict(asked).get("approve_supervisor") == "supervisor1"  # the requester's superior
    assert dict(asked).get("approve_director", "director") == "director"
    assert dict(asked).get("approve_executive", "ceo") == "ceo"
    assert status(quote) == QuoteStatus.APPROVED


def test_approval_locks_the_quote_and_queues_its_pdf_with_the_trail(users):
    manager = users["manager1"]
    quote = a_quote(manager, "60000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    for attempt in (lambda: quotes.update_quote(quote_id=quote.id, user=manager, values={"name": "改名"}),
                    lambda: quotes.add_line(quote_id=quote.id, user=manager,
                                            values={"product_name": "加项", "quantity": 1, "unit_price": "1"})):
        with pytest.raises(Conflict) as locked:
            attempt()
        assert locked.value.code == "quote_locked"
    with pytest.raises(Conflict):
        quotes.delete_quote(quote_id=quote.id, user=manager)
    with pytest.raises(Conflict):  # submitting twice starts nothing more
        quote_approval.submit(quote_id=quote.id, user=manager)

    approve(quote, users["supervisor1"], "价格合理")
    approve(quote, users["director"])
    assert status(quote) == QuoteStatus.APPROVED
    job = db.session.scalar(select(Job).where(Job.kind == "quote.pdf"))
    assert job is not None and job.payload["quote_id"] == quote.id
    trail = [(entry["step"], entry["approver"], entry["decision"], entry["comment"]) for entry in job.payload["trail"]]
    assert trail == [("主管审批", "王主管", "approve", "价格合理"), ("销售总监审批", "周总监", "approve", None)]
    instance = db.session.get(ProcessInstance, quote.process_instance_id)
    assert instance.status == InstanceStatus.COMPLETED
    times = quote_approval.step_times(instance.id)
    assert [(t.step, t.approver) for t in times] == [("主管审批", "王主管"), ("销售总监审批", "周总监")]
    assert all(t.seconds is not None and t.seconds >= 0 for t in times)


def test_an_empty_quote_cannot_be_submitted(users):
    manager = users["manager1"]
    quote = a_quote(manager)
    quotes.delete_line(quote_id=quote.id, line_id=quote.lines[0].id, user=manager)
    with pytest.raises(Invalid) as refused:
        quote_approval.submit(quote_id=quote.id, user=manager)
    assert refused.value.code == "quote_empty"
    assert status(quote) == QuoteStatus.DRAFT and db.session.get(Quote, quote.id).process_instance_id is None


def test_someone_elses_quote_or_task_is_refused_and_nothing_changes(users):
    manager = users["manager1"]
    quote = a_quote(manager)
    with pytest.raises(NotFound):
        quote_approval.submit(quote_id=quote.id, user=users["manager2"])
    quote_approval.submit(quote_id=quote.id, user=manager)
    task = the_task(quote, users["supervisor1"])
    for intruder in (users["manager2"], users["supervisor2"], manager):
        with pytest.raises((Forbidden, NotFound)):
            approvals.decide(task_id=task.id, user=intruder, decision="approve")
        with pytest.raises((Forbidden, NotFound)):
            approvals.transfer(task_id=task.id, user=intruder, to_user_id=users["manager3"].id)
    assert [t.id for t in waiting(quote)] == [task.id] and status(quote) == QuoteStatus.PENDING


def test_a_rejection_needs_a_reason_and_sends_the_quote_back_to_its_author(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    quote = a_quote(manager)
    quote_approval.submit(quote_id=quote.id, user=manager)
    task = the_task(quote, supervisor)
    with pytest.raises(Invalid) as no_reason:
        approvals.decide(task_id=task.id, user=supervisor, decision="reject", comment="  ")
    assert "comment" in no_reason.value.field_errors
    approvals.decide(task_id=task.id, user=supervisor, decision="reject", comment="折扣过高")
    assert status(quote) == QuoteStatus.REJECTED
    revise = the_task(quote, manager)
    assert revise.bpmn_id == "revise"
    # Rejected, the quote can be revised again — and resubmitted.
    quotes.update_line(quote_id=quote.id, line_id=quote.lines[0].id, user=manager, values={"quantity": 2})
    quote_approval.submit(quote_id=quote.id, user=manager)
    assert status(quote) == QuoteStatus.PENDING
    assert the_task(quote, supervisor).bpmn_id == "approve_supervisor"


def test_each_approver_sees_what_changed_since_the_version_he_decided_on(users):
    manager, supervisor, director, ceo = (users[name] for name in ("manager1", "supervisor1", "director", "ceo"))
    quote = a_quote(manager, "250000.00")
    first_line = quote.lines[0].id
    quotes.add_line(quote_id=quote.id, user=manager,
                    values={"product_name": "实施服务", "quantity": 1, "unit_price": "5000.00"})
    quote_approval.submit(quote_id=quote.id, user=manager)
    instance_id = quote.process_instance_id
    assert approval_trail.changes_since_seen(instance_id, supervisor) is None  # nothing seen before
    approve(quote, supervisor)
    approvals.transfer(task_id=the_task(quote, director).id, user=director, to_user_id=ceo.id, comment="请张总定")
    approvals.decide(task_id=the_task(quote, ceo).id, user=ceo, decision="reject", comment="实施服务另行报价")

    service_line = next(line.id for line in db.session.get(Quote, quote.id).lines if line.id != first_line)
    quotes.delete_line(quote_id=quote.id, line_id=service_line, user=manager)
    quotes.update_line(quote_id=quote.id, line_id=first_line, user=manager, values={"discount_pct": "5"})
    quotes.add_line(quote_id=quote.id, user=manager,
                    values={"product_name": "培训", "quantity": 2, "unit_price": "800.00"})
    quote_approval.submit(quote_id=quote.id, user=manager)

    changes = approval_trail.changes_since_seen(instance_id, supervisor)
    kinds = {(change.kind, change.label) for change in changes}
    assert ("field", "总金额") in kinds
    assert ("removed", "实施服务") in kinds and ("added", "培训") in kinds
    changed = next(change for change in changes if change.kind == "changed")
    assert changed.label == "办公软件标准版" and ("折扣（%）", "0.00", "5.00") in changed.fields
    assert approval_trail.changes_since_seen(instance_id, ceo) == changes  # he decided on the same version
    assert approval_trail.changes_since_seen(instance_id, director) == changes  # he handed it on: he saw it
    # Everyone approves this time; the trail of the approved quote holds only the last round.
    assert [who for _step, who in steps_asked(quote, users)] == ["supervisor1", "director", "ceo"]
    assert status(quote) == QuoteStatus.APPROVED
    printed = db.session.scalars(select(Job).where(Job.kind == "quote.pdf")).all()[-1].payload["trail"]
    assert [(entry["approver"], entry["decision"]) for entry in printed] == [
        ("王主管", "approve"), ("周总监", "approve"), ("张总", "approve")]  # the earlier round is not printed
    events = [event.action for event in approvals.approval_history(instance_id)]
    assert events.count("resubmitted") == 1 and "transferred" in events


def test_a_transfer_in_the_printed_round_is_printed_with_its_note(users):
    manager, supervisor, director, ceo = (users[name] for name in ("manager1", "supervisor1", "director", "ceo"))
    quote = a_quote(manager, "250000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    approve(quote, supervisor, "价格合理")
    approvals.transfer(task_id=the_task(quote, director).id, user=director, to_user_id=ceo.id, comment="请张总定")
    approve(quote, ceo, "同意")  # the director's step, decided by the one it was handed to
    assert status(quote) == QuoteStatus.APPROVED
    printed = db.session.scalars(select(Job).where(Job.kind == "quote.pdf")).all()[-1].payload["trail"]
    rows = [(entry["approver"], entry["decision"], entry["comment"]) for entry in printed]
    assert rows == [("王主管", "approve", "价格合理"), ("周总监", "transfer", "请张总定"), ("张总", "approve", "同意")]
    assert printed[1]["step"] == printed[2]["step"] == "销售总监审批"


def test_the_author_withdraws_while_nobody_has_acted_and_not_after(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    quote = a_quote(manager)
    quote_approval.submit(quote_id=quote.id, user=manager)
    quote_approval.withdraw(quote_id=quote.id, user=manager, reason="客户要改数量")
    assert status(quote) == QuoteStatus.DRAFT and waiting(quote) == []
    first = db.session.get(ProcessInstance, quote.process_instance_id)
    assert first.status == InstanceStatus.COMPLETED
    assert "withdrawn" in [event.action for event in instances.history(first.id)]

    quote_approval.submit(quote_id=quote.id, user=manager)  # a draft again: submitted anew
    assert db.session.get(Quote, quote.id).process_instance_id != first.id
    approve(quote, supervisor)
    with pytest.raises(Conflict) as too_late:
        quote_approval.withdraw(quote_id=quote.id, user=manager)
    assert too_late.value.code == "withdraw_too_late"
    assert status(quote) == QuoteStatus.PENDING and the_task(quote, users["director"])


def test_a_rejected_quote_can_be_withdrawn_instead_of_revised(users):
    manager = users["manager1"]
    quote = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    approvals.decide(task_id=the_task(quote, users["supervisor1"]).id, user=users["supervisor1"],
                     decision="reject", comment="不需要报价")
    quote_approval.withdraw(quote_id=quote.id, user=manager)
    assert status(quote) == QuoteStatus.DRAFT and waiting(quote) == []


def test_returning_to_the_author_and_to_an_earlier_step(users):
    manager, supervisor, director = users["manager1"], users["supervisor1"], users["director"]
    quote = a_quote(manager)
    quote_approval.submit(quote_id=quote.id, user=manager)
    approve(quote, supervisor)
    task = the_task(quote, director)
    with pytest.raises(Invalid) as not_reached:
        approvals.return_task(task_id=task.id, user=director, to="approve_executive", comment="重看")
    assert not_reached.value.code == "return_target"
    approvals.return_task(task_id=task.id, user=director, to="approve_supervisor", comment="请主管核实折扣")
    assert [t.bpmn_id for t in waiting(quote)] == ["approve_supervisor"] and status(quote) == QuoteStatus.PENDING
    assert the_task(quote, supervisor)  # asked again, although he approved before
    approve(quote, supervisor)
    approvals.return_task(task_id=the_task(quote, director).id, user=director, to="requester", comment="请补充说明")
    assert status(quote) == QuoteStatus.REJECTED and the_task(quote, manager).bpmn_id == "revise"
    history = [(e.action, e.comment) for e in instances.history(quote.process_instance_id)]
    assert ("returned", "请主管核实折扣") in history and ("completed_task", "请补充说明") in history


def test_adding_a_signer_before_and_after_oneself(users):
    manager, supervisor, director, colleague = (
        users[n] for n in ("manager1", "supervisor1", "director", "supervisor2"))
    quote = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    approvals.add_signer(task_id=the_task(quote, supervisor).id, user=supervisor, to_user_id=colleague.id,
                         before=True, comment="请陈主管先看")
    assert [t.assignee_id for t in waiting(quote)] == [colleague.id]
    approve(quote, colleague)
    assert [t.assignee_id for t in waiting(quote)] == [supervisor.id]  # his turn comes back
    approvals.add_signer(task_id=the_task(quote, supervisor).id, user=supervisor, to_user_id=director.id,
                         before=False)
    approve(quote, supervisor)
    assert [t.assignee_id for t in waiting(quote)] == [director.id]  # then the one he added after himself
    approve(quote, director)
    assert status(quote) == QuoteStatus.APPROVED
    with pytest.raises(Conflict):  # the request has ended
        approvals.add_signer(task_id=the_task_any(quote), user=supervisor, to_user_id=director.id, before=False)


def the_task_any(quote: Quote) -> int:
    return db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == quote.process_instance_id)
                             .order_by(HumanTask.id.desc()).limit(1))


def test_nudging_reminds_the_waiting_approver_once_an_hour(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    quote = a_quote(manager)
    quote_approval.submit(quote_id=quote.id, user=manager)
    with pytest.raises(Forbidden):
        approvals.nudge(instance_id=quote.process_instance_id, user=supervisor)
    assert approvals.nudge(instance_id=quote.process_instance_id, user=manager) == [supervisor.id]
    with pytest.raises(Conflict) as again:
        approvals.nudge(instance_id=quote.process_instance_id, user=manager)
    assert again.value.code == "nudged_recently"
    reminders = db.session.scalars(select(Notification).where(Notification.kind == "nudge")).all()
    assert [(n.user_id, n.instance_id) for n in reminders] == [(supervisor.id, quote.process_instance_id)]


def test_a_copied_colleague_sees_the_request_read_only(users):
    manager, supervisor, other = users["manager1"], users["supervisor1"], users["manager2"]
    quote = a_quote(manager)
    quote_approval.submit(quote_id=quote.id, user=manager)
    task = the_task(quote, supervisor)
    with pytest.raises(NotFound):
        instances.get_instance(instance_id=quote.process_instance_id, user=other)
    approvals.cc(task_id=task.id, user=supervisor, user_ids=[other.id])
    assert human_tasks.get_task(task_id=task.id, user=other).id == task.id
    assert instances.get_instance(instance_id=quote.process_instance_id, user=other).id == quote.process_instance_id
    assert approvals.actions(other, task) == ["comment"]
    with pytest.raises(Forbidden):
        approvals.decide(task_id=task.id, user=other, decision="approve")
    with pytest.raises(Forbidden):  # only the approver (or whoever may reassign) copies people in
        approvals.cc(task_id=task.id, user=other, user_ids=[users["manager3"].id])
    assert db.session.scalar(select(Notification.user_id).where(Notification.kind == "cc")) == other.id


def test_comments_mention_people_who_may_see_the_request(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    quote = a_quote(manager)
    quote_approval.submit(quote_id=quote.id, user=manager)
    approvals.comment(instance_id=quote.process_instance_id, user=supervisor, text="@manager1 请确认交期")
    mention = db.session.scalar(select(Notification).where(Notification.kind == "mention"))
    assert mention.user_id == manager.id and "请确认交期" in mention.body
    with pytest.raises(Invalid) as hidden:
        approvals.comment(instance_id=quote.process_instance_id, user=supervisor, text="@manager2 看看")
    assert hidden.value.code == "mention_out_of_scope"
    comments = db.session.scalars(select(ProcessEvent.comment).where(ProcessEvent.action == "comment")).all()
    assert comments == ["@manager1 请确认交期"]


def test_batch_approval_approves_each_it_may_and_reports_the_rest(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    mine = [a_quote(manager, "1000.00") for _ in range(3)]
    for quote in mine:
        quote_approval.submit(quote_id=quote.id, user=manager)
    task_ids = [the_task(quote, supervisor).id for quote in mine]
    foreign = a_quote(users["manager2"], "1000.00")
    quote_approval.submit(quote_id=foreign.id, user=users["manager2"])
    results = approvals.decide_many(task_ids=[*task_ids, the_task(foreign, users["supervisor2"]).id],
                                    user=supervisor, comment="同意")
    assert [result.ok for result in results] == [True, True, True, False]
    assert [status(quote) for quote in mine] == [QuoteStatus.APPROVED] * 3
    assert status(foreign) == QuoteStatus.PENDING



def test_an_approver_who_leaves_while_asked_hands_his_decision_to_his_superior(users):
    from bpm_crm.services import admin

    manager, supervisor, director = users["manager1"], users["supervisor1"], users["director"]
    quote = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    task = the_task(quote, supervisor)
    admin.set_active(user=users["admin"], user_id=supervisor.id, active=False)
    assert the_task(quote, director).id == task.id
    approve(quote, director)
    assert status(quote) == QuoteStatus.APPROVED
    assert ("reassigned", director.id) in [(e.action, (e.data or {}).get("assignee_id"))
                                           for e in instances.history(quote.process_instance_id)]


def test_a_task_can_be_returned_to_the_steps_the_request_has_passed(users):
    manager, supervisor, director = users["manager1"], users["supervisor1"], users["director"]
    quote = a_quote(manager, "250000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    assert approval_trail.return_targets(the_task(quote, supervisor)) == []
    approve(quote, supervisor)
    approve(quote, director)
    assert approval_trail.return_targets(the_task(quote, users["ceo"])) == [
        ("approve_supervisor", "主管审批"), ("approve_director", "销售总监审批")]


def test_a_withdrawal_leaves_later_requests_able_to_finish(users):
    manager = users["manager1"]
    first = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=first.id, user=manager)
    quote_approval.withdraw(quote_id=first.id, user=manager)
    second = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=second.id, user=manager)
    approve(second, users["supervisor1"])
    assert status(second) == QuoteStatus.APPROVED
    assert db.session.get(ProcessInstance, second.process_instance_id).status == InstanceStatus.COMPLETED


def test_a_withdrawal_leaves_requests_started_before_it_able_to_finish(users):
    """Withdrawing one request must not change the diagram under requests already running."""
    manager = users["manager1"]
    earlier = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=earlier.id, user=manager)
    withdrawn = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=withdrawn.id, user=manager)
    quote_approval.withdraw(quote_id=withdrawn.id, user=manager)
    approve(earlier, users["supervisor1"])
    assert status(earlier) == QuoteStatus.APPROVED
    assert db.session.get(ProcessInstance, earlier.process_instance_id).status == InstanceStatus.COMPLETED
    assert status(withdrawn) == QuoteStatus.DRAFT


def a_fresh_server_process() -> None:
    """What a restart or another worker has: the deployed diagrams parsed afresh, nothing cached."""
    engine_definitions._load.cache_clear()
    runtime._SPECS.clear()
    definitions.forget_versions()


def test_an_approval_step_finishes_in_a_server_process_other_than_the_one_that_opened_it(users):
    manager = users["manager1"]
    quote = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    a_fresh_server_process()
    approve(quote, users["supervisor1"])
    assert status(quote) == QuoteStatus.APPROVED
    assert db.session.get(ProcessInstance, quote.process_instance_id).status == InstanceStatus.COMPLETED


def test_requests_finish_in_a_server_process_that_has_not_seen_a_withdrawal(users):
    manager = users["manager1"]
    withdrawn = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=withdrawn.id, user=manager)
    quote_approval.withdraw(quote_id=withdrawn.id, user=manager)
    later = a_quote(manager, "1000.00")
    quote_approval.submit(quote_id=later.id, user=manager)
    a_fresh_server_process()
    approve(later, users["supervisor1"])
    assert status(later) == QuoteStatus.APPROVED
    assert db.session.get(ProcessInstance, later.process_instance_id).status == InstanceStatus.COMPLETED


def test_a_leaver_with_nobody_above_him_leaves_his_decision_to_the_administrators(users):
    from bpm_crm.services import admin, inbox

    manager, ceo = users["manager1"], users["ceo"]
    quote = a_quote(manager, "250000.00")
    quote_approval.submit(quote_id=quote.id, user=manager)
    approve(quote, users["supervisor1"])
    approve(quote, users["director"])
    task = the_task(quote, ceo)
    admin.set_active(user=users["admin"], user_id=ceo.id, active=False)  # the executive has no superior
    db.session.expire_all()
    task = db.session.get(HumanTask, task.id)
    assert task.status == TaskStatus.OPEN and task.assignee_id is None
    claimable = inbox.list_tasks(user=users["admin"], view="claimable", page=1, per_page=50).items
    assert task.id in [row.id for row in claimable]  # not left to nobody
