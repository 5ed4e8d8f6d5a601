"""Churn warning pages: raise from a customer, measures timeline, confirm with reason, recover, 404s, export."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import ChurnMeasure, ChurnWarning, Customer

from .helpers import page_text


def make_customer(users, username: str, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def make_warning(customer: Customer, status: str = "预警") -> ChurnWarning:
    warning = ChurnWarning(customer_id=customer.id, manager_id=customer.owner_id, status=status)
    db.session.add(warning)
    db.session.commit()
    return warning


def test_raise_from_the_customer_then_measures_then_confirm(login, users):
    customer = make_customer(users, "manager1")
    browser = login("manager1")
    assert 'id="locked-customer"' in page_text(browser.get(f"/churn/new?customer_id={customer.id}"))
    response = browser.post(f"/churn/new?customer_id={customer.id}", data={})
    warning = db.session.scalar(select(ChurnWarning))
    assert response.status_code == 302 and response.headers["Location"] == f"/churn/{warning.id}"
    page = page_text(browser.get(f"/churn/{warning.id}"))
    assert 'id="confirm-hint"' in page and 'id="confirm-form"' not in page and 'id="measure-form"' in page

    again = browser.post(f"/churn/new?customer_id={customer.id}", data={})
    assert again.status_code == 409 and "该客户已有未关闭的流失预警" in page_text(again)

    empty = browser.post(f"/churn/{warning.id}/measures", data={"content": " "})
    assert empty.status_code == 422 and 'data-field-error="content"' in page_text(empty)
    for text in ("上门拜访", "给予九折优惠"):
        assert browser.post(f"/churn/{warning.id}/measures", data={"content": text}).status_code == 302
    page = page_text(browser.get(f"/churn/{warning.id}"))
    assert page.index("上门拜访") < page.index("给予九折优惠") and "暂缓流失" in page and 'id="confirm-form"' in page

    # No browser dialog: the reason and the acknowledgement are checked together, on the server.
    assert "data-confirm" not in page.split('id="confirm-form"')[1].split("</form>")[0]
    no_reason = browser.post(f"/churn/{warning.id}/confirm", data={"reason": "", "acknowledge": "1"})
    assert no_reason.status_code == 422 and "请填写流失原因" in page_text(no_reason)
    assert 'id="confirm-acknowledge" checked' in page_text(no_reason)  # what was ticked stays ticked
    unacknowledged = browser.post(f"/churn/{warning.id}/confirm", data={"reason": "转向竞争对手"})
    assert unacknowledged.status_code == 422 and 'data-field-error="acknowledge"' in page_text(unacknowledged)
    assert "转向竞争对手" in page_text(unacknowledged)  # the reason typed is kept
    db.session.expire_all()
    assert db.session.get(ChurnWarning, warning.id).status != "确认流失"
    assert browser.post(f"/churn/{warning.id}/confirm",
                        data={"reason": "转向竞争对手", "acknowledge": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ChurnWarning, warning.id).status == "确认流失"
    assert db.session.get(Customer, customer.id).status == "已流失"
    page = page_text(browser.get(f"/churn/{warning.id}"))
    assert "转向竞争对手" in page and 'id="measure-form"' not in page and 'id="recover-churn"' not in page

    late = browser.post(f"/churn/{warning.id}/measures", data={"content": "再试一次"})
    assert late.status_code == 409 and "不能再添加暂缓措施" in page_text(late)
    assert db.session.scalar(select(func.count(ChurnMeasure.id))) == 2


def test_recover_twice_tells_the_user(login, users):
    warning = make_warning(make_customer(users, "manager1"))
    browser = login("manager1")
    assert browser.post(f"/churn/{warning.id}/recover").status_code == 302
    again = browser.post(f"/churn/{warning.id}/recover", follow_redirects=True)
    assert "流失预警当前为“已恢复”，不能再标记为已恢复" in page_text(again)


def test_someone_elses_warning_is_404(login, users):
    warning = make_warning(make_customer(users, "manager2", "成都蜀味"))
    browser = login("manager1")
    assert browser.get(f"/churn/{warning.id}").status_code == 404
    for action in ("measures", "confirm", "recover", "delete"):
        assert browser.post(f"/churn/{warning.id}/{action}", data={"content": "x", "reason": "x"}).status_code == 404
    db.session.refresh(warning)
    assert warning.status == "预警" and not warning.measures


def test_list_filters_and_export(login, users):
    mine = make_warning(make_customer(users, "manager1", "杭州云启"), "暂缓流失")
    make_warning(make_customer(users, "manager3", "宁波港联"))
    make_warning(make_customer(users, "manager2", "成都蜀味"))
    browser = login("supervisor1")
    page = page_text(browser.get("/churn/"))
    assert "杭州云启" in page and "宁波港联" in page and "成都蜀味" not in page
    filtered = page_text(browser.get("/churn/?status=暂缓流失"))
    assert "杭州云启" in filtered and "宁波港联" not in filtered
    by_manager = page_text(browser.get(f"/churn/?manager_id={users['manager3'].id}"))
    assert "宁波港联" in by_manager and "杭州云启" not in by_manager
    rows = list(load_workbook(io.BytesIO(browser.get("/churn/export.xlsx?status=预警").data))
                .active.iter_rows(values_only=True))
    assert [row[1] for row in rows[1:]] == ["宁波港联"]
    assert mine.id
