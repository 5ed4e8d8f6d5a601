"""Pages say what the product does, in words a reader expects: no promised processes, no repeated names."""
from __future__ import annotations

from bpm_crm.services import customers

from .helpers import page_text


def test_empty_lists_promise_no_process_that_does_not_exist(login):
    manager = login("manager1")
    churn = page_text(manager.get("/churn/"))
    # The weekly check it describes is the deployed scan's own schedule, with its next run.
    assert "暂无流失预警" in churn and "每周六 02:00 检查 6 个月内没有订单的客户" in churn and "下次：" in churn
    quotes = page_text(manager.get("/quotes/"))
    assert "暂无报价" in quotes and "提交审批" not in quotes and "进入审批" not in quotes
    service = page_text(login("agent").get("/service/"))
    assert "分配、处理、反馈与归档" not in service


def test_a_short_name_equal_to_the_name_is_not_repeated(login, users):
    same = customers.create_customer(user=users["manager1"], values={"name": "云启", "short_name": "云启"})
    other = customers.create_customer(user=users["manager1"], values={"name": "杭州云启科技有限公司",
                                                                      "short_name": "云启科技"})
    assert 'id="customer-short-name"' not in page_text(login("manager1").get(f"/customers/{same.id}"))
    assert 'id="customer-short-name"' in page_text(login("manager1").get(f"/customers/{other.id}"))
    listing = page_text(login("manager1").get("/customers/?q=云启"))
    assert listing.count(">云启<") == 1 and "云启科技" in listing


def test_english_says_new_customer_and_contacts(login):
    browser = login("manager1")
    browser.post("/language", data={"locale": "en", "next": "/"})
    customers_page = page_text(browser.get("/customers/"))
    assert "New customer" in customers_page and "Create customers" not in customers_page
    assert ">Contacts</a>" in customers_page.replace("\n", "") or "</i> Contacts" in customers_page
    assert "<h1" in page_text(browser.get("/contacts/")) and "Contacts</h1>" in page_text(browser.get("/contacts/"))
    assert "New customer</h1>" in page_text(browser.get("/customers/new"))
