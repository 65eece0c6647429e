"""ccxt's recorded responses (tests/fixtures/ccxt/) go through real ccxt and the adapters to domain types."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.binance import BinanceUsdmAdapter, insurance_balance
from adapters.ccxt_base import CcxtAdapter, Credentials
from adapters.factory import build_adapter
from adapters.parsing import parse_order
from adapters.phemex import ORDER_TYPES
from executor.domain.account import MarginMode
from executor.domain.enums import EntryType, Side
from executor.domain.orders import EntryRequest, OrderSide, OrderStatus, OrderType
from executor.ports.errors import MalformedResponseError
from tests.support.fake_transport import (
    BINANCE_EXCHANGE_INFO,
    PHEMEX_PRODUCTS,
    PHEMEX_V1_PRODUCTS,
    PHEMEX_V1_PRODUCTS_PATH,
    FakeTransport,
    load_fixture,
)

D = Decimal
BINANCE = load_fixture("response_binanceusdm_subset.json")["methods"]
PHEMEX = load_fixture("response_phemex_swap_subset.json")["methods"]
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
CREDENTIALS = Credentials("fixture-key", "fixture-secret")


def binance_brackets() -> list[dict[str, Any]]:
    tiers = load_fixture("response_binanceusdm_subset.json")["options"]["leverageBrackets"]["BTC/USDT:USDT"]
    brackets = []
    cum = D(0)
    previous = D(0)
    for index, (floor, rate) in enumerate(tiers):
        cum += D(floor) * (D(rate) - previous)
        previous = D(rate)
        cap = tiers[index + 1][0] if index + 1 < len(tiers) else "500000000"
        brackets.append(
            {
                "bracket": index + 1,
                "initialLeverage": max(1, int(D(1) / (D(rate) * 2))),
                "notionalCap": int(cap),
                "notionalFloor": int(floor),
                "maintMarginRatio": float(rate),
                "cum": float(cum),
            }
        )
    return [{"symbol": "BTCUSDT", "brackets": brackets}]


def adapter_with(exchange: str, transport: FakeTransport) -> CcxtAdapter:
    adapter = build_adapter(exchange, "live", CREDENTIALS)
    adapter.exchange.fetch = transport.fetch
    return adapter


@pytest.fixture
async def binance() -> Any:
    transport = FakeTransport()
    transport.on("GET", "/fapi/v1/exchangeInfo", BINANCE_EXCHANGE_INFO)
    transport.on("GET", "/fapi/v1/leverageBracket", binance_brackets())
    adapter = adapter_with("binance", transport)
    yield adapter, transport
    await adapter.aclose()


@pytest.fixture
async def phemex() -> Any:
    transport = FakeTransport()
    transport.on("GET", "/public/products", PHEMEX_PRODUCTS)
    transport.on("GET", PHEMEX_V1_PRODUCTS_PATH, PHEMEX_V1_PRODUCTS)
    adapter = adapter_with("phemex", transport)
    yield adapter, transport
    await adapter.aclose()


async def test_binance_account_and_positions_with_exchange_liquidation_price(binance: Any) -> None:
    adapter, transport = binance
    transport.on("GET", "/fapi/v3/account", BINANCE["fetchPositions"][1]["httpResponse"])
    transport.on("GET", "/fapi/v3/positionRisk", BINANCE["fetchPositions"][0]["httpResponse"])
    account = await adapter.account_snapshot()
    assert (account.equity, account.wallet_balance, account.free_margin) == (
        D("4.27203287"),
        D("3.72964781"),
        D("18.65856952"),
    )
    (position,) = account.positions
    assert position.symbol == "BTC/USDT:USDT"
    assert position.side is Side.LONG
    assert position.qty == D("0.009")
    assert position.entry_price == D("67445.9")
    assert position.liquidation_price == D("64846.78939917")
    assert position.margin_mode is MarginMode.CROSS
    assert position.unrealized_pnl == D("1.2267")


async def test_binance_fills_unique_by_trade_id(binance: Any) -> None:
    adapter, transport = binance
    row = BINANCE["fetchMyTrades"][0]["httpResponse"][0]
    transport.on("GET", "/fapi/v1/userTrades", [row, dict(row)])
    transport.on("GET", "/fapi/v1/time", {"serverTime": int(row["time"]) + 60_000})
    (fill,) = await adapter.fills_since("BTC/USDT:USDT", EPOCH)
    assert fill.trade_id == "272536245"
    assert fill.order_id == "3524852987"
    assert (fill.side, fill.qty, fill.price, fill.fee, fill.fee_asset) == (
        OrderSide.BUY,
        D("0.01"),
        D("36567.1"),
        D("0.1462684"),
        "USDT",
    )


async def test_binance_normal_order_lookup_by_client_id(binance: Any) -> None:
    adapter, transport = binance
    transport.on("GET", "/fapi/v1/order", BINANCE["fetchOpenOrder"][0]["httpResponse"])
    order = await adapter.fetch_order("LTC/USDT:USDT", "x-xcKtGhcu68f8383451844295b3e8b9")
    assert order is not None
    assert (order.exchange_id, order.type, order.status, order.side) == (
        "664082074",
        OrderType.LIMIT,
        OrderStatus.OPEN,
        OrderSide.BUY,
    )
    assert (order.qty, order.filled, order.price, order.conditional, order.kind) == (
        D("0.2"),
        D(0),
        D(50),
        False,
        None,
    )
    assert transport.sent[-1].query["origClientOrderId"] == ["x-xcKtGhcu68f8383451844295b3e8b9"]


async def test_binance_algo_order_is_conditional_with_its_trigger(binance: Any) -> None:
    adapter, transport = binance
    algo = BINANCE["algoOrder (conditional STOP/STOP_MARKET/TP/TRAILING)"][0]
    transport.on("GET", "/fapi/v1/openOrders", [])
    transport.on("GET", "/fapi/v1/openAlgoOrders", [algo["httpResponse"]])
    (order,) = await adapter.open_orders("BTC/USDT:USDT")
    assert order.conditional
    assert order.exchange_id == "3358"
    assert order.client_id == "yT58zmV3DSzMBQxc5tAJXU"
    assert order.trigger_price == D(100000)
    assert order.type is OrderType.OTHER  # Binance STOP is a stop-limit, never placed by the daemon


async def test_binance_algo_cancel_answer_is_not_an_order(binance: Any) -> None:
    adapter, _ = binance
    algo = BINANCE["algoOrder (conditional STOP/STOP_MARKET/TP/TRAILING)"][0]
    await adapter.markets()
    raw = adapter.exchange.parse_order(algo["cancelResponse"])
    with pytest.raises(MalformedResponseError):
        parse_order(raw)


async def test_binance_limit_order_response_parses(binance: Any) -> None:
    adapter, _ = binance
    await adapter.markets()
    raw = adapter.exchange.parse_order(BINANCE["createOrders"][0]["httpResponse"][0])
    order = parse_order(raw)
    assert (order.exchange_id, order.client_id, order.status, order.qty, order.price) == (
        "4087922044",
        "x-xcKtGhcu04075babaeb34c55af79ba",
        OrderStatus.OPEN,
        D("0.2"),
        D("110001"),
    )


def test_binance_insurance_fund_of_the_settlement_asset() -> None:
    cases = BINANCE["insuranceBalance (implicit fapiPublicGetInsuranceBalance)"][0]
    assert insurance_balance(cases["withSymbol"], "BTCUSDT", "USDT") == D("793930579.315848")
    assert insurance_balance(cases["withoutSymbol"], "ADAUSDT", "USDT") == D("314151411.06482935")
    assert insurance_balance(cases["withoutSymbol"], "ACTUSDT", "USDT") == D("5166686.84431694")
    assert insurance_balance(cases["withoutSymbol"], "NOPEUSDT", "USDT") is None


async def test_binance_tiers_keep_the_exchange_maintenance_amount(binance: Any) -> None:
    adapter, transport = binance
    transport.on(
        "GET",
        "/fapi/v1/premiumIndex",
        {
            "symbol": "BTCUSDT",
            "markPrice": "60000.1",
            "indexPrice": "60000",
            "lastFundingRate": "0.0001",
            "interestRate": "0.0001",
            "nextFundingTime": 1735718400000,
            "time": 1735714800000,
        },
    )
    transport.on(
        "GET",
        "/fapi/v1/insuranceBalance",
        BINANCE["insuranceBalance (implicit fapiPublicGetInsuranceBalance)"][0]["withSymbol"],
    )
    transport.on(  # the shape of docs/exchange-facts.md (bookTicker), this symbol's numbers
        "GET",
        "/fapi/v1/ticker/bookTicker",
        {
            "symbol": "BTCUSDT",
            "bidPrice": "59999.9",
            "bidQty": "431.000",
            "askPrice": "60000.2",
            "askQty": "9.000",
            "time": 1735714800000,
        },
    )
    transport.on(  # the documented example (docs/exchange-facts.md §6): only adjusted symbols are listed
        "GET",
        "/fapi/v1/fundingInfo",
        [
            {
                "symbol": "BLZUSDT",
                "adjustedFundingRateCap": "0.02500000",
                "adjustedFundingRateFloor": "-0.02500000",
                "fundingIntervalHours": 4,
                "disclaimer": False,
            }
        ],
    )
    snapshot = await adapter.market_snapshot("BTC/USDT:USDT")
    assert snapshot.is_complete
    assert (snapshot.bid, snapshot.ask) == (D("59999.9"), D("60000.2"))
    book_reads = [sent.query for sent in transport.sent if sent.path == "/fapi/v1/ticker/bookTicker"]
    assert book_reads == [{"symbol": ["BTCUSDT"]}]  # one symbol, not the whole list
    assert snapshot.mark_price == D("60000.1")
    assert snapshot.funding is not None
    assert snapshot.funding.rate == D("0.0001")
    assert snapshot.funding.next_funding_time == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert snapshot.funding.interval == timedelta(hours=8)  # not listed by fundingInfo: the default
    assert snapshot.insurance_fund == D("793930579.315848")
    assert snapshot.filters is not None
    assert (snapshot.filters.amount_step, snapshot.filters.price_tick, snapshot.filters.min_notional) == (
        D("0.001"),
        D("0.1"),
        D(100),
    )
    assert [t.maintenance_margin_rate for t in snapshot.tiers[:3]] == [D("0.004"), D("0.005"), D("0.01")]
    assert snapshot.tiers[1].maintenance_amount == D(50)
    assert snapshot.tiers[2].maintenance_amount == D(1300)


async def test_phemex_account_sums_unrealized_pnl_and_drops_flat_rows(phemex: Any) -> None:
    adapter, transport = phemex
    transport.on("GET", "/g-accounts/accountPositions", PHEMEX["fetchBalance"][0]["httpResponse"])
    account = await adapter.account_snapshot()
    assert account.wallet_balance == D("224.929205196403")
    assert account.free_margin == D("224.929205196403") - D("65.29339271")
    assert len(account.positions) == 2
    ltc = account.position("LTC/USDT:USDT")
    assert ltc is not None
    assert (ltc.side, ltc.qty, ltc.entry_price, ltc.liquidation_price) == (
        Side.LONG,
        D("0.2"),
        D("71.135"),
        D("0.01"),
    )
    assert account.equity == account.wallet_balance + sum(p.unrealized_pnl for p in account.positions)


async def test_phemex_trigger_order_answers_are_conditional(phemex: Any) -> None:
    adapter, _ = phemex
    await adapter.markets()
    sell, buy, limit = PHEMEX["createOrder"]
    rising = parse_order(
        adapter.exchange.parse_order(sell["httpResponse"]["data"]), dialect_types=ORDER_TYPES
    )
    assert rising.conditional and rising.type is OrderType.TAKE_PROFIT_MARKET
    assert (rising.trigger_price, rising.status, rising.side) == (D(400), OrderStatus.OPEN, OrderSide.SELL)
    falling = parse_order(
        adapter.exchange.parse_order(buy["httpResponse"]["data"]), dialect_types=ORDER_TYPES
    )
    assert falling.conditional and falling.side is OrderSide.BUY and falling.trigger_price == D(200)
    entry = parse_order(
        adapter.exchange.parse_order(limit["httpResponse"]["data"]), dialect_types=ORDER_TYPES
    )
    assert not entry.conditional
    assert (entry.type, entry.price, entry.trigger_price) == (OrderType.LIMIT, D(192), None)


async def test_phemex_open_orders_fills_and_history(phemex: Any) -> None:
    adapter, transport = phemex
    transport.on("GET", "/g-orders/activeList", PHEMEX["fetchOpenOrders"][0]["httpResponse"])
    (order,) = await adapter.open_orders("LTC/USDT:USDT")
    assert (order.exchange_id, order.status, order.qty, order.price) == (
        "1405a8f6-6d44-4c9a-839f-11bf9c5f1833",
        OrderStatus.OPEN,
        D("0.5"),
        D(56),
    )
    # ph-docs "Query Trades History" sample row (no ccxt recording exists: no unified method calls it),
    # in the rows envelope (exchange-facts.md §9, §11)
    doc_row = {
        "transactTimeNs": 1669407633926215067, "symbol": "LTCUSDT", "currency": "USDT", "action": "New",
        "posSide": "Short", "side": "Sell", "tradeType": "Trade", "execQtyRq": "0.001",
        "execPriceRp": "16600", "orderQtyRq": "0.001", "priceRp": "16600", "execValueRv": "16.6",
        "feeRateRr": "0.0001",
        "execFeeRv": "0.00166", "closedSizeRq": "0", "closedPnlRv": "0", "ordType": "LimitIfTouched",
        "execID": "5c3d96e1-8874-53b6-b6e5-9dcc4d28b4ab", "orderID": "fcdfeafa-ed68-45d4-b2bd-7bc27f2b2b0b",
        "clOrdID": "", "execStatus": "MakerFill",
    }  # fmt: skip
    transport.on("GET", "/api-data/g-futures/trades", {"code": 0, "msg": "OK", "data": {"rows": [doc_row]}})
    (fill,) = await adapter.fills_since("LTC/USDT:USDT", EPOCH)
    assert (fill.trade_id, fill.order_id, fill.side, fill.price, fill.qty, fill.fee) == (
        "5c3d96e1-8874-53b6-b6e5-9dcc4d28b4ab",
        "fcdfeafa-ed68-45d4-b2bd-7bc27f2b2b0b",
        OrderSide.SELL,
        D("16600"),
        D("0.001"),
        D("0.00166"),
    )
    assert fill.timestamp.timestamp() == 1669407633.926215
    await adapter.markets()
    history = PHEMEX["fetchOrders"][0]["httpResponse"]["data"][0]
    filled_stop = parse_order(adapter.exchange.parse_order(history), dialect_types=ORDER_TYPES)
    assert filled_stop.status is OrderStatus.CLOSED
    assert filled_stop.conditional
    assert (filled_stop.filled, filled_stop.average_price) == (D("0.01"), D("66573.7"))


async def test_phemex_tiers_come_from_the_product_list(phemex: Any) -> None:
    adapter, transport = phemex
    transport.on(
        "GET",
        "/md/v2/ticker/24hr",
        {
            "error": None,
            "id": 0,
            "result": {
                "symbol": "BTCUSDT",
                "markPriceRp": "60000.5",
                "indexPriceRp": "60000",
                "fundingRateRr": "-0.0002",
                "predFundingRateRr": "-0.0001",
                "timestamp": 1735714800000000000,
            },
        },
    )
    transport.on(  # the shape of docs/exchange-facts.md (GET /md/v2/orderbook)
        "GET",
        "/md/v2/orderbook",
        {
            "error": None,
            "id": 0,
            "result": {
                "orderbook_p": {"asks": [["60000.7", "1.2"], ["60001", "3"]], "bids": [["60000.3", "0.5"]]},
                "depth": 30,
                "sequence": 7,
                "timestamp": 1735714800000000000,
                "symbol": "BTCUSDT",
                "type": "snapshot",
            },
        },
    )
    snapshot = await adapter.market_snapshot("BTC/USDT:USDT")
    assert snapshot.insurance_fund is None
    assert snapshot.is_complete
    assert (snapshot.bid, snapshot.ask) == (D("60000.3"), D("60000.7"))
    assert snapshot.mark_price == D("60000.5")
    assert snapshot.funding is not None and snapshot.funding.rate == D("-0.0002")
    assert [(t.notional_cap, t.max_leverage) for t in snapshot.tiers] == [
        (D(2000000), D(100)),
        (D(4000000), D("66.67")),
        (D(6000000), D(50)),
    ]
    assert snapshot.tiers[1].maintenance_amount == D(2000000) * (D("0.0075") - D("0.005"))


async def test_phemex_tiers_prefer_leverage_margins_over_the_old_risk_limits() -> None:
    """ph-docs "Set RiskLimit": tiers are `leverageMargins[index_id].items`, named by the product's
    `leverageMargin`; the recorded `riskLimitsV2` beside them is the old form, used only without them."""
    products: dict[str, Any] = copy.deepcopy(PHEMEX_PRODUCTS)
    data = products["data"]
    for product in data["perpProductsV2"]:
        if product["symbol"] == "BTCUSDT":
            product["leverageMargin"] = 7
    data["leverageMargins"] = [  # the doc's configuration sample, under another index_id
        {
            "index_id": 7,
            "items": [
                {"notionalValueRv": 50000, "maxLeverage": 20, "maintenanceMarginRateRr": "0.01",
                 "maintenanceAmountRv": "0"},
                {"notionalValueRv": 100000, "maxLeverage": 10, "maintenanceMarginRateRr": "0.06",
                 "maintenanceAmountRv": "2500"},
            ],
        }
    ]  # fmt: skip
    transport = FakeTransport()
    transport.on("GET", "/public/products", products)
    transport.on("GET", PHEMEX_V1_PRODUCTS_PATH, PHEMEX_V1_PRODUCTS)
    adapter = adapter_with("phemex", transport)
    try:
        await adapter.markets()
        tiers = adapter._tiers_from_market("BTC/USDT:USDT")
        rows = [(t.notional_floor, t.notional_cap, t.max_leverage, t.maintenance_margin_rate) for t in tiers]
        assert [(*row, t.maintenance_amount) for row, t in zip(rows, tiers, strict=True)] == [
            (D(0), D(50000), D(20), D("0.01"), D(0)),
            (D(50000), D(100000), D(10), D("0.06"), D(2500)),
        ]  # fmt: skip
        # without them: the recorded riskLimitsV2 rows (test_phemex_tiers_come_from_the_product_list)
    finally:
        await adapter.aclose()


async def test_phemex_open_with_stop_sends_the_recorded_attached_stop_shape(phemex: Any) -> None:
    """request_phemex.json: an attached stop is stopLossRp + slTrigger=ByMarkPrice on POST /g-orders."""
    adapter, transport = phemex
    cases = load_fixture("request_phemex.json")["methods"]["createOrder"]
    recorded = json.loads(next(c for c in cases if "triggerLimitPrices" in c["description"])["output"])
    answer = PHEMEX["createOrder"][2]["httpResponse"]
    transport.on("POST", "/g-orders", {**answer, "data": {**answer["data"], "clOrdID": "px-entry"}})
    request = EntryRequest(
        "SOL/USDT:USDT", Side.LONG, D("0.01"), EntryType.LIMIT, D(192), D(190), "px-entry", "px-stop"
    )
    result = await adapter.open_with_stop(request)
    assert result.entry.client_id == "px-entry"
    assert result.entry.status is OrderStatus.OPEN
    assert result.stop is None and result.stop_error is not None and "arms when it fills" in result.stop_error
    (post,) = [json.loads(s.body or "") for s in transport.sent if s.method == "POST"]
    for key in ("symbol", "side", "ordType", "posSide", "stopLossRp", "slTrigger", "priceRp"):
        assert post[key] == recorded[key], key
    assert post["clOrdID"] == "px-entry"


def test_adapter_repr_never_shows_credentials() -> None:
    adapter = build_adapter("binance", "live", CREDENTIALS)
    assert "fixture-key" not in repr(adapter) and "fixture-secret" not in repr(adapter)
    assert "fixture" not in repr(CREDENTIALS)
    assert isinstance(adapter, BinanceUsdmAdapter)
