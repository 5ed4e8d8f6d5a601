"""The quote's PDF: printed by the "quote.pdf" job after the commit, read back with pdftotext, attached once."""
from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import Attachment, Contact, Customer, Job, JobStatus, Product, Quote, QuoteStatus
from bpm_crm.services import attachments, jobs, quote_pdf, quotes
from bpm_crm.services.demo import DEMO_PASSWORD
from bpm_crm.services.transaction import unit_of_work

COMPANY = "杭州测试科技有限公司"
LINES = [
    {"product_name": "办公软件标准版", "quantity": 200, "unit_price": "1280.00", "discount_pct": "15"},
    {"product_name": "实施服务", "quantity": 3, "unit_price": "19.99", "discount_pct": "12.5"},
]
TOTAL = "219,450.47"  # 217,600.00 + 52.47 + 2 × 899.00
TOTAL_CAPITALS = "贰拾壹万玖仟肆佰伍拾元肆角柒分"


@pytest.fixture(autouse=True)
def store(app, tmp_path):
    app.config.update(ATTACHMENTS_DIR=str(tmp_path / "files"), COMPANY_NAME=COMPANY,
                      COMPANY_ADDRESS="杭州市西湖区文三路 100 号")
    return tmp_path / "files"


@pytest.fixture
def approved(users) -> Quote:
    """An approved quote of manager1's customer: two free-text lines and one catalog product."""
    manager = users["manager1"]
    customer = Customer(name="宁波港联物流有限公司", owner_id=manager.id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    contact = Contact(customer_id=customer.id, name="钱经理", gender="男", position="采购经理",
                      office_phone="0574-88886666")
    product = Product(code="P-001", name="智能考勤机", model="K20", unit="台", price=Decimal("899.00"))
    db.session.add_all([contact, product])
    db.session.commit()
    quote = quotes.create_quote(user=manager, values={"customer_id": customer.id, "contact_id": contact.id,
                                                      "name": "仓储管理系统报价", "quote_date": date(2026, 11, 20)},
                                lines=[*LINES, {"product_id": product.id, "quantity": 2, "unit_price": "899.00"}])
    quote.status = QuoteStatus.APPROVED.value
    db.session.commit()
    return quote


def trail_of(users) -> list[dict]:
    return [
        {"step": "销售主管审批", "approver": users["supervisor1"].full_name, "decision": "approve",
         "at": datetime(2026, 11, 21, 2, 30, tzinfo=UTC), "comment": "价格合理"},
        {"step": "销售总监审批", "approver": users["director"].full_name, "decision": "approve",
         "at": datetime(2026, 11, 22, 1, 15), "comment": None},  # naive: UTC, as the tables store it
    ]


@unit_of_work
def approve_and_ask_for_pdf(quote_id: int, trail: list[dict], approver_id: int) -> Job:
    return quote_pdf.request_pdf(quote_id=quote_id, trail=trail, approver_id=approver_id)


def pdfs(quote: Quote) -> list[Attachment]:
    return list(db.session.scalars(select(Attachment).where(
        Attachment.record_type == "quote", Attachment.record_id == quote.id,
        Attachment.filename == quote_pdf.pdf_filename(quote))))


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The PDF's text without white space (table cells may wrap)."""
    path = tmp_path / "quote.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True,
                            timeout=60)
    return "".join(result.stdout.decode("utf-8").split())


def test_the_job_prints_the_approved_quote_and_attaches_it(app, users, approved, tmp_path):
    job = approve_and_ask_for_pdf(approved.id, trail_of(users), users["director"].id)
    assert job.kind == "quote.pdf" and pdfs(approved) == []  # nothing printed inside the transaction
    assert jobs.run_job(job.id) is True
    assert db.session.get(Job, job.id).status == JobStatus.DONE

    [pdf] = pdfs(approved)
    assert pdf.filename == f"报价单-{approved.number}.pdf" and pdf.content_type == "application/pdf"
    assert pdf.uploaded_by_id == users["director"].id
    text = pdf_text(attachments.read_bytes(pdf), tmp_path)
    for expected in [COMPANY, approved.number, "仓储管理系统报价", "宁波港联物流有限公司", "钱经理",
                     "办公软件标准版", "实施服务", "智能考勤机", "K20", "15%", "12.5%",
                     f"¥{TOTAL}", TOTAL_CAPITALS, "2026年11月20日", "有效期至2026年12月20日",
                     users["supervisor1"].full_name, users["director"].full_name, "销售主管审批", "价格合理",
                     "2026-11-2110:30", "2026-11-2209:15"]:  # the trail's times in Asia/Shanghai
        assert expected in text, expected


