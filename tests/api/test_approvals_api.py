"""Quote approval over the API, on each backend: submit and withdraw, every approver action, the request's
comments, reminders and history, the decision table — foreign users refused, second decisions 409, bad input
changing nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, Notification, ProcessEvent, Quote, QuoteStatus, TaskStatus
from bpm_crm.services import definitions, quotes
from tests.processes.test_quote_approval import a_quote
from tests.services.test_decision_tables import SHIPPED

from .helpers import assert_error
from .records import documented

TABLE = "/api/v1/processes/quote_approval/decisions/quote_levels"
STRANGERS = ("manager2", "supervisor2")


def submit(client, auth, quote: Quote, username: str = "manager1") -> dict:
    response = client.post(f"/api/v1/quotes/{quote.id}/submit", headers=auth(username))
    assert response.status_code == 200, response.json
    return response.json


def task_of(client, auth, username: str, instance_id: int) -> dict:
    """The user's open approval task of a request, as GET /tasks/{id} shows it to him."""
    items = client.get("/api/v1/tasks?view=mine&per_page=100", headers=auth(username)).json["items"]
    found = [item for item in items if item["process_instance"]["id"] == instance_id]
    assert len(found) == 1, items
    return client.get(f"/api/v1/tasks/{found[0]['id']}", headers=auth(username)).json


def open_tasks(instance_id: int) -> list[tuple[str, int | None]]:
    db.session.expire_all()
    return [(task.bpmn_id, task.assignee_id) for task in db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id))]


def events(instance_id: int) -> int:
    return db.session.scalar(select(func.count(ProcessEvent.id)).where(ProcessEvent.instance_id == instance_id))


def quote_status(quote: Quote) -> str:
    db.session.expire_all()
    return db.session.get(Quote, quote.id).status


def test_submitting_shows_the_approval_on_the_quote(client, auth, users):
    quote = a_quote(users["manager1"], "80000.00")
    for stranger in STRANGERS:
        assert_error(client.post(f"/api/v1/quotes/{quote.id}/submit", headers=auth(stranger)), 404)
    assert quote_status(quote) == QuoteStatus.DRAFT
    assert client.get(f"/api/v1/quotes/{quote.id}", headers=auth("manager1")).json["approval"] is None

    body = submit(client, auth, quote)
    assert body["status"] == QuoteStatus.PENDING and body["process_instance_id"]
    approval = body["approval"]
    assert approval["running"] is True and approval["process_instance_id"] == body["process_instance_id"]
    assert [(w["step"], w["approver"]["username"]) for w in approval["waiting"]] == [("主管审批", "supervisor1")]
    assert approval["history"][0]["action"] == "started"
    assert [(t["step"], t["approver"], t["closed_at"], t["seconds"]) for t in approval["step_times"]] == [
        ("主管审批", "王主管", None, None)]
    assert set(body) == documented(client, "QuoteDetail")
    assert set(approval) == documented(client, "QuoteApproval")
    assert set(approval["step_times"][0]) == documented(client, "StepTime")

    again = assert_error(client.post(f"/api/v1/quotes/{quote.id}/submit", headers=auth("manager1")), 409)
    assert again["code"] == "quote_not_draft"
    unknown = assert_error(client.post(f"/api/v1/quotes/{quote.id}/submit", json={"urgent": True},
                                       headers=auth("manager1")), 422)
    assert set(unknown["fields"]) == {"urgent"}


def test_an_empty_quote_is_refused_and_stays_a_draft(client, auth, users):
    quote = a_quote(users["manager1"])
    quotes.delete_line(quote_id=quote.id, line_id=quote.lines[0].id, user=users["manager1"])
    error = assert_error(client.post(f"/api/v1/quotes/{quote.id}/submit", headers=auth("manager1")), 422)
    assert error["code"] == "quote_empty" and "lines" in error["fields"]
    assert quote_status(quote) == QuoteStatus.DRAFT


