"""admin sessions (logout revokes on the server); refund proofs, refund wallets, refund claim links, nullable
refund recipient with its source

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

import app.models

revision = '0010'
down_revision = '0009'
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
    op.create_table('refund_proofs',
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('refund_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_proofs_refund_id_refunds')),
    sa.PrimaryKeyConstraint('tx_hash', name=op.f('pk_refund_proofs'))
    )
    op.create_index(op.f('ix_refund_proofs_refund_id'), 'refund_proofs', ['refund_id'], unique=False)
    # Hashes already linked keep proving their refund only.
    op.execute("INSERT INTO refund_proofs (tx_hash, refund_id, created_at) "
               "SELECT tx_hash, id, created_at FROM refunds WHERE tx_hash IS NOT NULL")
    op.create_table('refund_wallets',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_refund_wallets_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('merchant_id', 'address', name=op.f('pk_refund_wallets'))
    )
    op.create_table('refund_claims',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('refund_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', app.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('address', sa.String(length=42), nullable=True),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_claims_refund_id_refunds')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_refund_claims'))
    )
    op.create_index(op.f('ix_refund_claims_refund_id'), 'refund_claims', ['refund_id'], unique=False)
    with op.batch_alter_table('refunds') as batch_op:
        batch_op.alter_column('to_address', existing_type=sa.String(length=42), nullable=True)
        batch_op.add_column(sa.Column('to_source', sa.String(length=16), server_default='payer', nullable=False))


def downgrade() -> None:
    op.drop_index(op.f('ix_refund_claims_refund_id'), table_name='refund_claims')
    op.drop_table('refund_claims')
    op.drop_table('refund_wallets')
    op.drop_index(op.f('ix_refund_proofs_refund_id'), table_name='refund_proofs')
    op.drop_table('refund_proofs')
    # A refund still waiting for the shopper's address had none before: the zero address cannot be paid by mistake.
    op.execute("UPDATE refunds SET to_address = '0x0000000000000000000000000000000000000000' "
               "WHERE to_address IS NULL")
    with op.batch_alter_table('refunds') as batch_op:
        batch_op.drop_column('to_source')
        batch_op.alter_column('to_address', existing_type=sa.String(length=42), nullable=False)
    op.drop_index(op.f('ix_admin_sessions_wallet'), table_name='admin_sessions')
    op.drop_index(op.f('ix_admin_sessions_expires_at'), table_name='admin_sessions')
    op.drop_table('admin_sessions')
