"""Import API: upload (multipart), mapping, preview, commit; errors as JSON; documented shapes."""
from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import Contact, Customer, ImportJob

from .helpers import assert_error

HEADERS = ["客户名称", "电话", "税号", "行业"]
ROWS = [["杭州鑫达机械有限公司", "0571-88886666", "91330100MA27XYZ01A", "制造业"],
        ["宁波港联物流有限公司", "0574-87651234", "91330200MA2AAA002B", "物流"]]


def xlsx(headers=HEADERS, rows=ROWS) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def post_file(client, headers, data: bytes, filename="客户.xlsx", kind="customers"):
    return client.post("/api/v1/imports", data={"kind": kind, "file": (io.BytesIO(data), filename)},
                       headers=headers, content_type="multipart/form-data")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def properties(document: dict, name: str) -> set[str]:
    return set(document["components"]["schemas"][name]["properties"])


def test_upload_preview_map_and_commit(client, auth):
    headers = auth("manager1")
    response = post_file(client, headers, xlsx())
    assert response.status_code == 201, response.json
    job = response.json
    assert response.headers["Location"].endswith(f"/api/v1/imports/{job['id']}")
    assert job["headers"] == HEADERS and job["status"] == "uploaded" and job["row_count"] == 2
    assert job["mapping"] == {"客户名称": "name", "电话": "phone", "税号": "tax_no", "行业": "industry"}
    assert {"name": "tax_no", "label": "税号", "required": False} in job["fields"]

    preview = client.get(f"/api/v1/imports/{job['id']}", headers=headers).json
    assert preview["counts"] == {"total": 2, "ready": 2, "duplicates": 0, "errors": 0} and preview["can_commit"]
    assert preview["rows"][0] == {"line": 2, "status": "ok", "values": dict(zip(
        ["name", "phone", "tax_no", "industry"], ROWS[0], strict=True)), "errors": [], "duplicate": None}

    response = client.put(f"/api/v1/imports/{job['id']}/mapping", headers=headers,
                          json={"mapping": {**job["mapping"], "行业": ""}, "duplicate_rule": "tax_no"})
    assert response.status_code == 200, response.json
    assert response.json["job"]["duplicate_rule"] == "tax_no"
    assert "industry" not in response.json["rows"][0]["values"]
    assert count(Customer) == 0

    response = client.post(f"/api/v1/imports/{job['id']}/commit", headers=headers)
    assert response.status_code == 200, response.json
    result = response.json["result"]
    assert result["created"] == 2 and result["skipped_duplicates"] == 0
    assert result["numbers"] == [f"KH{result['first_id']:06d}", f"KH{result['last_id']:06d}"]
    assert set(db.session.scalars(select(Customer.industry))) == {None}

    assert_error(client.post(f"/api/v1/imports/{job['id']}/commit", headers=headers), 409)
    assert_error(client.put(f"/api/v1/imports/{job['id']}/mapping", headers=headers,
                            json={"mapping": job["mapping"], "duplicate_rule": "name"}), 409)
    assert count(Customer) == 2
    listing = client.get("/api/v1/imports", headers=headers).json
    assert [item["id"] for item in listing["items"]] == [job["id"]]


def test_a_bad_row_refuses_the_commit_and_writes_nothing(client, auth):
    headers = auth("manager1")
    job = post_file(client, headers, xlsx(rows=[*ROWS, ["坏数据公司", "电话号码", "", "造船"]])).json
    preview = client.get(f"/api/v1/imports/{job['id']}", headers=headers).json
    bad = preview["rows"][2]
    assert bad["status"] == "error" and bad["line"] == 4 and len(bad["errors"]) == 2
    error = assert_error(client.post(f"/api/v1/imports/{job['id']}/commit", headers=headers), 422)
    assert "第 4 行" in error["message"] and error["fields"]["row 4"] == bad["errors"]
    assert count(Customer) == 0
    assert db.session.get(ImportJob, job["id"]).status == "uploaded"


