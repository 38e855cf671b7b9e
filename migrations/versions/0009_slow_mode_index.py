"""Messages: an index on (channel_id, sender_id, id), so slow mode finds a user's last message in
a channel without a second store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_messages_channel_id_sender_id_id', 'messages', ['channel_id', 'sender_id', 'id'])


def downgrade():
    op.drop_index('ix_messages_channel_id_sender_id_id', table_name='messages')
