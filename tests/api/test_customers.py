"""Customers over the API: list with filters, create/patch/delete, scopes, pool, transfer, share, overview."""
from __future__ import annotations

from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import Customer, CustomerTransfer, RecycleBinEntry

from .helpers import assert_error

CUSTOMER = {"name": "杭州云启科技有限公司", "level": "VIP", "region": "浙江省/杭州市", "satisfaction": 4,
            "credit": 5, "phone": "0571-86001234", "registered_capital": 500, "industry": "信息技术"}


def create(client, auth, username: str = "manager1", **changes) -> dict:
    response = client.post("/api/v1/customers", json={**CUSTOMER, **changes}, headers=auth(username))
    assert response.status_code == 201, response.json
    return response.json


def test_create_read_patch_and_delete(client, auth, users):
    headers = auth("manager1")
    record = create(client, auth)
    assert record["number"] == f"KH{record['id']:06d}" and record["owner"]["username"] == "manager1"
    assert record["registered_capital"] == "500.00" and record["satisfaction"] == 4
    response = client.get(f"/api/v1/customers/{record['id']}", headers=headers)
    assert response.json == record
    assert client.post("/api/v1/customers", json={**CUSTOMER, "name": "x"}, headers=headers).headers[
        "Location"].startswith("/api/v1/customers/")

    patched = client.patch(f"/api/v1/customers/{record['id']}", json={"short_name": "云启", "credit": None},
                           headers=headers)
    assert patched.status_code == 200 and (patched.json["short_name"], patched.json["credit"]) == ("云启", None)
    error = assert_error(client.patch(f"/api/v1/customers/{record['id']}", json={"number": "KH1"},
                                      headers=headers), 422)
    assert "number" in error["fields"]
    assert "owner_id" in assert_error(client.patch(f"/api/v1/customers/{record['id']}", json={"owner_id": 1},
                                                   headers=headers), 422)["fields"]

    assert client.delete(f"/api/v1/customers/{record['id']}", headers=headers).status_code == 204
    assert_error(client.get(f"/api/v1/customers/{record['id']}", headers=headers), 404)
    assert db.session.scalar(select(RecycleBinEntry.record_id)) == record["id"]


def test_validation_errors_name_the_fields(client, auth):
    headers = auth("manager1")
    error = assert_error(client.post("/api/v1/customers", json={"satisfaction": 6, "level": "钻石",
                                                                "registered_capital": -5}, headers=headers), 422)
    assert {"name", "satisfaction", "level", "registered_capital"} <= set(error["fields"])
    assert "number" in assert_error(client.post("/api/v1/customers", json={**CUSTOMER, "number": "KH000001"},
                                                headers=headers), 422)["fields"]
    assert "phone" in assert_error(client.post("/api/v1/customers", json={**CUSTOMER, "phone": ["1"]},
                                               headers=headers), 422)["fields"]
    assert_error(client.post("/api/v1/customers", data="name=x", headers=headers), 400)
    assert client.get("/api/v1/customers", headers=headers).json["total"] == 0


def test_list_filters_sort_paging_and_scopes(client, auth):
    create(client, auth, name="甲", region="浙江省/杭州市")
    create(client, auth, name="乙", region="江苏省/苏州市", level="普通")
    create(client, auth, "manager3", name="丙", region="浙江省/宁波市")
    other = create(client, auth, "manager2", name="丁")

    def listed(username: str, query: str = "") -> list[str]:
        response = client.get(f"/api/v1/customers?{query}", headers=auth(username))
        assert response.status_code == 200, response.json
        return [c["name"] for c in response.json["items"]]

    assert listed("manager1") == ["乙", "甲"]
    assert sorted(listed("supervisor1")) == ["丙", "乙", "甲"]
    assert sorted(listed("director")) == sorted(listed("ceo")) == ["丁", "丙", "乙", "甲"]
    assert listed("supervisor1", "region=浙江省&sort=name") == sorted(["甲", "丙"])
    assert listed("supervisor1", "level=VIP&sort=-number") == ["丙", "甲"]
    page = client.get("/api/v1/customers?per_page=1&page=2&sort=number", headers=auth("director")).json
    assert (page["total"], page["pages"], [c["name"] for c in page["items"]]) == (4, 4, ["乙"])
    assert_error(client.get(f"/api/v1/customers/{other['id']}", headers=auth("manager1")), 404)
    assert_error(client.get(f"/api/v1/customers/{other['id']}/overview", headers=auth("supervisor1")), 404)
    assert "sort" in assert_error(client.get("/api/v1/customers?sort=password", headers=auth("manager1")),
                                  422)["fields"]
    assert "owner_id" in assert_error(client.get("/api/v1/customers?owner_id=x", headers=auth("manager1")),
                                      422)["fields"]
    assert_error(client.get("/api/v1/customers?view=pool", headers=auth("ceo")), 403)


