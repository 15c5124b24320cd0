"""login nonces for Sign-In with Ethereum

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import app.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_nonces',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_login_nonces'))
    )
    op.create_index(op.f('ix_login_nonces_expires_at'), 'login_nonces', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_nonces_expires_at'), table_name='login_nonces')
    op.drop_table('login_nonces')
