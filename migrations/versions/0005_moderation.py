"""Moderation: registration policy, invites, bans, timeouts, channel rules, reports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows get the defaults: open registration, nobody banned, channels without rules.
    # Plain ADD COLUMN, never a batch copy: on SQLite a batch operation recreates the table, and
    # dropping the old users or channels table would cascade-delete their tokens, members and
    # messages (foreign keys are on).
    op.add_column('server_settings', sa.Column('registration', sa.String(length=16), server_default='open', nullable=False))
    op.add_column('users', sa.Column('is_banned', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('users', sa.Column('timeout_until', sa.DateTime(), nullable=True))
    op.add_column('channels', sa.Column('description', sa.String(length=1024), server_default='', nullable=False))
    op.add_column('channels', sa.Column('slow_mode', sa.Integer(), server_default='0', nullable=False))
    op.add_column('channels', sa.Column('read_only', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table('invites',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('channel_ids', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_invites_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_invites'))
    )
    op.create_table('bans',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('delete_messages', sa.String(length=8), nullable=False),
    sa.Column('banned_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['banned_by'], ['users.id'], name=op.f('fk_bans_banned_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_bans_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_bans'))
    )
    op.create_table('reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reporter_id', sa.String(length=36), nullable=True),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('message_ids', sa.JSON(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.Column('resolved_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_reports_reporter_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_reports_resolved_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reports_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_status'))
    op.drop_table('reports')
    op.drop_table('bans')
    op.drop_table('invites')
    # DROP COLUMN in place (SQLite 3.35+), for the same reason as in upgrade().
    op.drop_column('channels', 'read_only')
    op.drop_column('channels', 'slow_mode')
    op.drop_column('channels', 'description')
    op.drop_column('users', 'timeout_until')
    op.drop_column('users', 'is_banned')
    op.drop_column('server_settings', 'registration')
