"""Administration pages: permission checks, users, roles and the matrix, departments, dictionary, logs."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, Customer, Department, DictionaryEntry, LoginEvent, Role, User
from bpm_crm.services import dictionary

from .helpers import page_text

ADMIN_PAGES = ["/admin/users", "/admin/users/new", "/admin/roles", "/admin/departments", "/admin/departments/new",
               "/admin/dictionary", "/admin/audit-log", "/admin/login-log"]


def role(code: str) -> Role:
    return db.session.scalar(select(Role).where(Role.code == code))


def user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_render_for_the_admin(login, path):
    response = login("admin").get(path)
    assert response.status_code == 200, page_text(response)[:2000]
    assert ('id="admin-tabs"' in page_text(response)) is not path.endswith("/new")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_an_account_manager_gets_403_on_every_admin_page(login, path):
    response = login("manager1").get(path)
    assert response.status_code == 403
    assert "没有权限" in page_text(response)


def test_an_executive_reads_the_logs_but_does_not_manage_users(login):
    browser = login("ceo")
    assert browser.get("/admin/audit-log").status_code == 200
    assert browser.get("/admin/login-log").status_code == 200
    assert browser.get("/admin/users").status_code == 403
    assert browser.post("/admin/users/new", data={"username": "x"}).status_code == 403


def test_posts_are_checked_too(login, users):
    browser = login("manager1")
    assert browser.post(f"/admin/users/{users['manager2'].id}/deactivate").status_code == 403
    assert browser.post(f"/admin/roles/{role('account_manager').id}/permissions",
                        data={"scope-customer.read": "all"}).status_code == 403
    assert user("manager2").active


def test_create_user_through_the_form(login, client):
    browser = login("admin")
    sales2 = db.session.scalar(select(Department).where(Department.name == "销售二部"))
    response = browser.post("/admin/users/new", data={
        "username": "manager4", "full_name": "黄磊", "email": "huang@example.com", "password": "s3cret-pass",
        "department_id": str(sales2.id), "superior_id": str(user("supervisor2").id),
        "role_ids": [str(role("account_manager").id)]})
    assert response.status_code == 302, page_text(response)
    created = user("manager4")
    assert created.superior.username == "supervisor2" and created.role_codes == {"account_manager"}
    listing = page_text(browser.get("/admin/users?q=manager4"))
    assert "黄磊" in listing and "已创建" in listing
    assert client.post("/login", data={"username": "manager4", "password": "s3cret-pass"}).status_code == 302


def test_duplicate_username_and_short_password_show_field_errors(login):
    browser = login("admin")
    count = db.session.scalar(select(func.count(User.id)))
    response = browser.post("/admin/users/new", data={
        "username": "manager1", "full_name": "重复", "password": "1234567",
        "role_ids": [str(role("account_manager").id)]})
    assert response.status_code == 422
    page = page_text(response)
    assert 'data-field-error="password"' in page and "密码至少8位" in page
    response = browser.post("/admin/users/new", data={
        "username": "manager1", "full_name": "重复", "password": "long-enough",
        "role_ids": [str(role("account_manager").id)]})
    assert response.status_code == 422
    assert 'data-field-error="username"' in page_text(response) and "用户名 manager1 已存在" in page_text(response)
    assert db.session.scalar(select(func.count(User.id))) == count


def test_superior_cycle_is_refused_on_the_edit_page(login):
    browser = login("admin")
    director = user("director")
    response = browser.post(f"/admin/users/{director.id}/edit", data={
        "full_name": "周总监", "superior_id": str(user("manager1").id),
        "role_ids": [str(role("sales_director").id)]})
    assert response.status_code == 422
    assert 'data-field-error="superior_id"' in page_text(response)
    assert "上级不能是本人或本人的下级" in page_text(response)
    assert user("director").superior.username == "ceo"


def test_edit_page_shows_current_values_and_saves(login):
    browser = login("admin")
    manager = user("manager3")
    page = page_text(browser.get(f"/admin/users/{manager.id}/edit"))
    assert 'value="赵敏"' in page and "manager3" in page
    response = browser.post(f"/admin/users/{manager.id}/edit", data={
        "full_name": "赵敏敏", "email": "", "department_id": str(manager.department_id),
        "superior_id": str(manager.superior_id), "role_ids": [str(role("account_manager").id)]})
    assert response.status_code == 302
    assert user("manager3").full_name == "赵敏敏"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.record_type == "user",
                                                     AuditLog.record_id == manager.id).order_by(AuditLog.id.desc()))
    assert entry.user_id == user("admin").id and entry.changes["full_name"] == ["赵敏", "赵敏敏"]


def test_the_admin_sets_a_users_mobile_number_checked_as_a_chinese_mobile(login):
    browser = login("admin")
    quality = user("quality")
    values = {"full_name": "吴质量", "department_id": str(quality.department_id),
              "role_ids": [str(role("department_head").id)]}
    refused = browser.post(f"/admin/users/{quality.id}/edit", data={**values, "mobile": "0571-8888888"})
    assert refused.status_code == 422
    page = page_text(refused)
    assert 'data-field-error="mobile"' in page and "手机号码应为11位中国大陆手机号" in page
    assert user("quality").mobile is None
    saved = browser.post(f"/admin/users/{quality.id}/edit", data={**values, "mobile": "+86 139 0000 0001"})
    assert saved.status_code == 302
    assert user("quality").mobile == "13900000001"
    assert 'value="13900000001"' in page_text(browser.get(f"/admin/users/{quality.id}/edit"))
    assert "13900000001" in page_text(browser.get("/admin/users?q=quality"))


def test_deactivate_reactivate_and_not_yourself(login):
    browser = login("admin")
    manager = user("manager2")
    response = browser.post(f"/admin/users/{manager.id}/deactivate", follow_redirects=True)
    assert "已停用 manager2" in page_text(response)
    assert user("manager2").active is False
    assert browser.post("/login", data={"username": "manager2", "password": "demo1234"}).status_code == 302
    refused = browser.post(f"/admin/users/{user('admin').id}/deactivate", follow_redirects=True)
    assert "不能停用自己的账号" in page_text(refused)
    assert user("admin").active
    browser.post(f"/admin/users/{manager.id}/activate")
    assert user("manager2").active


def test_reset_password_page(login, client):
    browser = login("admin")
    manager = user("manager2")
    response = browser.post(f"/admin/users/{manager.id}/password", data={"password": "abc", "confirm": "abc"})
    assert response.status_code == 422 and "密码至少8位" in page_text(response)
    response = browser.post(f"/admin/users/{manager.id}/password",
                            data={"password": "new-password-1", "confirm": "new-password-2"})
    assert response.status_code == 422 and "两次输入的密码不一致" in page_text(response)
    assert browser.post(f"/admin/users/{manager.id}/password",
                        data={"password": "new-password-1", "confirm": "new-password-1"}).status_code == 302
    assert client.post("/login", data={"username": "manager2", "password": "new-password-1"}).status_code == 302


def test_permission_matrix_shows_every_action_and_a_change_takes_effect(login):
    from bpm_crm.services import permissions

    db.session.add(Customer(name="杭州云启科技有限公司", owner_id=user("manager1").id))
    db.session.commit()
    manager = login("manager1")
    assert "杭州云启科技有限公司" in page_text(manager.get("/customers/"))

    browser = login("admin")
    account_manager = role("account_manager")
    page = page_text(browser.get(f"/admin/roles/{account_manager.id}/permissions"))
    for action in permissions.ACTIONS:
        assert f'data-action="{action}"' in page
    assert 'name="scope-customer.read" value="own" aria-label="本人" checked' in page
    grants = {f"scope-{p.action}": p.scope for p in account_manager.permissions if p.action != "customer.read"}
    response = browser.post(f"/admin/roles/{account_manager.id}/permissions",
                            data={**grants, "scope-customer.read": "", "name": "客户经理"}, follow_redirects=True)
    assert "立即生效" in page_text(response)
    db.session.expire_all()
    assert "customer.read" not in {p.action for p in role("account_manager").permissions}
    listing = manager.get("/customers/")
    assert listing.status_code == 403 or "杭州云启科技有限公司" not in page_text(listing)


def test_the_admin_role_cannot_lose_user_management(login):
    browser = login("admin")
    admin_role = role("admin")
    grants = {f"scope-{p.action}": p.scope for p in admin_role.permissions if p.action != "user.manage"}
    response = browser.post(f"/admin/roles/{admin_role.id}/permissions", data=grants)
    assert response.status_code == 409
    assert "系统管理员角色必须保留" in page_text(response)
    db.session.expire_all()
    assert "user.manage" in {p.action for p in role("admin").permissions}
    assert browser.get("/admin/users").status_code == 200


def test_create_role_then_matrix(login):
    browser = login("admin")
    response = browser.post("/admin/roles", data={"code": "auditor", "name": "审计员"})
    created = role("auditor")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/roles/{created.id}/permissions")
    assert browser.post("/admin/roles", data={"code": "auditor", "name": "审计员二"}).status_code == 422


def test_departments_tree_and_cycle(login):
    browser = login("admin")
    center = db.session.scalar(select(Department).where(Department.name == "销售中心"))
    first = db.session.scalar(select(Department).where(Department.name == "销售一部"))
    assert browser.post(f"/admin/departments/{first.id}/edit", data={
        "name": "销售一部", "parent_id": str(center.id), "head_id": str(user("supervisor1").id)}).status_code == 302
    response = browser.post(f"/admin/departments/{center.id}/edit", data={
        "name": "销售中心", "parent_id": str(first.id), "head_id": "0"})
    assert response.status_code == 422 and "上级部门不能是本部门或其下级部门" in page_text(response)
    page = page_text(browser.get("/admin/departments"))
    assert page.index("销售中心") < page.index("销售一部") and "王主管" in page
    assert browser.post("/admin/departments/new", data={"name": "市场部", "parent_id": "0",
                                                         "head_id": "0"}).status_code == 302
    market = db.session.scalar(select(Department).where(Department.name == "市场部"))
    response = browser.post(f"/admin/departments/{market.id}/delete", follow_redirects=True)
    assert "部门 市场部 已删除" in page_text(response)
    stale = browser.post(f"/admin/departments/{market.id}/delete", follow_redirects=True)
    assert stale.status_code == 200 and "这个部门已被删除" in page_text(stale) and "销售一部" in page_text(stale)
    refused = browser.post(f"/admin/departments/{first.id}/delete", follow_redirects=True)
    assert "下还有用户" in page_text(refused)


def test_dictionary_page_locks_system_entries_and_refuses_direct_posts(login):
    browser = login("admin")
    page = page_text(browser.get("/admin/dictionary?type=客户等级"))
    assert "bi-lock-fill" in page and "系统维护，只读" in page and 'id="entry-form"' not in page
    assert "已经使用它的客户等记录保留原来的文字" in page
    vip = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.item == "VIP"))
    response = browser.post(f"/admin/dictionary/{vip.id}/edit", data={"item": "钻石", "sort": "0"})
    assert response.status_code == 403 and "由系统维护" in page_text(response)
    response = browser.post(f"/admin/dictionary/{vip.id}/delete", follow_redirects=True)
    assert "由系统维护" in page_text(response)
    response = browser.post("/admin/dictionary/new?type=客户等级", data={"item": "钻石", "sort": "0"})
    assert response.status_code == 403
    db.session.expire_all()
    assert dictionary.choices(dictionary.LEVEL) == ["普通", "重点", "VIP"]


def test_dictionary_add_edit_delete_through_the_pages(login):
    browser = login("admin")
    response = browser.post("/admin/dictionary/new?type=行业", data={"item": "纺织", "value": "", "sort": "20"},
                            follow_redirects=True)
    assert "已添加“纺织”" in page_text(response)
    added = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.item == "纺织"))
    duplicate = browser.post("/admin/dictionary/new?type=行业", data={"item": "纺织", "sort": "0"})
    assert duplicate.status_code == 409 and "已存在" in page_text(duplicate)
    assert browser.post("/admin/dictionary/new?type=行业", data={"item": "", "sort": "0"}).status_code == 422
    assert browser.post(f"/admin/dictionary/{added.id}/edit",
                        data={"item": "纺织服装", "value": "", "sort": "20"}).status_code == 302
    assert "纺织服装" in dictionary.choices(dictionary.INDUSTRY)
    zhejiang = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.item == "浙江省"))
    assert browser.post("/admin/dictionary/new?type=地区", data={
        "item": "绍兴市", "sort": "9", "parent_id": str(zhejiang.id)}).status_code == 302
    assert "浙江省/绍兴市" in dictionary.region_paths()
    response = browser.post(f"/admin/dictionary/{added.id}/delete", follow_redirects=True)
    assert "已使用它的记录保留原来的文字" in page_text(response)
    assert "纺织服装" not in dictionary.choices(dictionary.INDUSTRY)
    stale = browser.post(f"/admin/dictionary/{added.id}/delete", follow_redirects=True)
    assert stale.status_code == 200 and "这个字典项已被删除" in page_text(stale)
    assert login("manager1").get("/admin/dictionary").status_code == 403


def test_login_events_are_written_for_the_login_page(client, login):
    client.post("/login", data={"username": "manager1", "password": "wrong-password"},
                headers={"User-Agent": "TestBrowser/1.0"})
    client.post("/login", data={"username": "ghost", "password": "whatever1"})
    login("manager2")
    events = db.session.scalars(select(LoginEvent).order_by(LoginEvent.id)).all()
    assert [(e.username, e.success, e.reason, e.channel) for e in events[-3:]] == [
        ("manager1", False, "密码错误", "web"), ("ghost", False, "用户不存在", "web"), ("manager2", True, None, "web")]
    assert events[-3].user_id == user("manager1").id and events[-3].user_agent == "TestBrowser/1.0"
    assert events[-3].ip == "127.0.0.1" and events[-2].user_id is None

    page = page_text(login("admin").get("/admin/login-log?success=0"))
    assert "ghost" in page and "用户不存在" in page and "密码错误" in page
    assert f'data-login-id="{events[-1].id}"' not in page
    page = page_text(login("admin").get("/admin/login-log?username=ghost"))
    assert "ghost" in page and "manager1" not in page.split('id="login-table"')[1]


def test_deactivated_login_is_logged_with_its_reason(client, login):
    browser = login("admin")
    browser.post(f"/admin/users/{user('manager2').id}/deactivate")
    response = client.post("/login", data={"username": "manager2", "password": "demo1234"})
    assert response.status_code == 401
    event = db.session.scalar(select(LoginEvent).order_by(LoginEvent.id.desc()))
    assert (event.success, event.reason) == (False, "账号已停用")


def test_audit_log_page_shows_old_and_new_values_with_filters(login):
    browser = login("admin")
    manager = user("manager3")
    browser.post(f"/admin/users/{manager.id}/edit", data={
        "full_name": "赵敏敏", "department_id": str(manager.department_id),
        "superior_id": str(manager.superior_id), "role_ids": [str(role("account_manager").id)]})
    page = page_text(browser.get(f"/admin/audit-log?record_type=user&record_id={manager.id}&action=update"))
    assert "姓名" in page and "赵敏" in page and "赵敏敏" in page and "bi-arrow-right" in page
    assert "系统管理员" in page  # who
    empty = page_text(browser.get(f"/admin/audit-log?record_type=user&record_id={manager.id}&action=delete"))
    assert "没有符合条件的审计记录" in empty
    other_day = page_text(browser.get("/admin/audit-log?date_from=2020-01-01&date_to=2020-01-02"))
    assert "没有符合条件的审计记录" in other_day
    reversed_range = browser.get("/admin/audit-log?date_from=2020-01-02&date_to=2020-01-01")
    assert reversed_range.status_code == 200 and "开始日期不能晚于结束日期" in page_text(reversed_range)
