"""What the page shows, gathered from the reports that already exist: `GET /status` (breaker, day, equity,
positions with their stops and the exchange's view of them, resting orders) and `explain` (each recent
signal with its decision and step log); its health from the port as `/ready` reads it (each stream's
state, the request window). Numbers are turned into text here the way every human output shows them:
prices to the market's tick, quantities to its step, money with 2 decimals, a loss as a loss.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from executor.domain.display import percent, step_pairs
from executor.domain.enums import PositionStatus
from executor.domain.key_setup import RateBudget
from executor.domain.market import Market, MarketFilters
from executor.domain.notices import Figure, Unit, figure_text
from executor.domain.performance import r_multiple
from executor.ports.exchange import StreamState, StreamStatus
from executor.reports.equity import Point, daily, day_start, intraday
from executor.reports.trades import closed_trade
from executor.risk import RiskProfile
from executor.risk.clock import trading_day
from executor.service.dashboard.charts import Chart, line_chart
from executor.service.explanation import explanation, outcome
from executor.store.store import Store

RECENT_SIGNALS: Final = 20
RECENT_REPORTS: Final = 7
CURVE_DAYS: Final = 30

StatusProvider = Callable[[], Awaitable[dict[str, Any]]]
MarketsProvider = Callable[[], Awaitable[Mapping[str, Market]]]


@dataclass(frozen=True, slots=True)
class StreamView:
    """One exchange stream as /ready shows it."""

    name: str
    state: str
    badge: str
    """The state's colour: ok (live), bad (down), warn (connecting)."""
    last_message: str
    reconnects: int
    problem: str | None


BADGES: Final = {StreamState.LIVE: "ok", StreamState.DOWN: "bad", StreamState.CONNECTING: "warn"}


def stream_views(statuses: Iterable[StreamStatus], now: datetime) -> list[StreamView]:
    """Each stream the exchange adapter follows: its state, how long ago its last message came."""
    views = []
    for status in statuses:
        age = status.age_seconds(now)
        views.append(
            StreamView(
                name=status.name.value,
                state=status.state.value,
                badge=BADGES[status.state],
                last_message="none yet" if age is None else f"{age:.1f} s ago",
                reconnects=status.reconnects,
                problem=status.problem,
            )
        )
    return views


@dataclass(frozen=True, slots=True)
class RequestsView:
    """The exchange client's request window: how full, and its budget against the venue's limit."""

    window_used: str
    budget: str
    within_limit: bool

    @classmethod
    def of(cls, budget: RateBudget) -> RequestsView:
        return cls(
            window_used=percent(Decimal(str(budget.window_use * 100))),
            budget=f"{budget.units_per_minute:,.0f} units a minute against {budget.exchange_limit}",
            within_limit=budget.within_limit,
        )


@dataclass(frozen=True, slots=True)
class Health:
    """The daemon's readiness and the exchange's, as the page shows them."""

    ready: bool
    reason: str | None
    components: dict[str, str]
    exchange: str
    account_age_seconds: float | None
    """How old the newest account snapshot from the exchange is; None before the first one."""
    banned_until: datetime | None
    requests: RequestsView | None = None
    streams: list[StreamView] = field(default_factory=list)
    """Empty when the adapter follows none (`exchange.streams = false`): REST only."""


@dataclass(frozen=True, slots=True)
class BreakerView:
    status: str
    reason: str | None
    tripped_at: str | None
    resets_at: str | None
    trading_day: str
    loss: str
    limit: str
    used_pct: float
    """Today's loss as a share of the limit, 0–100, for the bar."""
    basis: str
    enabled: bool
    equity: str
    paused: bool
    paused_by: str | None
    pause_note: str | None


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    side: str
    qty: str
    entry: str
    stop: str
    stop_resting: bool
    take_profit: str
    liquidation: str
    mark: str
    unrealized: str
    losing: bool
    r: str
    opened_at: str


