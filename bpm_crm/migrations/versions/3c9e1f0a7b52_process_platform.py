"""process platform: forms with definitions, task candidates and watchers, deadlines, schedules,
message subscriptions, after-commit jobs, notifications; ids never reused on SQLite

Revision ID: 3c9e1f0a7b52
Revises: 6f2513fae8a1
Create Date: 2026-11-30 14:00:00.000000

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c9e1f0a7b52'
down_revision = '6f2513fae8a1'
branch_labels = None
depends_on = None

# Tables whose rows can be deleted and restored from the recycle bin: on SQLite their ids must never be
# handed out again (AUTOINCREMENT), or a new record takes a deleted one's id, number and audit history.
AUTOINCREMENT_TABLES = (
    'customers', 'contacts', 'interactions', 'opportunities', 'plan_items', 'quotes', 'quote_lines',
    'service_requests', 'churn_warnings', 'churn_measures', 'care_tasks', 'attachments',
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade():
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forms', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('lane_roles', sa.JSON(), nullable=True))

    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waits_for_message', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('task_candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], name=op.f('fk_task_candidates_task_id_human_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_candidates')),
    sa.UniqueConstraint('task_id', 'kind', 'value', name=op.f('uq_task_candidates_task_id_kind_value'))
    )
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.create_index('ix_task_candidates_kind_value', ['kind', 'value'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_candidates_task_id'), ['task_id'], unique=False)

    op.create_table('task_watchers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_task_watchers_added_by_id_users')),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], name=op.f('fk_task_watchers_task_id_human_tasks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_task_watchers_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_watchers')),
    sa.UniqueConstraint('task_id', 'user_id', name=op.f('uq_task_watchers_task_id_user_id'))
    )
    with op.batch_alter_table('task_watchers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_watchers_task_id'), ['task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_watchers_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_variable', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('remind_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalate_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_deadline_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('input_data', sa.JSON(), nullable=True))
        batch_op.create_index('ix_human_tasks_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_human_tasks_deadlines', ['status', 'next_deadline_at'], unique=False)

    connection = op.get_bind()
    # Offered tasks keep their role as a candidate; lanes map to role codes as they are named today.
    tasks = sa.table('human_tasks', sa.column('id', sa.Integer()), sa.column('candidate_role', sa.String()),
                     sa.column('offered', sa.Boolean()), sa.column('assignee_variable', sa.String()),
                     sa.column('form_key', sa.String()))
    candidates = sa.table('task_candidates', sa.column('task_id', sa.Integer()), sa.column('kind', sa.String()),
                          sa.column('value', sa.String()))
    rows = connection.execute(sa.select(tasks.c.id, tasks.c.candidate_role, tasks.c.offered, tasks.c.form_key)).all()
    for task_id, role, offered, form_key in rows:
        if role and offered:
            connection.execute(candidates.insert().values(task_id=task_id, kind='role', value=role))
        if form_key in ('development_plan', 'execute_plan'):
            connection.execute(tasks.update().where(tasks.c.id == task_id).values(assignee_variable='assignee_id'))
    roles = dict(connection.execute(sa.text('SELECT name, code FROM roles')).all())
    roles.update({code: code for code in roles.values()})
    definitions = sa.table('process_definitions', sa.column('id', sa.Integer()), sa.column('bpmn_xml', sa.Text()),
                           sa.column('forms', sa.JSON()), sa.column('lane_roles', sa.JSON()))
    for definition_id, xml in connection.execute(sa.select(definitions.c.id, definitions.c.bpmn_xml)).all():
        lanes = set(re.findall(r'<bpmn:lane [^>]*name="([^"]+)"', xml or ''))
        connection.execute(definitions.update().where(definitions.c.id == definition_id).values(
            forms={}, lane_roles={lane: roles[lane] for lane in lanes if lane in roles}))

    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_role_status')
        batch_op.drop_column('candidate_role')

    op.create_table('message_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('message_name', sa.String(length=120), nullable=False),
    sa.Column('business_type', sa.String(length=40), nullable=True),
    sa.Column('business_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_message_subscriptions_instance_id_process_instances'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_subscriptions'))
    )
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_message_subscriptions_lookup', ['message_name', 'business_type', 'business_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_subscriptions_instance_id'), ['instance_id'], unique=False)

    op.create_table('process_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=80), nullable=False),
    sa.Column('start_event_id', sa.String(length=120), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', sa.DateTime(), nullable=True),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definitions.id'], name=op.f('fk_process_schedules_definition_id_process_definitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_schedules')),
    sa.UniqueConstraint('process_id', 'start_event_id', name=op.f('uq_process_schedules_process_id_start_event_id'))
    )
    with op.batch_alter_table('process_schedules', schema=None) as batch_op:
        batch_op.create_index('ix_process_schedules_due', ['next_run_at'], unique=False)

    op.create_table('schedule_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_schedule_runs_instance_id_process_instances'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['process_schedules.id'], name=op.f('fk_schedule_runs_schedule_id_process_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_runs')),
    sa.UniqueConstraint('schedule_id', 'due_at', name=op.f('uq_schedule_runs_schedule_id_due_at'))
    )
    with op.batch_alter_table('schedule_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_runs_schedule_id'), ['schedule_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status_run_after', ['status', 'run_after'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_notifications_instance_id_process_instances'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], name=op.f('fk_notifications_task_id_human_tasks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_read', ['user_id', 'read_at'], unique=False)

    if _sqlite():
        # env.py runs SQLite migrations with foreign keys off: copying a table must not cascade deletes.
        for table in AUTOINCREMENT_TABLES:
            with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
                pass


def downgrade():
    if _sqlite():
        for table in AUTOINCREMENT_TABLES:
            with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': False}):
                pass
    op.drop_table('notifications')
    op.drop_table('jobs')
    op.drop_table('schedule_runs')
    op.drop_table('process_schedules')
    op.drop_table('message_subscriptions')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('candidate_role', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_human_tasks_role_status', ['candidate_role', 'status'], unique=False)
    op.execute("UPDATE human_tasks SET candidate_role = (SELECT value FROM task_candidates WHERE "
               "task_candidates.task_id = human_tasks.id AND kind = 'role' LIMIT 1)")
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_deadlines')
        batch_op.drop_index('ix_human_tasks_status_due')
        for column in ('input_data', 'next_deadline_at', 'escalated_at', 'reminded_at', 'escalate_at', 'remind_at',
                       'assignee_variable'):
            batch_op.drop_column(column)
    op.drop_table('task_watchers')
    op.drop_table('task_candidates')
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_column('waits_for_message')
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_column('lane_roles')
        batch_op.drop_column('forms')
