"""The OpenAPI document stays honest: it describes exactly the routes that exist."""
from __future__ import annotations

import re
from typing import Any

import pytest

PREFIX = "/api/v1"
IGNORED = {"HEAD", "OPTIONS"}
CATCH_ALL = "api.unknown_path"  # answers JSON 404/405 for every path no endpoint serves


@pytest.fixture
def backend() -> str:
    """The document and the routes are the same on every database."""
    return "sqlite"


def routes(app) -> dict[tuple[str, str], str]:
    """(document path, method) -> endpoint for every API rule except the catch-all."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == CATCH_ALL:
            continue
        assert rule.rule.startswith(PREFIX + "/"), rule.rule
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
        for method in rule.methods - IGNORED:
            found[(path, method.lower())] = rule.endpoint
    return found


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {(path, method): op for path, item in document["paths"].items() for method, op in item.items()}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_document_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1") and document["servers"] == [{"url": PREFIX}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "A token from POST /auth/token"}
    assert document["security"] == [{"bearerAuth": []}]


def test_every_route_is_documented_and_every_documented_operation_exists(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert set(routes(app)) == set(operations(document))


def test_public_operations_are_exactly_the_views_that_skip_the_token_check(app, client):
    document = client.get("/api/v1/openapi.json").json
    public_routes = {key for key, endpoint in routes(app).items()
                     if getattr(app.view_functions[endpoint], "public", False)}
    public_ops = {key for key, op in operations(document).items() if op.get("security") == []}
    assert public_routes == public_ops == {("/auth/token", "post"), ("/openapi.json", "get")}


def test_operations_are_complete_and_consistent(client):
    document = client.get("/api/v1/openapi.json").json
    ops = operations(document)
    assert len({op["operationId"] for op in ops.values()}) == len(ops)
    for (path, method), op in ops.items():
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
        assert any(code.startswith("2") for code in op["responses"]), (path, method)
        if op.get("security") != []:
            assert "401" in op["responses"], (path, method)
        if method in ("post", "patch") and path not in ("/tasks/{task_id}/claim", "/tasks/{task_id}/release",
                                                        "/orders/imports/{job_id}/commit", "/level-rules/apply",
                                                        "/imports/{job_id}/commit",
                                                        "/recycle-bin/{entry_id}/restore",
                                                        "/service-requests/{request_id}/nudge",
                                                        "/notifications/{notification_id}/read",
                                                        "/notifications/read-all"):
            content = op["requestBody"]["content"]
            assert (content.get("application/json") or content["multipart/form-data"])["schema"], (path, method)


def test_every_reference_resolves_and_errors_use_the_error_schema(client):
    document = client.get("/api/v1/openapi.json").json
    for reference in refs(document):
        node = document
        for part in reference.removeprefix("#/").split("/"):
            assert part in node, reference
            node = node[part]
    for response in document["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def properties(document: dict, schema: dict) -> set[str]:
    """The property names a schema documents, following $ref and allOf."""
    if "$ref" in schema:
        return properties(document, document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= properties(document, part)
    return names


def test_responses_have_exactly_the_documented_fields(client, auth, create_opportunity, users):
    from bpm_crm.extensions import db
    from bpm_crm.models import Customer

    db.session.add(Customer(name="宁波港联物流", owner_id=users["manager1"].id))
    db.session.commit()
    document = client.get("/api/v1/openapi.json").json
    schema = {name: {"$ref": f"#/components/schemas/{name}"} for name in document["components"]["schemas"]}
    headers = auth("manager1")
    opportunity = create_opportunity("manager1")
    task = client.get("/api/v1/tasks?view=claimable", headers=auth("supervisor1")).json["items"][0]
    customer = client.get("/api/v1/customers", headers=headers).json["items"][0]
    token = client.post("/api/v1/auth/token", json={"username": "agent", "password": "demo1234"}).json
    samples = {
        "Token": token,
        "User": token["user"],
        "Me": client.get("/api/v1/me", headers=headers).json,
        "OpportunityDetail": opportunity,
        "OpportunityPage": client.get("/api/v1/opportunities", headers=headers).json,
        "Opportunity": client.get("/api/v1/opportunities", headers=headers).json["items"][0],
        "CustomerPage": client.get("/api/v1/customers", headers=headers).json,
        "Customer": customer,
        "TaskPage": client.get("/api/v1/tasks?view=claimable", headers=auth("supervisor1")).json,
        "Task": task,
        "TaskDetail": client.get(f"/api/v1/tasks/{task['id']}", headers=auth("supervisor1")).json,
        "ProcessInstance": client.get(f"/api/v1/process-instances/{opportunity['process_instance_id']}",
                                      headers=headers).json,
        "Error": client.get("/api/v1/me").json,
    }
    for name, body in samples.items():
        assert set(body) == properties(document, schema[name]), name
    history = samples["ProcessInstance"]["history"][0]
    assert set(history) == properties(document, schema["HistoryEvent"])
    assert set(task["process_instance"]) == properties(document, schema["InstanceRef"])
