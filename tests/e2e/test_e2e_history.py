"""Trades opened and closed by a daemon against the simulator, then read back as an operator does:
`executor trades` and `executor pnl` (subprocesses asking the daemon) and `GET /trades`, each trade with
the R multiple its PnL makes over the risk it took at entry."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import pytest

from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    DbView,
    Sim,
    error_lines,
    eventually,
    flat_view,
    market_signal,
    move_price,
)
from harness.e2e import protected_view as protected

pytestmark = pytest.mark.slow


def two(value: Decimal) -> str:
    """Money as people read it: 2 decimals, half up."""
    return f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


TAKER = Decimal("0.0005")
"""Binance SOL's taker fee on the simulator (config/sim/instruments.toml)."""


async def booked(daemon: Daemon, count: int) -> DbView:
    async def probe() -> DbView | None:
        db = await daemon.db()
        return db if len(db.closed_positions()) == count else None

    return await eventually(probe, what=f"{count} positions booked as closed")


async def test_closed_trades_show_in_trades_pnl_and_get_trades_with_the_r_their_risk_at_entry_makes(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()

    # a winner closed by a close signal, a loser stopped out at 147, and one left open
    await daemon.ws_send([market_signal("hist-win", strategy="breakout")])
    await eventually(lambda: protected(sim), what="the first position with its stop")
    await move_price(daemon, sim, "152")
    await daemon.ws_send([{"id": "hist-win-close", "action": "close", "symbol": SYMBOL}])
    await eventually(lambda: flat_view(sim), what="flat after the close signal")
    await booked(daemon, 1)
    await move_price(daemon, sim, "150")
    await daemon.ws_send([market_signal("hist-loss", strategy="meanrev")])
    await eventually(lambda: protected(sim), what="the second position with its stop")
    await sim.mark("146")
    await eventually(lambda: flat_view(sim), what="flat after the stop")
    await move_price(daemon, sim, "150")
    await daemon.ws_send([market_signal("hist-open", strategy="breakout")])
    await eventually(lambda: protected(sim), what="the third position with its stop")
    db = await booked(daemon, 2)

    expected: dict[str, tuple[Decimal, Decimal]] = {}
    for position in db.closed_positions():
        risk = ((position.entry_price - 147) + TAKER * (position.entry_price + 147)) * position.qty
        assert position.risk_at_entry == risk
        pnl = position.realized_pnl - position.fees + position.funding
        expected[position.symbol + str(position.id)] = (pnl, pnl / risk)
    (win_pnl, win_r), (loss_pnl, loss_r) = expected.values()
    # the mark gapped from 150 to 146, through the stop at 147: the stop filled near 146, past 1 R
    assert win_pnl > 0 and Decimal("-1.5") < loss_r < -1, expected

    code, out, err = await daemon.cli("trades", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["source"] == "daemon" and report["markets"][SYMBOL]["price_tick"] in ("0.01", "0.010")
    closed = report["closed"]
    assert [(t["signal_id"], t["strategy"]) for t in closed] == [
        ("hist-win", "breakout"),
        ("hist-loss", "meanrev"),
    ]
    assert [(Decimal(t["pnl"]), Decimal(t["r_multiple"])) for t in closed] == [
        (win_pnl, win_r),
        (loss_pnl, loss_r),
    ]
    assert [t["signal_id"] for t in report["open"]] == ["hist-open"]

    code, out, err = await daemon.cli("trades")
    assert code == 0, err
    lines = out.splitlines()
    win_line, loss_line = lines[2].split(), lines[3].split()
    assert win_line[-3:] == [two(win_pnl), two(win_r), "breakout"], out
    assert loss_line[-3:] == [two(loss_pnl), two(loss_r), "meanrev"], out
    assert "147.00" in lines[-2] and lines[-1] == "source: daemon"  # the open trade's stop, to the tick

    code, out, err = await daemon.cli("signals", "--status", "decided")
    assert code == 0, err
    (loss_signal,) = [line for line in out.splitlines() if " hist-loss " in line]
    assert "ACCEPTED" in loss_signal and out.splitlines()[-1] == "source: daemon", out

    code, out, err = await daemon.cli("status")
    assert code == 0, err
    (held,) = [line for line in out.splitlines() if line.startswith("  #")]
    assert " · stop 147.00 (order open)" in held and "unrealized " in held, out  # the stop to the tick

    code, out, err = await daemon.cli("pnl", "--by", "strategy", "--json")
    assert code == 0, err
    pnl = json.loads(out)
    assert (pnl["total"]["trades"], pnl["total"]["wins"], pnl["total"]["losses"]) == (2, 1, 1)
    assert Decimal(pnl["total"]["pnl"]) == win_pnl + loss_pnl
    assert Decimal(pnl["total"]["average_r"]) == (win_r + loss_r) / 2
    assert Decimal(pnl["total"]["max_drawdown"]) == -loss_pnl
    assert {row["group"]: Decimal(row["average_r"]) for row in pnl["rows"]} == {
        "breakout": win_r,
        "meanrev": loss_r,
    }

    code, served = await daemon.get("/trades?strategy=meanrev")
    assert code == 200, served
    (only,) = served["closed"]
    assert (only["signal_id"], Decimal(only["r_multiple"])) == ("hist-loss", loss_r)
    code, served = await daemon.get("/signals?status=decided")
    assert code == 200, served
    opened = [s["signal_id"] for s in served["signals"] if s["accepted"]]
    assert opened == ["hist-open", "hist-loss", "hist-win"], served
    code, served = await daemon.get("/pnl?period=daily")
    assert code == 200 and served["total"]["trades"] == 2 and len(served["rows"]) == 1, served
    assert error_lines(daemon) == []
