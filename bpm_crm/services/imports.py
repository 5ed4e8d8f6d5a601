"""Excel import of customers and contacts: upload, column mapping, per-row preview, all-or-nothing commit.

Rules a user sees on the preview page:
- every row is checked (required fields, dictionary values, numbers, dates, the customer of a contact);
- a row that repeats an existing record or an earlier row of the file under the chosen duplicate rule is
  a duplicate: it is shown, not an error, and it is skipped on commit;
- commit re-checks everything; a single row with an error refuses the whole import, nothing is written;
- a job commits once: a second commit (double click, two tabs) gets Conflict and writes nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update

from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.i18n import _
from bpm_crm.models import AuditLog, Contact, Customer, CustomerLevel, CustomerStatus, ImportJob, User
from bpm_crm.models.base import utcnow
from bpm_crm.services import excel, permissions
from bpm_crm.services.import_rows import (
    CUSTOMER_FIELDS,
    DUPLICATE_RULES,
    FIELDS,
    FieldSpec,
    Issue,
    RowChecker,
    name_key,
    phone_key,
)
from bpm_crm.services.transaction import unit_of_work

KINDS: dict[str, str] = {"customers": "客户", "contacts": "联系人"}
DEFAULT_RULE = "name"
IGNORE = ""  # the mapping value of a column that is not imported ("(忽略)")
UPLOADED, COMMITTED = "uploaded", "committed"
CHUNK = 500  # keys per IN (...) lookup and rows per insert statement


def _text(issue: Issue) -> str:
    return str(_(issue.template, **issue.params))


def _texts(errors: dict[str, list[Issue]]) -> dict[str, list[str]]:
    return {name: [_text(issue) for issue in issues] for name, issues in errors.items()}


@dataclass
class RowResult:
    """One data row of the file as the preview shows it."""

    line: int  # the row number in the spreadsheet (the header is row 1)
    values: dict[str, str]  # field -> the cell text
    errors: list[Issue] = field(default_factory=list)
    duplicate: Issue | None = None  # why the row is skipped as a duplicate
    clean: dict[str, Any] = field(default_factory=dict)  # converted values, for commit
    # Field -> what is wrong with its cell (the preview marks the cell); duplicates mark the rule's field.
    cell_issues: dict[str, Issue] = field(default_factory=dict)

    def fail(self, name: str | None, issue: Issue) -> None:
        """A problem of the row, of one cell when `name` is given."""
        self.errors.append(issue)
        if name is not None:
            self.cell_issues.setdefault(name, issue)

    @property
    def status(self) -> str:
        return "error" if self.errors else "duplicate" if self.duplicate else "ok"


@dataclass
class Preview:
    """What a commit would do: every row with its errors or duplicate, and the counts."""

    job: ImportJob
    fields: list[FieldSpec]  # the mapped fields, in column order
    rows: list[RowResult]
    mapping_errors: dict[str, list[Issue]]

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def error_count(self) -> int:
        return sum(1 for row in self.rows if row.errors)

    @property
    def duplicate_count(self) -> int:
        return sum(1 for row in self.rows if not row.errors and row.duplicate)

    @property
    def ready_count(self) -> int:
        return sum(1 for row in self.rows if not row.errors and not row.duplicate)

    @property
    def can_commit(self) -> bool:
        return (self.job.status == UPLOADED and not self.mapping_errors and not self.error_count
                and self.ready_count > 0)




def _normal_header(header: str) -> str:
    return re.sub(r"[\s*＊:：]|（必填）|\(必填\)", "", header).lower()


def guess_mapping(*, kind: str, headers: Iterable[str]) -> dict[str, str]:
    """Each header's likely field from its name (客户名称 → name, 纳税人识别号 → tax_no …); unknown → ignored."""
    specs = FIELDS[kind]
    by_alias: dict[str, str] = {}
    for spec in specs:
        for alias in (spec.name, spec.label, *spec.aliases):
            by_alias.setdefault(_normal_header(alias), spec.name)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        name = by_alias.get(_normal_header(header), IGNORE)
        if name and name in used:
            name = IGNORE  # the first column with that meaning wins
        used.add(name)
        mapping[header] = name
    return mapping


