"""Files: one row per stored blob (by SHA-256) and the references that keep each alive.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:29:26.542050

"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stored_files',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mime_type', sa.String(length=100), nullable=False),
    sa.Column('ext', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('needs_clean', sa.Boolean(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_stored_files'))
    )
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_files_last_used_at'), ['last_used_at'], unique=False)

    op.create_table('file_refs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('channel_id', sa.String(length=36), nullable=True),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_file_refs_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_file_refs_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sha256'], ['stored_files.sha256'], name=op.f('fk_file_refs_sha256_stored_files'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_file_refs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_file_refs'))
    )
    with op.batch_alter_table('file_refs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_file_refs_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index('ix_file_refs_kind_user_id', ['kind', 'user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_file_refs_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_file_refs_path'), ['path'], unique=False)
        batch_op.create_index(batch_op.f('ix_file_refs_sha256'), ['sha256'], unique=False)



def downgrade():
    with op.batch_alter_table('file_refs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_file_refs_sha256'))
        batch_op.drop_index(batch_op.f('ix_file_refs_path'))
        batch_op.drop_index(batch_op.f('ix_file_refs_message_id'))
        batch_op.drop_index('ix_file_refs_kind_user_id')
        batch_op.drop_index(batch_op.f('ix_file_refs_channel_id'))

    op.drop_table('file_refs')
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_files_last_used_at'))

    op.drop_table('stored_files')
