"""service levels and complaint decisions on service requests, users' mobile numbers

Revision ID: 6a1c0d5e8b21
Revises: 5e7b9d2c4a10
Create Date: 2026-11-30 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6a1c0d5e8b21'
down_revision = '5e7b9d2c4a10'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: batch mode on SQLite adds a nullable column without copying the table.
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_due_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution_due_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('response_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('resolution_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('compensation_amount', sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column('deduction_amount', sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column('deduction_department_id', sa.Integer(), sa.ForeignKey(
            'departments.id', name=op.f('fk_service_requests_deduction_department_id_departments')), nullable=True))
        batch_op.add_column(sa.Column('reopened', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mobile', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('mobile')

    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_service_requests_deduction_department_id_departments'),
                                 type_='foreignkey')
        for column in ('reopened', 'deduction_department_id', 'deduction_amount', 'compensation_amount',
                       'resolution_seconds', 'response_seconds', 'resolution_due_at', 'response_due_at'):
            batch_op.drop_column(column)
