"""organisation revision: a role's or a department's name is no concern of permissions — renaming either no longer
renumbers the organisation (roles: their code; departments: their parent and head)

Revision ID: b2c4e6f8a1d3
Revises: 9e5a1c2b7d83
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b2c4e6f8a1d3'
down_revision = '9e5a1c2b7d83'
branch_labels = None
depends_on = None

# Table -> the events that change the organisation as permissions read it (the snapshot in services/permissions).
WATCHED = {
    'users': ('INSERT', 'DELETE', 'UPDATE OF superior_id, department_id, active'),
    'departments': ('INSERT', 'DELETE', 'UPDATE OF parent_id, head_id'),
    'roles': ('INSERT', 'DELETE', 'UPDATE OF code'),
    'role_permissions': ('INSERT', 'DELETE', 'UPDATE'),
    'user_roles': ('INSERT', 'DELETE', 'UPDATE'),
}
BEFORE = {'departments': ('INSERT', 'DELETE', 'UPDATE'), 'roles': ('INSERT', 'DELETE', 'UPDATE')}


def create_triggers(dialect: str, watched: dict[str, tuple[str, ...]] = WATCHED) -> None:
    """(Re)create the triggers renumbering org_revision on `watched` tables (also after a table is rebuilt on
    SQLite); the function they call exists since 9e5a1c2b7d83."""
    for table, events in watched.items():
        if dialect == 'postgresql':
            op.execute(f"DROP TRIGGER IF EXISTS org_revision_{table} ON {table}")
            op.execute(f"CREATE TRIGGER org_revision_{table} AFTER {' OR '.join(events)} OR TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION bump_org_revision()")
            continue
        for event in events:
            name = f"org_revision_{table}_{event.split()[0].lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                       "UPDATE org_revision SET revision = random() & 9223372036854775807 WHERE id = 1; END")


def upgrade():
    create_triggers(op.get_bind().dialect.name, {table: WATCHED[table] for table in BEFORE})


def downgrade():
    create_triggers(op.get_bind().dialect.name, BEFORE)
