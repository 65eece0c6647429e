"""A trading history as the daemon leaves it in the database: signals (decided, refused, queued), closed
trades with their fees, funding and risk at entry, and an open one. Shared by the history tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from executor.domain.enums import PositionStatus, Setup, Side, SignalSource, SignalStatus
from executor.domain.reasons import ReasonCode
from executor.execution.trader import decision_row
from executor.risk import Decision
from executor.risk.fill import risk_at_stop
from executor.signals.auth import Authenticator
from executor.signals.inbox import Inbox
from executor.signals.result import IngressStatus
from executor.store.models import PositionRow
from executor.store.store import Store
from tests.support.cli import ACCOUNT, NOW

D = Decimal
TAKER = D("0.0005")
INGRESS_SECRET = "history-ingress-secret-0123456789"


@dataclass(frozen=True)
class Trade:
    signal_id: str
    strategy: str | None
    symbol: str
    side: Side
    qty: str
    entry: str
    stop: str
    exit: str | None
    fees: str
    funding: str
    hours_ago: int
    setup: Setup = Setup.PRIMARY

    @property
    def risk(self) -> Decimal:
        return risk_at_stop(self.side, D(self.qty), D(self.entry), D(self.stop), TAKER)

    @property
    def realized(self) -> Decimal:
        assert self.exit is not None
        return (D(self.exit) - D(self.entry)) * D(self.qty) * self.side.sign

    @property
    def pnl(self) -> Decimal:
        return self.realized - D(self.fees) + D(self.funding)


TRADES = (
    # a long that won: 10 SOL 150.02 → 156.00, stop 145
    Trade(
        "h-sol-win", "breakout", "SOL/USDT:USDT", Side.LONG, "10", "150.02", "145", "156", "1.53", "-0.2", 30
    ),
    # a short stopped out: 0.5 ETH 3000 → 3061.5, stop 3060
    Trade(
        "h-eth-loss",
        "meanrev",
        "ETH/USDT:USDT",
        Side.SHORT,
        "0.5",
        "3000",
        "3060",
        "3061.5",
        "1.53",
        "0.1",
        5,
    ),
    # a second breakout, a small win on the next day
    Trade("h-sol-win-2", "breakout", "SOL/USDT:USDT", Side.LONG, "4", "151", "148", "153", "0.6", "0", 2),
)
OPEN = Trade(
    "h-btc-open", "breakout", "BTC/USDT:USDT", Side.LONG, "0.010", "60000.5", "59000", None, "0.3", "0", 1
)


def payload(trade: Trade) -> dict[str, Any]:
    return {
        "id": trade.signal_id,
        "action": "open",
        "symbol": trade.symbol,
        "side": trade.side.value,
        "entry": {"type": "market"},
        "stop": trade.stop,
        "strategy": trade.strategy,
    }


def accepted(trade: Trade) -> Decision:
    return Decision(
        accepted=True,
        reason=None,
        message=f"{trade.side.value} {trade.qty}",
        signal_id=trade.signal_id,
        qty=D(trade.qty),
        leverage=3,
        entry=D(trade.entry),
        stop=D(trade.stop),
        risk=trade.risk,
    )


async def add_signal(
    store: Store, body: dict[str, Any], decision: Decision | None, at: datetime, status: SignalStatus
) -> int:
    async with store.transaction() as tx:
        row, _ = await tx.signals.store(
            account=ACCOUNT, signal_id=body["id"], source=SignalSource.WEBHOOK, payload=body, received_at=at
        )
        if decision is not None:
            side = Side(body["side"]) if body.get("side") else None
            await tx.decisions.add(decision_row(row, ACCOUNT, body["symbol"], side, decision, at))
        if status is not SignalStatus.QUEUED:
            await tx.signals.settle(row.id, status, at, None if decision else "could not be carried out")
        return row.id


async def add_trade(store: Store, trade: Trade, signal_pk: int | None) -> None:
    opened = NOW - timedelta(hours=trade.hours_ago + 1)
    closed = trade.exit is not None
    async with store.transaction() as tx:
        await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                signal_pk=signal_pk,
                symbol=trade.symbol,
                side=trade.side,
                status=PositionStatus.CLOSED if closed else PositionStatus.OPEN,
                qty=D(trade.qty),
                entry_price=D(trade.entry),
                stop_price=D(trade.stop),
                leverage=3,
                setup=trade.setup,
                risk_at_entry=trade.risk,
                exit_price=None if trade.exit is None else D(trade.exit),
                realized_pnl=trade.realized if closed else D(0),
                fees=D(trade.fees),
                funding=D(trade.funding),
                opened_at=opened,
                closed_at=NOW - timedelta(hours=trade.hours_ago) if closed else None,
            )
        )


async def seed_history(store: Store) -> None:
    """The three closed trades and the open one (each from its signal), a refused and a queued signal."""
    for trade in (*TRADES, OPEN):
        at = NOW - timedelta(hours=trade.hours_ago + 1)
        signal_pk = await add_signal(store, payload(trade), accepted(trade), at, SignalStatus.DECIDED)
        await add_trade(store, trade, signal_pk)
    refused = Decision(
        accepted=False,
        reason=ReasonCode.HEAT_CAP,
        message="Portfolio heat 5.2% would exceed the cap of 5%.",
        signal_id="h-sol-refused",
    )
    body = payload(OPEN) | {"id": "h-sol-refused", "symbol": "SOL/USDT:USDT"}
    await add_signal(store, body, refused, NOW - timedelta(minutes=30), SignalStatus.DECIDED)
    queued = payload(OPEN) | {"id": "h-queued", "symbol": "SOL/USDT:USDT"}
    await add_signal(store, queued, None, NOW - timedelta(minutes=1), SignalStatus.QUEUED)


async def send_invalid(store: Store, at: datetime, signal_id: str = "h-bad-side") -> None:
    """A message that is no valid signal, through the real inbox with a secret: it carries the secret as its
    token and as its bad `side`, so a listing that echoed either would show it."""
    inbox = Inbox(store, ACCOUNT, lambda: at, Authenticator(INGRESS_SECRET, replay_window_seconds=300))
    body = {
        "id": signal_id,
        "token": INGRESS_SECRET,
        "symbol": "SOL/USDT:USDT",
        "side": INGRESS_SECRET,
        "entry": {"type": "market"},
        "stop": "74.10",
    }
    result = await inbox.submit(json.dumps(body), SignalSource.WEBHOOK)
    assert result.status is IngressStatus.INVALID, result
