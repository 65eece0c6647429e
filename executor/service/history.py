"""What happened, for the operator: recent signals with their outcome, trades with their R multiple, and
performance per period and group. `executor signals|trades|pnl` print these reports and `GET /signals`,
`GET /trades`, `GET /pnl` serve them; every number is an exact decimal string (rounding is for people).

The daemon's answer adds `markets`, each traded symbol's price tick and amount step, so the CLI can show
prices and quantities on the market's grid; read from the database alone, the report has none.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from executor.domain.enums import PositionStatus, SignalStatus
from executor.domain.market import Market, grid
from executor.domain.performance import (
    SINCE_HELP,
    GroupBy,
    Performance,
    Period,
    breakdown,
    parse_since,
    r_multiple,
    summarize,
)
from executor.domain.reasons import ReasonCode
from executor.observability.logging import get_logger
from executor.ports.errors import ExchangeError
from executor.reports.trades import closed_trade, strategy_of
from executor.service.status import moment, money
from executor.store.models import DecisionRow, PositionRow, RejectedSignalRow, SignalRow
from executor.store.store import Store

log = get_logger("executor.service.history")

Traded = tuple[PositionRow, SignalRow | None]
"""A position and the signal that opened it (None for one the daemon did not open by a signal)."""
MarketsLookup = Callable[[], Awaitable[Mapping[str, Market]]]
SIGNALS_LIMIT: Final = 100
MARKETS_WAIT_SECONDS: Final = 1.0
SIGNALS_LIMIT_MAX: Final = 1000
NAMED_MAX_CHARS: Final = 40
"""An invalid message's symbol, side or strategy is shown only up to this long (a table cell, not a body)."""


async def signal_report(
    store: Store,
    account: str,
    *,
    since: datetime | None = None,
    status: SignalStatus | None = None,
    reason: ReasonCode | None = None,
    limit: int = SIGNALS_LIMIT,
) -> dict[str, Any]:
    """The newest signals first with their outcome: status, accepted, reason, message, symbol, side, qty.

    Messages that were never valid signals are listed too, as `failed` with reason `INVALID_MESSAGE` and
    their errors on one line, so a sender's refused message is found without knowing its id."""
    invalid = reason in (None, ReasonCode.INVALID_MESSAGE) and status in (None, SignalStatus.FAILED)
    decided = reason is not ReasonCode.INVALID_MESSAGE
    async with store.read() as tx:
        rows = (
            await tx.signals.with_outcome(account, since=since, status=status, reason=reason, limit=limit)
            if decided
            else []
        )
        refused = await tx.rejected.recent(account, since=since, limit=limit) if invalid else []
    listed = heapq.merge(
        ((signal.received_at, _signal(signal, decision)) for signal, decision in rows),
        ((row.received_at, _invalid(row)) for row in refused),
        key=lambda item: item[0],
        reverse=True,
    )
    return {"account": account, "signals": [entry for _, entry in itertools.islice(listed, limit)]}


def _signal(signal: SignalRow, decision: DecisionRow | None) -> dict[str, Any]:
    payload = signal.payload
    return {
        "signal_id": signal.signal_id,
        "received_at": moment(signal.received_at),
        "decided_at": moment(signal.decided_at),
        "source": signal.source,
        "action": payload.get("action", "open"),
        "status": signal.status,
        "accepted": None if decision is None else decision.accepted,
        "reason": None if decision is None else decision.reason,
        "message": signal.error if decision is None else decision.message,
        "symbol": decision.symbol if decision is not None else payload.get("symbol"),
        "side": decision.side if decision is not None else payload.get("side"),
        "qty": None if decision is None else money(decision.qty),
        "strategy": payload.get("strategy"),
    }


def _invalid(row: RejectedSignalRow) -> dict[str, Any]:
    """A message the inbox refused: its stored text is already stripped of credentials and the errors of
    the secret (executor/signals/redaction.py); what it named is read back only as short plain text."""
    named = _named_fields(row.raw)
    return {
        "signal_id": row.signal_id,
        "received_at": moment(row.received_at),
        "decided_at": moment(row.received_at),
        "source": row.source,
        "action": named.get("action"),
        "status": SignalStatus.FAILED,
        "accepted": False,
        "reason": ReasonCode.INVALID_MESSAGE,
        "message": one_line(row.errors),
        "symbol": named.get("symbol"),
        "side": named.get("side"),
        "qty": None,
        "strategy": named.get("strategy"),
    }


