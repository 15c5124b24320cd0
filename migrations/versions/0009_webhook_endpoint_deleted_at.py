"""webhook endpoints: deleted_at (a deleted endpoint is kept, disabled and hidden, for the delivery log)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

import app.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch_op:
        batch_op.add_column(sa.Column('deleted_at', app.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch_op:
        batch_op.drop_column('deleted_at')
