"""What the approval pages read, on each backend: the inbox's approval tabs and filters, the requests a user
started with their records' status, a request's trail in plain entries, where an approver may send it back."""
from __future__ import annotations

from datetime import timedelta

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import InstanceStatus, ProcessEvent, Quote, QuoteStatus
from bpm_crm.services import approval_trail, approvals, inbox, opportunities, quote_approval
from tests.processes.test_quote_approval import a_quote, the_task


def submitted(owner, amount: str = "80000.00") -> Quote:
    quote = a_quote(owner, amount)
    quote_approval.submit(quote_id=quote.id, user=owner)
    return quote


def ids(page) -> list[int]:
    return [item.id for item in page.items]


def test_approvals_are_the_approval_steps_assigned_to_the_user(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    quote = submitted(manager)
    task = the_task(quote, supervisor)
    opportunity = opportunities.create_opportunity(user=manager, values=dict(
        source="展会", customer_name="杭州测试科技有限公司", probability=60, summary="采购办公软件", contact="钱经理",
        contact_phone="13800138001", description="有意向"))
    assert ids(inbox.list_tasks(user=supervisor, view="approvals")) == [task.id]
    assert inbox.tab_counts(user=supervisor).approvals == 1
    todo = ids(inbox.list_tasks(user=supervisor, view="todo"))
    assert task.id in todo and len(todo) == 2  # the opportunity's offered step is to do, but no approval
    assert ids(inbox.list_tasks(user=supervisor, view="approvals", process_id="opportunity")) == []
    assert ids(inbox.list_tasks(user=supervisor, view="todo", process_id="opportunity")) != []
    assert ids(inbox.list_tasks(user=supervisor, view="approvals", q=quote.number)) == [task.id]
    assert ids(inbox.list_tasks(user=supervisor, view="approvals", q="杭州云启")) == [task.id]
    assert ids(inbox.list_tasks(user=supervisor, view="approvals", q="不存在的客户")) == []
    assert ids(inbox.list_tasks(user=supervisor, view="approvals", overdue=True)) == []
    assert ids(inbox.list_tasks(user=manager, view="approvals")) == []
    assert opportunity.process_instance_id in {i.id for i in inbox.list_started(user=manager).items}


def test_overdue_approvals_and_requests(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    clock.freeze(clock.now() - timedelta(days=14))
    late = submitted(manager)
    clock.unfreeze()
    submitted(manager, "1000.00")
    assert ids(inbox.list_tasks(user=supervisor, view="approvals", overdue=True)) == [the_task(late, supervisor).id]
    assert ids(inbox.list_started(user=manager, overdue=True)) == [late.process_instance_id]


def test_requests_started_running_first_with_their_records_status(users):
    manager, supervisor = users["manager1"], users["supervisor1"]
    done = submitted(manager, "1000.00")
    approvals.decide(task_id=the_task(done, supervisor).id, user=supervisor, decision="approve")
    running = submitted(manager)
    page = inbox.list_started(user=manager)
    assert ids(page) == [running.process_instance_id, done.process_instance_id]
    statuses = inbox.record_statuses(page.items)
    assert statuses == {running.process_instance_id: QuoteStatus.PENDING,
                        done.process_instance_id: QuoteStatus.APPROVED}
    waiting = inbox.waiting_tasks(ids(page))
    assert [t.assignee_id for t in waiting[running.process_instance_id]] == [supervisor.id]
    assert waiting[done.process_instance_id] == []
    counts = inbox.tab_counts(user=manager)
    assert counts.started == sum(1 for i in page.items if i.status == InstanceStatus.RUNNING)
    assert inbox.tab_counts(user=supervisor).done == 1
    assert ids(inbox.list_started(user=manager, q=running.number)) == [running.process_instance_id]
    assert ids(inbox.list_started(user=supervisor)) == []
    assert ("quote_approval", "报价审批") in {(key, name) for key, name, _id in inbox.process_choices()}


def test_the_trail_names_each_action_and_each_person(users):
    manager, supervisor, director, ceo = (users[n] for n in ("manager1", "supervisor1", "director", "ceo"))
    quote = submitted(manager, "250000.00")
    instance_id = quote.process_instance_id
    approvals.decide(task_id=the_task(quote, supervisor).id, user=supervisor, decision="approve", comment="可以")
    task = the_task(quote, director)
    assert approval_trail.return_targets(task) == [("approve_supervisor", "主管审批")]
    approvals.cc(task_id=task.id, user=director, user_ids=[users["manager3"].id])
    approvals.comment(instance_id=instance_id, user=director, text="@manager1 请确认交期")
    approvals.transfer(task_id=task.id, user=director, to_user_id=ceo.id, comment="请张总定")
    approvals.decide(task_id=the_task(quote, ceo).id, user=ceo, decision="reject", comment="折扣不够")
    quote_approval.submit(quote_id=quote.id, user=manager)

    entries = [(e.kind, e.who, e.step, e.comment, e.people, e.round) for e in approval_trail.trail(instance_id)]
    assert entries == [
        ("started", "李明", None, None, (), 1),
        ("approve", "王主管", "主管审批", "可以", (), 1),
        ("watchers", "周总监", "销售总监审批", None, ("赵敏",), 1),
        ("comment", "周总监", None, "@manager1 请确认交期", ("李明",), 1),
        ("transferred", "周总监", "销售总监审批", "请张总定", ("张总",), 1),
        ("reject", "张总", "销售总监审批", "折扣不够", (), 1),
        ("resubmitted", "李明", None, None, (), 2),  # his own "修改报价" step before it is left out
    ]
    assert [t.assignee_id for t in approval_trail.waiting(instance_id)] == [supervisor.id]
    colleagues = {person.username for person in approval_trail.colleagues(director)}
    assert "director" not in colleagues and {"ceo", "manager1"} <= colleagues


def test_automatic_decisions_become_entries(users):
    manager = users["manager1"]
    quote = submitted(manager)
    notes = [{"rule": "self", "user_id": manager.id}, {"rule": "left", "user_id": users["supervisor2"].id,
                                                       "instead": users["director"].id},
             {"rule": "empty", "policy": "pass", "user_ids": []}]
    db.session.add(ProcessEvent(instance_id=quote.process_instance_id, action="approval_auto",
                                task_name="approve_director", data={"step": "approve_director", "notes": notes}))
    db.session.commit()
    automatic = [(e.kind, e.step, e.people, e.detail) for e in approval_trail.trail(quote.process_instance_id)
                 if e.kind.startswith("auto_")]
    assert automatic == [("auto_self", "销售总监审批", ("李明",), None),
                         ("auto_left", "销售总监审批", ("陈主管", "周总监"), None),
                         ("auto_empty", "销售总监审批", (), "pass")]
