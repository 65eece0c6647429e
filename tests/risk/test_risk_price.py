"""The price a decision stands on: reference price, its age, marketable limits, the price band,
slippage in the risk (docs/risk.md, issue #11); the check after the fill is in test_risk_fill.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from executor.domain.enums import Side
from executor.domain.reasons import ReasonCode
from executor.risk.decision import PriceSource
from tests.support.risk import NOW, account, market, profile, run, signal, step

D = Decimal
BOOK = {"price": D("74.21"), "bid": D("74.19"), "ask": D("74.20")}


# --- the reference price and its age ---------------------------------------------------------


def test_a_market_long_is_decided_at_the_ask_and_a_short_at_the_bid() -> None:
    long = run(signal(stop="73.50"), mkt=market(**BOOK))
    short = run(signal(stop="75.00", side=Side.SHORT), mkt=market(**BOOK))
    assert (long.entry, long.price_source) == (D("74.20"), PriceSource.ASK)
    assert (short.entry, short.price_source) == (D("74.19"), PriceSource.BID)


def test_a_market_entry_with_no_book_is_decided_at_the_mark() -> None:
    decision = run(signal(stop="73.50"), mkt=market(price=D("74.21")))
    assert (decision.entry, decision.price_source) == (D("74.21"), PriceSource.MARK)


def test_the_decision_records_the_price_and_its_age() -> None:
    decision = run(signal(stop="73.50"), mkt=market(**BOOK, quoted_at=NOW - timedelta(milliseconds=400)))
    assert decision.accepted and decision.price_age_ms == 400
    assert step(decision, "reference_price").after["source"] == "ask"
    assert "74.20 (ask, 400 ms old; IOC limit 74.27)" in decision.message
    assert decision.to_dict()["price_age_ms"] == 400


def test_a_price_older_than_max_price_age_is_data_missing() -> None:
    old = market(**BOOK, quoted_at=NOW - timedelta(milliseconds=1001))
    decision = run(signal(stop="73.50"), mkt=old)
    assert decision.reason is ReasonCode.DATA_MISSING
    assert "the price is 1001 ms old, over the 1000 ms limit" in decision.message
    assert run(signal(stop="73.50"), mkt=replace(old, max_price_age_ms=2000)).accepted


def test_an_unknown_price_or_age_is_data_missing() -> None:
    no_time = run(signal(stop="73.50"), mkt=market(quoted_at=None))
    no_price = run(signal(stop="73.50"), mkt=market(price=None, bid=D("74.19")))
    assert no_time.reason is no_price.reason is ReasonCode.DATA_MISSING
    assert "market.quoted_at" in no_time.message
    assert "market.price is unknown" in no_price.message  # a long takes the ask: the bid does not help


# --- limits that are already through the market ---------------------------------------------


def test_the_issue_example_short_btc_limit_at_10_is_judged_at_the_bid_and_refused_not_74_btc_at_10() -> None:
    btc = market(
        price=D(60_000), bid=D("59999.9"), ask=D(60_000), price_tick=D("0.1"), amount_step=D("0.001")
    )
    decision = run(signal(stop="11", side=Side.SHORT, entry="10", conviction=D(8)), account(1000), btc)
    assert decision.reason is ReasonCode.BAD_GEOMETRY
    assert step(decision, "reference_price").after["reference"] == D("59999.9")
    assert "stop above the entry 59999.9" in decision.message


def test_a_long_limit_at_or_above_the_ask_is_a_market_entry_bounded_by_its_limit() -> None:
    through = run(signal(stop="73.50", entry="74.25"), mkt=market(**BOOK))
    at_ask = run(signal(stop="73.50", entry="74.20"), mkt=market(**BOOK))
    far = run(signal(stop="73.50", entry="80"), mkt=market(**BOOK))
    assert (through.entry, through.order_price, through.takes_liquidity) == (D("74.20"), D("74.25"), True)
    assert (at_ask.entry, at_ask.order_price) == (D("74.20"), D("74.20"))
    assert (far.entry, far.order_price) == (D("74.20"), D("74.27"))  # the allowance binds, not the limit


def test_a_short_limit_at_or_below_the_bid_is_a_market_entry_at_the_bid() -> None:
    decision = run(signal(stop="75.00", side=Side.SHORT, entry="74.00"), mkt=market(**BOOK))
    assert (decision.entry, decision.price_source, decision.order_price) == (
        D("74.19"),
        PriceSource.BID,
        D("74.12"),  # 74.19 × 0.999 = 74.11581, rounded up to the tick: never sells lower
    )


def test_a_resting_limit_stands_on_its_own_price_without_slippage() -> None:
    decision = run(signal(stop="73.50", entry="74.00"), mkt=market(**BOOK))
    assert (decision.entry, decision.price_source, decision.order_price) == (
        D("74.00"),
        PriceSource.LIMIT,
        D("74.00"),
    )
    assert decision.takes_liquidity is False and decision.slippage_allowance == 0
    assert step(decision, "quantity").before["slippage_per_unit"] == 0


def test_a_limit_with_no_book_is_compared_with_the_mark() -> None:
    decision = run(signal(stop="73.50", entry="74.30"), mkt=market(price=D("74.21")))
    assert (decision.entry, decision.price_source) == (D("74.21"), PriceSource.MARK)


# --- the exchange's price band ---------------------------------------------------------------


def test_a_resting_limit_outside_the_price_band_from_the_mark_is_refused_with_its_own_code() -> None:
    band = market(**BOOK, price_band_down=D("0.85"), price_band_up=D("1.15"))
    decision = run(signal(stop="60.00", entry="63.00"), mkt=band)  # 74.21 × 0.85 = 63.0785
    assert decision.reason is ReasonCode.PRICE_OUT_OF_BAND
    assert "outside the exchange's price band 63.0785..85.3415 around the mark 74.21" in decision.message
    assert run(signal(stop="60.00", entry="63.08"), mkt=band).accepted
    assert run(signal(stop="60.00", entry="63.00"), mkt=market(**BOOK)).accepted  # no band known: no check


def test_a_marketable_limit_is_checked_at_the_price_it_is_sent_with_not_its_own() -> None:
    band = market(**BOOK, price_band_down=D("0.85"), price_band_up=D("1.15"))
    decision = run(signal(stop="73.50", entry="90"), mkt=band)  # 90 is beyond 85.34, but 74.27 goes out
    assert decision.accepted and decision.order_price == D("74.27")


# --- slippage is part of the risk ------------------------------------------------------------


def test_the_slippage_allowance_is_in_the_cost_per_unit() -> None:
    prof = profile(conviction={"enabled": False}, risk={"percent": "0.01"})
    decision = run(signal(stop="73.20"), account(1000), market(**BOOK, taker_fee=D("0.0005")), prof)
    quantity = step(decision, "quantity").before
    assert quantity["slippage_per_unit"] == D("0.07")  # IOC limit 74.27 over the ask 74.20
    assert quantity["fees_per_unit"] == D("0.0737350")  # 0.0005 × (74.27 + 73.20): fees at the worst fill
    assert decision.qty == D("8.74")  # 10 / (1.00 + 0.07 + 0.073735) = 8.743…
    assert decision.order_price == D("74.27") and decision.slippage_allowance == D("0.001")


def test_no_slippage_allowance_sizes_as_before() -> None:
    prof = profile(conviction={"enabled": False}, risk={"percent": "0.01"}, entry_slippage_pct=0)
    decision = run(signal(stop="73.20"), account(1000), market(**BOOK), prof)
    assert decision.order_price == decision.entry == D("74.20") and decision.qty == D(10)


@st.composite
def books(draw: st.DrawFn) -> tuple[Side, Decimal, Decimal, Decimal, Decimal, str | None, Decimal, Decimal]:
    """A side, a book (bid < ask around a mark), a stop on the loss side, maybe a limit, fee, allowance."""
    tick = D("0.01")
    mark = D(draw(st.integers(1_000, 2_000_000))) * tick
    spread = D(draw(st.integers(0, 50))) * tick
    bid = max(tick, mark - D(draw(st.integers(0, 20))) * tick)
    ask = bid + spread + tick
    side = draw(st.sampled_from(Side))
    near = ask if side is Side.LONG else bid
    stop = near - side.sign * near * D(draw(st.integers(10, 1500))) / 10_000
    limit = draw(
        st.none() | st.integers(-300, 300).map(lambda bp: str((near * (1 + D(bp) / 10_000)).quantize(tick)))
    )
    fee = D(draw(st.integers(0, 10))) / 10_000
    allowance = D(draw(st.integers(0, 50))) / 10_000
    return side, mark, bid, ask, stop.quantize(tick), limit, fee, allowance


@settings(max_examples=300, deadline=None)
@given(books(), st.floats(0, 1))
def test_for_any_book_and_any_fill_within_the_allowance_the_loss_at_the_stop_stays_within_r(
    case: tuple[Side, Decimal, Decimal, Decimal, Decimal, str | None, Decimal, Decimal], where: float
) -> None:
    side, mark, bid, ask, stop, limit, fee, allowance = case
    prof = profile("fixed-risk", entry_slippage_pct=str(allowance))
    mkt = market(price=mark, bid=bid, ask=ask, taker_fee=fee, min_notional=D(0), price_tick=D("0.01"))
    decision = run(signal(stop=str(stop), side=side, entry=limit), account(100_000), mkt, prof)
    if not decision.accepted:
        return
    assert decision.qty is not None and decision.order_price is not None and decision.risk_budget is not None
    assert decision.entry is not None and decision.stop is not None
    # any fill the order can get: from the reference to the order price (a better fill only lowers the loss)
    fill = decision.entry + (decision.order_price - decision.entry) * D(str(where))
    loss = decision.qty * ((fill - decision.stop) * side.sign + fee * (fill + decision.stop))
    assert loss <= decision.risk_budget
    worst = decision.qty * (
        (decision.order_price - decision.stop) * side.sign + fee * (decision.order_price + decision.stop)
    )
    assert worst <= decision.risk_budget
