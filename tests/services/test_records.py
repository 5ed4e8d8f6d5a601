"""The record registry: a record type declared anywhere gets attachments, its label and the logs' names."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bpm_crm.errors import Forbidden, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import AuditLog, Customer, ServiceRequest
from bpm_crm.services import attachments, audit, logs, recycle, service_requests
from bpm_crm.services.demo import DEMO_PASSWORD
from bpm_crm.services.records import RECORDS, RecordType


@pytest.fixture
def store(app, tmp_path):
    app.config["ATTACHMENTS_DIR"] = str(tmp_path / "files")
    return tmp_path / "files"


@pytest.fixture
def complaints(app) -> Iterator[RecordType]:
    """A throwaway record type declared here, not in attachments: service requests as complaints, with files."""
    declared = RecordType(
        key="complaint", model=ServiceRequest, label=_("客户投诉"),
        load=lambda record_id, user: service_requests.get_request(request_id=record_id, user=user),
        owner_id=lambda record: record.created_by_id, title=lambda record: record.summary,
        endpoint="service.show", id_arg="request_id",
        attachments=True, may_update=service_requests.may_change,
    )
    RECORDS.add(declared)
    yield declared
    RECORDS.remove(declared.key)


@pytest.fixture
def complaint(users) -> ServiceRequest:
    customer = Customer(name="杭州云启科技有限公司", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.commit()
    return service_requests.create_request(user=users["agent"], values={
        "type": "投诉", "summary": "设备频繁死机", "customer_id": customer.id, "detail": "考勤机每天死机两三次。"})


def test_a_declared_record_type_takes_attachments_under_its_label(users, store, complaints, complaint):
    agent = users["agent"]
    assert "complaint" in attachments.record_types()
    assert attachments.record_title(user=agent, record_type="complaint", record_id=complaint.id) == (
        f"客户投诉 设备频繁死机 ({complaint.number})")

    row = attachments.upload(user=agent, record_type="complaint", record_id=complaint.id, filename="照片.png",
                             data=b"\x89PNG\r\n\x1a\n")
    listed = attachments.list_attachments(user=agent, record_type="complaint", record_id=complaint.id)
    assert [a.id for a in listed] == [row.id]
    assert attachments.get_attachment(attachment_id=row.id, user=agent).record_type == "complaint"
    entry = db.session.scalars(select(AuditLog).where(AuditLog.record_type == "complaint",
                                                      AuditLog.record_id == complaint.id)).one()
    assert entry.changes == {"attachment": [None, "照片.png"]}
    assert audit.type_label("complaint") == "客户投诉"

    # Its loader's read check and its may_update decide, as for any declared type.
    with pytest.raises(NotFound):
        attachments.list_attachments(user=users["manager2"], record_type="complaint", record_id=complaint.id)
    assert attachments.list_attachments(user=users["ceo"], record_type="complaint", record_id=complaint.id)
    assert not attachments.may_update_record(users["ceo"], "complaint", complaint.id)
    with pytest.raises(Forbidden):
        attachments.upload(user=users["ceo"], record_type="complaint", record_id=complaint.id,
                           filename="a.txt", data=b"a")

    # The audit log's filter offers it; the bin does not, as it was not declared recyclable.
    assert "complaint" in logs.record_types() and "complaint" not in recycle.record_types()


def test_the_upload_page_of_a_declared_record_type_shows_its_label(app, users, store, complaints, complaint):
    browser = app.test_client()
    response = browser.post("/login", data={"username": "agent", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    page = browser.get(f"/attachments/new?record_type=complaint&record_id={complaint.id}")
    assert page.status_code == 200
    assert f"客户投诉 设备频繁死机 ({complaint.number})" in page.get_data(as_text=True)
    assert f'href="/service/{complaint.id}"' in page.get_data(as_text=True)


def test_a_record_type_without_attachments_has_none(users, store, complaint):
    assert "service_request" not in attachments.record_types()
    with pytest.raises(NotFound):
        attachments.list_attachments(user=users["agent"], record_type="service_request", record_id=complaint.id)
    assert not attachments.may_update_record(users["agent"], "service_request", complaint.id)


def test_a_type_taking_attachments_must_say_who_may_update_it(complaints):
    with pytest.raises(ValueError, match="nobody may update"):
        RECORDS.add(RecordType(key="broken", model=ServiceRequest, label=_("客户投诉"),
                               load=complaints.load, owner_id=complaints.owner_id, title=complaints.title,
                               attachments=True))
