"""Every failure under /api/v1 answers the one JSON error shape."""
from __future__ import annotations

import pytest

from bpm_crm.services import customers, process_errors

from .helpers import assert_error


def test_unknown_paths_and_wrong_methods_answer_json(client, auth):
    assert_error(client.get("/api/v1/no-such-thing", headers=auth("manager1")), 404)
    assert_error(client.get("/api/v1/opportunities/abc", headers=auth("manager1")), 404)
    assert_error(client.get("/api/v1/opportunities/99999999999", headers=auth("manager1")), 404)
    assert_error(client.get("/api/v1"), 404)
    response = client.put("/api/v1/me", headers=auth("manager1"))
    assert_error(response, 405)
    assert response.headers["Allow"] == "GET"
    response = client.get("/api/v1/auth/token")
    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"POST", "DELETE"}


def test_an_unexpected_failure_is_a_json_500_without_details(app, client, auth, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    headers = auth("manager1")

    def broken(**_kwargs):
        raise RuntimeError("connection string postgres://secret")

    monkeypatch.setattr(customers, "list_customers", broken)
    error = assert_error(client.get("/api/v1/customers", headers=headers), 500)
    assert "secret" not in error["message"]


def test_a_failed_process_step_is_a_json_500_with_its_message(client, auth, monkeypatch):
    headers = auth("manager1")

    def failing(**_kwargs):
        raise process_errors.ProcessFailed("流程执行失败：handler broke")

    monkeypatch.setattr(customers, "list_customers", failing)
    error = assert_error(client.get("/api/v1/customers", headers=headers), 500)
    assert error["message"] == "流程执行失败：handler broke"


@pytest.mark.parametrize("path", ["/api/v1/opportunities/0", "/api/v1/tasks/2147483648", "/api/v1/customers/7"])
def test_ids_that_match_nothing_are_404(client, auth, path):
    assert_error(client.get(path, headers=auth("admin")), 404)
