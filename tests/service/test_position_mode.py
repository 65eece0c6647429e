"""Start-up in Binance hedge mode (issue #10 item 2): switched to one-way when nothing is open, else no
trading until the user has closed what is open, with one error line saying what to do."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from adapters.sim.model import OrderRequest, OrderSide, OrderType
from executor.config.settings import load_settings
from executor.service import daemon as daemon_module
from executor.service.daemon import Daemon
from tests.support.adapter_sim import BTC, eventually, running_sim


async def test_a_flat_account_in_hedge_mode_is_switched_to_one_way() -> None:
    async with running_sim("binance") as sim:
        sim.server.engine.account("sim-key").dual_side = True
        with capture_logs() as logs:
            assert await sim.adapter.ensure_one_way([BTC]) == []
        assert sim.server.engine.account("sim-key").dual_side is False
        assert [line["to"] for line in logs if line["event"] == "exchange_position_mode_switched"] == [
            "one-way"
        ]
        assert await sim.adapter.ensure_one_way([BTC]) == []  # one-way already: nothing sent
        assert len(await sim.requests("POST", "/fapi/v1/positionSide/dual")) == 1


async def test_hedge_mode_with_an_open_position_keeps_the_daemon_from_trading_until_it_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(daemon_module, "POSITION_MODE_RECHECK", 0.5)
    async with running_sim("binance") as sim:
        engine = sim.server.engine
        account = engine.account("sim-key")
        engine.place(
            account, OrderRequest("BTCUSDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.01"), "u-1")
        )
        account.dual_side = True  # the user's account: hedge mode, a position open
        daemon = Daemon(load_settings())
        with capture_logs() as logs:
            step = asyncio.create_task(daemon._until_one_way(sim.adapter, [BTC]))
            await eventually(lambda: "hedge mode" in (daemon.state.not_ready_reason or ""), within=5)
            [line] = [line for line in logs if line["event"] == "position_mode_refused"][:1]
            assert "has an open position: close every" in line["detail"] and "to One-way" in line["detail"]
            assert not step.done()
            # The user closes the position on Binance; the next read switches the mode.
            engine.place(
                account,
                OrderRequest(
                    "BTCUSDT", OrderSide.SELL, OrderType.MARKET, Decimal("0.01"), "u-2", reduce_only=True
                ),
            )
            async with asyncio.timeout(10):
                assert await step is True
        assert account.dual_side is False
        assert (await sim.adapter.account_snapshot()).positions == ()
