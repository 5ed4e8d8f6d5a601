"""Deploying process bundles — a diagram, the forms its user tasks name and its translations — as versions.

A bundle is validated as a whole before anything is written: the diagram (schema, engine,
handlers, expressions, lanes that name roles, candidates that exist), every form it names (see
bpm_crm.forms.schema.check_form), its translations, and that nothing is missing. Its content
hash covers the diagram, its forms and its translations, so a running instance keeps the forms
and the names of the version it started on and an unchanged bundle is not a new version. A
directory deploy is all or nothing.

Translations are one JSON file per language beside the forms, `translations/<process id>.<locale>.json`:
an object from each text of the bundle as written (the process and step names, form labels,
descriptions and option labels) to that text in the language. Inbox rows keep the names as
deployed; pages show them through the version's translations in the reader's language.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
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
MAX_TRANSLATION_BYTES = 256 * 1024
TRANSLATION_FILE = re.compile(r"^(?P<process>[A-Za-z_][A-Za-z0-9_.-]*)\.(?P<locale>[a-z]{2}(?:_[A-Z]{2})?)\.json$")


@dataclass(frozen=True)
class Bundle:
    """A validated diagram with its forms, ready to be stored as a version."""

    parsed: ParsedDefinition
    forms: dict[str, dict[str, Any]]
    lane_roles: dict[str, str]
    content_hash: str
    translations: dict[str, dict[str, str]]
    decisions: dict[str, str] = field(default_factory=dict)


def bundle_hash(xml: str, forms: dict[str, dict[str, Any]],
                translations: dict[str, dict[str, str]] | None = None, decisions: dict[str, str] | None = None) -> str:
    """The fingerprint of a diagram together with its forms and translations (a bundle without any hashes as before)."""
    digest = hashlib.sha256(xml.encode("utf-8"))
    digest.update(b"\0")
    digest.update(json.dumps(forms, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if translations:
        digest.update(b"\0")
        digest.update(json.dumps(translations, sort_keys=True, ensure_ascii=False,
                                 separators=(",", ":")).encode("utf-8"))
    if decisions:
        digest.update(b"\1")
        digest.update(json.dumps(decisions, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


_CALLED_DECISION = re.compile(r"<(?:\w+:)?calledDecisionId>\s*([^<\s]+)\s*</")
_DECISION_ID = re.compile(rb"<(?:\w+:)?decision\b[^>]*\bid=\"([^\"]+)\"")


def called_decisions(xml: bytes | str) -> set[str]:
    """The decision tables a diagram's business rule tasks call."""
    text = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else xml
    return set(_CALLED_DECISION.findall(text))


def read_decision(text: bytes | str, *, file_name: str) -> tuple[str, str]:
    """(decision id, DMN text) of a decision file; DefinitionInvalid naming the file when it has none."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_FORM_BYTES:
        raise DefinitionInvalid([Problem(None, f"{file_name}: the decision file is too large")])
    ids = _DECISION_ID.findall(raw)
    if len(ids) != 1:
        raise DefinitionInvalid([Problem(None, f"{file_name}: a decision file must hold exactly one decision")])
    return ids[0].decode("utf-8", errors="replace"), raw.decode("utf-8", errors="replace")


def read_translation(text: bytes | str, *, file_name: str) -> dict[str, str]:
    """A translation file's texts; DefinitionInvalid naming the file when it is not an object of texts."""
    if len(text) > MAX_TRANSLATION_BYTES:
        limit = MAX_TRANSLATION_BYTES // 1024
        raise DefinitionInvalid([Problem(None, f"{file_name}: the translation file is larger than {limit} KB")])
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DefinitionInvalid([Problem(None, f"{file_name}: not valid JSON ({exc})")]) from None
    if not isinstance(value, dict) or not all(
            isinstance(key, str) and isinstance(item, str) and key and item for key, item in value.items()):
        raise DefinitionInvalid([Problem(None, f"{file_name}: a translation must be a JSON object of texts")])
    return value


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


def validate_bundle(xml: bytes | str, forms: dict[str, dict[str, Any]], *, file_name: str = "upload.bpmn",
                    translations: dict[str, dict[str, dict[str, str]]] | None = None,
                    decisions: dict[str, str] | None = None) -> Bundle:
    """Check a diagram and the forms available to it; DefinitionInvalid lists every problem.

    `translations` holds texts by process id and locale; the diagram's process takes its own.
    """
    roles = _roles()
    used_decisions = {key: text for key, text in (decisions or {}).items() if key in called_decisions(xml)}
    parsed = parse_definition(xml, file_name=file_name, handler_names=handler_names(), form_keys=set(forms),
                              lane_names=set(roles), decisions=used_decisions)
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
        if properties.get("approval_step"):
            problems.extend(Problem(bpmn_id, message) for message in _approval_form_problems(forms.get(form_id or "")))
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
    texts = {locale: dict(sorted(items.items()))
             for locale, items in sorted((translations or {}).get(parsed.process_id, {}).items()) if items}
    return Bundle(parsed=parsed, forms=used_forms, lane_roles=lane_roles,
                  content_hash=bundle_hash(parsed.xml, used_forms, texts, used_decisions), translations=texts,
                  decisions=used_decisions)


def _approval_form_problems(form: dict[str, Any] | None) -> list[str]:
    """An approval step's form must let the approver decide: a `decision` with approve and reject."""
    if form is None:
        return ["an approval step needs its form (the shipped 'approval' form, or one of its own)"]
    decision = next((component for component in form.get("components", []) if isinstance(component, dict)
                     and component.get("key") == "decision"), None)
    values = {value.get("value") for value in (decision or {}).get("values", []) if isinstance(value, dict)}
    if decision is None or decision.get("type") not in ("radio", "select"):
        return ["an approval step's form needs a 'decision' radio or select"]
    if not {"approve", "reject"} <= values or not values <= {"approve", "reject", "return"}:
        return ["an approval step's 'decision' offers approve and reject (and may offer return), nothing else"]
    return []


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
        forms=bundle.forms, lane_roles=bundle.lane_roles, translations=bundle.translations,
        decisions=bundle.decisions,
        deployed_by_id=user.id if user else None,
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


