"""The organisation as permissions read it: kept per process under a revision that every change renumbers."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, event, select

from bpm_crm.extensions import db
from bpm_crm.models import Department, OrgRevision, Role, RolePermission, User
from bpm_crm.services import permissions
from bpm_crm.services.demo import DEMO_PASSWORD


def revision() -> int:
    return db.session.scalar(select(OrgRevision.revision).where(OrgRevision.id == 1))


def user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def revoke(role_code: str, action: str) -> None:
    role_id = db.session.scalar(select(Role.id).where(Role.code == role_code))
    db.session.execute(delete(RolePermission).where(RolePermission.role_id == role_id,
                                                    RolePermission.action == action))


def fresh_session() -> None:
    """What the next request gets: a new session, nothing of the last one's but the process's cache."""
    db.session.remove()


def test_every_change_the_permissions_read_renumbers_the_revision_and_nothing_else_does(app, users):
    seen = [revision()]

    def changed() -> bool:
        db.session.flush()
        seen.append(revision())
        return seen[-1] != seen[-2]

    manager = users["manager1"]
    manager.locale = "en"
    manager.full_name = "李明明"
    assert not changed()  # a person's name or language is no concern of permissions
    manager.superior_id = users["director"].id
    assert changed()
    manager.department_id = None
    assert changed()
    manager.active = False
    assert changed()
    db.session.add(Department(name="新部门"))
    assert changed()
    department = db.session.scalar(select(Department).where(Department.name == "新部门"))
    department.head_id = users["supervisor1"].id
    assert changed()
    manager.roles.append(db.session.scalar(select(Role).where(Role.code == "executive")))
    assert changed()
    revoke("account_manager", "customer.read")  # a statement, not the ORM: the trigger sees it all the same
    assert changed()
    db.session.add(Role(code="auditor", name="审计员"))
    assert changed()
    db.session.add(User(username="newcomer", full_name="新人", password_hash="x"))
    assert changed()
    grant = db.session.scalar(select(RolePermission).where(RolePermission.action == "customer.read")
                              .order_by(RolePermission.id).limit(1))
    grant.scope = "all" if grant.scope != "all" else "own"
    assert changed()
    auditor = db.session.scalar(select(Role).where(Role.code == "auditor"))
    auditor.name = "审计"
    department.name = "新部门（华东）"
    assert not changed()  # what a role or a department is called is no concern of permissions either
    auditor.code = "auditor2"  # candidates name roles by code
    assert changed()
    department.parent_id = db.session.scalar(select(Department.id).where(Department.name == "销售中心"))
    assert changed()
    manager.roles.clear()
    assert changed()
    db.session.delete(department)
    assert changed()
    assert len(set(seen)) == len(seen) - 2  # every change a number of its own (two were none of its concern)


@pytest.mark.commits  # the change must be committed for other sessions to see it
def test_a_permission_revoked_in_one_request_is_gone_in_the_next(app):
    assert permissions.can(user("supervisor1"), "task.reassign")  # read and kept for this revision
    fresh_session()
    assert permissions.can(user("supervisor1"), "task.reassign")  # from the process's cache
    fresh_session()

    revoke("sales_supervisor", "task.reassign")
    db.session.commit()
    fresh_session()

    assert not permissions.can(user("supervisor1"), "task.reassign")
    assert permissions.can(user("supervisor1"), "task.claim")


@pytest.mark.commits
def test_what_a_rolled_back_transaction_saw_is_never_handed_to_another(app):
    # A transaction revokes a permission, reads the organisation with it (kept under its own revision)
    # and rolls back; then another change is committed. A revision that merely counted up would give the
    # committed change the rolled-back one's number, and its stale organisation with it.
    revoke("sales_supervisor", "task.reassign")
    assert not permissions.can(user("supervisor1"), "task.reassign")
    db.session.rollback()
    fresh_session()

    revoke("sales_supervisor", "customer.export")
    db.session.commit()
    fresh_session()

    supervisor = user("supervisor1")
    assert permissions.can(supervisor, "task.reassign")
    assert not permissions.can(supervisor, "customer.export")


@pytest.mark.commits
def test_an_unwritten_change_read_then_rolled_back_is_never_handed_to_another(app):
    # The revision was read with the signed-in user; a change not yet written is then read by the first
    # question about the organisation (it is this transaction's own) and rolled back.
    supervisor, manager = user("supervisor1"), user("manager1")
    permissions.note_revision(revision())
    manager.superior_id = None
    assert manager.id not in permissions.subordinate_ids(supervisor)  # this transaction sees its change
    db.session.rollback()
    fresh_session()

    assert user("manager1").id in permissions.subordinate_ids(user("supervisor1"))


@pytest.mark.commits
def test_a_new_superior_and_department_reach_the_next_request(app):
    supervisor = user("supervisor1")
    manager_ids = permissions.subordinate_ids(supervisor)
    assert user("manager1").id in manager_ids
    fresh_session()

    manager = user("manager1")
    manager.superior_id = user("director").id
    db.session.commit()
    fresh_session()

    assert user("manager1").id not in permissions.subordinate_ids(user("supervisor1"))
    assert user("manager1").id in permissions.subordinate_ids(user("director"))


def test_a_change_in_this_session_counts_at_once(app, users):
    supervisor = users["supervisor1"]
    assert permissions.can(supervisor, "task.reassign")
    revoke("sales_supervisor", "task.reassign")
    db.session.expire(supervisor)
    assert not permissions.can(supervisor, "task.reassign")
    # roles changed in memory count before they are written
    supervisor.roles = [db.session.scalar(select(Role).where(Role.code == "executive"))]
    assert permissions.role_codes(supervisor) == {"executive"}
    assert permissions.scope_for(supervisor, "customer.read") is permissions.Scope.ALL


def test_requests_after_the_first_read_no_roles_permissions_or_chart(app, users):
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": DEMO_PASSWORD}
                        ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks?view=claimable", headers=headers).status_code == 200
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        response = client.get("/api/v1/tasks?view=claimable", headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert response.status_code == 200 and statements
    organisation = [s for s in statements if any(table in s for table in (
        "FROM role_permissions", "FROM user_roles", "FROM roles", "FROM departments"))
        or s.replace("\n", " ").startswith("SELECT users.id, users.superior_id")]
    assert organisation == []


def test_scope_by_id_agrees_with_scope_of_the_signed_in_user(app, users):
    """user_in_scope (for people known by id, e.g. whom a task is offered to) is in_scope by another road."""
    # Someone in the first sales department who reports to nobody: reached by department scope only.
    loner = User(username="loner", full_name="独行者", password_hash="x", department_id=users["manager1"].department_id)
    db.session.add(loner)
    db.session.flush()
    assert permissions.in_scope(users["supervisor1"], "opportunity.read", [loner.id])
    assert not permissions.in_scope(users["supervisor1"], "customer.read", [loner.id])  # subordinates only
    owners = [user.id for user in users.values()] + [loner.id, None]
    for person in users.values():
        for action in permissions.ACTIONS:
            for owner in owners:
                assert permissions.user_in_scope(person.id, action, [owner]) == permissions.in_scope(
                    person, action, [owner]), (person.username, action, owner)


def test_the_people_a_candidate_names(app, users):
    quality = db.session.scalar(select(Department).where(Department.name == "质量部"))
    assert permissions.people_named("user", str(users["manager1"].id)) == [users["manager1"].id]
    assert permissions.people_named("department", str(quality.id)) == [quality.head_id]
    managers = sorted(user.id for user in users.values() if "account_manager" in user.role_codes and user.active)
    assert permissions.people_named("role", "account_manager") == managers and len(managers) >= 3
    users["manager3"].active = False
    db.session.flush()
    assert users["manager3"].id not in permissions.people_named("role", "account_manager")
    for nobody in (("user", "²"), ("department", "99999"), ("role", "no_such_role"), ("other", "1")):
        assert permissions.people_named(*nobody) == []
