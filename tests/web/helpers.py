"""Shared values and look-ups of the page tests."""
from __future__ import annotations

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import HumanTask, Opportunity, TaskStatus

VALUES = dict(source="展会", customer_name="杭州测试科技有限公司", probability=60, summary="采购办公软件",
              contact="钱经理", contact_phone="13800138001", description="有意向更换办公系统")


def open_task(opportunity: Opportunity, bpmn_id: str) -> HumanTask | None:
    """The open inbox row of a step of the opportunity's process."""
    db.session.expire_all()
    return db.session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == opportunity.process_instance_id,
            HumanTask.bpmn_id == bpmn_id,
            HumanTask.status == TaskStatus.OPEN,
        )
    )


def page_text(response) -> str:
    return response.get_data(as_text=True)