def test_duplicates_against_the_database_are_skipped(client, auth, users):
    db.session.add(Customer(name="杭州鑫达机械有限公司", number="KH900001", owner_id=users["manager2"].id))
    db.session.commit()
    headers = auth("manager1")
    job = post_file(client, headers, xlsx(rows=[*ROWS, ROWS[1]])).json
    preview = client.get(f"/api/v1/imports/{job['id']}", headers=headers).json
    assert preview["counts"] == {"total": 3, "ready": 1, "duplicates": 2, "errors": 0}
    assert "KH900001" in preview["rows"][0]["duplicate"] and "第 3 行" in preview["rows"][2]["duplicate"]
    result = client.post(f"/api/v1/imports/{job['id']}/commit", headers=headers).json["result"]
    assert (result["created"], result["skipped_duplicates"]) == (1, 2)
    assert count(Customer) == 2


def test_bad_uploads_and_inputs_are_clear_errors(client, auth):
    headers = auth("manager1")
    for data, filename, message in [(b"PK\x03\x04broken", "a.xlsx", "不是有效的 Excel"), (b"", "a.csv", "空"),
                                    (xlsx(rows=[]), "a.xlsx", "只有标题行"), (b"x", "a.xls", ".xlsx")]:
        error = assert_error(post_file(client, headers, data, filename), 422)
        assert message in error["message"] and error["fields"]["file"]
    assert_error(client.post("/api/v1/imports", headers=headers, json={"kind": "customers"}), 422)
    assert_error(post_file(client, headers, xlsx(), kind="orders"), 422)
    assert count(ImportJob) == 0
    job = post_file(client, headers, xlsx()).json
    url = f"/api/v1/imports/{job['id']}/mapping"
    assert_error(client.put(url, headers=headers, data="x"), 400)
    error = assert_error(client.put(url, headers=headers, json={"mapping": ["name"], "extra": 1}), 422)
    assert set(error["fields"]) == {"mapping", "duplicate_rule", "extra"}
    error = assert_error(client.put(url, headers=headers, json={"mapping": {"客户名称": ""},
                                                                "duplicate_rule": "name"}), 422)
    assert "客户名称" in error["fields"]["mapping"][0]


def test_someone_elses_job_is_404_and_roles_without_import_get_403(client, auth):
    job = post_file(client, auth("manager1"), xlsx()).json
    other = auth("manager3")
    for response in (client.get(f"/api/v1/imports/{job['id']}", headers=other),
                     client.post(f"/api/v1/imports/{job['id']}/commit", headers=other),
                     client.put(f"/api/v1/imports/{job['id']}/mapping", headers=other,
                                json={"mapping": {}, "duplicate_rule": "name"}),
                     client.get("/api/v1/imports/99999999", headers=other)):
        assert_error(response, 404)
    assert_error(post_file(client, auth("agent"), xlsx()), 403)
    assert_error(client.get("/api/v1/imports"), 401)
    assert count(Customer) == 0


def test_contacts_import_and_documented_shapes(client, auth, users):
    customer = Customer(name="杭州鑫达机械有限公司", number="KH000777", owner_id=users["manager1"].id)
    db.session.add(customer)
    db.session.commit()
    headers = auth("manager1")
    data = xlsx(["客户编号", "姓名", "性别", "职位", "办公电话", "手机"],
                [["KH000777", "王建国", "男", "采购经理", "0571-88886666", "13900001111"]])
    job = post_file(client, headers, data, kind="contacts").json
    assert job["kind"] == "contacts" and job["duplicate_rules"] == {"name": "同一客户下姓名相同",
                                                                     "phone": "同一客户下手机或办公电话相同"}
    preview = client.get(f"/api/v1/imports/{job['id']}", headers=headers).json
    committed = client.post(f"/api/v1/imports/{job['id']}/commit", headers=headers).json
    assert db.session.scalar(select(Contact.customer_id)) == customer.id
    document = client.get("/api/v1/openapi.json").json
    assert set(job) == properties(document, "ImportJob") == set(committed)
    assert set(committed["result"]) == set(
        document["components"]["schemas"]["ImportJob"]["properties"]["result"]["oneOf"][0]["properties"])
    assert set(preview) == properties(document, "ImportPreview")
    assert set(preview["rows"][0]) == properties(document, "ImportRow")
    assert set(client.get("/api/v1/imports", headers=headers).json) == properties(document, "ImportJobList")
