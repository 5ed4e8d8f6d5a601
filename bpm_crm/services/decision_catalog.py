"""The decision tables a process owner edits (阈值表): which are deployed, which version each is and who deployed
it when, and saving one. Reading and writing both need `process.deploy`, so the page and the API agree.

The checks and the deploy themselves are bpm_crm.services.decision_tables'.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from bpm_crm.extensions import db
from bpm_crm.models import ProcessDefinition, User
from bpm_crm.services import decision_tables, definitions, permissions
from bpm_crm.services.decision_tables import Grid

ACTION = "process.deploy"


@dataclass(frozen=True)
class DeployedTable:
    """A decision table of the newest version of a process, with that version's name, id and deployer."""

    grid: Grid
    process_name: str
    definition_id: int
    deployed_at: datetime
    deployed_by: User | None


def _deployed(definition: ProcessDefinition, grid: Grid) -> DeployedTable:
    deployer = db.session.get(User, definition.deployed_by_id) if definition.deployed_by_id else None
    return DeployedTable(grid=grid, process_name=definition.name, definition_id=definition.id,
                         deployed_at=definition.deployed_at, deployed_by=deployer)


def list_tables(*, user: User) -> list[DeployedTable]:
    """Every decision table of the newest version of each deployed process, by process name."""
    permissions.require(user, ACTION)
    newest = (select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.process_id).subquery())
    rows = db.session.scalars(select(ProcessDefinition).join(newest, (
        ProcessDefinition.process_id == newest.c.process_id) & (ProcessDefinition.version == newest.c.version))
        .order_by(ProcessDefinition.name, ProcessDefinition.process_id)).all()
    return [_deployed(definition, decision_tables.grid(definition.process_id, decision_id))
            for definition in rows for decision_id in sorted(definition.decisions or {})]


def get_table(*, process_id: str, decision_id: str, user: User) -> DeployedTable:
    """One decision table as the newest version of its process has it; NotFound when there is none."""
    permissions.require(user, ACTION)
    definition = definitions.latest_definition(process_id)
    return _deployed(definition, decision_tables.grid(process_id, decision_id))


def save_table(*, process_id: str, decision_id: str, rows: list[tuple[list[str], list[str]]], user: User,
               expected_version: int) -> DeployedTable:
    """Replace the table's rules as a new version of its process, unless someone saved one since; commits."""
    permissions.require(user, ACTION)
    decision_tables.update(process_id=process_id, decision_id=decision_id, rows=rows, user=user,
                           expected_version=expected_version)
    return get_table(process_id=process_id, decision_id=decision_id, user=user)