@dataclass(frozen=True, slots=True)
class OrderView:
    client_order_id: str
    kind: str
    symbol: str
    side: str
    type: str
    qty: str
    price: str
    state: str


@dataclass(frozen=True, slots=True)
class StepView:
    number: int
    step: str
    before: str
    after: str
    binding: bool
    note: str


@dataclass(frozen=True, slots=True)
class SignalView:
    signal_id: str
    received_at: str
    action: str
    symbol: str
    status: str
    accepted: bool | None
    reason: str
    message: str
    steps: list[StepView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Dashboard:
    account: str
    profile: str
    now: str
    breaker: BreakerView
    health: Health
    positions: list[PositionView]
    untracked: list[str]
    orders: list[OrderView]
    signals: list[SignalView]
    today: Chart
    month: Chart
    reports: list[str] = field(default_factory=list)
    """The newest daily reports' file names (DAY.html), newest first."""


def when(value: str | datetime | None) -> str:
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class _Numbers:
    """Text for one market's numbers (its tick and step) in the account's settlement currency."""

    def __init__(self, filters: MarketFilters | None, currency: str) -> None:
        self._filters, self._currency = filters, currency

    def __call__(self, value: str | Decimal | None, unit: Unit) -> str:
        number = _decimal(value) if isinstance(value, str) else value
        if number is None:
            return "—"
        return figure_text(Figure("", number, unit), self._filters, self._currency)


def _breaker(report: Mapping[str, Any]) -> BreakerView:
    day, breaker, pause = report["day"], report["breaker"], report["pause"]
    loss, limit = _decimal(day["loss"]), _decimal(day["limit"])
    used = 0.0
    if loss is not None and limit is not None and limit > 0:
        used = max(0.0, min(100.0, float(loss / limit * 100)))
    text = _Numbers(None, "")
    return BreakerView(
        status=breaker["status"],
        reason=breaker["reason"],
        tripped_at=when(breaker["tripped_at"]) if breaker["tripped_at"] else None,
        resets_at=when(breaker["resets_at"]) if breaker["resets_at"] else None,
        trading_day=day["trading_day"],
        # A negative loss is a gain: said as a profit, never as a negative loss.
        loss=text(None if loss is None else -loss, Unit.PNL),
        limit=text(limit, Unit.MONEY),
        used_pct=used,
        basis=day["loss_basis"],
        enabled=day["breaker_enabled"],
        equity=text(report["equity"], Unit.MONEY),
        paused=pause["paused"],
        paused_by=pause.get("by"),
        pause_note=pause.get("note"),
    )


def _position(row: Mapping[str, Any], risk: Decimal | None, numbers: _Numbers) -> PositionView:
    exchange = row.get("exchange") or {}
    unrealized = _decimal(exchange.get("unrealized_pnl"))
    multiple = None if unrealized is None else r_multiple(unrealized, risk)
    return PositionView(
        symbol=row["symbol"],
        side=row["side"],
        qty=numbers(row["qty"], Unit.QTY),
        entry=numbers(row["entry_price"], Unit.PRICE),
        stop=numbers(row["stop_price"], Unit.PRICE),
        stop_resting=row["stop_resting"],
        take_profit=numbers(row["take_profit"], Unit.PRICE),
        liquidation=numbers(exchange.get("liquidation_price"), Unit.PRICE),
        mark=numbers(exchange.get("mark_price"), Unit.PRICE),
        unrealized=numbers(unrealized, Unit.PNL),
        losing=unrealized is not None and unrealized < 0,
        r="—" if multiple is None else numbers(multiple, Unit.R),
        opened_at=when(row["opened_at"]),
    )


def _order(row: Mapping[str, Any], numbers: _Numbers) -> OrderView:
    price = row["trigger_price"] if row["trigger_price"] is not None else row["price"]
    return OrderView(
        client_order_id=row["client_order_id"],
        kind=row["kind"],
        symbol=row["symbol"],
        side=row["side"],
        type=row["type"],
        qty=numbers(row["qty"], Unit.QTY),
        price=numbers(price, Unit.PRICE),
        state=row["state"],
    )


def _signal(found: dict[str, Any]) -> SignalView:
    signal, decision = found["signal"], found["decision"]
    answer = outcome(found)
    steps = [] if decision is None else decision.get("steps") or []
    payload = signal["payload"]
    return SignalView(
        signal_id=signal["signal_id"],
        received_at=when(signal["received_at"]),
        action=f"{payload.get('action', 'open')} {payload.get('side') or ''}".strip(),
        symbol=str(payload.get("symbol", "")),
        status=answer["status"],
        accepted=answer.get("accepted"),
        reason=answer.get("reason") or "",
        message=answer.get("message") or "",
        steps=[
            StepView(
                number=number,
                step=str(step.get("step", "?")),
                before=step_pairs(step.get("before")),
                after=step_pairs(step.get("after")),
                binding=bool(step.get("binding")),
                note=str(step.get("note") or ""),
            )
            for number, step in enumerate(steps, start=1)
        ],
    )


async def _explained(store: Store, account: str, signal_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found = {signal_id: await explanation(store, account, signal_id) for signal_id in signal_ids}
    return {signal_id: value for signal_id, value in found.items() if value is not None}


async def _curves(
    store: Store, account: str, profile: RiskProfile, now: datetime, equity: Decimal | None
) -> tuple[list[Point], list[Point]]:
    timezone = profile.daily_loss.timezone
    today = day_start(trading_day(now, timezone), timezone)
    async with store.read() as tx:
        ledgers = await tx.daily_loss.since(account, (today - timedelta(days=CURVE_DAYS - 1)).date())
        closed = await tx.positions.trades(account, PositionStatus.CLOSED, closed_since=today)
    steps = [(trade.closed_at, trade.pnl) for trade in (closed_trade(*row) for row in closed)]
    opening = next((row for row in ledgers if row.trading_day == today.date()), None)
    day = [] if opening is None else intraday(Point(today, opening.start_of_day_equity), steps, now, equity)
    return day, daily(ledgers, timezone, now, equity)


def recent_reports(directory: Path | None) -> list[str]:
    if directory is None or not directory.is_dir():
        return []
    return sorted((path.name for path in directory.glob("????-??-??.html")), reverse=True)[:RECENT_REPORTS]


async def gather(
    store: Store,
    account: str,
    profile: RiskProfile,
    now: datetime,
    *,
    status: StatusProvider,
    health: Health,
    markets: MarketsProvider,
    reports_dir: Path | None = None,
) -> Dashboard:
    """The page's content: the status report, the newest signals explained, the equity curves."""
    report = await status()
    known = await markets()
    async with store.read() as tx:
        recent = [row.signal_id for row, _ in await tx.signals.with_outcome(account, limit=RECENT_SIGNALS)]
    explained = await _explained(store, account, recent)

    def numbers(symbol: str) -> _Numbers:
        market = known.get(symbol)
        return _Numbers(market.filters if market else None, market.settle if market else "")

    positions = [
        _position(row, _decimal(row.get("risk_at_entry")), numbers(row["symbol"]))
        for row in report["positions"]
    ]
    equity = _decimal(report["equity"])
    day, month = await _curves(store, account, profile, now, equity)
    return Dashboard(
        account=account,
        profile=report["profile"],
        now=when(now),
        breaker=_breaker(report),
        health=health,
        positions=positions,
        untracked=[f"{p['side']} {p['symbol']} {p['qty']}" for p in report.get("untracked_positions", [])],
        orders=[_order(row, numbers(row["symbol"])) for row in report["orders"]],
        signals=[_signal(explained[signal_id]) for signal_id in recent if signal_id in explained],
        today=line_chart(day, "%H:%M"),
        month=line_chart(month, "%Y-%m-%d"),
        reports=recent_reports(reports_dir),
    )
