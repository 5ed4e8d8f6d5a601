"""Tasks and process instances over the API: the whole opportunity journey as three users."""
from __future__ import annotations

from sqlalchemy import event, select

from bpm_crm.extensions import db
from bpm_crm.models import ProcessEvent

from .helpers import assert_error


def open_task(client, headers, instance_id: int, view: str = "mine") -> dict:
    """The caller's open task of an instance in an inbox view."""
    items = client.get(f"/api/v1/tasks?view={view}", headers=headers).json["items"]
    matches = [item for item in items if item["process_instance"]["id"] == instance_id]
    assert len(matches) == 1, items
    return matches[0]


def assign_task(client, auth, opportunity: dict) -> dict:
    return open_task(client, auth("supervisor1"), opportunity["process_instance_id"], "claimable")


def test_whole_journey_as_three_users(client, auth, create_opportunity, users):
    manager, supervisor = auth("manager1"), auth("supervisor1")
    opportunity = create_opportunity("manager1")
    instance_id = opportunity["process_instance_id"]

    inbox = client.get("/api/v1/tasks?view=claimable", headers=supervisor).json
    assert inbox["counts"] == {"mine": 0, "claimable": 1, "watched": 0, "overdue": 0}
    assign = inbox["items"][0]
    assert assign["bpmn_id"] == "assign" and assign["due_at"].endswith("Z")
    detail = client.get(f"/api/v1/tasks/{assign['id']}", headers=supervisor).json
    assert detail["form_key"] == "assign_opportunity"
    assert detail["actions"] == ["claim", "complete", "draft", "reassign"]
    assert detail["form"]["id"] == "assign_opportunity" and detail["candidates"] == [
        {"kind": "role", "value": "sales_supervisor"}]
    assert users["manager1"].id in {o["value"] for o in detail["options"]["options.account_managers"]}
    assert detail["record"]["type"] == "opportunity" and detail["record"]["id"] == opportunity["id"]
    assert users["manager1"].id in {choice["id"] for choice in detail["choices"]["assignee_id"]}

    done = client.post(f"/api/v1/tasks/{assign['id']}/complete",
                       json={"data": {"assignee_id": users["manager1"].id}, "comment": "交给李明"}, headers=supervisor)
    assert done.status_code == 200 and done.json["status"] == "completed" and done.json["actions"] == []
    assert done.json["completed_by"]["username"] == "supervisor1"
    record = client.get(f"/api/v1/opportunities/{opportunity['id']}", headers=manager).json
    assert record["status"] == "已指派" and record["assignee"]["username"] == "manager1"

    plan = open_task(client, manager, instance_id)
    assert plan["bpmn_id"] == "make_plan"
    draft = client.post(f"/api/v1/tasks/{plan['id']}/draft",
                        json={"data": {"plan_items": [{"date": "2026-12-01", "content": "电话拜访"}]}}, headers=manager)
    assert draft.status_code == 200 and draft.json["draft"]["plan_items"][0]["content"] == "电话拜访"
    assert draft.json["record"]["plan_items"] == []  # a draft stays on the task until it is submitted
    response = client.post(f"/api/v1/tasks/{plan['id']}/complete", json={"data": {"plan_items": [
        {"date": "2026-12-01", "content": "电话拜访，确认需求"}, {"date": "2026-12-08", "content": "上门演示"}]}},
        headers=manager)
    assert response.status_code == 200

    execute = client.get(f"/api/v1/tasks/{open_task(client, manager, instance_id)['id']}", headers=manager).json
    rows = execute["form_data"]["plan_results"]
    assert [row["content"] for row in rows] == ["电话拜访，确认需求", "上门演示"]
    response = client.post(f"/api/v1/tasks/{execute['id']}/complete", json={"data": {
        "plan_results": [{**rows[0], "result": "有意向"}, {**rows[1], "result": "演示成功"}],
        "decision": "success"}, "comment": "签约"}, headers=manager)
    assert response.status_code == 200

    record = client.get(f"/api/v1/opportunities/{opportunity['id']}", headers=manager).json
    assert record["status"] == "开发成功" and record["customer_id"]
    assert [i["result"] for i in record["plan_items"]] == ["有意向", "演示成功"]
    customers = client.get("/api/v1/customers", headers=manager).json
    assert [c["id"] for c in customers["items"]] == [record["customer_id"]]
    customer = client.get(f"/api/v1/customers/{record['customer_id']}", headers=manager).json
    assert (customer["name"], customer["contact_name"], customer["owner"]["username"]) == (
        opportunity["customer_name"], opportunity["contact"], "manager1")
    assert_error(client.get(f"/api/v1/customers/{record['customer_id']}", headers=auth("manager2")), 404)
    assert client.get("/api/v1/customers", headers=auth("manager2")).json["total"] == 0

    instance = client.get(f"/api/v1/process-instances/{instance_id}", headers=manager).json
    assert instance["status"] == "completed" and instance["process_id"] == "opportunity"
    assert instance["definition"]["version"] == 1 and instance["current_steps"] == []
    assert instance["business_type"] == "opportunity" and instance["business_id"] == opportunity["id"]
    assert instance["variables"]["decision"] == "success"
    history = instance["history"]
    assert history[0]["action"] == "started" and history[-1]["action"] == "completed"
    completions = [e for e in history if e["action"] == "completed_task"]
    assert [e["user"]["username"] for e in completions] == ["supervisor1", "manager1", "manager1"]
    assert completions[0]["comment"] == "交给李明" and completions[-1]["data"]["decision"] == "success"
    assert all(e["at"].endswith("Z") for e in history)
    done_view = client.get("/api/v1/tasks?view=done", headers=manager).json
    assert done_view["total"] == 2 and done_view["counts"]["mine"] == 0


