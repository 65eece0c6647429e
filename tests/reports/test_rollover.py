"""At the rollover the ended day's report is written by `executor report` in a child process, off the
daemon's loop, and the daily summary then goes out linking it; without reports, when the report fails,
or when the shutdown stops it, the summary still goes out."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from executor.config.settings import ReportSettings
from executor.domain.market import Market, MarketFilters
from executor.domain.notices import Notice, daily_summary
from executor.reports.rollover import DailyReporter, report_command
from executor.store.store import Store
from tests.support.trading_day import DAY, store_trading_day

SUMMARY = daily_summary(
    DAY, Decimal(10000), Decimal("10015.40"), Decimal("15.40"), Decimal("1.2"), Decimal("-0.4")
)


@pytest.fixture
async def database(migrated_sqlite_url: str) -> str:
    """The day stored in a database the child process opens by its URL."""
    store = Store.open(migrated_sqlite_url)
    try:
        await store_trading_day(store)
    finally:
        await store.close()
    return migrated_sqlite_url


BTC = Market(
    symbol="BTC/USDT:USDT",
    exchange_symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    settle="USDT",
    contract_size=Decimal(1),
    filters=MarketFilters(
        amount_step=Decimal("0.001"),
        price_tick=Decimal("0.10"),
        min_amount=Decimal("0.001"),
        min_notional=Decimal(5),
        max_leverage=Decimal(125),
    ),
    taker_fee=None,
    maker_fee=None,
    active=True,
)


async def markets() -> Mapping[str, Market]:
    return {BTC.symbol: BTC}


def reporter(database: str, settings: ReportSettings, sent: list[Notice]) -> DailyReporter:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECUTOR")}
    env |= {"EXECUTOR__DATABASE__URL": database}
    return DailyReporter(settings, sent.append, report_command(None), env, markets)


async def test_the_summary_links_the_report_written_for_the_day_that_ended(
    database: str, tmp_path: Path
) -> None:
    sent: list[Notice] = []
    rollover = reporter(database, ReportSettings(dir=tmp_path, link_url="https://ops.example/executor"), sent)
    rollover.day_ended(DAY, SUMMARY)
    assert sent == []  # the caller (the breaker's tick) does not wait for the report
    await rollover.flush(60)
    [notice] = sent
    assert notice.figures[-1].label == "report"
    assert notice.figures[-1].value == "https://ops.example/executor/reports/2026-06-02.html"
    assert notice.figures[:-1] == SUMMARY.figures
    html = (tmp_path / "2026-06-02.html").read_text(encoding="utf-8")
    assert "profit 15.40" in html
    # the daemon's markets reach the child: the stored entry 100 reads to BTC's 0.10 tick
    assert re.findall(r'class="num entry">([^<]*)<', html) == ["100.0", "50.0"]
    assert (tmp_path / "2026-06-02.png").stat().st_size > 0


async def test_with_daily_reports_off_the_summary_goes_at_once_and_nothing_is_written(
    database: str, tmp_path: Path
) -> None:
    sent: list[Notice] = []
    reporter(database, ReportSettings(dir=tmp_path / "reports", daily=False), sent).day_ended(DAY, SUMMARY)
    assert sent == [SUMMARY] and not (tmp_path / "reports").exists()


async def test_a_report_that_cannot_be_written_leaves_the_summary_without_a_link(
    database: str, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    sent: list[Notice] = []
    rollover = reporter(database, ReportSettings(dir=blocked), sent)
    rollover.day_ended(DAY, SUMMARY)
    await rollover.flush(60)
    assert sent == [SUMMARY]


async def test_a_report_still_running_at_shutdown_is_stopped_and_its_summary_still_sent(
    database: str, tmp_path: Path
) -> None:
    sent: list[Notice] = []
    rollover = reporter(database, ReportSettings(dir=tmp_path), sent)
    rollover.day_ended(DAY, SUMMARY)
    await rollover.flush(0)
    assert sent == [SUMMARY]
    assert not (tmp_path / "2026-06-02.html").exists()
