"""The recycle bin (回收站): a deleted record and its dependants are kept whole and can be restored intact."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, false, insert, or_, select, true
from sqlalchemy.exc import IntegrityError

from bpm_crm.errors import Conflict, Forbidden, NotFound
from bpm_crm.extensions import Base, db
from bpm_crm.models import Attachment, RecycleBinEntry, User
from bpm_crm.services import audit, permissions
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.records import RECORDS, Dependant
from bpm_crm.services.transaction import unit_of_work


def record_types() -> list[str]:
    """The record types that go to the bin when deleted, in the order declared."""
    return RECORDS.keys(recyclable=True)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        (tag, text), = value.items()
        if tag == "$dt":
            return datetime.fromisoformat(text)
        if tag == "$d":
            return date.fromisoformat(text)
        if tag == "$dec":
            return Decimal(text)
    return value


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _row(model: type, record_id: int) -> dict[str, Any] | None:
    row = db.session.execute(select(_table(model)).where(_table(model).c.id == record_id)).mappings().first()
    return None if row is None else {key: _encode(value) for key, value in row.items()}


def _tree(model: type, row: dict[str, Any], dependants: tuple[Dependant, ...] = ()) -> dict[str, Any]:
    """The row with its dependants, recursively: {"table", "row", "children"}.

    A declared record type brings its own dependants and attachments; `dependants` are those of a plain model.
    """
    record_type = RECORDS.of_model(model)
    children = []
    for dependant in dependants or (record_type.dependants if record_type else ()):
        table = _table(dependant.model)
        rows = db.session.execute(
            select(table).where(table.c[dependant.column] == row["id"]).order_by(table.c.id)).mappings()
        for child in rows:
            children.append(_tree(dependant.model, {key: _encode(value) for key, value in child.items()},
                                  dependant.dependants))
    if record_type is not None and record_type.attachments:
        # Attachments refer to their record by (record_type, id) rather than a foreign key.
        table = _table(Attachment)
        for child in db.session.execute(select(table).where(
                table.c.record_type == record_type.key, table.c.record_id == row["id"])).mappings():
            children.append({"table": table.name, "row": {k: _encode(v) for k, v in child.items()}, "children": []})
    return {"table": _table(model).name, "row": row, "children": children}


def _tables() -> dict[str, Table]:
    return {table.name: table for table in db.metadata.sorted_tables}


def _forget(table: Table, row_id: Any) -> None:
    """Drop a deleted row's object from the session, so nothing later in the unit of work reads it stale."""
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            stale = db.session.identity_map.get(db.session.identity_key(mapper.class_, row_id))
            if stale is not None:
                db.session.expunge(stale)


def _delete_tree(node: dict[str, Any]) -> None:
    for child in reversed(node["children"]):
        _delete_tree(child)
    table = _tables()[node["table"]]
    db.session.execute(delete(table).where(table.c.id == node["row"]["id"]))
    _forget(table, node["row"]["id"])


def _insert_tree(node: dict[str, Any]) -> None:
    table = _tables()[node["table"]]
    db.session.execute(insert(table).values({key: _decode(value) for key, value in node["row"].items()}))
    for child in node["children"]:
        _insert_tree(child)


def _count(node: dict[str, Any]) -> int:
    return 1 + sum(_count(child) for child in node["children"])


def move_to_bin(*, record: Any, user: User, label: str, owner_id: int | None) -> RecycleBinEntry:
    """Delete `record` and its dependants, keeping them in the bin; the caller checks permissions and commits.

    `owner_id` decides who may later see and restore the entry (the record's owner at deletion).
    """
    model = type(record)
    record_type = RECORDS.of_model(model)
    if record_type is None or not record_type.recyclable:
        raise ValueError(f"{model.__name__} is not declared as a record type that goes to the recycle bin")
    db.session.flush()
    row = _row(model, record.id)
    if row is None:
        raise NotFound("记录不存在")
    tree = _tree(model, row)
    db.session.expunge(record)
    _delete_tree(tree)
    entry = RecycleBinEntry(record_type=record_type.key, record_id=record.id, label=label[:200],
                            payload=tree, deleted_by_id=user.id, owner_id=owner_id)
    db.session.add(entry)
    db.session.flush()  # the caller gets the entry's id (e.g. for an "undo" link)
    audit.record(record_type=entry.record_type, record_id=record.id, action="delete", user_id=user.id,
                 changes={"label": [label, None], "rows": [_count(tree), 0]})
    return entry


def _visible(user: User) -> ColumnElement[bool]:
    scope = permissions.scope_for(user, "recycle.restore")
    if scope is None:
        return RecycleBinEntry.deleted_by_id == user.id
    ids = permissions.visible_owner_ids(user, scope)
    if ids is None:
        return true()
    return or_(RecycleBinEntry.owner_id.in_(ids), RecycleBinEntry.deleted_by_id == user.id) if ids else false()


def list_entries(*, user: User, record_type: str | None = None, page: int = 1, per_page: int = 20) -> Page:
    """Deleted records the user deleted or may restore, newest first."""
    query = select(RecycleBinEntry).where(_visible(user))
    if record_type:
        query = query.where(RecycleBinEntry.record_type == record_type)
    return paginate(query.order_by(RecycleBinEntry.id.desc()), page=page, per_page=per_page)


def may_restore(user: User, entry: RecycleBinEntry) -> bool:
    scope = permissions.scope_for(user, "recycle.restore")
    if scope is None:
        return False
    ids = permissions.visible_owner_ids(user, scope)
    return ids is None or entry.owner_id in ids or entry.deleted_by_id == user.id


@unit_of_work
def restore(*, entry_id: int, user: User) -> RecycleBinEntry:
    """Put a deleted record and its dependants back exactly as they were; commits."""
    entry = db.session.scalar(select(RecycleBinEntry).where(RecycleBinEntry.id == entry_id, _visible(user)))
    if entry is None:
        raise NotFound("回收站中没有这条记录")
    if not may_restore(user, entry):
        raise Forbidden("您没有从回收站恢复的权限")
    try:
        with db.session.begin_nested():
            _insert_tree(entry.payload)
    except IntegrityError as exc:
        raise Conflict("无法恢复：相关记录已不存在，或编号已被占用") from exc
    audit.record(record_type=entry.record_type, record_id=entry.record_id, action="restore", user_id=user.id,
                 changes={"label": [None, entry.label]})
    db.session.delete(entry)
    return entry
