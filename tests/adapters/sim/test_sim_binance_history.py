"""Binance history pages (issue #10 item 7): `userTrades` spans at most 7 days per request, `income`
answers at most its `limit`; the simulator enforces both, on its own clock."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.support.simkit import Control

BTC = "BTC/USDT:USDT"
DAY_MS = 86_400_000


async def _trade_every_ten_days(binance: Any, control: Control) -> list[int]:
    for _ in range(3):
        await binance.create_order(BTC, "market", "buy", 0.01)
        await control.call("POST", "clock", {"advance_seconds": 10 * 86_400})
    return [fill["time_ms"] for fill in (await control.state())["accounts"]["sim-key"]["fills"]]


async def test_user_trades_answer_at_most_seven_days_per_request(binance: Any, control_b: Control) -> None:
    t0, t1, t2 = await _trade_every_ten_days(binance, control_b)
    trades = binance.fapiPrivateGetUserTrades
    with pytest.raises(ccxt.BadRequest, match="-1127"):
        await trades({"symbol": "BTCUSDT", "startTime": t0 - 1, "endTime": t0 + 7 * DAY_MS + 1})
    from_start = await trades({"symbol": "BTCUSDT", "startTime": t0 - 1})  # only its first week
    assert [int(t["time"]) for t in from_start] == [t0]
    assert await trades({"symbol": "BTCUSDT"}) == []  # the last 7 days: the last trade is 10 days old
    window = await trades({"symbol": "BTCUSDT", "startTime": t1 - 1, "endTime": t1 - 1 + 7 * DAY_MS})
    assert [int(t["time"]) for t in window] == [t1]
    assert t2 > t1
    with pytest.raises(ccxt.ExchangeError, match="-1128"):
        await trades({"symbol": "BTCUSDT", "fromId": 1, "startTime": t0})


async def test_income_answers_at_most_its_limit_and_the_last_week_by_default(
    binance: Any, control_b: Control
) -> None:
    t0, _, _ = await _trade_every_ten_days(binance, control_b)
    income = binance.fapiPrivateGetIncome
    funding = await income({"incomeType": "FUNDING_FEE", "startTime": t0, "limit": 10})
    assert len(funding) == 10 and [int(r["time"]) for r in funding] == sorted(int(r["time"]) for r in funding)
    everything = await income({"incomeType": "FUNDING_FEE", "startTime": t0, "limit": 1000})
    booked = (await control_b.state())["accounts"]["sim-key"]["income"]
    assert len(everything) == len([r for r in booked if r["type"] == "FUNDING_FEE"]) == 90  # 3 a day, 30 days
    recent = await income({"incomeType": "FUNDING_FEE"})
    assert 0 < len(recent) <= 22 and min(int(r["time"]) for r in recent) > t0 + 22 * DAY_MS
    with pytest.raises(ccxt.ExchangeError, match="-1130"):
        await income({"limit": 1001})
