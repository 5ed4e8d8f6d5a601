"""Administration: users, roles and the permission matrix, departments, the data dictionary."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, Customer, Department, DictionaryEntry, Role, RolePermission, User
from bpm_crm.services import admin, customers, dictionary, people, permissions


def role(code: str) -> Role:
    return db.session.scalar(select(Role).where(Role.code == code))


def department(name: str) -> Department:
    return db.session.scalar(select(Department).where(Department.name == name))


def user_values(**changes) -> dict:
    return {"username": "manager4", "full_name": "黄磊", "email": "huang@example.com", "password": "s3cret-pass",
            "department_id": department("销售二部").id, "superior_id": None,
            "role_ids": [role("account_manager").id], **changes}


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def test_create_user_who_can_sign_in_with_roles_department_and_superior(app, users):
    created = admin.create_user(user=users["admin"], values=user_values(superior_id=users["supervisor2"].id))
    assert created.department.name == "销售二部" and created.superior.username == "supervisor2"
    assert created.role_codes == {"account_manager"}
    assert people.authenticate(username="manager4", password="s3cret-pass").id == created.id
    assert created.id in permissions.subordinate_ids(users["supervisor2"])
    logged = db.session.scalars(select(AuditLog).where(AuditLog.record_type == "user",
                                                       AuditLog.record_id == created.id)).all()
    assert [e.action for e in logged] == ["create", "update"]
    assert logged[0].changes["username"] == [None, "manager4"] and "password_hash" not in logged[0].changes
    assert logged[1].changes == {"roles": [None, "account_manager"]} and logged[1].user_id == users["admin"].id


@pytest.mark.parametrize(("changes", "field"), [
    ({"username": "manager1"}, "username"),
    ({"username": "a b"}, "username"),
    ({"password": "short7!"}, "password"),
    ({"full_name": "  "}, "full_name"),
    ({"email": "not-an-email"}, "email"),
    ({"mobile": "1390000000"}, "mobile"),
    ({"mobile": "23900000001"}, "mobile"),
    ({"mobile": "+1 415 555 0100"}, "mobile"),
    ({"role_ids": []}, "role_ids"),
    ({"role_ids": [9999]}, "role_ids"),
    ({"department_id": 9999}, "department_id"),
    ({"superior_id": 9999}, "superior_id"),
])
def test_invalid_users_are_refused_with_the_field_and_nothing_is_created(app, users, changes, field):
    count = user_count()
    with pytest.raises(Invalid) as failure:
        admin.create_user(user=users["admin"], values=user_values(**changes))
    assert field in failure.value.field_errors
    assert user_count() == count


def test_a_mobile_number_is_kept_as_its_eleven_digits_changed_and_cleared(app, users):
    created = admin.create_user(user=users["admin"], values=user_values(mobile="+86 139-0000-0001"))
    assert created.mobile == "13900000001"
    admin.update_user(user=users["admin"], user_id=created.id, values={
        "full_name": created.full_name, "role_ids": [r.id for r in created.roles]})
    assert created.mobile == "13900000001"  # not asked about: kept
    admin.update_user(user=users["admin"], user_id=created.id, values={
        "full_name": created.full_name, "mobile": "8613800138000", "role_ids": [r.id for r in created.roles]})
    assert created.mobile == "13800138000"
    with pytest.raises(Invalid) as refused:
        admin.update_user(user=users["admin"], user_id=created.id, values={
            "full_name": created.full_name, "mobile": "138-0013", "role_ids": [r.id for r in created.roles]})
    assert refused.value.field_errors == {"mobile": ["手机号码应为11位中国大陆手机号，如 13800138000"]}
    db.session.expire_all()
    assert db.session.get(User, created.id).mobile == "13800138000"
    admin.update_user(user=users["admin"], user_id=created.id, values={
        "full_name": created.full_name, "mobile": " ", "role_ids": [r.id for r in created.roles]})
    assert db.session.get(User, created.id).mobile is None


def test_duplicate_username_message(app, users):
    with pytest.raises(Invalid) as failure:
        admin.create_user(user=users["admin"], values=user_values(username="manager1"))
    assert failure.value.field_errors["username"] == ["用户名 manager1 已存在"]


def test_superior_chain_cannot_become_a_cycle(app, users):
    # director is above supervisor1, who is above manager1: none of them may become director's superior
    for below in ("director", "supervisor1", "manager1"):
        with pytest.raises(Invalid) as failure:
            admin.update_user(user=users["admin"], user_id=users["director"].id, values={
                "full_name": "周总监", "role_ids": [role("sales_director").id],
                "superior_id": users[below].id})
        assert failure.value.field_errors["superior_id"] == ["上级不能是本人或本人的下级"]
    db.session.expire_all()
    assert users["director"].superior_id == users["ceo"].id


def test_update_user_changes_department_superior_and_roles(app, users):
    manager = users["manager3"]
    admin.update_user(user=users["admin"], user_id=manager.id, values={
        "full_name": "赵敏", "email": "zhao@example.com", "department_id": department("销售二部").id,
        "superior_id": users["supervisor2"].id, "role_ids": [role("account_manager").id, role("service_agent").id]})
    db.session.expire_all()
    assert manager.department.name == "销售二部" and manager.superior.username == "supervisor2"
    assert manager.role_codes == {"account_manager", "service_agent"}
    assert manager.id not in permissions.subordinate_ids(users["supervisor1"])
    entry = db.session.scalars(select(AuditLog).where(AuditLog.record_type == "user",
                                                      AuditLog.record_id == manager.id)).all()
    changed = {key for e in entry for key in e.changes}
    assert {"department_id", "superior_id", "email", "roles"} <= changed


def test_deactivate_never_deletes_and_refuses_yourself(app, users):
    admin.set_active(user=users["admin"], user_id=users["manager2"].id, active=False)
    assert db.session.get(User, users["manager2"].id).active is False
    assert people.authenticate(username="manager2", password="demo1234") is None
    with pytest.raises(Conflict):
        admin.set_active(user=users["admin"], user_id=users["admin"].id, active=False)
    assert db.session.get(User, users["admin"].id).active
    admin.set_active(user=users["admin"], user_id=users["manager2"].id, active=True)
    assert people.authenticate(username="manager2", password="demo1234") is not None


def test_reset_password(app, users):
    with pytest.raises(Invalid):
        admin.reset_password(user=users["admin"], user_id=users["manager2"].id, password="1234567")
    admin.reset_password(user=users["admin"], user_id=users["manager2"].id, password="new-password-1")
    assert people.authenticate(username="manager2", password="demo1234") is None
    assert people.authenticate(username="manager2", password="new-password-1") is not None


def test_admin_cannot_remove_his_own_user_management(app, users):
    with pytest.raises(Invalid):
        admin.update_user(user=users["admin"], user_id=users["admin"].id, values={
            "full_name": "系统管理员", "role_ids": [role("executive").id]})
    db.session.expire_all()
    assert users["admin"].role_codes == {"admin"}


@pytest.mark.parametrize("username", ["manager1", "supervisor1", "ceo"])
def test_only_user_managers_may_administer(app, users, username):
    actor = users[username]
    with pytest.raises(Forbidden):
        admin.list_users(user=actor)
    with pytest.raises(Forbidden):
        admin.create_user(user=actor, values=user_values())
    with pytest.raises(Forbidden):
        admin.set_active(user=actor, user_id=users["manager2"].id, active=False)
    with pytest.raises(Forbidden):
        admin.set_role_permissions(user=actor, role_id=role("account_manager").id, grants={})
    with pytest.raises(Forbidden):
        admin.create_department(user=actor, values={"name": "市场部"})


def test_list_users_filters(app, users):
    found = admin.list_users(user=users["admin"], q="manager")
    assert {u.username for u in found.items} == {"manager1", "manager2", "manager3"}
    found = admin.list_users(user=users["admin"], department_id=department("销售一部").id)
    assert {u.username for u in found.items} == {"supervisor1", "manager1", "manager3"}
    found = admin.list_users(user=users["admin"], role_id=role("sales_supervisor").id)
    assert {u.username for u in found.items} == {"supervisor1", "supervisor2"}
    admin.set_active(user=users["admin"], user_id=users["agent"].id, active=False)
    assert [u.username for u in admin.list_users(user=users["admin"], active=False).items] == ["agent"]


def test_permission_matrix_change_takes_effect(app, users):
    from bpm_crm.models import Customer

    db.session.add(Customer(name="杭州云启科技有限公司", owner_id=users["manager1"].id))
    db.session.commit()
    assert customers.list_customers(user=users["manager1"]).total == 1
    account_manager = role("account_manager")
    grants = admin.role_grants(account_manager)
    assert grants["customer.read"] == "own"
    grants.pop("customer.read")
    grants["customer.export"] = "department"
    admin.set_role_permissions(user=users["admin"], role_id=account_manager.id, grants=grants)
    db.session.expire_all()
    manager = db.session.get(User, users["manager1"].id)
    assert not permissions.can(manager, "customer.read")
    assert permissions.scope_for(manager, "customer.export") is permissions.Scope.DEPARTMENT
    assert customers.list_customers(user=manager).total == 0
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.record_type == "role_permission",
                                                                   AuditLog.action == "delete")) == 1


@pytest.mark.parametrize("grants", [{"customer.fly": "all"}, {"customer.read": "everything"}])
def test_unknown_actions_and_scopes_are_refused(app, users, grants):
    with pytest.raises(Invalid):
        admin.set_role_permissions(user=users["admin"], role_id=role("account_manager").id, grants=grants)
    assert admin.role_grants(role("account_manager"))["customer.read"] == "own"


def test_the_admin_role_keeps_user_management(app, users):
    admin_role = role("admin")
    grants = admin.role_grants(admin_role)
    grants.pop("user.manage")
    with pytest.raises(Conflict) as failure:
        admin.set_role_permissions(user=users["admin"], role_id=admin_role.id, grants=grants)
    assert "系统管理员角色必须保留" in failure.value.message
    db.session.expire_all()
    assert permissions.can(db.session.get(User, users["admin"].id), "user.manage")
    assert db.session.scalar(select(func.count(RolePermission.id)).where(
        RolePermission.role_id == admin_role.id)) == len(permissions.ACTIONS)


def test_create_and_rename_role(app, users):
    created = admin.create_role(user=users["admin"], values={"code": "auditor", "name": "审计员"})
    admin.set_role_permissions(user=users["admin"], role_id=created.id, grants={"audit.read": "all"})
    assert admin.role_grants(created) == {"audit.read": "all"}
    with pytest.raises(Invalid):
        admin.create_role(user=users["admin"], values={"code": "auditor", "name": "另一个"})
    with pytest.raises(Invalid):
        admin.create_role(user=users["admin"], values={"code": "x y", "name": "审计员2"})
    admin.rename_role(user=users["admin"], role_id=created.id, values={"name": "内审"})
    assert role("auditor").name == "内审"


def test_departments_tree_head_and_no_cycles(app, users):
    center = department("销售中心")
    first = admin.update_department(user=users["admin"], department_id=department("销售一部").id,
                                    values={"name": "销售一部", "parent_id": center.id,
                                            "head_id": users["supervisor1"].id})
    assert first.parent_id == center.id
    with pytest.raises(Invalid) as failure:
        admin.update_department(user=users["admin"], department_id=center.id,
                                values={"name": "销售中心", "parent_id": first.id})
    assert "parent_id" in failure.value.field_errors
    with pytest.raises(Invalid):
        admin.update_department(user=users["admin"], department_id=center.id,
                                values={"name": "销售中心", "parent_id": center.id})
    rows = admin.department_tree()
    names = [(row.department.name, row.depth) for row in rows]
    assert names.index(("销售中心", 0)) < names.index(("销售一部", 1))
    assert next(r for r in rows if r.department.name == "销售一部").head.username == "supervisor1"

    created = admin.create_department(user=users["admin"], values={"name": "市场部", "parent_id": center.id})
    with pytest.raises(Invalid):
        admin.create_department(user=users["admin"], values={"name": "市场部"})
    with pytest.raises(Conflict):
        admin.delete_department(user=users["admin"], department_id=department("销售二部").id)  # has users
    assert admin.delete_department(user=users["admin"], department_id=created.id) == "市场部"
    with pytest.raises(NotFound):
        admin.get_department(user=users["admin"], department_id=created.id)


def test_dictionary_add_edit_delete_and_region_tree(app, users):
    added = dictionary.create_entry(user=users["admin"], entry_type=dictionary.INDUSTRY,
                                    values={"item": "纺织", "sort": 20})
    assert "纺织" in dictionary.choices(dictionary.INDUSTRY)
    with pytest.raises(Conflict):
        dictionary.create_entry(user=users["admin"], entry_type=dictionary.INDUSTRY, values={"item": "纺织"})
    dictionary.update_entry(user=users["admin"], entry_id=added.id, values={"item": "纺织服装", "sort": 20})
    assert "纺织服装" in dictionary.choices(dictionary.INDUSTRY)

    zhejiang = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.item == "浙江省"))
    city = dictionary.create_entry(user=users["admin"], entry_type=dictionary.REGION,
                                   values={"item": "绍兴市", "parent_id": zhejiang.id})
    assert "浙江省/绍兴市" in dictionary.region_paths()
    with pytest.raises(Invalid):  # a province below its own city
        dictionary.update_entry(user=users["admin"], entry_id=zhejiang.id,
                                values={"item": "浙江省", "parent_id": city.id})
    with pytest.raises(Conflict):  # still has cities
        dictionary.delete_entry(user=users["admin"], entry_id=zhejiang.id)
    with pytest.raises(Invalid):  # only regions nest
        dictionary.create_entry(user=users["admin"], entry_type=dictionary.INDUSTRY,
                                values={"item": "棉纺", "parent_id": added.id})
    with pytest.raises(Invalid):
        dictionary.create_entry(user=users["admin"], entry_type=dictionary.INDUSTRY, values={"item": " "})

    # deleting an item in use: allowed, existing records keep their text
    db.session.add(Customer(name="绍兴纺织", industry="纺织服装", region="浙江省/绍兴市"))
    db.session.commit()
    dictionary.delete_entry(user=users["admin"], entry_id=added.id)
    dictionary.delete_entry(user=users["admin"], entry_id=city.id)
    assert "纺织服装" not in dictionary.choices(dictionary.INDUSTRY)
    kept = db.session.scalar(select(Customer).where(Customer.name == "绍兴纺织"))
    assert kept.industry == "纺织服装" and kept.region == "浙江省/绍兴市"


def test_non_editable_entries_are_refused_and_unchanged(app, users):
    vip = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.type == dictionary.LEVEL,
                                                          DictionaryEntry.item == "VIP"))
    assert vip.editable is False
    with pytest.raises(Forbidden) as failure:
        dictionary.update_entry(user=users["admin"], entry_id=vip.id, values={"item": "钻石"})
    assert "由系统维护" in failure.value.message
    with pytest.raises(Forbidden):
        dictionary.delete_entry(user=users["admin"], entry_id=vip.id)
    with pytest.raises(Forbidden):
        dictionary.create_entry(user=users["admin"], entry_type=dictionary.LEVEL, values={"item": "钻石"})
    db.session.expire_all()
    assert dictionary.choices(dictionary.LEVEL) == ["普通", "重点", "VIP"]
    with pytest.raises(Forbidden):
        dictionary.create_entry(user=users["manager1"], entry_type=dictionary.INDUSTRY, values={"item": "纺织"})
    with pytest.raises(NotFound):
        dictionary.create_entry(user=users["admin"], entry_type="不存在的类型", values={"item": "x"})
