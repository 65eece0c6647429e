"""The price a decision stands on (RISK_SPEC 1, "reference price"): where the entry will trade.

A market entry trades at the book side it takes — the ask for a long, the bid for a short — or at the
mark where no book is known. A limit that is already through that price (a long limit at or above the
ask, a short limit at or below the bid) fills at once at the same place, so it is decided exactly like a
market entry: judging it at its own limit price would size a short "at 10" while BTC trades at 60,000.
Only a resting limit stands on its limit price.

An entry that takes liquidity may fill beyond its reference price; the profile's `entry_slippage_pct`
bounds how far. The order goes out as a limit at that bound (immediate-or-cancel), so it cannot fill
beyond it, and the quantity step prices the stop loss from the bound, not from the reference.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from executor.domain.enums import EntryType, RiskStep, Side
from executor.domain.money import ceil_to_step, floor_to_step
from executor.domain.reasons import ReasonCode
from executor.risk.decision import PriceSource, Text, Value
from executor.risk.inputs import RiskMarket
from executor.risk.proposal import Proposal, Reject
from executor.risk.sizing import nearest_tick, on_grid, toward

ONE = Decimal(1)
MILLISECOND = timedelta(milliseconds=1)


def book_side(side: Side, market: RiskMarket) -> tuple[Decimal | None, PriceSource]:
    """The price an order of this side takes: the ask for a buy, the bid for a sell, else the mark."""
    book = market.ask if side is Side.LONG else market.bid
    if book is not None:
        return book, PriceSource.ASK if side is Side.LONG else PriceSource.BID
    return market.price, PriceSource.MARK


def age_ms(now: datetime, quoted_at: datetime) -> int:
    """Whole milliseconds since the quote was read; one stamped ahead of `now` (clock skew) counts as new."""
    return max(0, (now - quoted_at) // MILLISECOND)


def too_old(now: datetime, quoted_at: datetime, max_age_ms: int) -> bool:
    return now - quoted_at > max_age_ms * MILLISECOND


def worst_fill(side: Side, reference: Decimal, allowance: Decimal, tick: Decimal) -> Decimal:
    """The allowance's bound on the tick grid, rounded toward the reference so it is never exceeded."""
    if side is Side.LONG:
        return floor_to_step(reference * (ONE + allowance), tick)
    return ceil_to_step(reference * (ONE - allowance), tick)


def reference_price(p: Proposal) -> None:
    """Choose the reference price and the order price; refuse an order price outside the price band."""
    signal, market, side, tick = p.signal, p.market, p.signal.side, p.price_tick
    book, source = book_side(side, market)
    assert book is not None and market.quoted_at is not None  # the data step refused otherwise
    p.price_age_ms = age_ms(p.now, market.quoted_at)
    limit = signal.entry.price if signal.entry.type is EntryType.LIMIT else None
    before: dict[str, Value] = {
        "entry_type": signal.entry.type,
        "limit": limit,
        "bid": market.bid,
        "ask": market.ask,
        "mark": market.price,
        "age_ms": p.price_age_ms,
    }
    if limit is not None and (book - limit) * p.sign > 0:
        p.reference_source, p.taking = PriceSource.LIMIT, False
        p.reference = on_grid(toward(side, limit, tick), tick)
        p.order_price = p.reference
        note: Text = ("resting limit: not through the {} {}, stands on its own price", (source, book))
    else:
        p.reference_source, p.taking = source, True
        p.reference = nearest_tick(book, tick)
        bound = worst_fill(side, p.reference, p.profile.entry_slippage_pct, tick)
        if limit is not None:
            limit_on_tick = on_grid(toward(side, limit, tick), tick)
            bound = min(bound, limit_on_tick) if side is Side.LONG else max(bound, limit_on_tick)
        p.order_price = bound.quantize(tick)
        note = (
            ("market entry" if limit is None else "limit {} is through the {}: a market entry")
            + " at the {} {}, {} ms old; sent as an IOC limit at {} (allowance {!n:f}%)",
            (
                *(() if limit is None else (limit, source)),
                source,
                p.reference,
                p.price_age_ms,
                p.order_price,
                p.profile.entry_slippage_pct * 100,
            ),
        )
    after: dict[str, Value] = {
        "reference": p.reference,
        "source": p.reference_source,
        "order_price": p.order_price,
        "takes_liquidity": p.taking,
    }
    _band(p, before, after)
    p.record(RiskStep.REFERENCE_PRICE, before, after, note=note)


def _band(p: Proposal, before: dict[str, Value], after: dict[str, Value]) -> None:
    market = p.market
    if market.price is None or market.price_band_down is None or market.price_band_up is None:
        return
    low, high = market.price * market.price_band_down, market.price * market.price_band_up
    after["band"] = f"{low.normalize():f}..{high.normalize():f}"
    if low <= p.order_price <= high:
        return
    message = (
        f"The order price {p.order_price} is outside the exchange's price band {low.normalize():f}.."
        f"{high.normalize():f} around the mark {market.price} "
        f"(×{market.price_band_down}..×{market.price_band_up}); the exchange would refuse it."
    )
    p.record(
        RiskStep.REFERENCE_PRICE,
        before,
        after | {"rejected": ReasonCode.PRICE_OUT_OF_BAND.value},
        note=message,
    )
    raise Reject(ReasonCode.PRICE_OUT_OF_BAND, message)
