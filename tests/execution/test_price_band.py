"""The exchange's PERCENT_PRICE band, read from Binance's filters (issue #10 item 6): a limit entry the
exchange would refuse (-4024) is refused before it is sent, with its own reason; a market close the band
refuses (-4131), or open reduce-only orders do (-4118), keeps its stop and is sent again until it passes."""

from __future__ import annotations

import json

from executor.domain.enums import OrderKind, PositionStatus
from executor.domain.order_state import OrderState
from executor.domain.reasons import ReasonCode
from executor.store.models import PositionRow
from tests.support.flow import SOL, Flow, dec, flow
from tests.support.simkit import binance_client


async def test_a_limit_entry_outside_the_exchanges_price_band_is_refused_unsent(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        far = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "limit", "price": "140"}, "stop": "130"}
        await f.submit(id="far", **far)  # the mark is 150; the band is 142.50..157.50
        near = {
            "symbol": "SOLUSDT",
            "side": "long",
            "entry": {"type": "limit", "price": "145"},
            "stop": "135",
        }
        await f.submit(id="near", **near)
        async with f.store.transaction() as tx:
            decisions = {}
            for signal_id in ("far", "near"):
                signal = await tx.signals.get("main", signal_id)
                assert signal is not None
                decisions[signal_id] = await tx.decisions.for_signal(signal.id)
        refused, accepted = decisions["far"], decisions["near"]
        assert refused is not None and refused.reason == ReasonCode.PRICE_OUT_OF_BAND
        assert refused.message is not None and "142.5" in refused.message
        assert accepted is not None and accepted.accepted
        sent = [
            r["params"]
            for r in (await f.control("GET", "requests"))["requests"]
            if (r["method"], r["path"]) == ("POST", "/fapi/v1/order")
        ]
        assert [p.get("price") for p in sent] == ["145"]


LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}
THIN = 600
"""Taking fills 6 % off the mark: outside Binance's PERCENT_PRICE band (±5 % in the simulator), so a market
order is refused -4131 (docs/exchange-facts.md §6)."""


def book(f: Flow, slippage_bps: int) -> None:
    """How far from the mark the book's best prices stand (the simulator keeps no depth: its taker price)."""
    f.sim.engine.config = f.sim.engine.config.with_overrides(slippage_bps=slippage_bps)


async def _closes(f: Flow) -> list[int]:
    """The statuses of the market closes sent, in order."""
    return [
        r["status"]
        for r in (await f.control("GET", "requests"))["requests"]
        if (r["method"], r["path"]) == ("POST", "/fapi/v1/order")
        and (r["params"].get("type"), r["params"].get("reduceOnly")) == ("MARKET", "true")
    ]


async def _open(f: Flow) -> list[PositionRow]:
    async with f.store.transaction() as tx:
        return list(await tx.positions.with_status("main", PositionStatus.OPEN))


async def test_a_close_refused_4131_keeps_the_stop_and_is_sent_again_each_pass_until_the_position_is_flat(
    sqlite_url: str,
) -> None:
    async with flow("binance", sqlite_url) as f:
        await f.submit(id="band-close", **LONG_SOL)
        [position] = await _open(f)
        [stop] = await f.resting_stops()
        book(f, THIN)

        await f.submit(id="band-close-x", action="close", symbol="SOLUSDT")
        await f.tick()

        assert await _closes(f) == [400, 400]
        assert [dec(p["qty"]) for p in (await f.sim_account())["positions"]] == [position.qty]
        assert await f.resting_stops() == [stop]  # guarded while the close is refused
        async with f.store.transaction() as tx:
            refused = [
                row
                for row in await tx.orders.in_states("main", [OrderState.REJECTED])
                if row.kind is OrderKind.CLOSE
            ]
        assert len(refused) == 2 and all("-4131" in json.dumps(row.state_history) for row in refused)
        book(f, 0)
        await f.tick()
        assert await _closes(f) == [400, 400, 200]
        assert (await f.sim_account())["positions"] == [] and await f.resting_stops() == []
        assert await _open(f) == []


async def test_a_position_whose_stop_cannot_be_placed_is_closed_by_the_next_pass_when_its_close_was_refused(
    sqlite_url: str,
) -> None:
    """RISK_SPEC §0: no stop means close. The close refused -4131 is recorded as requested, so the tracker
    sends it again on its next pass instead of leaving the position unguarded until a reconciliation."""
    async with flow("binance", sqlite_url) as f:
        await f.submit(id="band-naked", **LONG_SOL)
        await f.adapter.cancel_all(SOL)  # the stop is cancelled by hand
        await f.control("POST", "faults", {"action": "reject_stop", "count": None})
        book(f, THIN)
        await f.reconciler.run()  # no stop: placing one is refused, and the close -4131
        assert await _closes(f) == [400]
        [position] = await _open(f)
        assert position.close_requested == "stop could not be placed"
        book(f, 0)

        await f.tick()

        assert await _closes(f) == [400, 200]
        assert (await f.sim_account())["positions"] == []
        assert await _open(f) == []


async def test_an_entry_in_a_book_outside_the_band_is_refused_unsent(sqlite_url: str) -> None:
    """Where a market order would be refused -4131 the daemon sends none: a taking entry is an IOC limit at
    its slippage bound, and a bound outside the band is refused before it leaves (PRICE_OUT_OF_BAND)."""
    async with flow("binance", sqlite_url) as f:
        book(f, THIN)
        await f.submit(id="band-entry", **LONG_SOL)
        async with f.store.transaction() as tx:
            signal = await tx.signals.get("main", "band-entry")
            assert signal is not None
            decision = await tx.decisions.for_signal(signal.id)
        assert decision is not None and decision.reason == ReasonCode.PRICE_OUT_OF_BAND
        assert await _closes(f) == []
        assert not [
            r for r in (await f.control("GET", "requests"))["requests"] if r["path"] == "/fapi/v1/order"
        ]


async def test_a_close_refused_4118_by_a_resting_reduce_only_order_keeps_the_stop_and_closes_once_it_is_gone(
    sqlite_url: str,
) -> None:
    """Binance counts open reduce-only orders against the position (-4118): one placed by hand for the whole
    position blocks the daemon's close; the stop stays and the close is sent again until it passes."""
    async with flow("binance", sqlite_url) as f:
        await f.submit(id="ro-close", **LONG_SOL)
        [position] = await _open(f)
        [stop] = await f.resting_stops()
        client = binance_client(f.url)
        try:
            by_hand = await client.create_order(
                SOL, "limit", "sell", float(position.qty), 156, {"reduceOnly": True, "timeInForce": "GTC"}
            )
            await f.submit(id="ro-close-x", action="close", symbol="SOLUSDT")
            await f.tick()
            assert await _closes(f) == [400, 400]
            assert await f.resting_stops() == [stop] and await _open(f) != []
            await client.cancel_order(by_hand["id"], SOL)
        finally:
            await client.close()

        await f.tick()

        assert await _closes(f) == [400, 400, 200]
        assert (await f.sim_account())["positions"] == [] and await _open(f) == []
