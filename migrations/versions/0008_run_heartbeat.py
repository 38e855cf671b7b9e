"""Background runs: a heartbeat, so a run whose worker died is found and failed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (never a batch copy of an existing table); existing runs have no heartbeat.
    op.add_column('task_runs', sa.Column('heartbeat_at', sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column('task_runs', 'heartbeat_at')
