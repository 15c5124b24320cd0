"""item thumbnails and shop logo

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inventory_items') as batch_op:
        batch_op.add_column(sa.Column('thumbnail_jpeg', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('shop_configs') as batch_op:
        batch_op.add_column(sa.Column('logo_png', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shop_configs') as batch_op:
        batch_op.drop_column('logo_png')
    with op.batch_alter_table('inventory_items') as batch_op:
        batch_op.drop_column('thumbnail_jpeg')
