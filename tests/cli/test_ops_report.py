"""`executor report --day DATE` as a subprocess on a real database: the day's report written as HTML and
PNG into the directory asked for, a one-line summary; a malformed date is one line and exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from executor.store.store import Store
from tests.support.cli import cli_env, port_nothing_answers, run_executor
from tests.support.trading_day import DAY, store_trading_day


@pytest.fixture
async def day_stored(migrated_sqlite_url: str) -> str:
    """The tests' trading day in a database the command opens by its URL."""
    store = Store.open(migrated_sqlite_url)
    try:
        await store_trading_day(store)
    finally:
        await store.close()
    return migrated_sqlite_url


async def test_report_writes_the_days_html_and_png_and_prints_where(day_stored: str, tmp_path: Path) -> None:
    """Its stdout is those four lines and nothing else, also on a first run, when matplotlib builds its
    font cache and logs it (an extra first line on stdout was the flake)."""
    target, fonts = tmp_path / "out", tmp_path / "matplotlib"
    with port_nothing_answers() as port:
        env = cli_env(day_stored, EXECUTOR__INGRESS__HTTP=f"127.0.0.1:{port}", MPLCONFIGDIR=str(fonts))
        code, out, err = await run_executor("report", "--day", DAY.isoformat(), "--dir", str(target), env=env)
    assert code == 0, err
    url = f"http://127.0.0.1:{port}/trades?since=2026-06-02T00%3A00%3A00%2B00%3A00"
    assert out.splitlines() == [
        "trading day 2026-06-02: 2 trades, profit 15.40 after fees and funding, 2 rejected",
        f"prices and quantities as stored (no answer at {url} (ConnectionRefusedError))",
        str(target / "2026-06-02.html"),
        str(target / "2026-06-02.png"),
    ]
    assert list(fonts.glob("fontlist-*.json")), "the font cache was built by this run"
    assert "generated new fontManager" not in err  # matplotlib's info lines are not logged at all
    assert "profit 15.40" in (target / "2026-06-02.html").read_text(encoding="utf-8")
    assert (target / "2026-06-02.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_report_given_the_markets_on_stdin_shows_prices_to_the_tick(
    day_stored: str, tmp_path: Path
) -> None:
    migrated_sqlite_url = day_stored
    grids = {"BTC/USDT:USDT": {"price_tick": "0.01", "amount_step": "0.1"}}
    code, out, err = await run_executor(
        "report",
        "--day",
        DAY.isoformat(),
        "--dir",
        str(tmp_path),
        "--markets",
        "-",
        env=cli_env(migrated_sqlite_url),
        stdin=json.dumps(grids).encode(),
    )
    assert code == 0, err
    assert "prices and quantities on the markets given" in out.splitlines()
    html = (tmp_path / "2026-06-02.html").read_text(encoding="utf-8")
    assert re.findall(r'class="num entry">([^<]*)<', html) == ["100.00", "50.00"]

    code, out, err = await run_executor(
        "report", "--markets", "-", env=cli_env(migrated_sqlite_url), stdin=b'{"BTC/USDT:USDT": 5}'
    )
    assert (code, out) == (2, "")
    assert err.strip().startswith("--markets: not a JSON object of symbol")


async def test_a_malformed_day_is_one_line_naming_the_option_and_exit_2(migrated_sqlite_url: str) -> None:
    code, out, err = await run_executor("report", "--day", "02/06/2026", env=cli_env(migrated_sqlite_url))
    assert (code, out) == (2, "")
    assert err.strip() == "--day '02/06/2026' is not a date: give the trading day as YYYY-MM-DD"
