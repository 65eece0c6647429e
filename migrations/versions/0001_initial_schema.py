"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21

The tables of DESIGN.md: the signal inbox, decisions, write-ahead orders, fills, positions (closed
positions are the trades), funding payments, the daily-loss ledger, the carried risk state and the
append-only event log.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import executor.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_loss",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("start_of_day_equity", executor.store.types.Money(), nullable=False),
        sa.Column("realized_pnl", executor.store.types.Money(), nullable=False),
        sa.Column("fees", executor.store.types.Money(), nullable=False),
        sa.Column("funding", executor.store.types.Money(), nullable=False),
        sa.Column("breaker", sa.String(length=16), nullable=False),
        sa.Column("tripped_at", executor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trip_reason", sa.Text(), nullable=True),
        sa.Column("resumed_at", executor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_loss")),
        sa.UniqueConstraint("account", "trading_day", name=op.f("uq_daily_loss_account_trading_day")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_account_at"), ["account", "at"], unique=False)

    op.create_table(
        "rejected_signals",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("received_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_signals")),
    )
    op.create_table(
        "risk_state",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("peak_equity", executor.store.types.Money(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_risk_state")),
    )
    op.create_table(
        "signals",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", executor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("account", "signal_id", name=op.f("uq_signals_account_signal_id")),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signals_account_status_id"), ["account", "status", "id"], unique=False
        )

    op.create_table(
        "decisions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("signal_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("qty", executor.store.types.Money(), nullable=True),
        sa.Column("leverage", sa.Integer(), nullable=True),
        sa.Column("entry", executor.store.types.Money(), nullable=True),
        sa.Column("stop", executor.store.types.Money(), nullable=True),
        sa.Column("take_profit", executor.store.types.Money(), nullable=True),
        sa.Column("notional", executor.store.types.Money(), nullable=True),
        sa.Column("margin", executor.store.types.Money(), nullable=True),
        sa.Column("risk", executor.store.types.Money(), nullable=True),
        sa.Column("risk_pct", executor.store.types.Money(), nullable=True),
        sa.Column("liquidation_price", executor.store.types.Money(), nullable=True),
        sa.Column("binding", sa.String(length=40), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("decided_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_pk"], ["signals.id"], name=op.f("fk_decisions_signal_pk_signals"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("signal_pk", name=op.f("uq_decisions_signal_pk")),
    )
    op.create_table(
        "positions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("signal_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("qty", executor.store.types.Money(), nullable=False),
        sa.Column("entry_price", executor.store.types.Money(), nullable=False),
        sa.Column("stop_price", executor.store.types.Money(), nullable=True),
        sa.Column("take_profit", executor.store.types.Money(), nullable=True),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("setup", sa.String(length=16), nullable=False),
        sa.Column("equity_before", executor.store.types.Money(), nullable=True),
        sa.Column("exit_price", executor.store.types.Money(), nullable=True),
        sa.Column("realized_pnl", executor.store.types.Money(), nullable=False),
        sa.Column("fees", executor.store.types.Money(), nullable=False),
        sa.Column("funding", executor.store.types.Money(), nullable=False),
        sa.Column("opened_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", executor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["signal_pk"], ["signals.id"], name=op.f("fk_positions_signal_pk_signals"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_positions_account_status"), ["account", "status"], unique=False)

    op.create_table(
        "funding_payments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("position_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("amount", executor.store.types.Money(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("rate", executor.store.types.Money(), nullable=True),
        sa.Column("paid_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_pk"],
            ["positions.id"],
            name=op.f("fk_funding_payments_position_pk_positions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_payments")),
        sa.UniqueConstraint("account", "payment_id", name=op.f("uq_funding_payments_account_payment_id")),
    )
    op.create_table(
        "orders",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("client_order_id", sa.String(length=40), nullable=False),
        sa.Column("exchange_order_id", sa.String(length=64), nullable=True),
        sa.Column("signal_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("position_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("order_type", sa.String(length=24), nullable=False),
        sa.Column("qty", executor.store.types.Money(), nullable=False),
        sa.Column("price", executor.store.types.Money(), nullable=True),
        sa.Column("trigger_price", executor.store.types.Money(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("conditional", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_history", sa.JSON(), nullable=False),
        sa.Column("filled_qty", executor.store.types.Money(), nullable=False),
        sa.Column("average_price", executor.store.types.Money(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_pk"],
            ["positions.id"],
            name=op.f("fk_orders_position_pk_positions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["signal_pk"], ["signals.id"], name=op.f("fk_orders_signal_pk_signals"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("account", "client_order_id", name=op.f("uq_orders_account_client_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_account_exchange_order_id"), ["account", "exchange_order_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_account_state"), ["account", "state"], unique=False)

    op.create_table(
        "fills",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("trade_id", sa.String(length=64), nullable=False),
        sa.Column("order_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("client_order_id", sa.String(length=40), nullable=True),
        sa.Column("exchange_order_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("qty", executor.store.types.Money(), nullable=False),
        sa.Column("price", executor.store.types.Money(), nullable=False),
        sa.Column("fee", executor.store.types.Money(), nullable=False),
        sa.Column("fee_asset", sa.String(length=16), nullable=False),
        sa.Column("realized_pnl", executor.store.types.Money(), nullable=True),
        sa.Column("executed_at", executor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_pk"], ["orders.id"], name=op.f("fk_fills_order_pk_orders"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("account", "trade_id", name=op.f("uq_fills_account_trade_id")),
    )


def downgrade() -> None:
    op.drop_table("fills")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_account_state"))
        batch_op.drop_index(batch_op.f("ix_orders_account_exchange_order_id"))

    op.drop_table("orders")
    op.drop_table("funding_payments")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_positions_account_status"))

    op.drop_table("positions")
    op.drop_table("decisions")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signals_account_status_id"))

    op.drop_table("signals")
    op.drop_table("risk_state")
    op.drop_table("rejected_signals")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_account_at"))

    op.drop_table("events")
    op.drop_table("daily_loss")