@unit_of_work
def upload(*, user: User, kind: str, filename: str, data: bytes) -> ImportJob:
    """Read an uploaded .xlsx/.csv into a new job with a guessed mapping; nothing else is written; commits."""
    permissions.require(user, "customer.import")
    if kind not in KINDS:
        raise Invalid("请选择导入类型", {"kind": ["导入类型应为客户或联系人"]})
    table = excel.read_table(data, filename or "")
    job = ImportJob(user_id=user.id, kind=kind, filename=(filename or "upload")[-255:], headers=table.headers,
                    rows=table.rows, mapping=guess_mapping(kind=kind, headers=table.headers),
                    duplicate_rule=DEFAULT_RULE, status=UPLOADED)
    db.session.add(job)
    return job


def get_job(*, job_id: int, user: User) -> ImportJob:
    """One of the user's own import jobs; NotFound for anyone else's."""
    permissions.require(user, "customer.import")
    job = db.session.scalar(select(ImportJob).where(ImportJob.id == job_id, ImportJob.user_id == user.id,
                                                    ImportJob.kind.in_(KINDS)))
    if job is None:
        raise NotFound("导入任务不存在或您无权查看")
    return job


def recent_jobs(*, user: User, limit: int = 20) -> list[ImportJob]:
    """The user's latest import jobs, newest first."""
    permissions.require(user, "customer.import")
    return list(db.session.scalars(select(ImportJob).where(ImportJob.user_id == user.id, ImportJob.kind.in_(KINDS))
                                   .order_by(ImportJob.id.desc()).limit(limit)))


def mapping_problems(*, kind: str, mapping: dict[str, str], rule: str | None) -> dict[str, list[Issue]]:
    """What is wrong with a column mapping and duplicate rule (empty when they can be used)."""
    specs = {spec.name: spec for spec in FIELDS[kind]}
    errors: dict[str, list[Issue]] = {}
    seen: dict[str, str] = {}
    for header, name in mapping.items():
        if name == IGNORE:
            continue
        if name not in specs:
            errors.setdefault("mapping", []).append(Issue("列“%(column)s”对应的字段未知", {"column": header}))
        elif name in seen:
            errors.setdefault("mapping", []).append(
                Issue("列“%(first)s”和“%(column)s”都对应“%(field)s”，每个字段只能对应一列",
                      {"first": seen[name], "column": header, "field": specs[name].label}))
        else:
            seen[name] = header
    missing = [spec.label for spec in FIELDS[kind] if spec.required and spec.name not in seen]
    if missing:
        errors.setdefault("mapping", []).append(
            Issue("必填字段未对应到任何列：%(fields)s", {"fields": "、".join(missing)}))
    if kind == "contacts" and "customer_number" not in seen and "customer_name" not in seen:
        errors.setdefault("mapping", []).append(
            Issue("请把“客户编号”或“客户名称”对应到一列，用来找到联系人所属的客户"))
    if rule not in DUPLICATE_RULES[kind]:
        rules = "、".join(DUPLICATE_RULES[kind].values())
        errors["duplicate_rule"] = [Issue("请选择重复规则：%(rules)s", {"rules": rules})]
    return errors


@unit_of_work
def set_mapping(*, job_id: int, user: User, mapping: dict[str, str], duplicate_rule: str) -> ImportJob:
    """Save the column mapping and the duplicate rule of a job not yet committed; commits."""
    job = get_job(job_id=job_id, user=user)
    if job.status != UPLOADED:
        raise Conflict("此导入已完成，不能再修改")
    unknown = [header for header in mapping if header not in job.headers]
    if unknown:
        missing = [str(_("文件中没有列“%(header)s”", header=header)) for header in unknown]
        raise Invalid("列对应有误", {"mapping": missing}, code="import_column_unknown", columns="、".join(unknown))
    full = {header: (mapping.get(header) or IGNORE) for header in job.headers}
    errors = mapping_problems(kind=job.kind, mapping=full, rule=duplicate_rule)
    if errors:
        raise Invalid("列对应有误", _texts(errors))
    job.mapping = full
    job.duplicate_rule = duplicate_rule
    return job




