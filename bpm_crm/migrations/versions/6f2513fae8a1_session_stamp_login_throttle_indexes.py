"""session stamp, login throttle indexes

Revision ID: 6f2513fae8a1
Revises: 07d640e9082c
Create Date: 2026-11-30 10:32:28.000000

"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6f2513fae8a1'
down_revision = '07d640e9082c'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN, never a batch copy of users: SQLite runs with foreign keys on, and dropping
    # the old users table would cascade-delete every row that refers to it.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_stamp', sa.String(length=32), server_default='', nullable=False))

    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('session_stamp', sa.String(length=32)))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(users.update().where(users.c.id == user_id).values(session_stamp=secrets.token_hex(16)))

    with op.batch_alter_table('login_events', schema=None) as batch_op:
        batch_op.create_index('ix_login_events_username_at', ['username', 'at'], unique=False)
        batch_op.create_index('ix_login_events_ip_at', ['ip', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_events', schema=None) as batch_op:
        batch_op.drop_index('ix_login_events_ip_at')
        batch_op.drop_index('ix_login_events_username_at')

    # Native DROP COLUMN (SQLite 3.35+) for the same reason as above: no copy of the users table.
    op.execute('ALTER TABLE users DROP COLUMN session_stamp')
