"""payments keep how they are valued: unquoted (a stray receipt in a token the order was not quoted in)
and usd_rate (a late payment in a token without a peg, valued at the market's rate)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import app.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments') as batch_op:
        batch_op.add_column(sa.Column('unquoted', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('usd_rate', app.models.DecimalText(length=40), nullable=True))
    # Payments recorded before this revision in a token their order had no quote in were always worth nothing.
    op.execute("UPDATE payments SET unquoted = true WHERE NOT EXISTS (SELECT 1 FROM quotes "
               "WHERE quotes.order_id = payments.order_id AND quotes.symbol = payments.symbol)")


def downgrade() -> None:
    with op.batch_alter_table('payments') as batch_op:
        batch_op.drop_column('usd_rate')
        batch_op.drop_column('unquoted')
