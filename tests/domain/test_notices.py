"""Numbers in notifications as a person reads them: the market's tick and step, 2 decimals for money and
percentages, a loss said as a loss; credentials never in a message."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from executor.domain.market import MarketFilters
from executor.domain.notices import (
    GROUPS,
    AlertKind,
    Figure,
    Notice,
    NoticeEvent,
    Unit,
    daily_summary,
    render,
)
from executor.domain.performance import r_multiple

FILTERS = MarketFilters(
    amount_step=Decimal("0.001"),
    price_tick=Decimal("0.10"),
    min_amount=Decimal("0.001"),
    min_notional=Decimal("5"),
    max_leverage=None,
)


def body(*figures: Figure) -> list[str]:
    notice = Notice(NoticeEvent.POSITION_CLOSED, "closed", symbol="BTC/USDT:USDT", figures=figures)
    return render(notice, FILTERS, "USDT")[1].splitlines()[1:]


@pytest.mark.parametrize(
    ("figure", "shown"),
    [
        (Figure("entry", Decimal("64123.456"), Unit.PRICE), "entry: 64123.5"),
        (Figure("stop", Decimal("64000"), Unit.PRICE), "stop: 64000.0"),
        (Figure("quantity", Decimal("0.01299"), Unit.QTY), "quantity: 0.012"),
        (Figure("quantity", Decimal("2"), Unit.QTY), "quantity: 2.000"),
        (Figure("risk", Decimal("1234.5"), Unit.MONEY), "risk: 1,234.50 USDT"),
        (Figure("PnL", Decimal("-12.345"), Unit.PNL), "PnL: loss 12.35 USDT"),
        (Figure("PnL", Decimal("7.1"), Unit.PNL), "PnL: profit 7.10 USDT"),
        (Figure("risk of equity", Decimal("0.4666"), Unit.PERCENT), "risk of equity: 0.47%"),
        (Figure("R", Decimal("-1"), Unit.R), "R: -1.00 R"),
    ],
)
def test_each_unit_reads_as_a_person_expects(figure: Figure, shown: str) -> None:
    assert body(figure) == [shown]


def test_without_the_market_numbers_are_shown_exactly_as_given() -> None:
    notice = Notice(
        NoticeEvent.ENTRY_FILLED, "filled", figures=(Figure("entry", Decimal("150.120"), Unit.PRICE),)
    )
    assert render(notice, None, "")[1] == "filled\nentry: 150.12"


def test_the_r_multiple_is_the_pnl_over_the_risk_taken_at_entry_and_none_without_a_risk() -> None:
    assert r_multiple(Decimal("-42"), Decimal("42")) == Decimal(-1)
    assert r_multiple(Decimal("84"), Decimal("42")) == Decimal(2)
    assert r_multiple(Decimal("5"), None) is None
    assert r_multiple(Decimal("5"), Decimal(0)) is None


def test_a_url_in_a_message_has_its_credentials_masked() -> None:
    notice = Notice(
        AlertKind.UNEXPLAINED_STATE,
        "cannot reach postgresql://bot:hunter2@db.example/x",
        figures=(Figure("error", "GET https://api.example/x?signature=abc123 failed"),),
    )
    title, text = render(notice, None, "")
    assert "hunter2" not in title + text and "abc123" not in text and "***" in text


def test_every_alert_kind_is_a_notification_event_in_the_alerts_group() -> None:
    assert GROUPS["alerts"] == frozenset(AlertKind)
    assert GROUPS["all"] == frozenset(NoticeEvent) | frozenset(AlertKind)
    assert not {event.value for event in NoticeEvent} & {kind.value for kind in AlertKind}


def test_the_daily_summary_says_the_days_result_as_a_loss_or_a_profit_and_the_equity_change() -> None:
    notice = daily_summary(
        date(2026, 6, 2), Decimal("1000"), Decimal("955"), Decimal("-44.08"), Decimal("2.08"), Decimal("0")
    )
    assert render(notice, None, "USDT")[1].splitlines() == [
        "trading day 2026-06-02 ended",
        "PnL booked: loss 44.08 USDT",
        "fees: 2.08 USDT",
        "funding: profit 0.00 USDT",
        "equity at start: 1,000.00 USDT",
        "equity now: 955.00 USDT",
        "equity change: -4.50%",
    ]
