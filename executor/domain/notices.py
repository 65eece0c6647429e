"""What the daemon tells the operator's chat, and how its numbers read to a person.

A notice carries exact Decimals with their unit; the notifier renders them when it sends, off the trading
path, with the market's tick and step (prices to the tick, quantities down to the step, money and
percentages with 2 decimals, a loss said as a loss) through executor/domain/display.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final

from executor.domain.display import money, percent, pnl_words, price, quantity, r_multiple
from executor.domain.market import MarketFilters
from executor.domain.redaction import redact_urls


class AlertKind(StrEnum):
    """What an operator must hear about at once (executor/execution/alerts.py raises them)."""

    STOP_NOT_PLACED = "stop_not_placed"
    BREAKER_TRIPPED = "breaker_tripped"
    UNEXPLAINED_STATE = "unexplained_state"
    LIQUIDATION_TOO_CLOSE = "liquidation_too_close"
    EXCHANGE_BANNED = "exchange_banned"
    FOREIGN_POSITION = "foreign_position"
    ORDER_UNRESOLVED = "order_unresolved"
    CLOSE_DEFERRED = "close_deferred"
    STALE_LEG = "stale_leg"
    FILL_RISK_EXCEEDED = "fill_risk_exceeded"
    STREAM_DOWN = "stream_down"


class NoticeEvent(StrEnum):
    """The events notified besides the alerts: the trades, the breaker's reset, the operator's actions, a
    stream back after its outage."""

    ENTRY_FILLED = "entry_filled"
    STOP_MOVED = "stop_moved"
    TAKE_PROFIT = "take_profit"
    POSITION_CLOSED = "position_closed"
    BREAKER_RESET = "breaker_reset"
    OPERATOR_HALT = "operator_halt"
    OPERATOR_RESUME = "operator_resume"
    OPERATOR_PAUSE = "operator_pause"
    OPERATOR_UNPAUSE = "operator_unpause"
    OPERATOR_CLOSE = "operator_close"
    DAILY_SUMMARY = "daily_summary"
    STREAM_RESTORED = "stream_restored"


Event = NoticeEvent | AlertKind
"""What a notification URL's filter names: an alert kind or one of the other events."""
EVENTS: Final[dict[str, Event]] = {event.value: event for event in [*NoticeEvent, *AlertKind]}
TRADES: Final = frozenset(
    {NoticeEvent.ENTRY_FILLED, NoticeEvent.STOP_MOVED, NoticeEvent.TAKE_PROFIT, NoticeEvent.POSITION_CLOSED}
)
OPERATOR: Final = frozenset(
    {
        NoticeEvent.OPERATOR_HALT,
        NoticeEvent.OPERATOR_RESUME,
        NoticeEvent.OPERATOR_PAUSE,
        NoticeEvent.OPERATOR_UNPAUSE,
        NoticeEvent.OPERATOR_CLOSE,
    }
)
GROUPS: Final[dict[str, frozenset[Event]]] = {
    "all": frozenset(EVENTS.values()),
    "trades": TRADES,
    "operator": OPERATOR,
    "breaker": frozenset({AlertKind.BREAKER_TRIPPED, NoticeEvent.BREAKER_RESET}),
    "streams": frozenset({AlertKind.STREAM_DOWN, NoticeEvent.STREAM_RESTORED}),
    "alerts": frozenset(AlertKind),
}
"""Names a URL's `events` filter may use besides single events."""


class Severity(StrEnum):
    """Apprise's notify types, so a chat shows the right colour or icon."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


class Unit(StrEnum):
    PRICE = "price"
    QTY = "qty"
    MONEY = "money"
    PNL = "pnl"
    """Money that may be a loss: said as 'profit 1.50' or 'loss 1.50', never as a negative loss."""
    PERCENT = "percent"
    R = "r"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    value: Decimal | str | int
    unit: Unit = Unit.TEXT


@dataclass(frozen=True, slots=True)
class Notice:
    event: Event
    headline: str
    symbol: str | None = None
    figures: tuple[Figure, ...] = ()
    severity: Severity = Severity.INFO
    account: str = field(default="")


def figure_text(figure: Figure, filters: MarketFilters | None, currency: str) -> str:
    value = figure.value
    if not isinstance(value, Decimal):
        return redact_urls(str(value))
    suffix = f" {currency}" if currency else ""
    if figure.unit is Unit.PRICE:
        return price(value, filters)
    if figure.unit is Unit.QTY:
        return quantity(value, filters)
    if figure.unit is Unit.MONEY:
        return money(value) + suffix
    if figure.unit is Unit.PNL:
        return pnl_words(value) + suffix
    if figure.unit is Unit.PERCENT:
        return percent(value)
    if figure.unit is Unit.R:
        return r_multiple(value)
    return f"{value.normalize():f}"


def render(notice: Notice, filters: MarketFilters | None, currency: str) -> tuple[str, str]:
    """(title, body) as a person reads them; every URL in them has its credentials masked."""
    where = f" {notice.symbol}" if notice.symbol else ""
    prefix = f"[{notice.account}] " if notice.account else ""
    title = redact_urls(f"{prefix}{notice.event.value}{where}")
    lines = [notice.headline]
    lines += [f"{figure.label}: {figure_text(figure, filters, currency)}" for figure in notice.figures]
    return title, redact_urls("\n".join(lines))


def operator_action(
    event: NoticeEvent, headline: str, *, symbol: str | None = None, by: str | None = None
) -> Notice:
    """An operator's halt, resume, pause, unpause or close; pass it to `Alerter.notify`."""
    figures = (Figure("by", by),) if by else ()
    return Notice(event, headline, symbol=symbol, figures=figures, severity=Severity.WARNING)


def daily_summary(
    day: date, start_equity: Decimal, end_equity: Decimal, pnl: Decimal, fees: Decimal, funding: Decimal
) -> Notice:
    """The trading day that just ended: its booked PnL (after fees and funding) and the equity change."""
    change = (end_equity - start_equity) / start_equity * 100 if start_equity > 0 else None
    figures = [
        Figure("PnL booked", pnl, Unit.PNL),
        Figure("fees", fees, Unit.MONEY),
        Figure("funding", funding, Unit.PNL),
        Figure("equity at start", start_equity, Unit.MONEY),
        Figure("equity now", end_equity, Unit.MONEY),
    ]
    if change is not None:
        figures.append(Figure("equity change", change, Unit.PERCENT))
    return Notice(NoticeEvent.DAILY_SUMMARY, f"trading day {day.isoformat()} ended", figures=tuple(figures))
