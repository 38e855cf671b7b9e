"""Conversations: edits, replies and mentions on messages; reactions, pins, mention index, direct pairs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:50:00.000000

Existing rows stay as they are: the new message columns are nullable (never edited, no reply,
no mentions) and every channel is not a direct conversation (server default false). Adding
nullable columns does not rewrite the messages table on SQLite or PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, never a batch copy: on SQLite a batch operation recreates the table, and
    # dropping the old channels table would cascade-delete every message (foreign keys are on).
    op.add_column('messages', sa.Column('edited_at', sa.DateTime(), nullable=True))
    op.add_column('messages', sa.Column('reply_to_id', sa.String(length=36), nullable=True))
    op.add_column('messages', sa.Column('mentions', sa.JSON(), nullable=True))
    op.add_column('channels', sa.Column('is_dm', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('message_reactions',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('emoji', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_reactions_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_message_reactions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'emoji', 'user_id', name=op.f('pk_message_reactions'))
    )
    op.create_table('message_pins',
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('pinned_by', sa.String(length=36), nullable=True),
    sa.Column('pinned_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_message_pins_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_pins_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pinned_by'], ['users.id'], name=op.f('fk_message_pins_pinned_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_message_pins'))
    )
    with op.batch_alter_table('message_pins', schema=None) as batch_op:
        batch_op.create_index('ix_message_pins_channel_id_pinned_at', ['channel_id', 'pinned_at'], unique=False)

    op.create_table('message_mentions',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('message_id', sa.String(length=36), nullable=False),
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_message_mentions_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_mentions_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_message_mentions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'message_id', name=op.f('pk_message_mentions'))
    )
    with op.batch_alter_table('message_mentions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_mentions_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_message_mentions_user_id_channel_id_message_id',
                              ['user_id', 'channel_id', 'message_id'], unique=False)

    op.create_table('direct_conversations',
    sa.Column('channel_id', sa.String(length=36), nullable=False),
    sa.Column('user_low', sa.String(length=36), nullable=False),
    sa.Column('user_high', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_direct_conversations_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_high'], ['users.id'], name=op.f('fk_direct_conversations_user_high_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_low'], ['users.id'], name=op.f('fk_direct_conversations_user_low_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('channel_id', name=op.f('pk_direct_conversations')),
    sa.UniqueConstraint('user_low', 'user_high', name='uq_direct_conversations_pair')
    )
    with op.batch_alter_table('direct_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_direct_conversations_user_high'), ['user_high'], unique=False)


def downgrade():
    with op.batch_alter_table('direct_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_direct_conversations_user_high'))
    op.drop_table('direct_conversations')
    with op.batch_alter_table('message_mentions', schema=None) as batch_op:
        batch_op.drop_index('ix_message_mentions_user_id_channel_id_message_id')
        batch_op.drop_index(batch_op.f('ix_message_mentions_message_id'))
    op.drop_table('message_mentions')
    with op.batch_alter_table('message_pins', schema=None) as batch_op:
        batch_op.drop_index('ix_message_pins_channel_id_pinned_at')
    op.drop_table('message_pins')
    op.drop_table('message_reactions')
    # DROP COLUMN in place (SQLite 3.35+), for the same reason as in upgrade().
    op.drop_column('channels', 'is_dm')
    op.drop_column('messages', 'mentions')
    op.drop_column('messages', 'reply_to_id')
    op.drop_column('messages', 'edited_at')