def test_completing_twice_conflicts_the_second_time(client, auth, create_opportunity, users):
    task = assign_task(client, auth, create_opportunity("manager1"))
    url = f"/api/v1/tasks/{task['id']}/complete"
    first = client.post(url, json={"data": {"assignee_id": users["manager1"].id}}, headers=auth("supervisor1"))
    assert first.status_code == 200
    error = assert_error(client.post(url, json={"data": {"assignee_id": users["manager3"].id}},
                                     headers=auth("supervisor1")), 409)
    assert "完成" in error["message"]
    assert len(db.session.scalars(select(ProcessEvent).where(ProcessEvent.action == "completed_task")).all()) == 1


def test_someone_elses_task_is_refused(client, auth, create_opportunity, users):
    opportunity = create_opportunity("manager1")
    task = assign_task(client, auth, opportunity)
    url = f"/api/v1/tasks/{task['id']}"
    body = {"data": {"assignee_id": users["manager1"].id}}
    assert_error(client.get(url, headers=auth("supervisor2")), 404)  # another department cannot see it
    assert_error(client.post(f"{url}/complete", json=body, headers=auth("supervisor2")), 404)
    assert_error(client.post(f"{url}/complete", json=body, headers=auth("manager1")), 403)  # sees, may not act
    assert_error(client.post(f"{url}/claim", headers=auth("manager1")), 403)
    assert_error(client.get(f"/api/v1/process-instances/{opportunity['process_instance_id']}",
                            headers=auth("manager2")), 404)
    assert client.get(url, headers=auth("supervisor1")).json["status"] == "open"


def test_claim_release_and_invalid_completion(client, auth, create_opportunity, users):
    supervisor = auth("supervisor1")
    task = assign_task(client, auth, create_opportunity("manager1"))
    url = f"/api/v1/tasks/{task['id']}"
    claimed = client.post(f"{url}/claim", headers=supervisor)
    assert claimed.status_code == 200 and claimed.json["assignee"]["username"] == "supervisor1"
    assert claimed.json["actions"] == ["release", "complete", "draft", "reassign"]
    assert client.get("/api/v1/tasks", headers=supervisor).json["counts"]["mine"] == 1
    assert_error(client.post(f"{url}/claim", headers=auth("director")), 409)

    error = assert_error(client.post(f"{url}/complete", json={"data": {"assignee_id": users["manager2"].id}},
                                     headers=supervisor), 422)
    assert set(error["fields"]) == {"assignee_id"}
    assert_error(client.post(f"{url}/complete", json={"data": "x"}, headers=supervisor), 422)
    assert set(assert_error(client.post(f"{url}/complete", json={}, headers=supervisor), 422)["fields"]) == {"data"}
    assert_error(client.post(f"{url}/complete", json={"data": {}, "comment": 5}, headers=supervisor), 422)
    assert_error(client.post(f"{url}/complete", data="assignee_id=1", headers=supervisor), 400)
    assert client.post(f"{url}/draft", json={"data": {}}, headers=supervisor).status_code == 200  # an empty draft

    released = client.post(f"{url}/release", headers=supervisor)
    assert released.status_code == 200 and released.json["assignee"] is None
    assert_error(client.post(f"{url}/release", headers=supervisor), 403)


def test_inbox_parameters_are_checked(client, auth):
    assert_error(client.get("/api/v1/tasks?view=everything", headers=auth("manager1")), 422)
    assert_error(client.get("/api/v1/tasks?overdue=maybe", headers=auth("manager1")), 422)
    assert client.get("/api/v1/tasks?view=mine&overdue=true&process_id=opportunity",
                      headers=auth("manager1")).status_code == 200


def test_a_completion_reads_each_row_once_and_nothing_back(client, auth, create_opportunity, users, backend):
    """Completing `assign` over the API: the token, the locked task, its record and the chosen person are
    read once each, the organisation and the inbox not at all; six writes; nothing read after them."""
    task = assign_task(client, auth, create_opportunity("manager1"))
    headers = auth("supervisor1")
    client.get(f"/api/v1/tasks/{task['id']}", headers=headers)  # the process has read the organisation
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        words = statement.split()
        if words[0] == "SELECT":  # named by its first column's table
            statements.append(f"SELECT {words[1].split('.')[0]}")
        elif words[0] in ("INSERT", "UPDATE", "DELETE"):
            statements.append(f"{words[0]} {words[1] if words[0] == 'UPDATE' else words[2]}")
        # savepoints are the test's own

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        response = client.post(f"/api/v1/tasks/{task['id']}/complete",
                               json={"data": {"assignee_id": users["manager1"].id}}, headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert response.status_code == 200 and response.json["status"] == "completed"
    assert response.json["record"]["status"] == "已指派"
    reads = [s for s in statements if s.startswith("SELECT")]
    # On SQLite the completion's write transaction begins after the token was read: the organisation's
    # revision number is read again in it (one row), not the organisation.
    again = ["SELECT org_revision"] if backend == "sqlite" else []
    assert reads == ["SELECT api_tokens", "SELECT human_tasks", *again, "SELECT opportunities", "SELECT users"]
    writes = statements[len(reads):]
    assert statements[:len(reads)] == reads  # every read before the one flush
    assert sorted(writes) == ["INSERT audit_log", "INSERT human_tasks", "INSERT process_events",
                              "UPDATE human_tasks", "UPDATE opportunities", "UPDATE process_instances"]
