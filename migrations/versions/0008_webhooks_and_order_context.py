"""webhooks outbox (endpoints, events, deliveries, attempts); order metadata and redirect URL; cancelled

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

import app.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BEFORE = ('generated', 'pending', 'paid', 'completed', 'refunded', 'expired')
AFTER = BEFORE + ('cancelled',)
ORDER_STATUS_CHECKS = [('orders', 'ck_orders_order_status'),
                       ('order_status_changes', 'ck_order_status_changes_order_status')]
DELIVERY_STATES = ('pending', 'succeeded', 'dead')


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _order_statuses(values: tuple[str, ...]) -> None:
    for table, name in ORDER_STATUS_CHECKS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), _in('status', values))


def upgrade() -> None:
    _order_statuses(AFTER)
    with op.batch_alter_table('orders') as batch_op:
        batch_op.add_column(sa.Column('metadata', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('redirect_url', sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column('event_sequence', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.Column('secret_sealed', sa.Text(), nullable=False),
        sa.Column('previous_secret_sealed', sa.Text(), nullable=True),
        sa.Column('previous_until', app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('failing_since', app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('deleted_at', app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_webhook_endpoints_merchant_id_merchants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
    )
    op.create_index(op.f('ix_webhook_endpoints_merchant_id'), 'webhook_endpoints', ['merchant_id'])
    op.create_table(
        'webhook_events',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('sequence', sa.Integer(), nullable=True),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                                name=op.f('fk_webhook_events_merchant_id_merchants')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_webhook_events_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
        sa.UniqueConstraint('order_id', 'sequence', name=op.f('uq_webhook_events_order_id_sequence')),
    )
    op.create_index(op.f('ix_webhook_events_merchant_id'), 'webhook_events', ['merchant_id'])
    op.create_index(op.f('ix_webhook_events_order_id'), 'webhook_events', ['order_id'])
    op.create_index(op.f('ix_webhook_events_created_at'), 'webhook_events', ['created_at'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('endpoint_id', sa.String(length=32), nullable=False),
        sa.Column('state', sa.Enum(*DELIVERY_STATES, name='delivery_state', native_enum=False,
                                   create_constraint=True, length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('lease_until', app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('created_at', app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'],
                                name=op.f('fk_webhook_deliveries_event_id_webhook_events')),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'],
                                name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('event_id', 'endpoint_id', name=op.f('uq_webhook_deliveries_event_id_endpoint_id')),
    )
    op.create_index(op.f('ix_webhook_deliveries_event_id'), 'webhook_deliveries', ['event_id'])
    op.create_index(op.f('ix_webhook_deliveries_endpoint_id'), 'webhook_deliveries', ['endpoint_id'])
    op.create_index(op.f('ix_webhook_deliveries_next_attempt_at'), 'webhook_deliveries', ['next_attempt_at'])
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('at', app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error_kind', sa.String(length=32), nullable=True),
        sa.Column('response_excerpt', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'],
                                name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    )
    op.create_index(op.f('ix_webhook_attempts_delivery_id'), 'webhook_attempts', ['delivery_id'])


def downgrade() -> None:
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_events')
    op.drop_table('webhook_endpoints')
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_column('event_sequence')
        batch_op.drop_column('redirect_url')
        batch_op.drop_column('metadata')
    _order_statuses(BEFORE)
