"""Excel import of customers and contacts: mapping, preview, duplicates, all-or-nothing commit."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, Contact, Customer, ImportJob
from bpm_crm.services import excel, imports

HEADERS = ["客户名称", "联系电话", "纳税人识别号", "地区", "行业", "等级", "满意度", "注册资金", "备注"]
GOOD = [
    ["杭州鑫达机械有限公司", "0571-88886666", "91330100MA27XYZ01A", "浙江省/杭州市", "制造业", "重点", "4", "500万",
     "老客户"],
    ["苏州恒通物流有限公司", "13812345678", "91320500MA1MABC02B", "苏州市", "物流", "", "", "1,200,000.50", ""],
    ["成都蜀香餐饮管理有限公司", "028-66778899", "", "四川省 成都市", "餐饮", "VIP", "5", "", ""],
]


def xlsx(headers: list[str], rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula, as a hostile file would carry it
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(headers: list[str], rows: list[list[str]]) -> bytes:
    lines = [",".join(headers)] + [",".join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def upload(users, rows=GOOD, headers=HEADERS, username="manager1", kind="customers"):
    return imports.upload(user=users[username], kind=kind, filename="客户.xlsx", data=xlsx(headers, rows))


def test_headers_are_guessed_and_a_good_file_imports_every_row(users):
    manager = users["manager1"]
    job = upload(users)
    assert job.mapping == {"客户名称": "name", "联系电话": "phone", "纳税人识别号": "tax_no", "地区": "region",
                           "行业": "industry", "等级": "level", "满意度": "satisfaction",
                           "注册资金": "registered_capital", "备注": "remarks"}
    preview = imports.preview(job_id=job.id, user=manager)
    assert (preview.total, preview.error_count, preview.duplicate_count, preview.ready_count) == (3, 0, 0, 3)
    assert [row.line for row in preview.rows] == [2, 3, 4]
    assert count(Customer) == 0, "the preview writes nothing"

    imports.commit(job_id=job.id, user=manager)
    customers = list(db.session.scalars(select(Customer).order_by(Customer.id)))
    assert [c.name for c in customers] == [row[0] for row in GOOD]
    assert all(c.number == f"KH{c.id:06d}" for c in customers)
    assert {c.owner_id for c in customers} == {manager.id}
    first, second, third = customers
    assert (first.region, first.level, first.satisfaction, str(first.registered_capital)) == (
        "浙江省/杭州市", "重点", 4, "5000000.00")
    assert (second.region, second.level, str(second.registered_capital)) == ("江苏省/苏州市", "普通", "1200000.50")
    assert third.region == "四川省/成都市" and third.tax_no is None
    audit = list(db.session.scalars(select(AuditLog).where(AuditLog.record_type == "customer")))
    assert {a.record_id for a in audit} == {c.id for c in customers}
    assert all(a.action == "create" and a.user_id == manager.id for a in audit)
    assert audit[0].changes["number"] == [None, first.number]
    job = db.session.get(ImportJob, job.id)
    assert job.status == "committed"
    assert job.result["created"] == 3 and job.result["skipped_duplicates"] == 0


def test_csv_in_gbk_is_read_too(users):
    data = csv_bytes(["名称", "电话"], [["宁波港联物流有限公司", "0574-87651234"]]).decode().encode("gb18030")
    job = imports.upload(user=users["manager1"], kind="customers", filename="list.csv", data=data)
    assert job.mapping == {"名称": "name", "电话": "phone"}
    imports.commit(job_id=job.id, user=users["manager1"])
    assert db.session.scalar(select(Customer.phone)) == "0574-87651234"


def test_one_bad_row_refuses_the_whole_import(users):
    rows = [*GOOD, ["", "abc", "", "火星", "造船", "钻石", "6", "很多", ""]]
    job = upload(users, rows)
    preview = imports.preview(job_id=job.id, user=users["manager1"])
    assert preview.error_count == 1 and not preview.can_commit
    bad = preview.rows[-1]
    assert bad.line == 5
    text = " ".join(str(error) for error in bad.errors)
    for fragment in ("“客户名称”必填", "电话", "地区", "行业", "客户等级", "满意度", "注册资金"):
        assert fragment in text, fragment
    with pytest.raises(Invalid) as info:
        imports.commit(job_id=job.id, user=users["manager1"])
    assert "第 5 行" in info.value.message and "row 5" in info.value.field_errors
    db.session.expire_all()
    assert count(Customer) == 0 and count(AuditLog.__table__) == count(AuditLog.__table__)
    assert db.session.get(ImportJob, job.id).status == "uploaded", "a refused commit leaves the job open"


@pytest.mark.parametrize(("rule", "column", "existing", "same"), [
    ("name", 0, {"name": "杭州鑫达机械有限公司"}, " 杭州鑫达机械有限公司 "),
    ("phone", 1, {"name": "另一家", "phone": "057188886666"}, "0571 8888 6666"),
    ("tax_no", 2, {"name": "又一家", "tax_no": "91330100ma27xyz01a"}, "91330100MA27XYZ01A"),
])
def test_duplicates_by_each_rule_against_the_database_and_within_the_file(users, rule, column, existing, same):
    manager = users["manager1"]
    db.session.add(Customer(number="KH999001", owner_id=users["manager2"].id, **existing))
    db.session.commit()
    rows = [list(row) for row in GOOD]
    repeat = list(rows[1])
    repeat[0] = "苏州恒通物流有限公司（重复）" if rule != "name" else repeat[0]
    rows.append(repeat)  # repeats row 3 of the file under every rule except where the key is blank
    job = upload(users, rows)
    imports.set_mapping(job_id=job.id, user=manager, mapping=job.mapping, duplicate_rule=rule)
    preview = imports.preview(job_id=job.id, user=manager)
    duplicates = {row.line: row.duplicate for row in preview.rows if row.duplicate}
    assert set(duplicates) == {2, 5}, duplicates
    assert "KH999001" in str(duplicates[2])
    assert "第 3 行" in str(duplicates[5])
    assert rows[0][column].strip() or same
    imports.commit(job_id=job.id, user=manager)
    assert count(Customer) == 1 + 2
    assert db.session.get(ImportJob, job.id).result["skipped_duplicates"] == 2


def test_rows_with_a_blank_key_are_not_duplicates_of_each_other(users):
    rows = [["甲公司", "", ""], ["乙公司", "", ""]]
    job = upload(users, rows, headers=["客户名称", "电话", "税号"])
    imports.set_mapping(job_id=job.id, user=users["manager1"], mapping=job.mapping, duplicate_rule="tax_no")
    assert imports.preview(job_id=job.id, user=users["manager1"]).duplicate_count == 0


@pytest.mark.parametrize(("filename", "data", "message"), [
    ("broken.xlsx", b"PK\x03\x04 this is not a zip at all", "不是有效的 Excel"),
    ("empty.xlsx", b"", "文件是空的"),
    ("header.xlsx", None, "只有标题行"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "只支持 .xlsx 和 .csv"),
    ("notes.txt", b"name,phone\n", "只支持 .xlsx 和 .csv"),
    ("renamed.xlsx", b"name,phone\nA,1\n", "不是有效的 Excel"),
    ("huge.csv", b"a" * (excel.MAX_UPLOAD_BYTES + 1), "MB"),
    ("binary.csv", b"a,b\n\x00\x01,\x02\n", "CSV"),
])
def test_unreadable_files_get_a_clear_error_and_no_job(users, filename, data, message):
    if data is None:
        data = xlsx(HEADERS, [])
    with pytest.raises(Invalid) as info:
        imports.upload(user=users["manager1"], kind="customers", filename=filename, data=data)
    assert message in info.value.message
    assert info.value.field_errors["file"]
    assert count(ImportJob) == 0 and count(Customer) == 0


def test_more_rows_than_the_limit_are_refused(users):
    rows = [[f"公司{i}", ""] for i in range(excel.MAX_ROWS + 2)]
    with pytest.raises(Invalid) as info:
        imports.upload(user=users["manager1"], kind="customers", filename="big.csv",
                       data=csv_bytes(["客户名称", "电话"], rows))
    assert str(excel.MAX_ROWS) in info.value.message
    assert count(ImportJob) == 0


def test_another_users_job_is_not_found_and_unknown_kinds_are_refused(users):
    job = upload(users)
    for call in (lambda: imports.preview(job_id=job.id, user=users["manager3"]),
                 lambda: imports.commit(job_id=job.id, user=users["manager3"]),
                 lambda: imports.set_mapping(job_id=job.id, user=users["supervisor1"], mapping={},
                                             duplicate_rule="name")):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(Forbidden):
        imports.preview(job_id=job.id, user=users["quality"])
    with pytest.raises(Invalid):
        imports.upload(user=users["manager1"], kind="orders", filename="x.xlsx", data=xlsx(HEADERS, GOOD))
    assert count(Customer) == 0


def test_a_second_commit_is_a_conflict_and_duplicates_nothing(users):
    job = upload(users)
    imports.commit(job_id=job.id, user=users["manager1"])
    with pytest.raises(Conflict):
        imports.commit(job_id=job.id, user=users["manager1"])
    with pytest.raises(Conflict):
        imports.set_mapping(job_id=job.id, user=users["manager1"], mapping=job.mapping, duplicate_rule="name")
    assert count(Customer) == 3


def test_mapping_must_cover_required_fields_once(users):
    job = upload(users)
    manager = users["manager1"]
    with pytest.raises(Invalid) as info:
        imports.set_mapping(job_id=job.id, user=manager, mapping={"客户名称": ""}, duplicate_rule="name")
    assert "客户名称" in " ".join(info.value.field_errors["mapping"])
    with pytest.raises(Invalid) as info:
        imports.set_mapping(job_id=job.id, user=manager, mapping={"客户名称": "name", "备注": "name"},
                            duplicate_rule="name")
    assert "只能对应一列" in " ".join(info.value.field_errors["mapping"])
    with pytest.raises(Invalid) as info:
        imports.set_mapping(job_id=job.id, user=manager, mapping=job.mapping, duplicate_rule="email")
    assert "duplicate_rule" in info.value.field_errors
    with pytest.raises(Invalid):
        imports.set_mapping(job_id=job.id, user=manager, mapping={"不存在的列": "name"}, duplicate_rule="name")
    imports.set_mapping(job_id=job.id, user=manager, mapping={**job.mapping, "备注": "", "地区": ""},
                        duplicate_rule="name")
    imports.commit(job_id=job.id, user=manager)
    assert set(db.session.scalars(select(Customer.remarks))) == {None}
    assert set(db.session.scalars(select(Customer.region))) == {None}


def test_formula_like_cells_are_kept_as_text_and_neutralised_on_export(users):
    attack = "=cmd|' /C calc'!A0"
    job = upload(users, [[attack, "", "", "", "", "", "", "", "@SUM(1+1)"]])
    imports.commit(job_id=job.id, user=users["manager1"])
    customer = db.session.scalar(select(Customer))
    assert (customer.name, customer.remarks) == (attack, "@SUM(1+1)")
    data = excel.write_xlsx(title="客户", headers=["客户名称", "备注"], rows=[[customer.name, customer.remarks]])
    sheet = load_workbook(io.BytesIO(data)).active
    for cell in sheet[2]:
        assert cell.data_type == "s"
        assert cell.value.startswith("'")
    assert sheet["A2"].value == "'" + attack


def test_supervisors_may_name_an_account_manager_within_their_scope(users):
    headers = ["客户名称", "客户经理"]
    rows = [["甲公司", "manager1"], ["乙公司", "赵敏"], ["丙公司", ""], ["丁公司", "manager2"], ["戊公司", "nobody"]]
    supervisor = users["supervisor1"]
    job = upload(users, rows, headers=headers, username="supervisor1")
    assert job.mapping == {"客户名称": "name", "客户经理": "owner"}
    preview = imports.preview(job_id=job.id, user=supervisor)
    assert [bool(row.errors) for row in preview.rows] == [False, False, False, True, True]
    assert "不在您的管理范围内" in str(preview.rows[3].errors[0])
    imports.set_mapping(job_id=job.id, user=supervisor, mapping={"客户名称": "name", "客户经理": "owner"},
                        duplicate_rule="name")
    job.rows = rows[:3]
    db.session.commit()
    imports.commit(job_id=job.id, user=supervisor)
    owners = dict(db.session.execute(select(Customer.name, Customer.owner_id)).all())
    assert owners == {"甲公司": users["manager1"].id, "乙公司": users["manager3"].id, "丙公司": supervisor.id}


def test_account_managers_cannot_give_customers_to_someone_else(users):
    job = upload(users, [["甲公司", "manager3"]], headers=["客户名称", "客户经理"])
    preview = imports.preview(job_id=job.id, user=users["manager1"])
    assert preview.error_count == 1


def _customer(users, name: str, owner: str) -> Customer:
    customer = Customer(name=name, owner_id=users[owner].id)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def test_contacts_find_their_customer_by_number_or_name_within_scope(users):
    mine = _customer(users, "杭州鑫达机械有限公司", "manager1")
    other = _customer(users, "别人的公司", "manager2")
    headers = ["客户编号", "客户名称", "姓名", "性别", "职位", "办公电话", "手机", "邮箱", "生日", "备注"]
    rows = [
        [mine.number, "", "王建国", "男", "采购经理", "0571-88886666", "13900001111", "wjg@xinda.cn", "1980-05-01", ""],
        ["", mine.name, "李秀英", "女性", "财务", "0571-88886667", "", "", "1985/6/18", ""],
        ["", mine.name, "王建国", "男", "总经理", "0571-1", "", "", "", ""],
        [other.number, "", "张伟", "男", "经理", "010-12345678", "", "", "", ""],
        ["", "没有这家", "赵强", "男", "经理", "010-12345678", "", "", "", ""],
        [mine.number, "", "刘洋", "未知", "", "12", "", "not-an-email", "2099-01-01", ""],
    ]
    manager = users["manager1"]
    job = upload(users, rows, headers=headers, kind="contacts")
    assert job.mapping["客户编号"] == "customer_number" and job.mapping["姓名"] == "name"
    preview = imports.preview(job_id=job.id, user=manager)
    status = [row.status for row in preview.rows]
    assert status == ["ok", "ok", "error", "error", "error", "error"], [r.errors for r in preview.rows]
    assert "不存在或您无权修改" in str(preview.rows[3].errors[0])
    assert len(preview.rows[5].errors) == 5  # gender, position, office phone, email, birthday in the future
    job.rows = rows[:3]
    job.rows[2][5] = "0571-88886668"
    db.session.commit()
    preview = imports.preview(job_id=job.id, user=manager)
    assert [row.status for row in preview.rows] == ["ok", "ok", "duplicate"]  # 王建国 twice at the same customer
    imports.commit(job_id=job.id, user=manager)
    contacts = list(db.session.scalars(select(Contact).order_by(Contact.id)))
    assert [(c.customer_id, c.name, c.gender, str(c.birthday)) for c in contacts] == [
        (mine.id, "王建国", "男", "1980-05-01"), (mine.id, "李秀英", "女", "1985-06-18")]
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.record_type == "contact")) == 2
    again = upload(users, rows[:1], headers=headers, kind="contacts")
    assert imports.preview(job_id=again.id, user=manager).duplicate_count == 1


@pytest.mark.commits  # each request runs on its own thread and connection
def test_two_concurrent_commits_write_once(app, users):
    import threading

    from bpm_crm.models import User

    job_id, manager_id = upload(users).id, users["manager1"].id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit() -> None:
        with app.app_context():
            barrier.wait()  # a double click: both requests arrive together
            try:
                imports.commit(job_id=job_id, user=db.session.get(User, manager_id))
                outcomes.append("ok")
            except Conflict:
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "ok"]
    assert count(Customer) == len(GOOD)