def test_approving_twice_is_a_conflict_and_strangers_cannot_decide(client, auth, users):
    quote = a_quote(users["manager1"], "80000.00")
    instance_id = submit(client, auth, quote)["process_instance_id"]
    task = task_of(client, auth, "supervisor1", instance_id)
    assert task["approval"]["step"] == "approve_supervisor"
    assert {"approve", "reject", "return", "transfer", "add_signer", "cc", "comment"} <= set(
        task["approval"]["actions"])
    assert task["approval"]["changes_since_seen"] is None
    assert set(task) == documented(client, "TaskDetail")
    assert set(task["approval"]) == documented(client, "TaskApproval")

    before = events(instance_id)
    for stranger in STRANGERS:
        for action, body in (("approve", {}), ("reject", {"comment": "不行"}), ("transfer", {"to_user_id": 1}),
                             ("return", {"to": "requester", "comment": "退回"}),
                             ("signers", {"user_id": users["director"].id, "position": "after"})):
            assert_error(client.post(f"/api/v1/tasks/{task['id']}/{action}", json=body, headers=auth(stranger)), 404)
    requester = client.post(f"/api/v1/tasks/{task['id']}/approve", json={}, headers=auth("manager1"))
    assert requester.status_code in (403, 404)
    assert events(instance_id) == before and open_tasks(instance_id) == [("approve_supervisor",
                                                                          users["supervisor1"].id)]

    done = client.post(f"/api/v1/tasks/{task['id']}/approve", json={"comment": "价格合理"}, headers=auth("supervisor1"))
    assert done.status_code == 200, done.json
    assert done.json["status"] == "completed" and done.json["approval"]["actions"] == []
    second = assert_error(client.post(f"/api/v1/tasks/{task['id']}/approve", headers=auth("supervisor1")), 409)
    assert second["code"] == "task_closed"
    assert_error(client.post(f"/api/v1/tasks/{task['id']}/reject", json={"comment": "改主意了"},
                             headers=auth("supervisor1")), 409)
    assert open_tasks(instance_id) == [("approve_director", users["director"].id)]

    history = client.get(f"/api/v1/process-instances/{instance_id}/history", headers=auth("manager1")).json
    decided = [item for item in history["items"] if item["decision"]]
    assert [(d["step"], d["user"]["username"], d["decision"], d["comment"]) for d in decided] == [
        ("主管审批", "supervisor1", "approve", "价格合理")]
    assert set(history["items"][0]) == documented(client, "ApprovalEvent")
    for stranger in STRANGERS:
        assert_error(client.get(f"/api/v1/process-instances/{instance_id}/history", headers=auth(stranger)), 404)


def test_a_rejection_needs_its_reason_and_bad_input_changes_nothing(client, auth, users):
    quote = a_quote(users["manager1"])
    instance_id = submit(client, auth, quote)["process_instance_id"]
    task = task_of(client, auth, "supervisor1", instance_id)
    path, headers = f"/api/v1/tasks/{task['id']}/reject", auth("supervisor1")
    before = events(instance_id)
    assert_error(client.post(path, headers=headers), 400)  # no body at all
    for body in ({}, {"comment": "   "}, {"comment": "x" * 2001}, {"comment": 5}, {"comment": "ok", "extra": 1}):
        error = assert_error(client.post(path, json=body, headers=headers), 422)
        assert error["fields"], body
    assert events(instance_id) == before and quote_status(quote) == QuoteStatus.PENDING

    rejected = client.post(path, json={"comment": "折扣过高"}, headers=headers)
    assert rejected.status_code == 200 and rejected.json["status"] == "completed"
    assert quote_status(quote) == QuoteStatus.REJECTED

    too_long = assert_error(client.post(f"/api/v1/quotes/{quote.id}/withdraw", json={"reason": "x" * 2001},
                                        headers=auth("manager1")), 422)
    assert "reason" in too_long["fields"] and quote_status(quote) == QuoteStatus.REJECTED
    assert_error(client.post(f"/api/v1/quotes/{quote.id}/withdraw", headers=auth("manager2")), 404)
    withdrawn = client.post(f"/api/v1/quotes/{quote.id}/withdraw", json={"reason": "客户取消"},
                            headers=auth("manager1"))
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == QuoteStatus.DRAFT
    assert withdrawn.json["approval"]["running"] is False and withdrawn.json["approval"]["waiting"] == []
    assert_error(client.post(f"/api/v1/quotes/{quote.id}/withdraw", headers=auth("manager1")), 409)


