"""positions.risk_at_entry: the risk each trade took when it was entered, the 1 R of its R multiple

The loss the filled quantity would take at the first stop, taker fees in and out included (RISK_SPEC §0),
stored when the position is recorded, so `executor trades`, `executor pnl` and the notifications divide
by the same number and a moved stop does not change it. Positions recorded before this revision get it
from their decision's stop and the taker fee its `data` step used (the handbook's 0.05 % where none is
recorded); a position without a decision keeps it empty, and its R is not shown.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

import executor.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TAKER_FEE = Decimal("0.0005")
MONEY = executor.store.types.Money()


def upgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_at_entry", MONEY, nullable=True))
    positions = sa.table(
        "positions",
        sa.column("id", sa.Integer()),
        sa.column("signal_pk", sa.Integer()),
        sa.column("side", sa.String()),
        sa.column("qty", MONEY),
        sa.column("entry_price", MONEY),
        sa.column("risk_at_entry", MONEY),
    )
    decisions = sa.table(
        "decisions",
        sa.column("signal_pk", sa.Integer()),
        sa.column("stop", MONEY),
        sa.column("steps", sa.JSON()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            positions.c.id,
            positions.c.side,
            positions.c.qty,
            positions.c.entry_price,
            decisions.c.stop,
            decisions.c.steps,
        ).join(decisions, decisions.c.signal_pk == positions.c.signal_pk)
    ).all()
    for row in rows:
        if row.stop is None:
            continue
        sign = 1 if row.side == "long" else -1
        per_unit = (row.entry_price - row.stop) * sign + _taker_fee(row.steps) * (row.entry_price + row.stop)
        risk = row.qty * per_unit if per_unit > 0 else Decimal(0)
        connection.execute(positions.update().where(positions.c.id == row.id).values(risk_at_entry=risk))


def _taker_fee(steps: Any) -> Decimal:
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and step.get("step") == "data":
            fee = (step.get("after") or {}).get("taker_fee")
            if fee is not None:
                return Decimal(str(fee))
    return DEFAULT_TAKER_FEE


def downgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_column("risk_at_entry")
