"""watcher cursor's genesis hash; merchant split deployment claim

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import app.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chain_cursors') as batch:
        batch.add_column(sa.Column('genesis_hash', sa.String(length=66), nullable=True))
    with op.batch_alter_table('merchants') as batch:
        batch.add_column(sa.Column('split_deploy_started_at', app.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('merchants') as batch:
        batch.drop_column('split_deploy_started_at')
    with op.batch_alter_table('chain_cursors') as batch:
        batch.drop_column('genesis_hash')