def test_the_approver_sees_what_changed_since_he_decided(client, auth, users):
    manager = users["manager1"]
    quote = a_quote(manager)
    instance_id = submit(client, auth, quote)["process_instance_id"]
    task = task_of(client, auth, "supervisor1", instance_id)
    client.post(f"/api/v1/tasks/{task['id']}/reject", json={"comment": "数量不对"}, headers=auth("supervisor1"))
    quotes.update_line(quote_id=quote.id, line_id=quote.lines[0].id, user=manager, values={"quantity": 3})
    resubmitted = submit(client, auth, quote)
    assert resubmitted["status"] == QuoteStatus.PENDING and resubmitted["process_instance_id"] == instance_id

    again = task_of(client, auth, "supervisor1", instance_id)
    changes = again["approval"]["changes_since_seen"]
    assert {(c["kind"], c["label"]) for c in changes} >= {("field", "总金额"), ("changed", "办公软件标准版")}
    line = next(c for c in changes if c["kind"] == "changed")
    assert {"label": "数量", "before": "1", "after": "3"} in line["fields"]
    assert set(line) == documented(client, "ApprovalChange")


def test_returning_to_an_earlier_step_or_to_the_requester(client, auth, users):
    quote = a_quote(users["manager1"], "80000.00")
    instance_id = submit(client, auth, quote)["process_instance_id"]
    first = task_of(client, auth, "supervisor1", instance_id)
    client.post(f"/api/v1/tasks/{first['id']}/approve", headers=auth("supervisor1"))
    task = task_of(client, auth, "director", instance_id)
    path, headers = f"/api/v1/tasks/{task['id']}/return", auth("director")
    before = events(instance_id)
    for body in ({"comment": "重看"}, {"to": "", "comment": "重看"}, {"to": "x" * 81, "comment": "重看"},
                 {"to": ["approve_supervisor"], "comment": "重看"}, {"to": "approve_executive", "comment": "重看"},
                 {"to": "approve_supervisor"}):
        error = assert_error(client.post(path, json=body, headers=headers), 422)
        assert set(error["fields"]) & {"to", "comment"}, body
    assert events(instance_id) == before

    back = client.post(path, json={"to": "approve_supervisor", "comment": "请主管核实折扣"}, headers=headers)
    assert back.status_code == 200, back.json
    assert open_tasks(instance_id) == [("approve_supervisor", users["supervisor1"].id)]
    again = task_of(client, auth, "supervisor1", instance_id)
    client.post(f"/api/v1/tasks/{again['id']}/approve", headers=auth("supervisor1"))
    last = task_of(client, auth, "director", instance_id)
    to_requester = client.post(f"/api/v1/tasks/{last['id']}/return", json={"to": "requester", "comment": "请补充"},
                               headers=headers)
    assert to_requester.status_code == 200 and quote_status(quote) == QuoteStatus.REJECTED


