"""Binance position mode per account (issue #10 item 2): `GET/POST /fapi/v1/positionSide/dual` with the real
codes, and hedge mode refusing an order without `positionSide` (-4061)."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.support.simkit import Control

BTC = "BTC/USDT:USDT"


async def test_the_mode_is_per_account_and_switches_only_when_it_changes(binance: Any) -> None:
    assert (await binance.fetch_position_mode(BTC))["hedged"] is False
    with pytest.raises(ccxt.ExchangeError, match="-4059"):
        await binance.set_position_mode(False, BTC)  # no need to change position side
    assert (await binance.set_position_mode(True, BTC))["code"] == 200
    assert (await binance.fetch_position_mode(BTC))["hedged"] is True
    with pytest.raises(ccxt.ExchangeError, match="-4059"):
        await binance.set_position_mode(True, BTC)


async def test_hedge_mode_refuses_an_order_without_position_side(binance: Any, control_b: Control) -> None:
    await binance.set_position_mode(True, BTC)
    with pytest.raises(ccxt.ExchangeError, match="-4061"):
        await binance.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError, match="-4061"):
        await binance.create_order(BTC, "market", "buy", 0.01, None, {"stopLossPrice": 59000})
    assert (await control_b.state())["accounts"]["sim-key"]["orders"] == []
    await binance.set_position_mode(False, BTC)
    assert (await binance.create_order(BTC, "market", "buy", 0.01))["status"] == "closed"


async def test_the_switch_is_refused_while_an_order_rests_or_a_position_is_open(binance: Any) -> None:
    limit = await binance.create_order(BTC, "limit", "buy", 0.01, 58000)
    with pytest.raises(ccxt.ExchangeError, match="-4067"):
        await binance.set_position_mode(True, BTC)
    await binance.cancel_order(limit["id"], BTC)
    await binance.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError, match="-4068"):
        await binance.set_position_mode(True, BTC)
    await binance.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    assert (await binance.set_position_mode(True, BTC))["code"] == 200
