"""settlement and refunds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 17:20:44.338153
"""
from alembic import op
import sqlalchemy as sa
import app.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operator_locks',
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'address', name=op.f('pk_operator_locks'))
    )
    op.create_table('refunds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('token_address', sa.String(length=42), nullable=True),
    sa.Column('amount_base_units', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('usd_cents', sa.BigInteger(), nullable=False),
    sa.Column('to_address', sa.String(length=42), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('block_hash', sa.String(length=66), nullable=True),
    sa.Column('paid_base_units', app.models.BaseUnits(length=80), nullable=True),
    sa.Column('rejection', sa.Text(), nullable=True),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('tx_hash', name=op.f('uq_refunds_tx_hash'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)

    op.create_table('settle_txs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=16), nullable=False),
    sa.Column('sender', sa.String(length=42), nullable=False),
    sa.Column('nonce', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('raw_tx', sa.Text(), nullable=False),
    sa.Column('max_fee_per_gas', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('priority_fee_per_gas', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('sent_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_settle_txs_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settle_txs')),
    sa.UniqueConstraint('tx_hash', name=op.f('uq_settle_txs_tx_hash'))
    )
    with op.batch_alter_table('settle_txs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settle_txs_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settle_txs_state'), ['state'], unique=False)

    op.create_table('sweeps',
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
    sa.Column('amount_base_units', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('merchant_base_units', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('platform_base_units', app.models.BaseUnits(length=80), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_sweeps_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sweeps')),
    sa.UniqueConstraint('chain_id', 'tx_hash', 'log_index', name=op.f('uq_sweeps_chain_id_tx_hash_log_index'))
    )
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweeps_block_number'), ['block_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweeps_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweeps_order_id'))
        batch_op.drop_index(batch_op.f('ix_sweeps_block_number'))

    op.drop_table('sweeps')
    with op.batch_alter_table('settle_txs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settle_txs_state'))
        batch_op.drop_index(batch_op.f('ix_settle_txs_order_id'))

    op.drop_table('settle_txs')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))

    op.drop_table('refunds')
    op.drop_table('operator_locks')