def test_transferring_and_adding_signers(client, auth, users):
    quote = a_quote(users["manager1"], "1000.00")
    instance_id = submit(client, auth, quote)["process_instance_id"]
    task = task_of(client, auth, "supervisor1", instance_id)
    headers = auth("supervisor1")
    before = events(instance_id)
    for body, field in (({}, "to_user_id"), ({"to_user_id": "x"}, "to_user_id"), ({"to_user_id": 2**31}, "to_user_id"),
                        ({"to_user_id": True}, "to_user_id"), ({"to_user_id": users["supervisor1"].id}, "to_user_id"),
                        ({"to_user_id": users["director"].id, "comment": "x" * 2001}, "comment")):
        error = assert_error(client.post(f"/api/v1/tasks/{task['id']}/transfer", json=body, headers=headers), 422)
        assert field in error["fields"], (body, error)
    for body, field in (({"user_id": users["director"].id}, "position"),
                        ({"user_id": users["director"].id, "position": "middle"}, "position"),
                        ({"position": "after"}, "user_id"),
                        ({"user_id": users["supervisor1"].id, "position": "after"}, "user_id")):
        error = assert_error(client.post(f"/api/v1/tasks/{task['id']}/signers", json=body, headers=headers), 422)
        assert field in error["fields"], (body, error)
    assert events(instance_id) == before
    assert open_tasks(instance_id) == [("approve_supervisor", users["supervisor1"].id)]

    signer = client.post(f"/api/v1/tasks/{task['id']}/signers",
                         json={"user_id": users["supervisor2"].id, "position": "before", "comment": "请陈主管先看"},
                         headers=headers)
    assert signer.status_code == 200, signer.json
    assert open_tasks(instance_id) == [("approve_supervisor", users["supervisor2"].id)]
    colleague = task_of(client, auth, "supervisor2", instance_id)
    handed = client.post(f"/api/v1/tasks/{colleague['id']}/transfer", headers=auth("supervisor2"),
                         json={"to_user_id": users["director"].id, "comment": "请周总监定"})
    assert handed.status_code == 200, handed.json
    assert handed.json["assignee"]["username"] == "director"
    assert client.post(f"/api/v1/tasks/{colleague['id']}/approve",
                       headers=auth("supervisor2")).status_code in (403, 404)
    actions = [item["action"] for item in client.get(f"/api/v1/process-instances/{instance_id}/history",
                                                     headers=auth("manager1")).json["items"]]
    assert "added_signer" in actions and "transferred" in actions


def test_batch_approval_reports_each_task(client, auth, users):
    mine = [a_quote(users["manager1"], "1000.00") for _ in range(2)]
    ids = [task_of(client, auth, "supervisor1", submit(client, auth, quote)["process_instance_id"])["id"]
           for quote in mine]
    other = a_quote(users["manager2"], "1000.00")
    foreign = task_of(client, auth, "supervisor2", submit(client, auth, other, "manager2")["process_instance_id"])
    headers = auth("supervisor1")
    for body, field in (({"task_ids": []}, "task_ids"), ({"task_ids": list(range(1, 102))}, "task_ids"),
                        ({"task_ids": [ids[0], "x"]}, "task_ids"), ({"task_ids": [ids[0], 0]}, "task_ids"),
                        ({"task_ids": ids[0]}, "task_ids"), ({"task_ids": ids, "comment": "x" * 2001}, "comment"),
                        ({"task_ids": ids, "mode": "all"}, "mode")):
        error = assert_error(client.post("/api/v1/tasks/approve", json=body, headers=headers), 422)
        assert field in error["fields"], body
    assert all(quote_status(quote) == QuoteStatus.PENDING for quote in mine)

    response = client.post("/api/v1/tasks/approve", json={"task_ids": [*ids, foreign["id"], 2**31 - 1],
                                                          "comment": "同意"}, headers=headers)
    assert response.status_code == 200, response.json
    results = {item["task_id"]: item for item in response.json["results"]}
    assert [results[task_id]["ok"] for task_id in ids] == [True, True]
    assert results[foreign["id"]]["ok"] is False and results[foreign["id"]]["message"]
    assert results[2**31 - 1]["ok"] is False
    assert set(response.json) == documented(client, "BatchApprovalResult")
    assert [quote_status(quote) for quote in mine] == [QuoteStatus.APPROVED] * 2
    assert quote_status(other) == QuoteStatus.PENDING
    again = client.post("/api/v1/tasks/approve", json={"task_ids": ids}, headers=headers).json["results"]
    assert [item["ok"] for item in again] == [False, False]  # already decided


