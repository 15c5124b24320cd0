"""quotes and deposit addresses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:44:34.491964
"""
from alembic import op
import sqlalchemy as sa
import app.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('token_address', sa.String(length=42), nullable=True),
    sa.Column('decimals', sa.Integer(), nullable=False),
    sa.Column('amount_base_units', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('usd_rate', app.models.DecimalText(length=40), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_quotes_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes')),
    sa.UniqueConstraint('order_id', 'symbol', name=op.f('uq_quotes_order_id_symbol'))
    )
    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quotes_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('split_address', sa.String(length=42), nullable=True))
        batch_op.add_column(sa.Column('deposit_address', sa.String(length=42), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_orders_deposit_address'), ['deposit_address'])



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_orders_deposit_address'), type_='unique')
        batch_op.drop_column('deposit_address')
        batch_op.drop_column('split_address')
        batch_op.drop_column('chain_id')

    with op.batch_alter_table('quotes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quotes_order_id'))

    op.drop_table('quotes')
