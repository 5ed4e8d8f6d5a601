"""language per user, forms kept across a lost session, English labels of dictionary entries and process bundles

Revision ID: a4d8c2e61f37
Revises: 3c9e1f0a7b52
Create Date: 2026-11-30 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4d8c2e61f37'
down_revision = '3c9e1f0a7b52'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: batch mode on SQLite adds a nullable column without copying the table.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=10), nullable=True))

    with op.batch_alter_table('dictionary_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label_en', sa.String(length=120), nullable=True))

    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translations', sa.JSON(), nullable=True))

    op.create_table('kept_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('page', sa.String(length=500), nullable=False),
    sa.Column('action', sa.String(length=500), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_kept_forms_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kept_forms'))
    )
    with op.batch_alter_table('kept_forms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kept_forms_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kept_forms_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('kept_forms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kept_forms_created_at'))
        batch_op.drop_index(batch_op.f('ix_kept_forms_user_id'))
    op.drop_table('kept_forms')

    # Dropping a column copies the table on SQLite; env.py runs migrations with foreign keys off, so
    # the rows that refer to users survive the copy.
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_column('translations')

    with op.batch_alter_table('dictionary_entries', schema=None) as batch_op:
        batch_op.drop_column('label_en')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
