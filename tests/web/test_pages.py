"""Customers, instances, language, error pages and the vendor assets."""
from __future__ import annotations

from .helpers import open_task, page_text


def test_language_switch_renders_english(login):
    browser = login("manager1")
    response = browser.post("/language", data={"locale": "en", "next": "/opportunities/"}, follow_redirects=True)
    page = page_text(response)
    assert response.request.path == "/opportunities/"
    assert "Sales opportunities" in page and "New opportunity" in page and 'lang="en"' in page
    assert "Inbox" in page_text(browser.get("/"))
    back = page_text(browser.post("/language", data={"locale": "zh_CN"}, follow_redirects=True))
    assert "待处理" in back and "分配给我" in back
    assert browser.post("/language", data={"locale": "xx"}).status_code == 302


def test_language_switch_returns_to_a_page_that_answers_get(login):
    browser = login("manager1")
    after_failed_post = browser.post("/language", data={"locale": "en", "next": "/tasks/1/complete?"},
                                     headers={"Referer": "http://localhost/tasks/1"})
    assert after_failed_post.headers["Location"] == "/tasks/1"
    elsewhere = browser.post("/language", data={"locale": "en", "next": "/nowhere"},
                             headers={"Referer": "https://evil.example/opportunities/"})
    assert elsewhere.headers["Location"] == "/"


def test_customers_list_search_and_detail(login, new_opportunity, users):
    opportunity = new_opportunity("manager1")
    supervisor, manager = login("supervisor1"), login("manager1")
    supervisor.post(f"/tasks/{open_task(opportunity, 'assign').id}/complete",
                    data={"assignee_id": users["manager1"].id})
    manager.post(f"/tasks/{open_task(opportunity, 'make_plan').id}/complete",
                 data={"plan_items-0-date": "2026-12-01", "plan_items-0-content": "拜访"})
    manager.post(f"/tasks/{open_task(opportunity, 'execute_plan').id}/complete",
                 data={"plan_results-0-result": "已拜访，有意向", "decision": "success"})

    assert "暂无客户" in page_text(login("manager3").get("/customers/"))
    listing = page_text(manager.get("/customers/?q=杭州"))
    assert "杭州测试科技有限公司" in listing
    assert "没有符合条件的客户" in page_text(manager.get("/customers/?q=不存在的名字"))
    customer_id = opportunity.customer.id
    detail = page_text(manager.get(f"/customers/{customer_id}"))
    assert "钱经理" in detail and opportunity.number in detail
    assert login("manager2").get(f"/customers/{customer_id}").status_code == 404


def test_instance_page_shows_diagram_variables_and_history(login, new_opportunity):
    opportunity = new_opportunity("manager1")
    browser = login("manager1")
    page = page_text(browser.get(f"/instances/{opportunity.process_instance_id}"))
    assert 'data-bpmn-diagram="diagram-data"' in page and '"current": ["assign"]' in page
    assert "opportunity_id" in page and "发起流程" in page
    assert login("manager2").get(f"/instances/{opportunity.process_instance_id}").status_code == 404


def test_unknown_pages_are_friendly_and_api_paths_answer_json(login):
    browser = login("manager1")
    response = browser.get("/no-such-page")
    assert response.status_code == 404 and "页面不存在" in page_text(response)
    api = browser.get("/api/no-such-thing")
    assert api.status_code == 404 and api.is_json
    assert set(api.json["error"]) == {"message", "fields"}


def test_vendor_serves_only_the_allowed_packages(client):
    css = client.get("/vendor/bootstrap/dist/css/bootstrap.min.css")
    assert css.status_code == 200 and "text/css" in css.content_type
    assert client.get("/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js").status_code == 200
    for path in ("/vendor/bootstrap/../../pyproject.toml", "/vendor/bootstrap/%2e%2e/package.json",
                 "/vendor/preact/package.json", "/vendor/bootstrap/../bpmn-js/package.json"):
        assert client.get(path).status_code == 404, path


def test_vendor_directory_can_be_configured(app, client, tmp_path):
    (tmp_path / "echarts").mkdir()
    (tmp_path / "echarts" / "hello.js").write_text("ok")
    app.config["ASSETS_DIR"] = str(tmp_path)
    assert client.get("/vendor/echarts/hello.js").get_data(as_text=True) == "ok"
