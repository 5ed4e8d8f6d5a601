"""Deploying process bundles — a diagram and the forms its user tasks name — as versions.

A bundle is validated as a whole before anything is written: the diagram (schema, engine,
handlers, expressions, lanes that name roles, candidates that exist), every form it names (see
bpm_crm.forms.schema.check_form), and that nothing is missing. Its content hash covers the
diagram and its forms, so a running instance keeps the forms of the version it started on and
an unchanged bundle is not a new version. A directory deploy is all or nothing.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bpm_crm.engine import sandbox
from bpm_crm.engine.definitions import DefinitionInvalid, ParsedDefinition, Problem, load_definition, parse_definition
from bpm_crm.errors import Conflict, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.schema import FormInvalid, FormSchema, check_form
from bpm_crm.handlers import handler_names
from bpm_crm.models import Department, ProcessDefinition, Role, User
from bpm_crm.services import option_sources, schedules
from bpm_crm.services.assignment import parse_candidates

FORM_SUFFIX = ".form"
MAX_FORM_BYTES = 512 * 1024


@dataclass(frozen=True)
class Bundle:
    """A validated diagram with its forms, ready to be stored as a version."""

    parsed: ParsedDefinition
    forms: dict[str, dict[str, Any]]
    lane_roles: dict[str, str]
    content_hash: str


def bundle_hash(xml: str, forms: dict[str, dict[str, Any]]) -> str:
    """The fingerprint of a diagram together with its forms."""
    digest = hashlib.sha256(xml.encode("utf-8"))
    digest.update(b"\0")
    digest.update(json.dumps(forms, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return digest.hexdigest()


def read_form(text: bytes | str, *, file_name: str) -> dict[str, Any]:
    """A form file's JSON; DefinitionInvalid naming the file when it is not a JSON object."""
    if len(text) > MAX_FORM_BYTES:
        limit = MAX_FORM_BYTES // 1024
        raise DefinitionInvalid([Problem(None, f"{file_name}: the form file is larger than {limit} KB")])
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DefinitionInvalid([Problem(None, f"{file_name}: not valid JSON ({exc})")]) from None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise DefinitionInvalid([Problem(None, f"{file_name}: a form must be a JSON object with an \"id\"")])
    return value


def _roles() -> dict[str, str]:
    """Role code -> code and role name -> code (lanes may name either)."""
    mapping: dict[str, str] = {}
    for code, name in db.session.execute(select(Role.code, Role.name)):
        mapping[code] = code
        mapping.setdefault(name, code)
    return mapping


def validate_bundle(xml: bytes | str, forms: dict[str, dict[str, Any]], *, file_name: str = "upload.bpmn") -> Bundle:
    """Check a diagram and the forms available to it; DefinitionInvalid lists every problem."""
    roles = _roles()
    parsed = parse_definition(xml, file_name=file_name, handler_names=handler_names(), form_keys=set(forms),
                              lane_names=set(roles))
    problems: list[Problem] = []
    used_forms: dict[str, dict[str, Any]] = {}
    reserved = sandbox.reserved_names()
    departments = {name: str(dept_id) for dept_id, name in db.session.execute(select(Department.id, Department.name))}
    usernames = set(db.session.scalars(select(User.username)))
    for bpmn_id, properties in parsed.user_tasks.items():
        form_id = properties.get("form")
        if form_id and form_id in forms and form_id not in used_forms:
            try:
                check_form(forms[form_id], option_sources=option_sources.names(), reserved=reserved)
            except FormInvalid as exc:
                problems.extend(Problem(bpmn_id, message) for message in exc.problems)
            used_forms[form_id] = forms[form_id]
        for name in ("candidates", "watchers"):
            try:
                parse_candidates(properties.get(name), roles=roles, departments=departments, usernames=usernames)
            except ValueError as exc:
                problems.append(Problem(bpmn_id, f"{name}: {exc}"))
    for event_id, rule in parsed.start_timers:
        try:
            schedules.parse_rule(rule)
        except ValueError as exc:
            problems.append(Problem(event_id, f"timer start event: {exc}"))
    if problems:
        raise DefinitionInvalid(problems)
    lane_roles = {lane: roles[lane] for lane in parsed.lanes if lane in roles}
    return Bundle(parsed=parsed, forms=used_forms, lane_roles=lane_roles,
                  content_hash=bundle_hash(parsed.xml, used_forms))


def _store(bundle: Bundle, *, file_name: str, user: User | None) -> tuple[ProcessDefinition, bool]:
    """Add the bundle as the next version unless the same content is deployed; joins the transaction."""
    parsed = bundle.parsed
    existing = db.session.scalar(select(ProcessDefinition).where(
        ProcessDefinition.process_id == parsed.process_id, ProcessDefinition.content_hash == bundle.content_hash))
    if existing is not None:
        return existing, False
    latest = db.session.scalar(
        select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == parsed.process_id))
    definition = ProcessDefinition(
        process_id=parsed.process_id, name=parsed.name, version=(latest or 0) + 1,
        content_hash=bundle.content_hash, bpmn_xml=parsed.xml, file_name=file_name,
        forms=bundle.forms, lane_roles=bundle.lane_roles, deployed_by_id=user.id if user else None,
    )
    db.session.add(definition)
    db.session.flush()
    schedules.sync_for(definition, parsed.start_timers)
    return definition, True


