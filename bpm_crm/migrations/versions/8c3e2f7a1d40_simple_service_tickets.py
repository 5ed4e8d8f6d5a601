"""service requests remember whether they were simple tickets (简易工单, answered on the call)

Revision ID: 8c3e2f7a1d40
Revises: 7b2d1e6f9c32
Create Date: 2026-12-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8c3e2f7a1d40'
down_revision = '7b2d1e6f9c32'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('simple', sa.Boolean(), server_default=sa.false(), nullable=False))

    # Requests answered on the call so far: a consultation or suggestion closed without a single step for anyone.
    requests = sa.table('service_requests', sa.column('simple', sa.Boolean()), sa.column('type', sa.String()),
                        sa.column('status', sa.String()), sa.column('process_instance_id', sa.Integer()))
    tasks = sa.table('human_tasks', sa.column('instance_id', sa.Integer()))
    op.execute(requests.update().where(
        requests.c.type != '投诉', requests.c.status == '已归档', requests.c.process_instance_id.is_not(None),
        ~sa.exists().where(tasks.c.instance_id == requests.c.process_instance_id),
    ).values(simple=sa.true()))


def downgrade():
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.drop_column('simple')
