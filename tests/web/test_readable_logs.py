"""The audit log and the exports read as the pages do: form labels, local times, one entry per change."""
from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from bpm_crm import clock
from bpm_crm.services import care, customers, opportunities

from .helpers import VALUES, page_text

AT_0918_UTC = datetime(2026, 11, 30, 9, 18, tzinfo=UTC)  # 17:18 in Asia/Shanghai, the configured zone


def test_the_audit_log_names_fields_as_the_forms_do(login, users):
    opportunity = opportunities.create_opportunity(user=users["manager1"], values=VALUES)
    page = page_text(login("admin").get(f"/admin/audit-log?record_type=opportunity&record_id={opportunity.id}"))
    assert page.count("data-audit-id=") == 1  # the create, its number and its process: one entry
    assert "客户名称" in page and "机会描述" in page and "流程实例" in page and opportunity.number in page
    assert "customer_name" not in page.replace('data-field="customer_name"', "")
    assert "process_instance_id" not in page.replace('data-field="process_instance_id"', "")


def test_logged_times_are_local(login, users):
    clock.freeze(AT_0918_UTC)
    try:
        customer = customers.create_customer(user=users["manager1"], values={"name": "本地时间测试公司"})
        task = care.create_care_task(user=users["manager1"], values={
            "customer_id": customer.id, "kind": "生日", "title": "生日问候", "due_date": "2026-12-01"})
        care.mark_done(care_task_id=task.id, user=users["manager1"])
    finally:
        clock.unfreeze()
    page = page_text(login("admin").get(f"/admin/audit-log?record_type=care_task&record_id={task.id}"))
    done = page.split('data-field="done_at"')[1].split("</li>")[0]
    assert "17:18" in done and "09:18" not in done and "T09" not in done


def test_exports_write_local_times(login, users):
    clock.freeze(AT_0918_UTC)
    try:
        customers.create_customer(user=users["manager1"], values={"name": "导出时间测试公司"})
    finally:
        clock.unfreeze()
    response = login("manager1").get("/customers/export.xlsx?q=导出时间测试")
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    created = rows[1][-1]
    assert isinstance(created, datetime) and (created.hour, created.minute) == (17, 18)


def test_a_text_that_only_looks_like_a_date_is_shown_as_written(login, users):
    opportunity = opportunities.create_opportunity(user=users["manager1"], values={
        **VALUES, "description": "2024-02-30"})
    response = login("admin").get(f"/admin/audit-log?record_type=opportunity&record_id={opportunity.id}")
    assert response.status_code == 200 and "2024-02-30" in page_text(response)
