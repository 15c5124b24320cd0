"""many chains: quotes and refunds name their chain; orders record their factory; cursors their finalized
block; shops may narrow the chains they accept

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 21:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

ORDER_CHAIN = "(SELECT COALESCE(orders.chain_id, 0) FROM orders WHERE orders.id = {table}.order_id)"


def upgrade() -> None:
    for table in ("quotes", "refunds"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('chain_id', sa.Integer(), nullable=True))
        op.execute(f"UPDATE {table} SET chain_id = {ORDER_CHAIN.format(table=table)}")
        with op.batch_alter_table(table) as batch:
            batch.alter_column('chain_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('quotes') as batch:
        batch.drop_constraint('uq_quotes_order_id_symbol', type_='unique')
        batch.create_unique_constraint('uq_quotes_order_id_chain_id_symbol', ['order_id', 'chain_id', 'symbol'])
        # False for a quote the order was never shown: fixed when a payment arrived on a chain or in a token
        # the pay page did not offer (it is credited at that chain's peg or feed).
        batch.add_column(sa.Column('offered', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('factory_address', sa.String(length=42), nullable=True))
    with op.batch_alter_table('chain_cursors') as batch:
        batch.add_column(sa.Column('finalized_block', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('shop_configs') as batch:
        batch.add_column(sa.Column('accepted_chains', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shop_configs') as batch:
        batch.drop_column('accepted_chains')
    with op.batch_alter_table('chain_cursors') as batch:
        batch.drop_column('finalized_block')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('factory_address')
    with op.batch_alter_table('quotes') as batch:
        batch.drop_column('offered')
        batch.drop_constraint('uq_quotes_order_id_chain_id_symbol', type_='unique')
        batch.create_unique_constraint('uq_quotes_order_id_symbol', ['order_id', 'symbol'])
    for table in ("refunds", "quotes"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('chain_id')
