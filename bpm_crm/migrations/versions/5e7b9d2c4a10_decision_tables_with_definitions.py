"""decision tables deployed with their diagram

Revision ID: 5e7b9d2c4a10
Revises: a4d8c2e61f37
Create Date: 2026-11-30 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e7b9d2c4a10'
down_revision = 'a4d8c2e61f37'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decisions', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_column('decisions')
