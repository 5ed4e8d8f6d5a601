"""Process state: deployed definitions, running instances, the inbox and the history."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bpm_crm.extensions import Model
from bpm_crm.models.base import utcnow
from bpm_crm.models.people import User


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ProcessDefinition(Model):
    """One deployed version of a diagram; the same content is never deployed twice."""

    __tablename__ = "process_definitions"
    __table_args__ = (
        UniqueConstraint("process_id", "version"),
        UniqueConstraint("process_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(80), index=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(String(200))
    # The forms the diagram's user tasks name, deployed and versioned with it: {form id: form-js JSON}.
    forms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The bundle's texts in other languages, deployed and versioned with it: {locale: {text: translation}}.
    translations: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    # The decision tables (DMN) its business rule tasks call, deployed and versioned with it: {id: DMN XML}.
    decisions: Mapped[dict[str, str] | None] = mapped_column(JSON, default=dict)
    # Lane name -> role code, resolved when deployed, so renaming a role orphans no task.
    lane_roles: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ProcessInstance(Model):
    """A running or finished process; `state` is the SpiffWorkflow serialization (text, never jsonb)."""

    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_process_instances_business", "business_type", "business_id"),
        Index("ix_process_instances_next_timer", "next_timer_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default=InstanceStatus.RUNNING.value)
    state: Mapped[str] = mapped_column(Text)
    business_type: Mapped[str | None] = mapped_column(String(40))
    business_id: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(200), default="")
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The owner of the business record; data scopes of the instance and its tasks follow him.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None]
    # Earliest due timer of the instance (naive UTC); the scheduler picks rows where it is past.
    next_timer_at: Mapped[datetime | None]
    # Whether the instance waits in a message catch event (its subscriptions rows exist).
    waits_for_message: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)

    definition: Mapped[ProcessDefinition] = relationship()
    started_by: Mapped[User | None] = relationship(foreign_keys=[started_by_id])


class CandidateKind(enum.StrEnum):
    """Whom an offered task is for: a person, everyone holding a role (by code), a department's head."""

    USER = "user"
    ROLE = "role"
    DEPARTMENT = "department"


class HumanTask(Model):
    """The inbox: one row per ready user task, kept in step with the engine on every run."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_assignee_status", "assignee_id", "status"),
        Index("ix_human_tasks_status_due", "status", "due_at"),
        Index("ix_human_tasks_deadlines", "status", "next_deadline_at"),
        UniqueConstraint("task_guid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(80))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The process variable the assignee came from (the diagram's `assignee` expression when it is a
    # plain name): reassigning the task sets it too, so the next steps follow the new assignee.
    assignee_variable: Mapped[str | None] = mapped_column(String(60))
    # The user whose data the task is about (the record's owner); scopes who may claim it by role.
    scope_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # True when the task is offered to candidates (claim/release), False when the diagram gave it to a person.
    offered: Mapped[bool] = mapped_column(default=True)
    form_key: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN.value)
    due_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    escalate_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # Earliest of remind_at/escalate_at not yet fired: the scheduler picks open rows where it is past.
    next_deadline_at: Mapped[datetime | None]
    # The process variables the task's form reads, as they were when the task became ready.
    input_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    instance: Mapped[ProcessInstance] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    candidates: Mapped[list[TaskCandidate]] = relationship(
        back_populates="task", cascade="all, delete-orphan", lazy="selectin", order_by="TaskCandidate.id"
    )
    watchers: Mapped[list[TaskWatcher]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskWatcher.id"
    )

    def candidate_values(self, kind: CandidateKind) -> list[str]:
        return [c.value for c in self.candidates if c.kind == kind]

    @property
    def candidate_roles(self) -> list[str]:
        return self.candidate_values(CandidateKind.ROLE)

    @property
    def candidate_role(self) -> str | None:
        """The first role the task is offered to, for display."""
        roles = self.candidate_roles
        return roles[0] if roles else None


class TaskCandidate(Model):
    """One candidate of an offered task; "my claimable tasks" is one indexed query over these rows."""

    __tablename__ = "task_candidates"
    __table_args__ = (
        Index("ix_task_candidates_kind_value", "kind", "value"),
        UniqueConstraint("task_id", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # A user id, a role code or a department id, as text.
    value: Mapped[str] = mapped_column(String(60))

    task: Mapped[HumanTask] = relationship(back_populates="candidates")


class TaskWatcher(Model):
    """Someone who sees a task and its record read-only (抄送)."""

    __tablename__ = "task_watchers"
    __table_args__ = (UniqueConstraint("task_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    task: Mapped[HumanTask] = relationship(back_populates="watchers")
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class ProcessEvent(Model):
    """History: who did what to an instance, when, with which data and comment."""

    __tablename__ = "process_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    human_task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))
    task_name: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()


class MessageSubscription(Model):
    """An instance waiting in a message catch event, found by message name and business key."""

    __tablename__ = "message_subscriptions"
    __table_args__ = (Index("ix_message_subscriptions_lookup", "message_name", "business_type", "business_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"), index=True)
    message_name: Mapped[str] = mapped_column(String(120))
    business_type: Mapped[str | None] = mapped_column(String(40))
    business_id: Mapped[int | None]


class ProcessSchedule(Model):
    """A timer start event of the newest version of a process: when it next starts an instance."""

    __tablename__ = "process_schedules"
    __table_args__ = (UniqueConstraint("process_id", "start_event_id"),
                      Index("ix_process_schedules_due", "next_run_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(80))
    start_event_id: Mapped[str] = mapped_column(String(120))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    # The rule as the diagram states it: an ISO 8601 cycle ("R/2026-01-03T02:00:00+08:00/P7D"), a date,
    # or a cron line with its time zone ("0 2 * * 6 Asia/Shanghai").
    rule: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]


class ScheduleRun(Model):
    """One due time of a schedule, started once: the unique key makes two schedulers start it once."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("process_schedules.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    # What the run reports (the process variable `figures`: customers checked, warnings raised …).
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=1, server_default="1")


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Job(Model):
    """Work that must follow a commit (a PDF, an e-mail): written in the transaction, run after it."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Notification(Model):
    """Something a person should know: a reminder, an escalation, a task given to him."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_tasks.id", ondelete="SET NULL"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
