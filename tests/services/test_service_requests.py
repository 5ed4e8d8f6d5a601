"""Service requests: who may record them for which customer, dictionary types, scopes, edit/delete while new."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import Customer, RecycleBinEntry, ServiceRequest, ServiceStatus
from bpm_crm.services import recycle, service_requests


def customer(owner, name="杭州云启科技有限公司") -> Customer:
    record = Customer(name=name, owner_id=owner.id if owner else None)
    db.session.add(record)
    db.session.commit()
    return record


def values(of: Customer, **changes) -> dict:
    return {"type": "投诉", "summary": "设备频繁死机", "customer_id": of.id,
            "detail": "上周交付的考勤机每天死机两三次，要求上门检修。", **changes}


def count() -> int:
    return db.session.scalar(select(func.count(ServiceRequest.id))) or 0


def test_an_agent_records_requests_for_any_customer(users):
    agent = users["agent"]
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    pool = customer(None, name="公海客户")
    first = service_requests.create_request(user=agent, values=values(theirs))
    second = service_requests.create_request(user=agent, values=values(pool, type="咨询", summary="价格咨询"))
    assert first.number == f"FW{first.id:06d}" and first.status == ServiceStatus.NEW
    assert first.created_by_id == agent.id and first.created_at is not None
    assert second.customer_id == pool.id


def test_an_account_manager_records_requests_only_for_his_own_customers(users):
    manager1 = users["manager1"]
    mine = customer(manager1)
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    record = service_requests.create_request(user=manager1, values=values(mine, type="建议"))
    assert record.type == "建议"
    with pytest.raises(Invalid) as err:
        service_requests.create_request(user=manager1, values=values(theirs))
    assert err.value.field_errors == {"customer_id": ["客户不存在或您无权为其新建客户服务"]}
    with pytest.raises(Forbidden):
        service_requests.create_request(user=users["ceo"], values=values(mine))  # no service.create
    assert count() == 1


def test_type_must_be_in_the_dictionary_and_required_fields_are_checked(users):
    agent = users["agent"]
    target = customer(users["manager1"])
    with pytest.raises(Invalid) as err:
        service_requests.create_request(user=agent, values=values(target, type="表扬"))
    assert err.value.field_errors == {"type": ["服务类型不在数据字典中"]}
    with pytest.raises(Invalid) as err:
        service_requests.create_request(user=agent, values=values(target, summary=" ", detail=None,
                                                                  customer_id="abc"))
    assert err.value.field_errors == {"summary": ["请填写概要"], "detail": ["请填写服务请求"],
                                      "customer_id": ["应为记录编号（整数）"]}
    assert count() == 0


def test_reading_is_scoped_by_the_customer(users):
    agent = users["agent"]
    mine = customer(users["manager1"])
    theirs = customer(users["manager2"], name="成都蜀味餐饮")
    own = service_requests.create_request(user=agent, values=values(mine))
    foreign = service_requests.create_request(user=agent, values=values(theirs, type="咨询"))

    assert [r.id for r in service_requests.list_requests(user=users["manager1"]).items] == [own.id]
    with pytest.raises(NotFound):
        service_requests.get_request(request_id=foreign.id, user=users["manager1"])
    assert {r.id for r in service_requests.list_requests(user=users["supervisor1"]).items} == {own.id}
    # A department head reads a complaint only while his department signs it off (tests/processes).
    assert service_requests.list_requests(user=users["quality"]).total == 0
    assert [r.id for r in service_requests.list_requests(user=agent, type="咨询").items] == [foreign.id]
    assert [r.id for r in service_requests.list_requests(user=agent, q="蜀味").items] == [foreign.id]
    assert service_requests.list_requests(user=agent, status="已分配").total == 0
    assert service_requests.list_requests(user=users["owner"]).total == 0  # no service.read


def test_edit_and_delete_while_new_by_the_creator_or_service_staff(users):
    manager1 = users["manager1"]
    mine = customer(manager1)
    record = service_requests.create_request(user=manager1, values=values(mine))
    service_requests.update_request(request_id=record.id, user=manager1, values={"summary": "考勤机死机"})
    service_requests.update_request(request_id=record.id, user=users["agent"], values={"type": "建议"})
    with pytest.raises(Forbidden):  # may read (his team's customer) but neither created it nor handles service
        service_requests.update_request(request_id=record.id, user=users["supervisor1"], values={"summary": "x"})
    with pytest.raises(NotFound):
        service_requests.delete_request(request_id=record.id, user=users["manager2"])
    db.session.expire_all()
    assert (record.summary, record.type) == ("考勤机死机", "建议")
    # The suggestion runs the simpler process now; the complaint's was cancelled.
    assert service_requests.process_of(record).process_id == "service_request"

    record.status = ServiceStatus.ASSIGNED.value
    db.session.commit()
    with pytest.raises(Conflict) as err:
        service_requests.update_request(request_id=record.id, user=manager1, values={"summary": "再改"})
    assert err.value.message == "客户服务当前为“已分配”，不能再修改或删除"
    with pytest.raises(Conflict):
        service_requests.delete_request(request_id=record.id, user=users["agent"])


def test_delete_moves_to_the_bin_and_restores(users):
    manager1 = users["manager1"]
    record = service_requests.create_request(user=manager1, values=values(customer(manager1)))
    record_id, number = record.id, record.number
    service_requests.delete_request(request_id=record_id, user=manager1)
    assert count() == 0
    entry = db.session.scalar(select(RecycleBinEntry))
    assert entry.record_type == "service_request" and number in entry.label
    recycle.restore(entry_id=entry.id, user=manager1)
    assert service_requests.get_request(request_id=record_id, user=manager1).number == number
