"""churn scan and care rules: one open warning per customer, care rules, care tasks from rules with their
process, lunar birthdays, figures of scheduled runs

Revision ID: 7b2d1e6f9c32
Revises: 6a1c0d5e8b21
Create Date: 2026-11-30 15:00:00.000000

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b2d1e6f9c32'
down_revision = '6a1c0d5e8b21'
branch_labels = None
depends_on = None

OPEN = "status IN ('预警', '暂缓流失')"
# Open warnings of a customer who has a newer open one (raised twice by hand, before one was the rule): each is
# closed as merged into the newest, so that the unique index below can be built.
CLOSE_DUPLICATES = f"""
    UPDATE churn_warnings SET status = '已恢复', closed_by = 'merged', closed_at = :now, updated_at = :now
    WHERE {OPEN} AND EXISTS (
        SELECT 1 FROM churn_warnings AS newer
        WHERE newer.customer_id = churn_warnings.customer_id AND newer.id > churn_warnings.id
          AND newer.status IN ('预警', '暂缓流失'))
"""


def upgrade():
    op.create_table(
        'care_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('trigger', sa.String(length=20), nullable=False),
        sa.Column('calendar', sa.String(length=10), nullable=False),
        sa.Column('month', sa.Integer(), nullable=True),
        sa.Column('day', sa.Integer(), nullable=True),
        sa.Column('offset_days', sa.Integer(), nullable=False),
        sa.Column('lead_days', sa.Integer(), nullable=False),
        sa.Column('condition', sa.Text(), nullable=True),
        sa.Column('message', sa.String(length=200), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_care_rules_created_by_id_users')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_care_rules_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_rules')),
        sa.UniqueConstraint('name', name=op.f('uq_care_rules_name')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_id', sa.Integer(), sa.ForeignKey(
            'care_rules.id', name=op.f('fk_care_tasks_rule_id_care_rules'), ondelete='SET NULL'), nullable=True))
        batch_op.add_column(sa.Column('process_instance_id', sa.Integer(), sa.ForeignKey(
            'process_instances.id', name=op.f('fk_care_tasks_process_instance_id_process_instances')), nullable=True))
    op.create_table(
        'care_occurrences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('occurrence', sa.String(length=80), nullable=False),
        sa.Column('care_task_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['care_task_id'], ['care_tasks.id'],
                                name=op.f('fk_care_occurrences_care_task_id_care_tasks'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['rule_id'], ['care_rules.id'], name=op.f('fk_care_occurrences_rule_id_care_rules'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_care_occurrences')),
        sa.UniqueConstraint('rule_id', 'occurrence', name=op.f('uq_care_occurrences_rule_id_occurrence')),
    )
    op.create_index(op.f('ix_care_occurrences_care_task_id'), 'care_occurrences', ['care_task_id'], unique=False)
    with op.batch_alter_table('churn_warnings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_by', sa.String(length=10), nullable=True))
    op.execute(sa.text(CLOSE_DUPLICATES).bindparams(now=datetime.now(UTC).replace(tzinfo=None)))
    op.create_index('uq_churn_warnings_open_customer', 'churn_warnings', ['customer_id'], unique=True,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lunar_birthday', sa.String(length=5), nullable=True))
    with op.batch_alter_table('schedule_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('figures', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('schedule_runs', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('figures')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('lunar_birthday')
    op.drop_index('uq_churn_warnings_open_customer', table_name='churn_warnings')
    with op.batch_alter_table('churn_warnings', schema=None) as batch_op:
        batch_op.drop_column('closed_by')
    op.drop_index(op.f('ix_care_occurrences_care_task_id'), table_name='care_occurrences')
    op.drop_table('care_occurrences')
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_care_tasks_process_instance_id_process_instances'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_care_tasks_rule_id_care_rules'), type_='foreignkey')
        batch_op.drop_column('process_instance_id')
        batch_op.drop_column('rule_id')
    op.drop_table('care_rules')
