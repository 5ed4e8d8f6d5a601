"""Notifications reach people: in the product, by e-mail through a local SMTP server, and to a local webhook —
one per event and recipient, only after the commit, retried on failure without losing or duplicating one."""
from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Customer, HumanTask, Job, JobStatus, Notification, TaskStatus
from bpm_crm.services import channels, jobs, notifications, service_requests, service_work

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


class Mailbox:
    """An SMTP handler that keeps what it accepts; it can refuse the next N messages with a 451."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.refuse = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's hook name)
        with self.lock:
            if self.refuse:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            message = message_from_bytes(envelope.content)
            self.messages.append({"to": envelope.rcpt_tos, "subject": str(make_header(decode_header(
                message["Subject"]))), "body": message.get_payload(decode=True).decode()})
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mailbox(app):
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_SECURITY="none",
                      BASE_URL="http://crm.example")
    try:
        yield box
    finally:
        controller.stop()


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail = 0

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Hook.fail:
            Hook.fail -= 1
            self.send_response(500)
        else:
            Hook.received.append({"type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(app):
    Hook.received, Hook.fail = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/robot",
                      WEBHOOK_TEMPLATE='{"phone": "$mobile", "text": "$title $body"}', WEBHOOK_KINDS="transfer")
    try:
        yield Hook
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def complaint(users):
    clock.freeze(MONDAY)
    customer = Customer(name="通知测试有限公司", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.flush()
    return service_requests.create_request(user=users["agent"], values={
        "type": "投诉", "customer_id": customer.id, "summary": "安装延误", "detail": "约定周一安装，未到场"})


def pending_jobs(kind):
    db.session.expire_all()
    return list(db.session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


def test_one_mail_per_event_and_recipient_sent_only_after_the_commit(app, users, mailbox, complaint):
    for username in ("service_lead", "ceo", "agent"):
        users[username].email = f"{username}@crm.example"
    db.session.commit()
    dispatched: list[list[int]] = []
    jobs.set_dispatcher(dispatched.append)
    clock.advance(timedelta(minutes=5))

    service_work.nudge(request_id=complaint.id, user=users["agent"])
    [first] = dispatched  # handed over once, after the commit
    assert [job.payload for job in pending_jobs(notifications.EMAIL_JOB)] == [
        {"notification_id": n.id} for n in db.session.scalars(select(Notification).where(
            Notification.kind == "nudge").order_by(Notification.id))]
    assert mailbox.messages == []  # nothing is sent inside the transaction

    assert jobs.run_due_jobs() == len(first) and jobs.run_due_jobs() == 0
    assert [m["to"] for m in mailbox.messages] == [["service_lead@crm.example"]]  # one supervisor holds the task
    mail = mailbox.messages[0]
    assert mail["subject"] == "[bpm-crm] 催办：受理投诉并指定责任部门"
    assert "http://crm.example/tasks/" in mail["body"] and "安装延误" in mail["body"]


def test_a_notification_raised_in_a_transaction_that_rolls_back_leaves_nothing_and_sends_nothing(
        app, users, mailbox, complaint, monkeypatch):
    users["service_lead"].email = "lead@crm.example"
    db.session.commit()
    dispatched: list[list[int]] = []
    jobs.set_dispatcher(dispatched.append)
    written: dict[str, int] = {}
    record_history = service_work.instances.record

    def history_fails(*args, **kwargs):
        # The 催办 has written its notification, and its e-mail job with it, when the unit of work fails.
        db.session.flush()
        written["notifications"] = len(db.session.scalars(select(Notification).where(
            Notification.kind == "nudge")).all())
        written["jobs"] = len(db.session.scalars(select(Job).where(Job.kind == notifications.EMAIL_JOB)).all())
        raise RuntimeError("the history could not be written")

    monkeypatch.setattr(service_work.instances, "record", history_fails)
    with pytest.raises(RuntimeError):
        service_work.nudge(request_id=complaint.id, user=users["agent"])
    assert written == {"notifications": 1, "jobs": 1}

    db.session.expire_all()
    assert db.session.scalars(select(Notification).where(Notification.kind == "nudge")).all() == []
    assert pending_jobs(notifications.EMAIL_JOB) == []
    assert dispatched == [] and jobs.run_due_jobs() == 0
    assert mailbox.messages == []
    assert notifications.unread_count(user=users["service_lead"]) == 0

    # Nothing of it remains, not even the hour's limit: the same 催办 committed now sends one mail.
    monkeypatch.setattr(service_work.instances, "record", record_history)
    assert service_work.nudge(request_id=complaint.id, user=users["agent"]) == [users["service_lead"].id]
    assert len(dispatched) == 1 and jobs.run_due_jobs() == 1
    assert [m["to"] for m in mailbox.messages] == [["lead@crm.example"]]


def test_one_notification_and_one_mail_per_recipient_when_an_event_reaches_several(
        app, users, mailbox, complaint):
    """A 催办 of a sign-off waiting for three departments: 吴质量 heads two of them, 何财务 the third."""
    from bpm_crm.models import Department
    from bpm_crm.services import human_tasks

    departments = {d.name: d for d in db.session.scalars(select(Department))}
    departments["生产部"].head_id = users["quality"].id
    for username in ("quality", "finance", "production", "service_lead"):
        users[username].email = f"{username}@crm.example"
    db.session.commit()
    accept = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == complaint.process_instance_id,
                                                       HumanTask.status == TaskStatus.OPEN))
    human_tasks.complete_task(task_id=accept.id, user=users["service_lead"], data={"departments": [
        departments[name].id for name in ("质量部", "生产部", "财务部")]})
    assert jobs.run_due_jobs() == 0  # accepting notifies nobody by mail
    signing = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == complaint.process_instance_id,
                                                         HumanTask.status == TaskStatus.OPEN)).all()
    assert len(signing) == 3

    notified = service_work.nudge(request_id=complaint.id, user=users["agent"])
    assert sorted(notified) == sorted([users["quality"].id, users["finance"].id])
    rows = db.session.scalars(select(Notification).where(Notification.kind == "nudge")).all()
    assert sorted(row.user_id for row in rows) == sorted(notified)  # 吴质量 once, though he holds two steps
    assert len(pending_jobs(notifications.EMAIL_JOB)) == 2

    assert jobs.run_due_jobs() == 2
    clock.advance(timedelta(hours=1))
    assert jobs.run_due_jobs() == 0
    assert sorted(m["to"][0] for m in mailbox.messages) == ["finance@crm.example", "quality@crm.example"]


def test_a_failing_smtp_server_is_retried_without_losing_or_duplicating_mail(app, users, mailbox, complaint):
    users["service_lead"].email = "lead@crm.example"
    db.session.commit()
    service_work.nudge(request_id=complaint.id, user=users["agent"])
    mailbox.refuse = 2
    assert jobs.run_due_jobs() == 0  # refused: the job stays pending and waits
    [job] = pending_jobs(notifications.EMAIL_JOB)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1) and "451" in job.error
    assert jobs.run_due_jobs() == 0  # not due again yet
    clock.advance(timedelta(minutes=3))
    assert jobs.run_due_jobs() == 0  # refused a second time
    clock.advance(timedelta(minutes=5))
    assert jobs.run_due_jobs() == 1
    clock.advance(timedelta(hours=2))
    assert jobs.run_due_jobs() == 0
    [job] = pending_jobs(notifications.EMAIL_JOB)
    assert (job.status, job.attempts, job.error) == (JobStatus.DONE, 3, None)
    assert [m["to"] for m in mailbox.messages] == [["lead@crm.example"]]
    # The business change was never in doubt: the nudge is in the history, the notification in the product.
    assert db.session.scalar(select(Notification).where(Notification.kind == "nudge")) is not None


def test_transfer_reaches_the_new_handler_by_sms_webhook_and_failures_are_retried(app, users, webhook, complaint):
    users["quality"].mobile = "13900000001"
    db.session.commit()
    accept = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == complaint.process_instance_id,
                                                       HumanTask.status == TaskStatus.OPEN))
    from bpm_crm.models import Department
    from bpm_crm.services import human_tasks

    quality = db.session.scalar(select(Department).where(Department.name == "质量部"))
    human_tasks.complete_task(task_id=accept.id, user=users["service_lead"], data={"departments": [quality.id]})
    sign = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == complaint.process_instance_id,
                                                     HumanTask.status == TaskStatus.OPEN))
    human_tasks.complete_task(task_id=sign.id, user=users["quality"], data={"decision": "agree"})
    assert pending_jobs(notifications.WEBHOOK_JOB) == []  # only 转办 goes to the SMS gateway
    service_work.transfer(request_id=complaint.id, user=users["service_lead"], to_user_id=users["quality"].id,
                          comment="质量部直接处理")
    assert len(pending_jobs(notifications.WEBHOOK_JOB)) == 1
    webhook.fail = 1
    assert jobs.run_due_jobs() == 0
    clock.advance(timedelta(minutes=3))
    assert jobs.run_due_jobs() == 1 and jobs.run_due_jobs() == 0
    assert webhook.received == [{"type": "application/json; charset=utf-8", "body": {
        "phone": "13900000001", "text": "转办：决定处理方案与扣款 质量部直接处理"}}]
    db.session.expire_all()
    assert service_requests.get_request(request_id=complaint.id, user=users["quality"]).handler_id == \
        users["quality"].id


def test_the_notification_centre_lists_counts_and_marks_read_only_ones_own(users, complaint):
    service_work.nudge(request_id=complaint.id, user=users["agent"])
    lead = users["service_lead"]
    assert notifications.unread_count(user=lead) == 1
    [row] = notifications.list_notifications(user=lead, unread=True).items
    with pytest.raises(NotFound):
        notifications.mark_read(notification_id=row.id, user=users["agent"])
    notifications.mark_read(notification_id=row.id, user=lead)
    notifications.mark_read(notification_id=row.id, user=lead)  # again is fine
    assert notifications.unread_count(user=lead) == 0
    assert notifications.list_notifications(user=lead).total == 1
    assert notifications.mark_all_read(user=lead) == 0


def test_webhook_templates_stay_json_whatever_the_text():
    body = channels.render_webhook('{"text": "$title\\n$body"}', {"title": '引号"与\\反斜杠', "body": "换行\n"})
    assert json.loads(body) == {"text": '引号"与\\反斜杠\n换行\n'}


def test_the_requester_hears_that_his_quote_was_approved_or_rejected(users):
    from bpm_crm.services import approvals, quote_approval
    from tests.processes.test_quote_approval import a_quote, approve

    manager = users["manager1"]
    approved = a_quote(manager, amount="5000.00")
    quote_approval.submit(quote_id=approved.id, user=manager)
    approve(approved, users["supervisor1"])
    rejected = a_quote(manager, amount="5000.00")
    quote_approval.submit(quote_id=rejected.id, user=manager)
    task = next(t for t in db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == rejected.process_instance_id, HumanTask.status == TaskStatus.OPEN)))
    approvals.decide(task_id=task.id, user=users["supervisor1"], decision="reject", comment="价格太低")
    kinds = [(n.kind, n.title) for n in db.session.scalars(select(Notification).where(
        Notification.user_id == manager.id, Notification.kind.in_(("approved", "rejected"))).order_by(Notification.id))]
    assert kinds == [("approved", f"{approved.number} {approved.name}"),
                     ("rejected", f"{rejected.number} {rejected.name}")]
