"""decisions.risk_budget and order_price, positions.slippage_allowed and slippage: the price a trade paid

The check after an entry's fill (RISK_SPEC 2.5) needs the decision's R and the order's price bound; the
position keeps, per unit, the slippage its order allowed and the slippage the fill took (fill against the
reference price, positive when the fill was worse), so `executor explain` shows both per trade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import executor.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_budget", executor.store.types.Money(), nullable=True))
        batch_op.add_column(sa.Column("order_price", executor.store.types.Money(), nullable=True))
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slippage_allowed", executor.store.types.Money(), nullable=True))
        batch_op.add_column(sa.Column("slippage", executor.store.types.Money(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_column("slippage")
        batch_op.drop_column("slippage_allowed")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("order_price")
        batch_op.drop_column("risk_budget")
