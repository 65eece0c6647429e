"""orders.executed_order_id: the order a triggered conditional order executed

Binance's algo stop, once triggered, executes a new order with its own id; its fills carry that id.
Storing it lets a fill be attributed to the stop by id (never by time window).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("executed_order_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("executed_order_id")
