"""客户等级规则 page: list, add with field errors, edit, delete, 立即应用 with the number of customers changed."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.extensions import db
from bpm_crm.models import Customer, LevelRule, Order

from .helpers import page_text


def test_rules_are_added_edited_and_deleted(login):
    admin = login("admin")
    page = page_text(admin.get("/level-rules/"))
    assert "暂无等级规则" in page and 'id="promote-only"' in page and "只提升、不降低" in page
    bad = admin.post("/level-rules/", data={"level": "钻石", "min_total": "-1", "months": "0"})
    page = page_text(bad)
    assert bad.status_code == 422
    for name in ("level", "min_total", "months"):
        assert f'data-field-error="{name}"' in page
    assert db.session.scalar(select(LevelRule.id)) is None

    added = admin.post("/level-rules/", data={"level": "VIP", "min_total": "500000", "months": "12", "active": "y"})
    assert added.status_code == 302
    rule = db.session.scalar(select(LevelRule))
    assert (rule.level, rule.min_total, rule.months, rule.active) == ("VIP", Decimal("500000.00"), 12, True)
    assert "¥500,000.00" in page_text(admin.get("/level-rules/"))

    edited = admin.post(f"/level-rules/{rule.id}/edit", data={"level": "重点", "min_total": "1000", "months": "6"})
    assert edited.status_code == 302
    db.session.expire_all()
    assert (rule.level, rule.months, rule.active) == ("重点", 6, False)
    assert admin.post(f"/level-rules/{rule.id}/delete").status_code == 302
    assert db.session.scalar(select(LevelRule.id)) is None
    # pressed again on a page opened before: the list says it is gone (not a 404 page)
    stale = admin.post(f"/level-rules/{rule.id}/delete", follow_redirects=True)
    page = page_text(stale)
    assert stale.status_code == 200 and "这条等级规则已被删除" in page and "暂无等级规则" in page
    assert admin.get("/level-rules/999/edit").status_code == 404


def test_apply_now_reports_how_many_customers_moved_up(login, users):
    clock.freeze(datetime(2026, 6, 15, tzinfo=UTC))
    big = Customer(name="大客户", number="KH1", owner_id=users["manager1"].id)
    db.session.add_all([big, LevelRule(level="VIP", min_total=Decimal("1000"), months=12, active=True)])
    db.session.flush()
    db.session.add(Order(number="D1", customer_id=big.id, order_date=date(2026, 5, 1), status=6,
                         total=Decimal("5000")))
    db.session.commit()
    admin = login("admin")
    page = page_text(admin.post("/level-rules/apply", follow_redirects=True))
    assert "1 个客户的等级已提升" in page
    db.session.expire_all()
    assert big.level == "VIP"
    assert "没有客户需要调整等级" in page_text(admin.post("/level-rules/apply", follow_redirects=True))


def test_rules_page_is_for_dictionary_managers_only(login):
    director = login("director")
    assert director.get("/level-rules/").status_code == 403
    assert director.post("/level-rules/apply").status_code == 403
    assert director.post("/level-rules/", data={"level": "VIP", "min_total": "1", "months": "1"}).status_code == 403