def test_a_second_run_leaves_one_pdf_and_a_new_trail_replaces_it(app, users, approved, tmp_path):
    upload = attachments.upload(user=users["manager1"], record_type="quote", record_id=approved.id,
                                filename="合同.pdf", data=b"%PDF-1.7 signed contract")
    trail = trail_of(users)
    first = approve_and_ask_for_pdf(approved.id, trail, users["director"].id)
    assert jobs.run_job(first.id) is True
    [printed] = pdfs(approved)

    # A retry (the hand-off and the sweep both ran it, or a worker died after printing) prints the same bytes.
    quote_pdf.run_pdf_job(dict(db.session.get(Job, first.id).payload))
    db.session.commit()
    assert [a.id for a in pdfs(approved)] == [printed.id]

    # A later trail (approved again after a resubmission) replaces the PDF.
    later = approve_and_ask_for_pdf(approved.id, [*trail, {"step": "高管审批", "approver": users["ceo"].full_name,
                                                           "decision": "reject", "at": "2026-11-23T08:00:00+08:00",
                                                           "comment": "折扣过高"}], users["ceo"].id)
    assert jobs.run_job(later.id) is True
    [replaced] = pdfs(approved)
    assert replaced.id != printed.id and replaced.uploaded_by_id == users["ceo"].id
    text = pdf_text(attachments.read_bytes(replaced), tmp_path)
    assert users["ceo"].full_name in text and "拒绝" in text and "2026-11-2308:00" in text
    names = sorted(a.filename for a in db.session.scalars(
        select(Attachment).where(Attachment.record_type == "quote", Attachment.record_id == approved.id)))
    assert names == sorted(["合同.pdf", quote_pdf.pdf_filename(approved)])
    assert db.session.get(Attachment, upload.id) is not None


def test_the_pdf_downloads_from_the_quote_page(app, users, approved):
    job = approve_and_ask_for_pdf(approved.id, trail_of(users), users["supervisor1"].id)
    jobs.run_job(job.id)
    [pdf] = pdfs(approved)

    browser = app.test_client()
    assert browser.post("/login", data={"username": "manager1", "password": DEMO_PASSWORD}).status_code == 302
    page = browser.get(f"/quotes/{approved.id}").get_data(as_text=True)
    assert pdf.filename in page and f"/attachments/{pdf.id}" in page
    download = browser.get(f"/attachments/{pdf.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF-")
    assert download.data == attachments.read_bytes(pdf)
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_a_quote_deleted_before_the_job_ran_gets_no_pdf(app, users):
    quote_pdf.run_pdf_job({"quote_id": 987654, "trail": [], "approver_id": None})
    assert db.session.scalars(select(Attachment).where(Attachment.record_type == "quote")).all() == []


def test_validity_follows_the_configured_days(app, approved):
    assert quote_pdf.valid_until(approved) == date(2026, 12, 20)
    app.config["QUOTE_VALID_DAYS"] = 15
    assert quote_pdf.valid_until(approved) == date(2026, 12, 5)


def test_record_text_prints_as_text_never_as_markup(app, users, approved, tmp_path):
    quote = quotes.create_quote(user=users["manager1"], values={
        "customer_id": approved.customer_id, "name": "<b>接口</b>报价", "quote_date": date(2026, 11, 20)},
        lines=[{"product_name": '<img src="file:///etc/passwd">定制接口', "quantity": 1, "unit_price": "10.00"}])
    text = pdf_text(quote_pdf.render_quote_pdf(quote, trail=[{"step": "<i>审批</i>", "approver": "王&强"}]), tmp_path)
    assert '<imgsrc="file:///etc/passwd">定制接口' in text and "<b>接口</b>报价" in text
    assert "<i>审批</i>" in text and "王&强" in text and "壹拾元整" in text
