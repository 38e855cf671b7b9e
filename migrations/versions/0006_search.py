"""Search: the blind index of message terms (keyed digests only, never words).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:45:00.000000

A new table only: existing messages are indexed by the search_backfill background task.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_terms',
    sa.Column('digest', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('key_id', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_terms_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest', 'message_id', name=op.f('pk_message_terms')),
    sqlite_with_rowid=False
    )
    op.create_index('ix_message_terms_message_id', 'message_terms', ['message_id'], unique=False)


def downgrade():
    op.drop_index('ix_message_terms_message_id', table_name='message_terms')
    op.drop_table('message_terms')
