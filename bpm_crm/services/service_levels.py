"""Service levels of service requests (SLA): targets per type, the figures of one request, and of many.

Targets are working hours on the Chinese working calendar (BPM_CRM_SERVICE_SLA, e.g. "投诉=4/40": a
complaint is accepted within 4 and closed within 40 working hours). When a request is recorded its two due
moments are fixed; accepting it records the response time (响应时效) and archiving it the completion time
(办结时效), both in working time; a request is closed (办结) once archived.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import Select, func, select

from bpm_crm import clock
from bpm_crm.engine import workdays
from bpm_crm.extensions import db
from bpm_crm.handlers.calendar import working_hours, working_seconds
from bpm_crm.models import ServiceRequest, ServiceStatus

DEFAULT_TARGET = (8, 40)


@dataclass(frozen=True)
class Target:
    """How many working hours a request of a type may take to be accepted and to be closed."""

    response_hours: int
    resolution_hours: int


def parse_targets(text: str) -> dict[str, Target]:
    """Read "投诉=4/40,咨询=2/8"; ValueError names the part that is wrong."""
    found: dict[str, Target] = {}
    for part in (item.strip() for item in (text or "").split(",") if item.strip()):
        kind, _sep, hours = part.partition("=")
        response, _slash, resolution = hours.partition("/")
        if not kind.strip() or not response.strip().isdigit() or not resolution.strip().isdigit():
            raise ValueError(f"'{part}' should read type=response hours/completion hours")
        target = Target(int(response), int(resolution))
        if not 0 < target.response_hours <= target.resolution_hours <= 24 * 365:
            raise ValueError(f"'{part}': 0 < response hours <= completion hours <= {24 * 365}")
        found[kind.strip()] = target
    return found


def target_for(kind: str) -> Target:
    """The configured targets of a service type (8 / 40 working hours for a type not configured)."""
    return parse_targets(current_app.config["SERVICE_SLA"]).get(kind, Target(*DEFAULT_TARGET))


def _due(start: datetime, hours: int) -> datetime:
    moment = workdays.add_working_time(start.replace(tzinfo=UTC), timedelta(hours=hours), working_hours())
    return moment.astimezone(UTC).replace(tzinfo=None)


def set_targets(record: ServiceRequest) -> Target:
    """Fix a new request's due moments from its type's targets; joins the caller's transaction."""
    target = target_for(record.type)
    start = record.created_at or clock.utcnow_naive()
    record.response_due_at = _due(start, target.response_hours)
    record.resolution_due_at = _due(start, target.resolution_hours)
    return target


@dataclass(frozen=True)
class Figures:
    """One request's service levels: each time taken (or elapsed so far) against its target, in working hours."""

    response_target: float | None
    response_hours: float | None
    response_due_at: datetime | None
    responded: bool
    response_met: bool | None
    resolution_target: float | None
    resolution_hours: float | None
    resolution_due_at: datetime | None
    closed: bool
    resolution_met: bool | None
    overdue: bool


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _target_hours(start: datetime | None, due: datetime | None) -> float | None:
    return _hours(working_seconds(start, due)) if start and due else None


def figures(record: ServiceRequest, *, now: datetime | None = None) -> Figures:
    """The request's response and completion time against target; open ones count up to now."""
    moment = now or clock.utcnow_naive()
    responded = record.assigned_at is not None
    closed = record.status == ServiceStatus.ARCHIVED and record.archived_at is not None
    response = record.response_seconds if responded else working_seconds(record.created_at, moment)
    resolution = record.resolution_seconds if closed else working_seconds(record.created_at, moment)
    response_end = record.assigned_at if responded else moment
    resolution_end = record.archived_at if closed else moment
    response_met = None if record.response_due_at is None or not responded else \
        response_end <= record.response_due_at  # type: ignore[operator]
    resolution_met = None if record.resolution_due_at is None or not closed else \
        resolution_end <= record.resolution_due_at  # type: ignore[operator]
    overdue = not closed and record.resolution_due_at is not None and moment > record.resolution_due_at or (
        not responded and record.response_due_at is not None and moment > record.response_due_at)
    return Figures(
        response_target=_target_hours(record.created_at, record.response_due_at), response_hours=_hours(response),
        response_due_at=record.response_due_at, responded=responded, response_met=response_met,
        resolution_target=_target_hours(record.created_at, record.resolution_due_at),
        resolution_hours=_hours(resolution), resolution_due_at=record.resolution_due_at, closed=closed,
        resolution_met=resolution_met, overdue=bool(overdue),
    )


@dataclass(frozen=True)
class Summary:
    """Service levels over many requests (响应时效, 办结时效, 办结率)."""

    total: int
    closed: int
    responded: int
    response_met: int
    resolution_met: int
    average_response_hours: float | None
    average_resolution_hours: float | None

    @property
    def closed_rate(self) -> float | None:
        """办结率: closed requests of all, in percent."""
        return round(100 * self.closed / self.total, 1) if self.total else None

    @property
    def response_met_rate(self) -> float | None:
        return round(100 * self.response_met / self.responded, 1) if self.responded else None

    @property
    def resolution_met_rate(self) -> float | None:
        return round(100 * self.resolution_met / self.closed, 1) if self.closed else None


def summarize(query: Select) -> Summary:
    """The service levels of the requests a (scoped, filtered) request query selects, in one statement."""
    rows = query.order_by(None).options().subquery()
    archived = rows.c.status == ServiceStatus.ARCHIVED.value
    met_response = (rows.c.assigned_at.is_not(None)) & (rows.c.assigned_at <= rows.c.response_due_at)
    met_resolution = archived & (rows.c.archived_at <= rows.c.resolution_due_at)
    total, closed, responded, response_met, resolution_met, response_avg, resolution_avg = db.session.execute(
        select(func.count(), func.count().filter(archived), func.count(rows.c.assigned_at),
               func.count().filter(met_response), func.count().filter(met_resolution),
               func.avg(rows.c.response_seconds), func.avg(rows.c.resolution_seconds))
    ).one()
    return Summary(total=total, closed=closed, responded=responded, response_met=response_met,
                   resolution_met=resolution_met, average_response_hours=_hours(_int(response_avg)),
                   average_resolution_hours=_hours(_int(resolution_avg)))


def _int(value: object) -> int | None:
    return None if value is None else int(float(value))  # type: ignore[arg-type]
