"""A trading day's report from the store: the trades closed that day with their PnL and R (PnL ÷ the risk
at entry), fees, funding, rejections by reason and the breaker's day, as HTML beside a PNG equity chart."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path

from PIL import Image

from executor.config.risk_profiles import load_profile
from executor.domain.market import grid_filters
from executor.reports.daily import INVALID, day_report
from executor.reports.render import write
from executor.store.store import Store
from tests.support.trading_day import ACCOUNT, DAY, at, store_trading_day

PROFILE = load_profile("handbook")


def cells(html: str, element_id: str, tag: str = "td") -> str:
    """The text of the `tag` element with that id (tags dropped, whitespace collapsed)."""
    match = re.search(rf'<{tag} [^>]*id="{element_id}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert match, element_id
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match[1])).split())


async def test_the_days_trades_pnl_r_fees_funding_and_rejections_are_the_stored_numbers(
    store: Store, tmp_path: Path
) -> None:
    await store_trading_day(store)
    report = await day_report(store, ACCOUNT, PROFILE, DAY, at(48))
    assert [(t.side, t.closed.pnl, t.closed.risk_at_entry, t.closed.r_multiple) for t in report.trades] == [
        ("long", Decimal("18.5"), Decimal(10), Decimal("1.85")),
        ("short", Decimal("-3.1"), Decimal(2), Decimal("-1.55")),
    ]
    assert report.rejections == {"SYMBOL_HELD": 1, INVALID: 1}

    written = write(report, tmp_path / "reports")
    html = written.html.read_text(encoding="utf-8")
    assert cells(html, "trade-count") == "2"
    assert cells(html, "net") == "profit 15.40"
    assert cells(html, "fees") == "1.20"
    assert cells(html, "funding") == "loss 0.40"
    assert cells(html, "average-r") == "0.15 R"
    assert re.findall(r'class="num r">([^<]*)<', html) == ["1.85 R", "-1.55 R"]
    assert cells(html, "rejections", "table") == f"SYMBOL_HELD 1 {INVALID} 1"
    assert cells(html, "breaker-status").startswith("tripped") and "operator halt" in html
    assert "operator.halt" in cells(html, "events", "table")
    assert f'src="{written.png.name}"' in html


async def test_with_the_markets_known_prices_read_to_the_tick_and_quantities_to_the_step(
    store: Store, tmp_path: Path
) -> None:
    await store_trading_day(store)
    report = await day_report(store, ACCOUNT, PROFILE, DAY, at(48))
    # stored as 2 @ 100 → 110 and 1 @ 50 → 53
    as_stored = write(report, tmp_path / "stored").html.read_text(encoding="utf-8")
    assert re.findall(r'class="num entry">([^<]*)<', as_stored) == ["100", "50"]

    btc = grid_filters({"BTC/USDT:USDT": {"price_tick": "0.10", "amount_step": "0.001"}})
    html = write(report, tmp_path / "grid", btc).html.read_text(encoding="utf-8")
    assert re.findall(r'class="num entry">([^<]*)<', html) == ["100.0", "50.0"]
    assert re.findall(r'class="num exit">([^<]*)<', html) == ["110.0", "53.0"]
    assert re.findall(r'class="num qty">([^<]*)<', html) == ["2.000", "1.000"]


async def test_the_equity_chart_is_a_png_of_the_days_curve_closed_by_the_next_days_opening(
    store: Store, tmp_path: Path
) -> None:
    await store_trading_day(store)
    report = await day_report(store, ACCOUNT, PROFILE, DAY, at(48))
    expected = [Decimal("10000"), Decimal("10018.5"), Decimal("10015.4"), Decimal("10015.40")]
    assert [point.equity for point in report.curve] == expected
    assert report.curve[-1].at == report.end
    written = write(report, tmp_path)
    assert written.png.stat().st_size > 0
    with Image.open(written.png) as image:
        image.verify()
        assert (image.format, image.size) == ("PNG", (800, 300))


async def test_a_day_the_daemon_did_not_run_still_gets_a_report_that_says_so(
    store: Store, tmp_path: Path
) -> None:
    await store_trading_day(store)
    report = await day_report(store, ACCOUNT, PROFILE, DAY - timedelta(days=1), at(48))
    assert (report.trades, report.ledger, report.curve, report.rejections) == ([], None, [], {})
    written = write(report, tmp_path)
    assert "the daemon did not run this day" in written.html.read_text(encoding="utf-8")
    with Image.open(written.png) as image:
        assert image.format == "PNG"