def test_pool_claim_once_transfer_and_share(client, auth, users):
    record = create(client, auth)
    path = f"/api/v1/customers/{record['id']}"
    released = client.post(f"{path}/release", json={"reason": "不再跟进"}, headers=auth("manager1"))
    assert released.status_code == 200 and released.json["owner"] is None
    assert [c["id"] for c in client.get("/api/v1/customers?view=pool", headers=auth("manager2")).json["items"]] == [
        record["id"]]
    assert client.post(f"{path}/claim", headers=auth("manager2")).json["owner"]["username"] == "manager2"
    assert "已被他人领取" in assert_error(client.post(f"{path}/claim", headers=auth("manager3")), 409)["message"]
    assert_error(client.post("/api/v1/customers/999999/claim", headers=auth("manager3")), 404)

    transfer = client.post("/api/v1/customers/transfer", json={"ids": [record["id"]], "to_user_id": users[
        "manager3"].id, "reason": "调整"}, headers=auth("supervisor2"))
    assert transfer.status_code == 422  # manager3 is not in supervisor2's team
    transfer = client.post("/api/v1/customers/transfer", json={"ids": [record["id"]], "to_user_id": users[
        "manager1"].id, "reason": "调整"}, headers=auth("director"))
    assert transfer.status_code == 200 and transfer.json["transferred"] == 1
    assert [r.kind for r in db.session.scalars(select(CustomerTransfer).order_by(CustomerTransfer.id))] == [
        "release", "claim", "transfer"]
    assert_error(client.post("/api/v1/customers/transfer", json={"ids": "1", "to_user_id": 1},
                             headers=auth("director")), 422)
    assert_error(client.post("/api/v1/customers/transfer", json={"ids": [record["id"]], "to_user_id": users[
        "manager3"].id}, headers=auth("manager1")), 403)

    shared = client.post(f"{path}/shares", json={"user_id": users["manager2"].id}, headers=auth("manager1"))
    assert shared.status_code == 201 and shared.json["user"]["username"] == "manager2"
    assert client.get(path, headers=auth("manager2")).status_code == 200
    assert_error(client.patch(path, json={"name": "偷改"}, headers=auth("manager2")), 403)
    overview = client.get(f"{path}/overview", headers=auth("manager1")).json
    assert overview["counts"]["contacts"] == 0 and [s["user"]["username"] for s in overview["shares"]] == ["manager2"]
    assert [t["kind"] for t in overview["transfers"]] == ["transfer", "claim", "release"]
    assert "share" in overview["actions"] and client.get(f"{path}/overview", headers=auth("manager2")).json[
        "actions"] == []
    assert client.delete(f"{path}/shares/{users['manager2'].id}", headers=auth("manager1")).status_code == 204
    assert_error(client.get(path, headers=auth("manager2")), 404)
    assert_error(client.delete(f"{path}/shares/{users['manager2'].id}", headers=auth("manager1")), 404)
    assert db.session.get(Customer, record["id"]).owner_id == users["manager1"].id


def test_new_responses_have_exactly_the_documented_fields(client, auth, users):
    from .test_openapi import properties

    document = client.get("/api/v1/openapi.json").json
    record = create(client, auth)
    path = f"/api/v1/customers/{record['id']}"
    samples = {
        "Customer": record,
        "CustomerOverview": client.get(f"{path}/overview", headers=auth("manager1")).json,
        "CustomerShare": client.post(f"{path}/shares", json={"user_id": users["agent"].id},
                                     headers=auth("manager1")).json,
        "CustomerTransferResult": client.post("/api/v1/customers/transfer", json={
            "ids": [record["id"]], "to_user_id": users["manager3"].id}, headers=auth("supervisor1")).json,
    }
    for name, body in samples.items():
        assert set(body) == properties(document, {"$ref": f"#/components/schemas/{name}"}), name
    overview = client.get(f"{path}/overview", headers=auth("supervisor1")).json
    assert set(overview["transfers"][0]) == properties(document, {"$ref": "#/components/schemas/CustomerTransfer"})
    assert set(overview["counts"]) == properties(document, document["components"]["schemas"]["CustomerOverview"][
        "properties"]["counts"])