def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _existing_customers(rule: str, rows: list[RowResult]) -> dict[str, str]:
    """Duplicate key -> number of an existing customer (any owner: the company keeps one record per customer)."""
    column = {"name": Customer.name, "phone": Customer.phone, "tax_no": Customer.tax_no}[rule]
    key = phone_key if rule == "phone" else name_key
    raw = sorted({str(row.clean[rule]) for row in rows if row.clean.get(rule)})
    if rule == "phone":
        raw = sorted(set(raw) | {phone_key(value) for value in raw})
    found: dict[str, str] = {}
    for chunk in _chunks(raw):
        lookup = func.upper(column).in_([value.upper() for value in chunk]) if rule == "tax_no" else column.in_(chunk)
        for value, number in db.session.execute(select(column, Customer.number).where(lookup)):
            found.setdefault(key(value), number or "")
    return found


def _existing_contacts(rule: str, rows: list[RowResult]) -> set[tuple[int, str]]:
    customer_ids = sorted({row.clean["customer_id"] for row in rows if row.clean.get("customer_id")})
    found: set[tuple[int, str]] = set()
    for chunk in _chunks(customer_ids):
        query = select(Contact.customer_id, Contact.name, Contact.mobile, Contact.office_phone).where(
            Contact.customer_id.in_(chunk))
        for customer_id, name, mobile, office in db.session.execute(query):
            if rule == "name":
                found.add((customer_id, name_key(name)))
            else:
                found.update((customer_id, phone_key(p)) for p in (mobile, office) if p)
    return found


def _contact_keys(rule: str, clean: dict[str, Any]) -> list[tuple[int, str]]:
    customer_id = clean.get("customer_id")
    if not customer_id:
        return []
    if rule == "name":
        return [(customer_id, name_key(clean.get("name")))] if clean.get("name") else []
    return [(customer_id, phone_key(p)) for p in (clean.get("mobile"), clean.get("office_phone")) if p]


def _resolve_customers(user: User, rows: list[RowResult]) -> None:
    """Find each contact row's customer by number or name among the customers the user may update."""
    numbers = sorted({row.values["customer_number"] for row in rows if row.values.get("customer_number")})
    names = sorted({row.values["customer_name"] for row in rows
                    if row.values.get("customer_name") and not row.values.get("customer_number")})
    scope = permissions.customer_clause(user, "customer.update")
    by_number: dict[str, int] = {}
    by_name: dict[str, list[int]] = {}
    for chunk in _chunks(numbers):
        for customer_id, number in db.session.execute(
                select(Customer.id, Customer.number).where(Customer.number.in_(chunk), scope)):
            by_number[str(number)] = customer_id
    for chunk in _chunks(names):
        for customer_id, name in db.session.execute(
                select(Customer.id, Customer.name).where(Customer.name.in_(chunk), scope)):
            by_name.setdefault(str(name), []).append(customer_id)
    for row in rows:
        number, name = row.values.get("customer_number", ""), row.values.get("customer_name", "")
        if number:
            if number in by_number:
                row.clean["customer_id"] = by_number[number]
            else:
                row.fail("customer_number", Issue("客户编号“%(value)s”不存在或您无权修改该客户", {"value": number}))
        elif name:
            ids = by_name.get(name, [])
            if len(ids) == 1:
                row.clean["customer_id"] = ids[0]
            elif ids:
                row.fail("customer_name", Issue("有多个名为“%(value)s”的客户，请用客户编号指明", {"value": name}))
            else:
                row.fail("customer_name", Issue("客户“%(value)s”不存在或您无权修改该客户", {"value": name}))
        else:
            row.fail(None, Issue("“客户编号”或“客户名称”必填"))