def one_line(errors: Iterable[Any]) -> str:
    """`side: must be "long" or "short"; stop: …` (newlines folded, so a table row stays one line)."""
    parts = [
        f"{error.get('field')}: {error.get('message')}" if isinstance(error, dict) else str(error)
        for error in errors
    ]
    return " ".join("; ".join(parts).split()) or "not a valid signal"


def _named_fields(raw: str) -> dict[str, str]:
    """`action`, `symbol`, `side` and `strategy` when the text is a JSON object naming them as short text."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        key: value
        for key in ("action", "symbol", "side", "strategy")
        if isinstance(value := data.get(key), str) and 0 < len(value) <= NAMED_MAX_CHARS
    }


async def trade_report(
    store: Store,
    account: str,
    *,
    since: datetime | None = None,
    symbol: str | None = None,
    strategy: str | None = None,
) -> dict[str, Any]:
    """Closed trades (oldest first, closed at or after `since`) with their R, and the open ones."""
    closed, still_open = await _positions(store, account, since=since, symbol=symbol, strategy=strategy)
    return {
        "account": account,
        "closed": [_trade(position, signal) for position, signal in closed],
        "open": [_trade(position, signal) for position, signal in still_open],
    }


async def _positions(
    store: Store, account: str, *, since: datetime | None, symbol: str | None, strategy: str | None
) -> tuple[list[Traded], list[Traded]]:
    unified = symbol if symbol is not None and "/" in symbol else None
    async with store.read() as tx:
        closed = await tx.positions.trades(account, PositionStatus.CLOSED, closed_since=since, symbol=unified)
        still_open = await tx.positions.trades(account, PositionStatus.OPEN, symbol=unified)

    def kept(
        rows: Iterable[Traded],
    ) -> list[Traded]:
        return [
            (position, signal)
            for position, signal in rows
            if (strategy is None or strategy_of(signal) == strategy)
            and (symbol is None or unified is not None or compact(position.symbol) == symbol.upper())
        ]

    return kept(closed), kept(still_open)


def compact(symbol: str) -> str:
    """`SOL/USDT:USDT` → `SOLUSDT`, the form signals may name a market by."""
    return symbol.split(":", 1)[0].replace("/", "").upper()


def _net(position: PositionRow) -> Decimal:
    return position.realized_pnl - position.fees + position.funding


def _trade(position: PositionRow, signal: SignalRow | None) -> dict[str, Any]:
    closed = position.status is PositionStatus.CLOSED
    multiple = r_multiple(_net(position), position.risk_at_entry) if closed else None
    return {
        "id": position.id,
        "signal_id": None if signal is None else signal.signal_id,
        "strategy": strategy_of(signal),
        "symbol": position.symbol,
        "side": position.side,
        "setup": position.setup,
        "status": position.status,
        "qty": money(position.qty),
        "leverage": position.leverage,
        "entry_price": money(position.entry_price),
        "stop_price": money(position.stop_price),
        "exit_price": money(position.exit_price),
        "risk_at_entry": money(position.risk_at_entry),
        "realized_pnl": money(position.realized_pnl),
        "fees": money(position.fees),
        "funding": money(position.funding),
        "pnl": money(_net(position)) if closed else None,
        "r_multiple": money(multiple),
        "opened_at": moment(position.opened_at),
        "closed_at": moment(position.closed_at),
    }


async def pnl_report(
    store: Store,
    account: str,
    zone: tzinfo,
    *,
    since: datetime | None = None,
    period: Period | None = None,
    by: GroupBy | None = None,
) -> dict[str, Any]:
    """The closed trades' performance as a whole, and per period (of the trading day's calendar) and group."""
    closed, _ = await _positions(store, account, since=since, symbol=None, strategy=None)
    trades = [closed_trade(position, signal) for position, signal in closed]
    rows = breakdown(trades, period=period, by=by, zone=zone) if period or by else []
    return {
        "account": account,
        "since": moment(since),
        "period": period,
        "by": by,
        "total": _performance(summarize(trades)),
        "rows": [
            {"period": None if row.period is None else row.period.isoformat(), "group": row.group}
            | _performance(row.performance)
            for row in rows
        ],
    }


def _performance(result: Performance) -> dict[str, Any]:
    return {
        "trades": result.trades,
        "wins": result.wins,
        "losses": result.losses,
        "pnl": money(result.pnl),
        "realized_pnl": money(result.realized_pnl),
        "fees": money(result.fees),
        "funding": money(result.funding),
        "win_rate": _exact(result.win_rate),
        "average_win": _exact(result.average_win),
        "average_loss": _exact(result.average_loss),
        "profit_factor": _exact(result.profit_factor),
        "average_r": _exact(result.average_r),
        "expectancy": _exact(result.expectancy),
        "max_drawdown": money(result.max_drawdown),
    }


def _exact(value: Decimal | None) -> str | None:
    """A quotient as a decimal string (28 significant digits at most, trailing zeros dropped)."""
    return None if value is None else format(value.normalize(), "f")


async def with_markets(report: dict[str, Any], markets: MarketsLookup | None, symbols: Iterable[str]) -> None:
    """Add each symbol's price tick and amount step, when the daemon knows its markets (they are cached; an
    exchange that does not answer within a second leaves them out, and the report is still served)."""
    if markets is None:
        return
    try:
        async with asyncio.timeout(MARKETS_WAIT_SECONDS):  # not wait_for: on 3.11 it can lose a cancellation
            known = await markets()
    except (ExchangeError, TimeoutError) as exc:
        log.warning("report_markets_unknown", error=str(exc) or type(exc).__name__)
        return
    report["markets"] = {
        symbol: grid(known[symbol].filters) for symbol in sorted(set(symbols)) if symbol in known
    }


def _bad_since(text: str, now: datetime) -> datetime | JSONResponse:
    try:
        return parse_since(text, now)
    except ValueError as exc:
        return JSONResponse({"errors": [{"field": "since", "message": str(exc)}]}, status_code=400)


_BAD_QUERY = {"description": "`since` is not a time"}
Since = Annotated[str | None, Query(description=f"from this time on: {SINCE_HELP}", max_length=40)]


def history_router(
    store: Store, account: str, zone: tzinfo, clock: Callable[[], datetime], markets: MarketsLookup | None
) -> APIRouter:
    """`GET /signals`, `GET /trades` and `GET /pnl` (authenticated like every route but /health and /ready;
    `POST /signals` authenticates itself, `GET /signals` does not share its opening)."""
    router = APIRouter()

    @router.get("/signals", responses={200: {"description": "the newest signals first"}, 400: _BAD_QUERY})
    async def signals(
        since: Since = None,
        status: SignalStatus | None = None,
        reason: ReasonCode | None = None,
        limit: Annotated[int, Query(ge=1, le=SIGNALS_LIMIT_MAX)] = SIGNALS_LIMIT,
    ) -> JSONResponse:
        """Recent signals, newest first, with their outcome: status, accepted, reason code, message, symbol,
        side and size (`GET /signals/{id}` has one signal's whole record)."""
        start = None if since is None else _bad_since(since, clock())
        if isinstance(start, JSONResponse):
            return start
        report = await signal_report(store, account, since=start, status=status, reason=reason, limit=limit)
        await with_markets(report, markets, (s["symbol"] for s in report["signals"] if s["symbol"]))
        return JSONResponse(report)

    @router.get("/trades", responses={200: {"description": "closed and open trades"}, 400: _BAD_QUERY})
    async def trades(
        since: Since = None,
        symbol: Annotated[str | None, Query(max_length=40)] = None,
        strategy: Annotated[str | None, Query(max_length=64)] = None,
    ) -> JSONResponse:
        """Closed trades with entry, exit, quantity, leverage, fees, funding, PnL and R multiple, and the
        open ones; `since` keeps trades closed from then on."""
        start = None if since is None else _bad_since(since, clock())
        if isinstance(start, JSONResponse):
            return start
        report = await trade_report(store, account, since=start, symbol=symbol, strategy=strategy)
        await with_markets(report, markets, (t["symbol"] for t in [*report["closed"], *report["open"]]))
        return JSONResponse(report)

    @router.get("/pnl", responses={200: {"description": "performance of the closed trades"}, 400: _BAD_QUERY})
    async def pnl(
        since: Since = None,
        period: Period | None = None,
        by: GroupBy | None = None,
    ) -> JSONResponse:
        """PnL, fees, funding, trade count, win rate, average win and loss, profit factor, average R,
        expectancy and maximum drawdown, in total and per period (trading-day calendar) and group."""
        start = None if since is None else _bad_since(since, clock())
        if isinstance(start, JSONResponse):
            return start
        return JSONResponse(await pnl_report(store, account, zone, since=start, period=period, by=by))

    return router
