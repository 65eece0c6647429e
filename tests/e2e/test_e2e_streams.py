"""Market streams in the daemon (issue #11), Binance and Phemex: a decision stands on the streamed price, with
the stream stalled on a fresh REST price, with the stream and REST both gone it fails closed, and the stream
reconnects once served again; /ready and /metrics show each stream's state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from harness.e2e import (
    Daemon,
    DaemonFactory,
    Sim,
    creating_requests,
    entry_id,
    eventually,
    market_signal,
    move_price,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)]

STALL = {
    "EXECUTOR__EXCHANGE__STREAM_STALL_MS": "1500",
    "EXECUTOR__RISK__OVERRIDES__ALLOWED_SYMBOLS": '["SOL/USDT:USDT"]',  # followed from start-up
}
PRICE_READS = {  # the REST reads of the book top and of the mark
    "binance": ("/fapi/v1/ticker/bookTicker", "/fapi/v1/premiumIndex"),
    "phemex": ("/md/v2/orderbook", "/md/v2/ticker/24hr"),
}


async def streams(daemon: Daemon) -> dict[str, Any]:
    """The market streams in /ready (the user data stream has its own tests: test_e2e_user_stream.py)."""
    _, body = await daemon.get("/ready")
    return {name: s for name, s in (body.get("streams") or {}).items() if name != "user_data"}


async def all_in(daemon: Daemon, state: str) -> dict[str, Any] | None:
    found = await streams(daemon)
    return found if found and all(s["state"] == state for s in found.values()) else None


async def aged(daemon: Daemon) -> bool:
    """Every market stream's last message older than execution.max_price_age_ms (1 s): a price it brought
    just before it went down is no longer one to decide on."""
    return all(s["age_seconds"] is None or s["age_seconds"] > 1.0 for s in (await streams(daemon)).values())


async def sent_entry(sim: Sim, signal_id: str) -> bool:
    return entry_id(signal_id) in creating_requests(await sim.requests(), sim.family)


async def decision_of(daemon: Daemon, signal_id: str) -> Any:
    return (await daemon.db(signal_id)).decisions.get(signal_id)


async def test_the_decision_stands_on_the_streamed_price(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """REST refuses every price read after the move, so only the streams can have priced the entry (the
    price age limit is raised so that a loaded machine cannot age the streamed price out before the
    decision)."""
    daemon = daemons(sqlite_url, **STALL, EXECUTOR__EXECUTION__MAX_PRICE_AGE_MS="10000")
    await daemon.start()
    await eventually(lambda: all_in(daemon, "live"), what="both market streams live in /ready")
    await move_price(daemon, sim, "152")
    for path in PRICE_READS[sim.family]:
        await sim.fault(action="error_5xx", method="GET", path=path, count=None)
    await daemon.ws_send([market_signal("stream-priced-1")])

    decision = await eventually(lambda: decision_of(daemon, "stream-priced-1"), what="a decision")
    assert decision.accepted, decision.message
    assert decision.entry == Decimal("152")  # the streamed ask
    await eventually(lambda: sent_entry(sim, "stream-priced-1"), what="the entry on the exchange")


async def test_a_stalled_stream_leaves_the_decision_to_a_fresh_rest_price_and_reconnects(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **STALL)
    await daemon.start()
    await eventually(lambda: all_in(daemon, "live"), what="both market streams live in /ready")

    await sim.fault(action="ws_stall", count=None)
    since = (await sim.requests())[-1]["seq"]
    await sim.mark("151")  # the book's change is pushed, the rule freezes it: the streams never carry it
    down = await eventually(lambda: all_in(daemon, "down"), what="both streams down after the stall limit")
    assert all("stalled" in s["problem"] for s in down.values()), down
    await daemon.ws_send([market_signal("stream-stalled-1")])

    decision = await eventually(lambda: decision_of(daemon, "stream-stalled-1"), what="a decision")
    assert decision.accepted, decision.message
    assert decision.entry == Decimal("151")  # the ask, read from REST on the path
    assert await sim.requests(since=str(since), path=PRICE_READS[sim.family][0])
    await eventually(lambda: sent_entry(sim, "stream-stalled-1"), what="the entry on the exchange")

    await sim.clear_faults()
    back = await eventually(lambda: all_in(daemon, "live"), what="both streams live again")
    assert all(s["reconnects"] >= 1 and s["age_seconds"] is not None for s in back.values()), back
    _, metrics = await daemon.get("/metrics")
    assert 'executor_stream_live{stream="mark_price"} 1.0' in str(metrics)


async def test_with_the_stream_and_rest_both_gone_the_decision_fails_closed(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **STALL)
    await daemon.start()
    await eventually(lambda: all_in(daemon, "live"), what="both market streams live in /ready")

    await sim.fault(action="ws_disconnect", count=None)
    for path in PRICE_READS[sim.family]:
        await sim.fault(action="error_5xx", method="GET", path=path, count=None)
    await sim.mark("150.5")  # a change for the quiet book stream to push: the rule closes it then
    await eventually(lambda: all_in(daemon, "down"), what="both streams down")
    await eventually(lambda: aged(daemon), what="the last streamed prices older than max_price_age_ms")
    await daemon.ws_send([market_signal("stream-gone-1")])

    decision = await eventually(lambda: decision_of(daemon, "stream-gone-1"), what="a decision")
    assert (decision.accepted, decision.reason) == (False, "DATA_MISSING"), decision.message
    assert entry_id("stream-gone-1") not in creating_requests(await sim.requests(), sim.family)

    await sim.clear_faults()
    await eventually(lambda: all_in(daemon, "live"), what="both streams live again")