def _process_id(xml: bytes | str) -> str | None:
    """The id of the diagram's process, read without parsing it (parsing comes with validation)."""
    match = re.search(rb'<(?:\w+:)?process\b[^>]*\bid="([^"]+)"', xml if isinstance(xml, bytes) else xml.encode())
    return match.group(1).decode(errors="replace") if match else None


def _latest_deployed(process_id: str | None) -> ProcessDefinition | None:
    """The newest deployed version of a process, if it has been deployed."""
    if process_id is None:
        return None
    return db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


def deploy(*, xml: bytes | str, forms: dict[str, dict[str, Any]] | None = None,
           translations: dict[str, dict[str, str]] | None = None, decisions: dict[str, str] | None = None,
           file_name: str, user: User | None = None) -> tuple[ProcessDefinition, bool]:
    """Deploy a diagram as a new version unless nothing changed; commits.

    Forms and translations ({locale: {text: translation}}) not given keep what the newest version of
    the process has: a changed diagram need not bring its unchanged forms and names along.
    """
    try:
        process_id = _process_id(xml)
        latest = _latest_deployed(process_id)
        kept_forms = dict(latest.forms or {}) if latest is not None else {}
        texts = translations if translations is not None else (
            dict(latest.translations or {}) if latest is not None else {})
        kept_decisions = dict(latest.decisions or {}) if latest is not None else {}
        bundle = validate_bundle(xml, {**kept_forms, **(forms or {})}, file_name=file_name,
                                 translations={process_id: texts} if process_id else None,
                                 decisions={**kept_decisions, **(decisions or {})})
        result = _store(bundle, file_name=file_name, user=user)
    except BaseException:
        db.session.rollback()
        raise
    _commit()
    return result


def read_translations(directory: str | Path) -> dict[str, dict[str, dict[str, str]]]:
    """The translations/ folder of a process directory: {process id: {locale: {text: translation}}}."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    problems: list[Problem] = []
    for path in sorted((Path(directory) / "translations").glob("*.json")):
        name = TRANSLATION_FILE.match(path.name)
        if name is None:
            problems.append(Problem(None, f"{path.name}: a translation file is named <process id>.<locale>.json"))
            continue
        try:
            texts = read_translation(path.read_bytes(), file_name=path.name)
        except DefinitionInvalid as exc:
            problems.extend(exc.problems)
            continue
        found.setdefault(name["process"], {})[name["locale"]] = texts
    if problems:
        raise DefinitionInvalid(problems)
    return found


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


def read_decisions(directory: str | Path) -> dict[str, str]:
    """The decision tables (*.dmn) of a process directory, by decision id."""
    decisions: dict[str, str] = {}
    problems: list[Problem] = []
    for path in sorted(Path(directory).glob("*.dmn")):
        try:
            decision_id, text = read_decision(path.read_bytes(), file_name=path.name)
        except DefinitionInvalid as exc:
            problems.extend(exc.problems)
            continue
        if decision_id in decisions:
            problems.append(Problem(None, f"{path.name}: another file already holds the decision '{decision_id}'"))
        decisions[decision_id] = text
    if problems:
        raise DefinitionInvalid(problems)
    return decisions


def deploy_directory(directory: str | Path, *, user: User | None = None) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every diagram of a directory with its forms and translations, all or nothing; commits."""
    diagrams, forms = read_directory(directory)
    translations = read_translations(directory)
    decisions = read_decisions(directory)
    problems: list[Problem] = []
    bundles: list[tuple[str, Bundle]] = []
    for name, xml in diagrams:
        try:
            bundles.append((name, validate_bundle(xml, forms, file_name=name, translations=translations,
                                                  decisions=decisions)))
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
    translations: dict[str, dict[str, str]] = field(default_factory=dict)

    def texts(self, locale: str) -> dict[str, str]:
        """The bundle's texts in a language: {text as deployed: translation}; empty for the deployed language."""
        return self.translations.get(locale) or self.translations.get(locale.split("_")[0]) or {}

    def text(self, text: str, locale: str) -> str:
        """One text of the bundle (a process or step name, a form label) in a language, else as deployed."""
        return self.texts(locale).get(text, text)

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
                         parsed=load_definition(row.bpmn_xml, row.decisions), forms=dict(row.forms or {}),
                         lane_roles=dict(row.lane_roles or {}), translations=dict(row.translations or {}))
        if len(_versions) > 256:
            _versions.clear()
        _versions[definition_id] = cached
    return cached


def latest_version_id(process_id: str) -> int | None:
    """The id of the newest deployed version of a process, if any."""
    return db.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_id == process_id)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


def forget_versions() -> None:
    """Drop cached versions (only needed when ids are handed out again, as when tests empty the tables)."""
    _versions.clear()
    _form.cache_clear()


def parsed(definition: ProcessDefinition) -> ParsedDefinition:
    """The executable form of a deployed version (parsed once per content)."""
    return load_definition(definition.bpmn_xml, definition.decisions)


def form(definition: ProcessDefinition, form_id: str | None) -> FormSchema | None:
    """A form of a deployed version, parsed once per version."""
    return version(definition.id).form(form_id)


@lru_cache(maxsize=256)
def _form(_definition_id: int, _content_hash: str, _form_id: str, raw: str) -> FormSchema:
    return FormSchema.load(json.loads(raw))