def _commit() -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:  # a concurrent deploy of the same version won the race
        db.session.rollback()
        raise Conflict("该流程刚被他人部署，请刷新后重试") from exc


def _deployed_forms(xml: bytes | str) -> dict[str, dict[str, Any]]:
    """The forms of the newest deployed version of the diagram's process, if it has been deployed."""
    match = re.search(rb'<(?:\w+:)?process\b[^>]*\bid="([^"]+)"', xml if isinstance(xml, bytes) else xml.encode())
    if match is None:
        return {}
    latest = db.session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == match.group(1).decode(errors="replace"))
        .order_by(ProcessDefinition.version.desc()).limit(1))
    return dict(latest.forms or {}) if latest is not None else {}


def deploy(*, xml: bytes | str, forms: dict[str, dict[str, Any]] | None = None, file_name: str,
           user: User | None = None) -> tuple[ProcessDefinition, bool]:
    """Deploy a diagram as a new version unless nothing changed; commits.

    Forms not given keep what the newest version of the process has: a changed diagram need not
    bring its unchanged forms along.
    """
    try:
        bundle = validate_bundle(xml, {**_deployed_forms(xml), **(forms or {})}, file_name=file_name)
        result = _store(bundle, file_name=file_name, user=user)
    except BaseException:
        db.session.rollback()
        raise
    _commit()
    return result


def read_directory(directory: str | Path) -> tuple[list[tuple[str, bytes]], dict[str, dict[str, Any]]]:
    """The diagrams of a directory and the forms of its forms/ folder (by form id)."""
    root = Path(directory)
    diagrams = [(path.name, path.read_bytes()) for path in sorted(root.glob("*.bpmn"))]
    forms: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for path in sorted((root / "forms").glob(f"*{FORM_SUFFIX}")):
        try:
            form = read_form(path.read_bytes(), file_name=path.name)
        except DefinitionInvalid as exc:
            problems.extend(exc.problems)
            continue
        if form["id"] in forms:
            problems.append(Problem(None, f"{path.name}: another form already has the id '{form['id']}'"))
        forms[form["id"]] = form
    if problems:
        raise DefinitionInvalid(problems)
    return diagrams, forms


def deploy_directory(directory: str | Path, *, user: User | None = None) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every diagram of a directory with its forms, all or nothing; commits."""
    diagrams, forms = read_directory(directory)
    problems: list[Problem] = []
    bundles: list[tuple[str, Bundle]] = []
    for name, xml in diagrams:
        try:
            bundles.append((name, validate_bundle(xml, forms, file_name=name)))
        except DefinitionInvalid as exc:
            problems.extend(Problem(p.element_id, f"{name}: {p.message}") for p in exc.problems)
    if problems:
        db.session.rollback()
        raise DefinitionInvalid(problems)
    try:
        results = [_store(bundle, file_name=name, user=user) for name, bundle in bundles]
    except BaseException:
        db.session.rollback()
        raise
    _commit()
    return results


def latest_definition(process_id: str) -> ProcessDefinition:
    """The newest deployed version of a process; NotFound when it was never deployed."""
    definition = db.session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc()).limit(1))
    if definition is None:
        raise NotFound("流程 %(process)s 尚未部署", code="process_not_deployed", process=process_id)
    return definition


@dataclass(frozen=True)
class Version:
    """What running instances need of a deployed version; versions never change, so this is cached."""

    id: int
    process_id: str
    name: str
    number: int
    parsed: ParsedDefinition
    forms: dict[str, dict[str, Any]]
    lane_roles: dict[str, str]

    def form(self, form_id: str | None) -> FormSchema | None:
        """A form of this version, parsed once."""
        if not form_id or form_id not in self.forms:
            return None
        return _form(self.id, self.parsed.content_hash, form_id, json.dumps(self.forms[form_id]))


_versions: dict[int, Version] = {}


def version(definition_id: int) -> Version:
    """A deployed version by id, read from the database once per process."""
    cached = _versions.get(definition_id)
    if cached is None:
        row = db.session.get(ProcessDefinition, definition_id)
        if row is None:
            raise NotFound("流程定义不存在")
        cached = Version(id=row.id, process_id=row.process_id, name=row.name, number=row.version,
                         parsed=load_definition(row.bpmn_xml), forms=dict(row.forms or {}),
                         lane_roles=dict(row.lane_roles or {}))
        if len(_versions) > 256:
            _versions.clear()
        _versions[definition_id] = cached
    return cached


def forget_versions() -> None:
    """Drop cached versions (only needed when ids are handed out again, as when tests empty the tables)."""
    _versions.clear()
    _form.cache_clear()


def parsed(definition: ProcessDefinition) -> ParsedDefinition:
    """The executable form of a deployed version (parsed once per content)."""
    return load_definition(definition.bpmn_xml)


def form(definition: ProcessDefinition, form_id: str | None) -> FormSchema | None:
    """A form of a deployed version, parsed once per version."""
    return version(definition.id).form(form_id)


@lru_cache(maxsize=256)
def _form(_definition_id: int, _content_hash: str, _form_id: str, raw: str) -> FormSchema:
    return FormSchema.load(json.loads(raw))
