"""payments and watcher state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:47:01.407608
"""
from alembic import op
import sqlalchemy as sa
import app.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chain_blocks',
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=66), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'number', name=op.f('pk_chain_blocks'))
    )
    op.create_table('chain_cursors',
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', name=op.f('pk_chain_cursors'))
    )
    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', sa.String(length=66), nullable=False),
    sa.Column('block_time', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('token_address', sa.String(length=42), nullable=True),
    sa.Column('from_address', sa.String(length=42), nullable=False),
    sa.Column('amount_base_units', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('usd_cents', sa.BigInteger(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('chain_id', 'tx_hash', 'log_index', name=op.f('uq_payments_chain_id_tx_hash_log_index'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_order_id'))
        batch_op.drop_index(batch_op.f('ix_payments_block_number'))

    op.drop_table('payments')
    op.drop_table('chain_cursors')
    op.drop_table('chain_blocks')