def _check(job: ImportJob, user: User) -> Preview:
    specs = {spec.name: spec for spec in FIELDS[job.kind]}
    mapping = {header: job.mapping.get(header, IGNORE) for header in job.headers}
    mapping_errors = mapping_problems(kind=job.kind, mapping=mapping, rule=job.duplicate_rule)
    columns = [(index, specs[name]) for index, header in enumerate(job.headers)
               if (name := mapping[header]) in specs]
    checker = RowChecker(user, job.kind)
    rows: list[RowResult] = []
    for number, cells in enumerate(job.rows, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines inside the sheet are not records
        values = {spec.name: (cells[index] if index < len(cells) else "").strip() for index, spec in columns}
        row = RowResult(line=number, values=values)
        for spec in specs.values():
            if spec.kind == "ref" or (spec.name not in values and not spec.required):
                continue
            value, error = checker.convert(spec, values.get(spec.name, ""))
            if error:
                row.fail(spec.name, error)
            elif value is not None:
                row.clean[spec.name] = value
        rows.append(row)
    if job.kind == "contacts":
        _resolve_customers(user, rows)
    if not mapping_errors:
        _mark_duplicates(job, rows)
    return Preview(job=job, fields=[spec for _, spec in columns], rows=rows, mapping_errors=mapping_errors)


def _mark_duplicates(job: ImportJob, rows: list[RowResult]) -> None:
    rule = job.duplicate_rule or "name"
    label = {"name": "客户名称", "phone": "电话", "tax_no": "税号"}[rule]
    first_line: dict[Any, int] = {}
    if job.kind == "customers":
        key = phone_key if rule == "phone" else name_key
        existing = _existing_customers(rule, [row for row in rows if not row.errors])
        for row in rows:
            value = row.clean.get(rule)
            if row.errors or not value or not key(value):
                continue
            k = key(value)
            if k in existing:
                row.duplicate = Issue("与已有客户 %(number)s 的%(field)s相同", {"number": existing[k], "field": label})
            elif k in first_line:
                row.duplicate = Issue("与第 %(line)s 行的%(field)s相同", {"line": str(first_line[k]), "field": label})
            else:
                first_line[k] = row.line
            if row.duplicate is not None:
                row.cell_issues[rule] = row.duplicate
        return
    existing_contacts = _existing_contacts(rule, [row for row in rows if not row.errors])
    what = "姓名" if rule == "name" else "电话"
    for row in rows:
        keys = [] if row.errors else _contact_keys(rule, row.clean)
        if any(pair in existing_contacts for pair in keys):
            row.duplicate = Issue("该客户已有%(field)s相同的联系人", {"field": what})
        elif earlier := next((first_line[pair] for pair in keys if pair in first_line), None):
            row.duplicate = Issue("与第 %(line)s 行是同一客户下%(field)s相同的联系人",
                                  {"line": str(earlier), "field": what})
        else:
            for pair in keys:
                first_line.setdefault(pair, row.line)
        if row.duplicate is not None:
            for name in ("name",) if rule == "name" else ("mobile", "office_phone"):
                row.cell_issues.setdefault(name, row.duplicate)


def preview(*, job_id: int, user: User) -> Preview:
    """Every row of the job checked under its mapping and duplicate rule; writes nothing."""
    job = get_job(job_id=job_id, user=user)
    return _check(job, user)


def _reserve_ids(table: Any, count: int) -> list[int]:
    """Ids for `count` new rows, taken before inserting so that numbers and audit entries need no second pass.

    PostgreSQL hands them out from the table's sequence (safe with concurrent writers); SQLite continues after
    the largest id, which is safe because its transactions hold the write lock from BEGIN IMMEDIATE.
    """
    if db.engine.dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(table.name, "id")
        return sorted(db.session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count))))
    start = int(db.session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    return list(range(start, start + count))


def _insert(table: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        db.session.execute(insert(table), chunk)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


def _audit(record_type: str, user: User, ids: list[int], rows: list[dict[str, Any]]) -> None:
    """One audit entry per created record, as the flush hook would write it (bulk inserts bypass the hook)."""
    now = utcnow()
    entries = [{"at": now, "user_id": user.id, "record_type": record_type, "record_id": record_id, "action": "create",
                "changes": {key: [None, _plain(value)] for key, value in row.items()
                            if value is not None and key not in ("id", "created_at", "updated_at", "created_by_id",
                                                                 "updated_by_id")}}
               for record_id, row in zip(ids, rows, strict=True)]
    for chunk in _chunks(entries):
        db.session.execute(insert(AuditLog), chunk)


def _customer_rows(user: User, ready: list[RowResult]) -> list[dict[str, Any]]:
    now = utcnow()
    columns = {spec.name for spec in CUSTOMER_FIELDS} - {"owner"}
    records = []
    for row in ready:
        owner = row.clean.get("owner")
        values = {name: row.clean.get(name) for name in columns}
        values["level"] = values["level"] or CustomerLevel.NORMAL.value
        records.append({**values, "status": CustomerStatus.NORMAL.value,
                        "owner_id": owner.id if owner is not None else user.id,
                        "created_by_id": user.id, "updated_by_id": user.id, "created_at": now, "updated_at": now})
    return records


def _contact_rows(user: User, ready: list[RowResult]) -> list[dict[str, Any]]:
    now = utcnow()
    columns = ("customer_id", "name", "gender", "position", "office_phone", "mobile", "email", "birthday", "remarks")
    return [{**{name: row.clean.get(name) for name in columns}, "created_by_id": user.id, "updated_by_id": user.id,
             "created_at": now, "updated_at": now} for row in ready]


@unit_of_work
def commit(*, job_id: int, user: User) -> ImportJob:
    """Write every row of a clean preview in one transaction, skipping duplicates; Invalid if any row is wrong.

    The job is claimed first with a conditional UPDATE, so two concurrent commits cannot both pass: the
    second waits for the first and then finds the job committed (Conflict); an error rolls the claim back.
    """
    permissions.require(user, "customer.import")
    job = get_job(job_id=job_id, user=user)
    claimed: Any = db.session.execute(update(ImportJob).where(ImportJob.id == job.id, ImportJob.status == UPLOADED)
                                 .values(status=COMMITTED).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Conflict("此导入已提交过，不能重复导入")
    db.session.refresh(job)
    result = _check(job, user)
    if result.mapping_errors:
        raise Invalid("列对应有误，请先修改列对应", _texts(result.mapping_errors))
    bad = [row for row in result.rows if row.errors]
    if bad:
        lines = "、".join(str(row.line) for row in bad[:10]) + ("…" if len(bad) > 10 else "")
        raise Invalid("有 %(count)s 行数据有错误（第 %(lines)s 行），整个导入已取消，没有写入任何数据",
                      {f"row {row.line}": [_text(e) for e in row.errors] for row in bad[:200]},
                      code="import_rows_invalid", count=len(bad), lines=lines)
    ready = [row for row in result.rows if not row.duplicate]
    if not ready:
        raise Invalid("没有可导入的数据：所有行都是重复的")
    table: Any = Customer.__table__ if job.kind == "customers" else Contact.__table__
    records = _customer_rows(user, ready) if job.kind == "customers" else _contact_rows(user, ready)
    ids = _reserve_ids(table, len(records))
    numbers = [f"KH{record_id:06d}" for record_id in ids] if job.kind == "customers" else []
    for index, record in enumerate(records):
        record["id"] = ids[index]
        if numbers:
            record["number"] = numbers[index]
    _insert(table, records)
    _audit("customer" if job.kind == "customers" else "contact", user, ids, records)
    job.result = {"created": len(ids), "skipped_duplicates": result.duplicate_count, "total": result.total,
                  "first_id": ids[0], "last_id": ids[-1],
                  "numbers": [numbers[0], numbers[-1]] if numbers else [],
                  "committed_at": utcnow().isoformat(timespec="seconds")}
    return job


def created_records(*, job: ImportJob, user: User, limit: int = 20) -> list[Any]:
    """The first records a committed job created that the user can still see."""
    if not job.result or not job.result.get("created"):
        return []
    first, last = job.result["first_id"], job.result["last_id"]
    if job.kind == "customers":
        query: Any = select(Customer).where(Customer.id.between(first, last), Customer.created_by_id == user.id,
                                            permissions.customer_clause(user)).order_by(Customer.id)
    else:
        query = select(Contact).where(Contact.id.between(first, last), Contact.created_by_id == user.id,
                                      permissions.via_customer(user, Contact.customer_id)).order_by(Contact.id)
    return list(db.session.scalars(query.limit(limit)))


def template_headers(*, kind: str, user: User) -> list[str]:
    """The column titles of the downloadable import template."""
    permissions.require(user, "customer.import")
    if kind not in KINDS:
        raise NotFound("导入类型不存在")
    return [spec.label for spec in FIELDS[kind]]