def test_comments_reminders_and_withdrawal_on_the_request(client, auth, users):
    quote = a_quote(users["manager1"], "80000.00")
    instance_id = submit(client, auth, quote)["process_instance_id"]
    base = f"/api/v1/process-instances/{instance_id}"
    supervisor, manager = auth("supervisor1"), auth("manager1")

    for body, field in (({}, "text"), ({"text": " "}, "text"), ({"text": "x" * 2001}, "text"),
                        ({"text": "@manager2 看看"}, "text"), ({"text": "好", "to": 1}, "to")):
        error = assert_error(client.post(f"{base}/comments", json=body, headers=supervisor), 422)
        assert field in error["fields"], body
    for stranger in STRANGERS:
        assert_error(client.post(f"{base}/comments", json={"text": "路过"}, headers=auth(stranger)), 404)
    said = client.post(f"{base}/comments", json={"text": "@manager1 请确认交期"}, headers=supervisor)
    assert said.status_code == 201
    assert (said.json["action"], said.json["comment"]) == ("comment", "@manager1 请确认交期")
    mentioned = db.session.scalar(select(Notification.user_id).where(Notification.kind == "mention"))
    assert mentioned == users["manager1"].id

    assert_error(client.post(f"{base}/nudge", headers=supervisor), 403)
    assert_error(client.post(f"{base}/nudge", headers=auth("manager2")), 404)
    reminded = client.post(f"{base}/nudge", headers=manager)
    assert reminded.status_code == 200 and reminded.json == {"user_ids": [users["supervisor1"].id]}
    assert assert_error(client.post(f"{base}/nudge", headers=manager), 409)["code"] == "nudged_recently"

    assert_error(client.post(f"{base}/withdraw", json={"reason": "x" * 2001}, headers=manager), 422)
    assert_error(client.post(f"{base}/withdraw", headers=supervisor), 404)
    assert_error(client.post(f"{base}/withdraw", headers=auth("manager2")), 404)
    assert quote_status(quote) == QuoteStatus.PENDING
    withdrawn = client.post(f"{base}/withdraw", json={"reason": "客户要改数量"}, headers=manager)
    assert withdrawn.status_code == 200, withdrawn.json
    assert withdrawn.json["status"] == "completed" and quote_status(quote) == QuoteStatus.DRAFT
    assert assert_error(client.post(f"{base}/withdraw", headers=manager), 409)


def test_withdrawing_after_an_approver_acted_is_a_conflict(client, auth, users):
    quote = a_quote(users["manager1"], "80000.00")
    instance_id = submit(client, auth, quote)["process_instance_id"]
    task = task_of(client, auth, "supervisor1", instance_id)
    client.post(f"/api/v1/tasks/{task['id']}/approve", headers=auth("supervisor1"))
    late = assert_error(client.post(f"/api/v1/process-instances/{instance_id}/withdraw", headers=auth("manager1")),
                        409)
    assert late["code"] == "withdraw_too_late"
    assert assert_error(client.post(f"/api/v1/quotes/{quote.id}/withdraw", headers=auth("manager1")), 409)
    assert quote_status(quote) == QuoteStatus.PENDING


def rows(table: list) -> list[dict]:
    return [{"cells": cells, "outputs": outputs} for cells, outputs in table]


def test_the_decision_table_is_read_and_saved_by_the_process_owner(client, auth):
    owner = auth("owner")
    shown = client.get(TABLE, headers=owner)
    assert shown.status_code == 200, shown.json
    table = shown.json
    assert [(row["cells"], row["outputs"]) for row in table["rows"]] == SHIPPED
    assert [column["label"] for column in table["inputs"]] == ["报价金额（元）", "最大折扣（%）"]
    assert table["outputs"][0]["allowed"] == ["supervisor", "supervisor,director", "supervisor,director,executive"]
    assert set(table) == documented(client, "DecisionTable")
    listed = client.get("/api/v1/processes/decisions", headers=owner).json["items"]
    assert [(item["process_id"], item["decision_id"]) for item in listed] == [("quote_approval", "quote_levels")]

    raised = [(["? < 100000", "? <= 20"], ["supervisor"]), (["? < 100000", "? > 20"], ["supervisor,director"]),
              (["100000 <= ? < 200000", "-"], ["supervisor,director"]), SHIPPED[3]]
    saved = client.put(TABLE, json={"rows": rows(raised), "expected_version": table["version"]}, headers=owner)
    assert saved.status_code == 200, saved.json
    assert saved.json["version"] == table["version"] + 1 and saved.json["deployed_by"]["username"] == "owner"
    assert [(row["cells"], row["outputs"]) for row in saved.json["rows"]] == raised

    stale = assert_error(client.put(TABLE, json={"rows": rows(SHIPPED), "expected_version": table["version"]},
                                    headers=owner), 409)
    assert stale["code"] == "decision_stale"
    assert definitions.latest_definition("quote_approval").version == table["version"] + 1


