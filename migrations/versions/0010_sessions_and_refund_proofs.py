"""admin sessions (logout revokes on the server)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

import app.models

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('wallet', sa.String(length=42), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_sessions'))
    )
    op.create_index(op.f('ix_admin_sessions_expires_at'), 'admin_sessions', ['expires_at'], unique=False)
    op.create_index(op.f('ix_admin_sessions_wallet'), 'admin_sessions', ['wallet'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_admin_sessions_wallet'), table_name='admin_sessions')
    op.drop_index(op.f('ix_admin_sessions_expires_at'), table_name='admin_sessions')
    op.drop_table('admin_sessions')
