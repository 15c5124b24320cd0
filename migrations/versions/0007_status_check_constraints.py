"""statuses are enums: CHECK constraints on order, history, refund and settle statuses

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:00:00.000000
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ORDER = ('generated', 'pending', 'paid', 'completed', 'refunded', 'expired')
CHECKS = [  # (table, constraint, column, allowed values): frozen here, as the enums were at this revision
    ('orders', 'ck_orders_order_status', 'status', ORDER),
    ('orders', 'ck_orders_exception_status', 'exception_status', ('paid_partial', 'paid_over', 'paid_late')),
    ('order_status_changes', 'ck_order_status_changes_order_status', 'status', ORDER),
    ('refunds', 'ck_refunds_refund_status', 'status', ('requested', 'submitted', 'confirmed')),
    ('settle_txs', 'ck_settle_txs_settle_state', 'state', ('pending', 'done', 'failed', 'replaced')),
]


def upgrade() -> None:
    for table, name, column, values in CHECKS:
        with op.batch_alter_table(table) as batch_op:
            allowed = ', '.join(f"'{value}'" for value in values)
            batch_op.create_check_constraint(op.f(name), f'{column} IN ({allowed})')


def downgrade() -> None:
    for table, name, _column, _values in reversed(CHECKS):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
