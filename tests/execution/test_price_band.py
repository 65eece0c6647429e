"""The exchange's PERCENT_PRICE band, read from Binance's filters (issue #10 item 6): a limit entry the
exchange would refuse (-4024) is refused before it is sent, with its own reason."""

from __future__ import annotations

from executor.domain.reasons import ReasonCode
from tests.support.flow import flow


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
