"""organisation revision: one row renumbered by triggers whenever departments, roles, permissions, role holders,
or a person's superior, department or status change

Revision ID: 9e5a1c2b7d83
Revises: 8c3e2f7a1d40
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9e5a1c2b7d83'
down_revision = '8c3e2f7a1d40'
branch_labels = None
depends_on = None

# Table -> the events that change the organisation as permissions read it.
WATCHED = {
    'users': ('INSERT', 'DELETE', 'UPDATE OF superior_id, department_id, active'),
    'departments': ('INSERT', 'DELETE', 'UPDATE'),
    'roles': ('INSERT', 'DELETE', 'UPDATE'),
    'role_permissions': ('INSERT', 'DELETE', 'UPDATE'),
    'user_roles': ('INSERT', 'DELETE', 'UPDATE'),
}


def create_triggers(dialect: str) -> None:
    """The triggers giving org_revision a new random number (also after a table is rebuilt on SQLite)."""
    if dialect == 'postgresql':
        op.execute("""
            CREATE OR REPLACE FUNCTION bump_org_revision() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE org_revision SET revision = floor(random() * 9000000000000000000)::bigint WHERE id = 1;
                RETURN NULL;
            END $$
        """)
        for table, events in WATCHED.items():
            op.execute(f"DROP TRIGGER IF EXISTS org_revision_{table} ON {table}")
            op.execute(f"CREATE TRIGGER org_revision_{table} AFTER {' OR '.join(events)} OR TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION bump_org_revision()")
    else:
        for table, events in WATCHED.items():
            for event in events:
                name = f"org_revision_{table}_{event.split()[0].lower()}"
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                           "UPDATE org_revision SET revision = random() & 9223372036854775807 WHERE id = 1; END")


def upgrade():
    op.create_table(
        'org_revision',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('revision', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_org_revision')),
    )
    op.execute("INSERT INTO org_revision (id, revision) VALUES (1, 1)")
    create_triggers(op.get_bind().dialect.name)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS org_revision_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_org_revision()")
    else:
        for table, events in WATCHED.items():
            for event in events:
                op.execute(f"DROP TRIGGER IF EXISTS org_revision_{table}_{event.split()[0].lower()}")
    op.drop_table('org_revision')
