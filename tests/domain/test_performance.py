"""The performance arithmetic of `executor pnl`: net PnL, win rate, averages, profit factor, R, expectancy and
the maximum drawdown of the cumulative PnL, per period and group."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.domain.performance import (
    ClosedTrade,
    GroupBy,
    Period,
    breakdown,
    max_drawdown,
    parse_since,
    period_start,
    summarize,
)

D = Decimal
T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)  # a Monday


def trade(
    realized: str,
    *,
    fees: str = "0",
    funding: str = "0",
    risk: str | None = "10",
    hours: int = 0,
    strategy: str | None = "breakout",
    symbol: str = "SOL/USDT:USDT",
    setup: str = "primary",
) -> ClosedTrade:
    return ClosedTrade(
        closed_at=T0 + timedelta(hours=hours),
        realized_pnl=D(realized),
        fees=D(fees),
        funding=D(funding),
        risk_at_entry=None if risk is None else D(risk),
        strategy=strategy,
        symbol=symbol,
        setup=setup,
    )


def test_a_trades_pnl_is_net_of_fees_and_funding_and_its_r_divides_that_by_the_risk_at_entry() -> None:
    closed = trade("25", fees="1.2", funding="-0.3", risk="11.875")
    assert closed.pnl == D("23.5")
    assert closed.r_multiple == D("23.5") / D("11.875")
    assert trade("5", risk=None).r_multiple is None
    assert trade("5", risk="0").r_multiple is None


def test_three_wins_two_losses_and_a_scratch_give_the_hand_computed_figures() -> None:
    trades = [
        trade("30", fees="1", hours=0),  # +29, 2.9 R
        trade("-10", fees="1", hours=1),  # -11, -1.1 R
        trade("20", fees="1", hours=2),  # +19, 1.9 R
        trade("-10", fees="1", hours=3),  # -11, -1.1 R
        trade("1", fees="1", hours=4),  # 0: neither a win nor a loss
        trade("12", fees="1", risk=None, hours=5),  # +11, no R
    ]
    result = summarize(trades)
    assert (result.trades, result.wins, result.losses) == (6, 3, 2)
    assert result.pnl == D("37") and result.realized_pnl == D("43") and result.fees == D("6")
    assert result.win_rate == D(50)
    assert result.average_win == D("59") / 3
    assert result.average_loss == D("-11")
    assert result.profit_factor == D("59") / D("22")
    assert result.average_r == (D("2.9") - D("1.1") + D("1.9") - D("1.1") + D(0)) / 5
    assert result.expectancy == D("37") / 6
    # cumulative: 29, 18, 37, 26, 26, 37 → the deepest fall from a peak is 37 → 26
    assert result.max_drawdown == D("11")


def test_without_trades_every_ratio_is_absent_and_the_sums_are_zero() -> None:
    result = summarize([])
    assert (result.trades, result.pnl, result.max_drawdown) == (0, D(0), D(0))
    assert (result.win_rate, result.average_win, result.average_loss) == (None, None, None)
    assert (result.profit_factor, result.average_r, result.expectancy) == (None, None, None)


def test_only_winners_have_no_profit_factor_rather_than_an_infinite_one() -> None:
    result = summarize([trade("5"), trade("7", hours=1)])
    assert result.profit_factor is None and result.win_rate == D(100) and result.max_drawdown == D(0)


def test_the_drawdown_follows_the_close_order_not_the_order_given() -> None:
    trades = [trade("10", hours=2), trade("-4", hours=0), trade("-3", hours=1)]
    # in close order: -4, -7, 3 → from the starting peak 0 down to -7
    assert summarize(trades).max_drawdown == D("7")


@pytest.mark.parametrize(
    ("moment", "period", "zone", "start"),
    [
        (datetime(2026, 11, 5, 23, 30, tzinfo=UTC), Period.DAILY, "UTC", date(2026, 11, 5)),
        (datetime(2026, 11, 5, 23, 30, tzinfo=UTC), Period.DAILY, "Asia/Tokyo", date(2026, 11, 6)),
        (datetime(2026, 11, 8, 23, 59, tzinfo=UTC), Period.WEEKLY, "UTC", date(2026, 11, 2)),
        (datetime(2026, 11, 9, 0, 0, tzinfo=UTC), Period.WEEKLY, "UTC", date(2026, 11, 9)),
        (datetime(2026, 11, 30, 20, 0, tzinfo=UTC), Period.MONTHLY, "UTC", date(2026, 11, 1)),
        (datetime(2026, 11, 30, 20, 0, tzinfo=UTC), Period.MONTHLY, "Asia/Tokyo", date(2026, 12, 1)),
    ],
)
def test_a_period_starts_on_the_trading_days_calendar(
    moment: datetime, period: Period, zone: str, start: date
) -> None:
    assert period_start(moment, period, ZoneInfo(zone)) == start


def test_the_breakdown_has_one_row_per_day_and_strategy_in_order() -> None:
    trades = [
        trade("5", hours=0, strategy="b"),
        trade("-2", hours=1, strategy="a"),
        trade("3", hours=25, strategy="a"),
        trade("4", hours=2, strategy=None),
    ]
    rows = breakdown(trades, period=Period.DAILY, by=GroupBy.STRATEGY, zone=UTC)
    assert [(row.period, row.group, row.performance.trades, row.performance.pnl) for row in rows] == [
        (date(2026, 11, 2), "", 1, D(4)),
        (date(2026, 11, 2), "a", 1, D(-2)),
        (date(2026, 11, 2), "b", 1, D(5)),
        (date(2026, 11, 3), "a", 1, D(3)),
    ]
    (total,) = breakdown(trades, period=None, by=None, zone=UTC)
    assert (total.period, total.group, total.performance.trades, total.performance.pnl) == (
        None,
        None,
        4,
        D(10),
    )
    by_symbol = breakdown(trades, period=None, by=GroupBy.SYMBOL, zone=UTC)
    assert [(row.group, row.performance.trades) for row in by_symbol] == [("SOL/USDT:USDT", 4)]


money = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False)
trade_lists = st.lists(
    st.builds(
        ClosedTrade,
        closed_at=st.integers(0, 10_000).map(lambda minutes: T0 + timedelta(minutes=minutes)),
        realized_pnl=money,
        fees=st.decimals(min_value=0, max_value=5, places=2),
        funding=st.decimals(min_value=-5, max_value=5, places=2),
        risk_at_entry=st.none() | st.decimals(min_value=D("0.01"), max_value=100, places=2),
        strategy=st.sampled_from(["a", "b", None]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(trade_lists)
def test_expectancy_is_win_rate_times_average_win_plus_loss_rate_times_average_loss(
    trades: list[ClosedTrade],
) -> None:
    result = summarize(trades)
    if not trades:
        return
    assert result.expectancy is not None and result.win_rate is not None
    win_part = result.win_rate / 100 * (result.average_win or 0)
    loss_part = Decimal(result.losses) / result.trades * (result.average_loss or 0)
    assert abs(result.expectancy - (win_part + loss_part)) < D("1e-20")
    assert abs(result.expectancy * result.trades - result.pnl) < D("1e-20")


@settings(max_examples=200, deadline=None)
@given(trade_lists)
def test_the_drawdown_is_never_negative_nor_more_than_all_losses_and_zero_without_a_loss(
    trades: list[ClosedTrade],
) -> None:
    result = summarize(trades)
    assert D(0) <= result.max_drawdown <= -sum((t.pnl for t in trades if t.pnl < 0), D(0))
    pnls = [t.pnl for t in sorted(trades, key=lambda t: t.closed_at)]
    assert max_drawdown(pnls) == result.max_drawdown


@settings(max_examples=100, deadline=None)
@given(trade_lists, st.sampled_from([None, *Period]), st.sampled_from([None, *GroupBy]))
def test_the_rows_of_a_breakdown_add_up_to_the_whole(
    trades: list[ClosedTrade], period: Period | None, by: GroupBy | None
) -> None:
    rows = breakdown(trades, period=period, by=by, zone=ZoneInfo("Europe/Berlin"))
    whole = summarize(trades)
    assert sum(row.performance.trades for row in rows) == whole.trades
    assert sum((row.performance.pnl for row in rows), D(0)) == whole.pnl
    assert sum((row.performance.fees for row in rows), D(0)) == whole.fees
    assert sum(row.performance.wins for row in rows) == whole.wins


@pytest.mark.parametrize(
    ("text", "since"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:30", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T08:30+01:00", datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),
        ("90m", T0 - timedelta(minutes=90)),
        ("24h", T0 - timedelta(hours=24)),
        (" 7d ", T0 - timedelta(days=7)),
        ("2w", T0 - timedelta(weeks=2)),
    ],
)
def test_since_is_a_date_a_time_or_a_span_back_from_now(text: str, since: datetime) -> None:
    assert parse_since(text, T0) == since


@pytest.mark.parametrize("text", ["yesterday", "0d", "7 d", "-3h", "2026-13-01", ""])
def test_a_since_that_is_no_time_is_refused_naming_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time: give an ISO date or time"):
        parse_since(text, T0)