def test_a_bad_table_is_refused_and_nothing_is_deployed(client, auth):
    owner = auth("owner")
    version = client.get(TABLE, headers=owner).json["version"]
    cases = [
        ({"rows": rows([(["? < 50000", "-"], ["supervisor"]), (["? <= 50000", "-"], ["supervisor,director"]),
                        (["? > 50000", "-"], ["supervisor,director,executive"])])}, "重叠"),
        ({"rows": rows([(["? < 50000", "-"], ["supervisor"]), (["? > 50000", "-"], ["supervisor,director"])])},
         "没有任何一行覆盖"),
        ({"rows": rows([(["-", "-"], ["总监"])])}, "不是可选的结果"),
        ({"rows": rows([(["五万以下", "-"], ["supervisor"])])}, "无法识别"),
        ({"rows": rows([(["-"], ["supervisor"])])}, "列数不对"),
        ({"rows": []}, "rows"),
        ({"rows": [{"cells": ["-", "-"]}]}, "rows"),
        ({"rows": [{"cells": ["-", "x" * 81], "outputs": ["supervisor"]}]}, "rows"),
        ({"rows": [{"cells": ["-", 5], "outputs": ["supervisor"]}]}, "rows"),
        ({"rows": "all"}, "rows"),
        ({"rows": rows(SHIPPED) * 26}, "rows"),
    ]
    for body, said in cases:
        error = assert_error(client.put(TABLE, json={"expected_version": version, **body}, headers=owner), 422)
        assert error["fields"]["rows"], body
        assert said == "rows" or any(said in message for message in error["fields"]["rows"]), error
    for body, field in (({"rows": rows(SHIPPED)}, "expected_version"),
                        ({"rows": rows(SHIPPED), "expected_version": "1"}, "expected_version"),
                        ({"rows": rows(SHIPPED), "expected_version": version, "note": "x"}, "note")):
        assert field in assert_error(client.put(TABLE, json=body, headers=owner), 422)["fields"]
    assert definitions.latest_definition("quote_approval").version == version
    assert [(r["cells"], r["outputs"]) for r in client.get(TABLE, headers=owner).json["rows"]] == SHIPPED


def test_only_process_owners_see_and_change_decision_tables(client, auth):
    version = client.get(TABLE, headers=auth("owner")).json["version"]
    for username in ("director", "manager1"):
        assert_error(client.get(TABLE, headers=auth(username)), 403)
        assert_error(client.get("/api/v1/processes/decisions", headers=auth(username)), 403)
        assert_error(client.put(TABLE, json={"rows": rows(SHIPPED), "expected_version": version},
                                headers=auth(username)), 403)
    assert client.get(TABLE, headers=auth("admin")).status_code == 200
    for path in ("/api/v1/processes/quote_approval/decisions/nothing", "/api/v1/processes/nothing/decisions/x",
                 "/api/v1/processes/" + "p" * 300 + "/decisions/quote_levels"):
        assert_error(client.get(path, headers=auth("owner")), 404)
        assert_error(client.put(path, json={"rows": rows(SHIPPED), "expected_version": version},
                                headers=auth("owner")), 404)
    assert definitions.latest_definition("quote_approval").version == version


def test_approving_a_task_that_is_no_approval_is_refused(client, auth, users):
    from bpm_crm.services import opportunities

    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        customer_name="非审批任务公司", probability=50, summary="指派", description="不是审批"))
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == opportunity.process_instance_id))
    before = events(opportunity.process_instance_id)
    refused = client.post(f"/api/v1/tasks/{task.id}/approve", json={}, headers=auth("supervisor1"))
    assert assert_error(refused, 409)["code"] == "not_an_approval"
    db.session.expire_all()
    task = db.session.get(HumanTask, task.id)
    assert task.status == TaskStatus.OPEN and task.assignee_id is None
    assert events(opportunity.process_instance_id) == before
