"""The Binance USDⓈ-M dialect: `/fapi` routes, HMAC signing, `{"code": -NNNN}` errors over the engine."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from aiohttp import web

from adapters.sim.config import Instrument, SimConfig
from adapters.sim.engine import Engine
from adapters.sim.model import (
    BOOK_DEPTH_QTY,
    Account,
    EngineReject,
    Fill,
    IncomeType,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Reject,
    TimeInForce,
    TriggerSource,
    fmt,
)
from adapters.sim.wire import ApiError, WireRequest, flag, wire_of
from executor.domain.account import MarginMode
from executor.domain.money import NotANumber, to_decimal, to_int

NAME = "binance"
API_KEY_HEADER = "X-MBX-APIKEY"
ALGO_ORDER_PATH = "/fapi/v1/algoOrder"
_SIGNATURE = re.compile(r"(^|&)signature=[^&]*")
_CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
DEFAULT_RECV_WINDOW_MS = 5000
HISTORY_SPAN_MS = 7 * 86_400_000
TRADES_RETENTION_MS = 180 * 86_400_000
INCOME_RETENTION_MS = 90 * 86_400_000
MAX_LIMIT = 1000
DEFAULT_FUNDING_HOURS = 8
PERCENT_PRICE_DOWN = Decimal("0.9500")
PERCENT_PRICE_UP = Decimal("1.0500")
"""The PERCENT_PRICE filter every symbol publishes and the simulator enforces (narrower than the 0.85–1.15 of
Binance's documented example: the harsher reading)."""
MATCHING_ENGINE_PATHS = frozenset(
    {
        "/fapi/v1/order",
        "/fapi/v1/batchOrders",
        ALGO_ORDER_PATH,
        "/fapi/v1/allOpenOrders",
        "/fapi/v1/algoOpenOrders",
    }
)

_REJECT_CODES: dict[Reject, int] = {
    Reject.UNKNOWN_SYMBOL: -1121,
    Reject.DUPLICATE_CLIENT_ID: -4116,
    Reject.ORDER_NOT_FOUND: -2013,
    Reject.WOULD_TRIGGER_IMMEDIATELY: -2021,
    Reject.INSUFFICIENT_MARGIN: -2019,
    Reject.REDUCE_ONLY_REJECTED: -2022,
    Reject.POST_ONLY_WOULD_TAKE: -5022,
    Reject.QTY_INVALID: -4003,
    Reject.QTY_STEP: -1111,
    Reject.QTY_TOO_SMALL: -1013,
    Reject.QTY_TOO_LARGE: -4005,
    Reject.PRICE_TICK: -4014,
    Reject.PRICE_REQUIRED: -1102,
    Reject.NOTIONAL_TOO_SMALL: -4164,
    Reject.LEVERAGE_INVALID: -4028,
    Reject.POSITION_LIMIT: -2027,
    Reject.MARGIN_MODE_UNCHANGED: -4046,
    Reject.MARGIN_MODE_UNSUPPORTED: -4048,
    Reject.CLOSE_POSITION_WITH_QTY: -4137,
    Reject.CLOSE_POSITION_WITH_REDUCE_ONLY: -1106,
    Reject.CLOSE_POSITION_NOT_CONDITIONAL: -4136,
    Reject.STOP_LOSS_WRONG_SIDE: -1102,
    Reject.TAKE_PROFIT_WRONG_SIDE: -1102,
    Reject.STOP_REJECTED: -4045,
    Reject.AMEND_NOT_LIMIT: -1116,
    Reject.AMEND_UNCHANGED: -5027,
    Reject.AMEND_LIMIT: -5026,
    Reject.MARGIN_NO_POSITION: -4054,
    Reject.MARGIN_AMOUNT_INVALID: -4055,
    Reject.MARGIN_ADD_INSUFFICIENT: -4050,
    Reject.MARGIN_REDUCE_INSUFFICIENT: -4051,
}

_ALGO_STATUS: dict[OrderStatus, str] = {
    OrderStatus.UNTRIGGERED: "NEW",
    OrderStatus.TRIGGERING: "TRIGGERING",
    OrderStatus.TRIGGERED: "TRIGGERED",
    OrderStatus.FILLED: "FINISHED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}

RATE_LIMIT_MSG = (
    "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)


def _algo_status(order: Order) -> str:
    """A fired conditional order is TRIGGERED until the order it placed fills, then FINISHED."""
    if order.status is OrderStatus.TRIGGERED and order.filled_qty:
        return "FINISHED"
    return _ALGO_STATUS.get(order.status, order.status.value)


def matching_engine_window(wire: WireRequest) -> None:
    """The matching engine checks `timestamp + recvWindow` again when it executes (-5028, not executed).

    The gateway checked it on arrival (-1021); a request held up after that (a `delay` or `execute_late`
    fault) may still execute until its window ends on the exchange's clock, and never after.
    """
    timestamp = _int(wire.params, "timestamp") or 0
    recv_window = _int(wire.params, "recvWindow") or DEFAULT_RECV_WINDOW_MS
    if int(time.time() * 1000) > timestamp + recv_window:
        raise error(-5028, "Timestamp for this request is outside of the ME recvWindow.")


def valid_client_id(client_id: str) -> None:
    """`newClientOrderId` / `clientAlgoId` must match ^[.A-Z:/a-z0-9_-]{1,36}$ (-4015)."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise error(-4015, "Client order id is not valid.")


def error(code: int, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg})


def reject_error(exc: EngineReject, *, cancelling: bool = False) -> ApiError:
    if exc.reason is Reject.ORDER_NOT_FOUND:
        return error(-2011, "Unknown order sent.") if cancelling else error(-2013, "Order does not exist.")
    if exc.reason is Reject.LEVERAGE_INVALID:
        return error(-4028, exc.message)
    return error(_REJECT_CODES[exc.reason], exc.message)


def rate_limit_response(status: int) -> web.Response:
    """Binance's answer to a 429 (rate limited) or 418 (IP banned)."""
    if status == 418:
        banned_until = int(time.time() * 1000) + 120_000
        msg = f"Way too many requests; IP(127.0.0.1) banned until {banned_until}. Please use the websocket."
    else:
        msg = RATE_LIMIT_MSG
    return web.json_response({"code": -1003, "msg": msg}, status=status, headers={"Retry-After": "120"})


def stop_rejected_response() -> web.Response:
    return reject_error(EngineReject(Reject.STOP_REJECTED, "Reach max stop order limit.")).response()


def is_stop_order(wire: WireRequest) -> bool:
    return wire.method == "POST" and wire.path == ALGO_ORDER_PATH


def _check_position_side(params: dict[str, Any], account: Account) -> None:
    """One-way mode takes `positionSide` BOTH (the default); hedge mode needs LONG or SHORT (-4061,
    "It must be sent in Hedge Mode", bn-sdk `new_order`). The simulator's engine trades one-way only, so
    in hedge mode it refuses LONG/SHORT orders too (harsher than Binance, which would take them)."""
    side = str(params.get("positionSide", "BOTH")).upper()
    if account.dual_side and side in ("LONG", "SHORT"):
        raise error(
            -4061, "Order's position side does not match user's setting. (the simulator trades one-way only)"
        )
    if account.dual_side or side != "BOTH":
        raise error(-4061, "Order's position side does not match user's setting.")


def _limit(params: dict[str, Any], *, default: int) -> int:
    """`limit` of a history query: at most 1000 (bn-sdk `account_trade_list`, `get_income_history`)."""
    limit = _int(params, "limit") or default
    if not 0 < limit <= MAX_LIMIT:
        raise error(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _seven_days(start: int | None, end: int | None, now: int) -> tuple[int, int]:
    """`userTrades`' window: at most 7 days between `startTime` and `endTime` (-1127; the code is the one
    Binance uses for its other windows, c9s/bbgo#423, the text is unverified); one bound alone reaches 7
    days from it; neither: the last 7 days (bn-sdk `account_trade_list`). A client asking from further back
    than 7 days without an end gets only that first week (ccxt/ccxt#16986, ccxt/ccxt#21103)."""
    if start is not None and end is not None:
        if end - start > HISTORY_SPAN_MS:
            raise error(-1127, "More than 7 days between startTime and endTime.")
        return start, end
    if start is not None:
        return start, start + HISTORY_SPAN_MS
    if end is not None:
        return end - HISTORY_SPAN_MS, end
    return now - HISTORY_SPAN_MS, now


def _decimal(params: dict[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        if required:
            raise error(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return None
    try:
        return to_decimal(raw)
    except NotANumber as exc:
        raise error(
            -1100,
            f"Illegal characters found in parameter '{name}'.",
        ) from exc


def _int(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return to_int(raw)
    except NotANumber as exc:
        raise error(-1100, f"Illegal characters found in parameter '{name}'.") from exc


def _precision(step: Decimal) -> int:
    return max(-step.normalize().as_tuple().exponent, 0)  # type: ignore[operator]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BinanceDialect:
    name = NAME

    def __init__(self, engine: Engine, config: SimConfig) -> None:
        self.engine = engine
        self.config = config
        self.secrets = {c.api_key: c.secret for c in config.credentials}

    # ----------------------------------------------------------------- plumbing

    def add_routes(self, app: web.Application) -> None:
        public: list[tuple[str, str, Callable[[WireRequest], Any]]] = [
            ("GET", "/fapi/v1/ping", lambda wire: {}),
            ("GET", "/fapi/v1/time", self.server_time),
            ("GET", "/fapi/v1/exchangeInfo", self.exchange_info),
            ("GET", "/fapi/v1/premiumIndex", self.premium_index),
            ("GET", "/fapi/v1/fundingRate", self.funding_rate_history),
            ("GET", "/fapi/v1/fundingInfo", self.funding_info),
            ("GET", "/fapi/v1/insuranceBalance", self.insurance_balance),
            ("GET", "/fapi/v1/ticker/price", self.ticker_price),
            ("GET", "/fapi/v1/ticker/bookTicker", self.book_ticker),
        ]
        private: list[tuple[str, str, Callable[[WireRequest, Account], Any]]] = [
            ("GET", "/sapi/v1/capital/config/getall", lambda wire, account: []),
            ("GET", "/sapi/v1/margin/allPairs", lambda wire, account: []),
            ("GET", "/sapi/v1/margin/isolated/allPairs", lambda wire, account: []),
            ("GET", "/fapi/v3/account", self.account_info),
            ("GET", "/fapi/v2/account", self.account_info),
            ("GET", "/fapi/v3/positionRisk", self.position_risk),
            ("GET", "/fapi/v2/positionRisk", self.position_risk),
            ("GET", "/fapi/v1/leverageBracket", self.leverage_bracket),
            ("GET", "/fapi/v1/income", self.income),
            ("POST", "/fapi/v1/leverage", self.set_leverage),
            ("POST", "/fapi/v1/marginType", self.set_margin_type),
            ("GET", "/fapi/v1/symbolConfig", self.symbol_config),
            (
                "GET",
                "/fapi/v1/positionSide/dual",
                lambda wire, account: {"dualSidePosition": account.dual_side},
            ),
            ("POST", "/fapi/v1/positionSide/dual", self.set_position_mode),
            ("POST", "/fapi/v1/order", self.create_order),
            ("GET", "/fapi/v1/order", self.get_order),
            ("DELETE", "/fapi/v1/order", self.cancel_order),
            ("GET", "/fapi/v1/openOrders", self.open_orders),
            ("GET", "/fapi/v1/openOrder", self.open_order),
            ("GET", "/fapi/v1/allOrders", self.all_orders),
            ("DELETE", "/fapi/v1/allOpenOrders", self.cancel_all),
            ("POST", ALGO_ORDER_PATH, self.create_algo_order),
            ("GET", ALGO_ORDER_PATH, self.get_algo_order),
            ("DELETE", ALGO_ORDER_PATH, self.cancel_algo_order),
            ("GET", "/fapi/v1/openAlgoOrders", self.open_algo_orders),
            ("GET", "/fapi/v1/allAlgoOrders", self.all_algo_orders),
            ("DELETE", "/fapi/v1/algoOpenOrders", self.cancel_all_algo),
            ("GET", "/fapi/v1/userTrades", self.user_trades),
        ]
        for method, path, public_fn in public:
            app.router.add_route(method, path, self._public(public_fn))
        for method, path, private_fn in private:
            app.router.add_route(method, path, self._private(private_fn))

    def _public(self, fn: Callable[[WireRequest], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                return web.json_response(fn(wire_of(request)))
            except ApiError as exc:
                return exc.response()
            except EngineReject as exc:
                return reject_error(exc).response()

        return handle

    def _private(self, fn: Callable[[WireRequest, Account], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            wire = wire_of(request)
            try:
                account = self.authenticate(wire, request.headers.get(API_KEY_HEADER))
                if wire.method != "GET" and wire.path in MATCHING_ENGINE_PATHS:
                    matching_engine_window(wire)
                return web.json_response(fn(wire, account))
            except ApiError as exc:
                return exc.response()
            except EngineReject as exc:
                return reject_error(exc, cancelling=wire.method == "DELETE").response()

        return handle

    def authenticate(self, wire: WireRequest, api_key: str | None) -> Account:
        """Binance's checks in Binance's order: key, timestamp and recvWindow, then the HMAC signature."""
        if not api_key:
            raise error(-2014, "API-key format invalid.", status=401)
        secret = self.secrets.get(api_key)
        if secret is None:
            raise error(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        params = wire.params
        timestamp = _int(params, "timestamp")
        if timestamp is None:
            raise error(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        recv_window = _int(params, "recvWindow") or DEFAULT_RECV_WINDOW_MS
        if recv_window > self.config.recv_window_max_ms:
            raise error(-1131, f"recvWindow must be less than {self.config.recv_window_max_ms}.")
        server_ms = wire.arrival_ms
        if timestamp > server_ms + 1000 or server_ms - timestamp > recv_window:
            raise error(-1021, "Timestamp for this request is outside of the recvWindow.")
        signature = str(params.get("signature", ""))
        payload = _SIGNATURE.sub("", wire.raw_query).lstrip("&") + _SIGNATURE.sub("", wire.body).lstrip("&")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature.lower(), expected):
            raise error(-1022, "Signature for this request is not valid.")
        self.engine.catch_up()
        return self.engine.account(api_key)

    def _instrument(self, params: dict[str, Any], *, required: bool = True) -> Instrument | None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return None
        try:
            return self.engine.instrument(str(symbol))
        except EngineReject as exc:
            raise error(-1121, "Invalid symbol.") from exc

    # ----------------------------------------------------------------- market data

    def server_time(self, wire: WireRequest) -> Any:
        return {"serverTime": self.engine.clock.now_ms()}

    def exchange_info(self, wire: WireRequest) -> Any:
        now = self.engine.clock.now_ms()
        return {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [self._symbol_info(inst) for inst in self.engine.instruments.values()],
        }

    def _symbol_info(self, inst: Instrument) -> dict[str, Any]:
        return {
            "symbol": inst.symbol,
            "pair": inst.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": inst.base,
            "quoteAsset": inst.quote,
            "marginAsset": inst.quote,
            "pricePrecision": _precision(inst.tick),
            "quantityPrecision": _precision(inst.step),
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(inst.tick),
                    "maxPrice": "10000000",
                    "tickSize": fmt(inst.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "stepSize": fmt(inst.step),
                    "minQty": fmt(inst.min_qty),
                    "maxQty": fmt(inst.max_qty),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "stepSize": fmt(inst.step),
                    "minQty": fmt(inst.min_qty),
                    "maxQty": fmt(inst.max_qty),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": fmt(inst.min_notional)},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": f"{PERCENT_PRICE_UP:.4f}",
                    "multiplierDown": f"{PERCENT_PRICE_DOWN:.4f}",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [t.value for t in OrderType],
            "timeInForce": [t.value for t in TimeInForce],
        }

    def _premium(self, inst: Instrument) -> dict[str, Any]:
        mark = self.engine.marks[inst.symbol]
        return {
            "symbol": inst.symbol,
            "markPrice": fmt(mark),
            "indexPrice": fmt(mark),
            "estimatedSettlePrice": fmt(mark),
            "lastFundingRate": fmt(self.engine.funding_rates[inst.symbol]),
            "interestRate": "0.00010000",
            "nextFundingTime": self.engine.next_funding_ms[inst.symbol],
            "time": self.engine.clock.now_ms(),
        }

    def premium_index(self, wire: WireRequest) -> Any:
        self.engine.catch_up()
        inst = self._instrument(wire.params, required=False)
        if inst is not None:
            return self._premium(inst)
        return [self._premium(i) for i in self.engine.instruments.values()]

    def ticker_price(self, wire: WireRequest) -> Any:
        """One symbol's last price, or every symbol's without `symbol` (ccxt's fetch_last_prices)."""
        inst = self._instrument(wire.params, required=False)
        now = self.engine.clock.now_ms()
        rows = [
            {"symbol": i.symbol, "price": fmt(self.engine.lasts[i.symbol]), "time": now}
            for i in ([inst] if inst else self.engine.instruments.values())
        ]
        return rows[0] if inst else rows

    def book_ticker(self, wire: WireRequest) -> Any:
        """`{"symbol","bidPrice","bidQty","askPrice","askQty","time"}`, for one symbol or a list of all
        (docs/exchange-facts.md, bookTicker)."""
        inst = self._instrument(wire.params, required=False)
        rows = [self._book_row(i) for i in ([inst] if inst else self.engine.instruments.values())]
        return rows[0] if inst else rows

    def _book_row(self, inst: Instrument) -> dict[str, Any]:
        bid, ask = self.engine.book_top(inst.symbol)
        size = fmt(BOOK_DEPTH_QTY)
        time_ms = self.engine.clock.now_ms()
        return {
            "symbol": inst.symbol,
            "bidPrice": fmt(bid),
            "bidQty": size,
            "askPrice": fmt(ask),
            "askQty": size,
            "time": time_ms,
        }

    def funding_rate_history(self, wire: WireRequest) -> Any:
        self.engine.catch_up()
        params = wire.params
        inst = self._instrument(params, required=False)
        symbols = [inst.symbol] if inst else list(self.engine.instruments)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        limit = _int(params, "limit") or 100
        rows = [
            e
            for s in symbols
            for e in self.engine.funding_history[s]
            if (start is None or e.time_ms >= start) and (end is None or e.time_ms <= end)
        ]
        rows.sort(key=lambda e: e.time_ms)
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [
            {
                "symbol": e.symbol,
                "fundingTime": e.time_ms,
                "fundingRate": fmt(e.rate),
                "markPrice": fmt(e.mark),
            }
            for e in rows
        ]

    def funding_info(self, wire: WireRequest) -> Any:
        """Only symbols whose interval (or cap/floor) was adjusted are listed (*"funding rate info for symbols
        that had FundingRateCap/FundingRateFloor / fundingIntervalHours adjustment"*, bn-sdk
        `get_funding_rate_info`); a client must take 8 h for the others (docs/exchange-facts.md §6)."""
        return [
            {
                "symbol": inst.symbol,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": inst.funding_interval_hours,
                "disclaimer": False,
            }
            for inst in self.engine.instruments.values()
            if inst.funding_interval_hours != DEFAULT_FUNDING_HOURS
        ]

    def insurance_balance(self, wire: WireRequest) -> Any:
        pool = {
            "symbols": sorted(self.engine.instruments),
            "assets": [
                {
                    "asset": "USDT",
                    "marginBalance": fmt(self.engine.insurance_fund),
                    "updateTime": self.engine.clock.now_ms(),
                }
            ],
        }
        if wire.params.get("symbol"):
            self._instrument(wire.params)
            return pool
        return [pool]

    # ----------------------------------------------------------------- account

    def account_info(self, wire: WireRequest, account: Account) -> Any:
        engine = self.engine
        views = [engine.position_view(account, s) for s in engine.instruments]
        open_views = [v for v in views if v.qty]
        upnl = sum((v.unrealized for v in open_views), Decimal(0))
        maint = sum((v.maint_margin for v in open_views), Decimal(0))
        initial = sum((v.margin for v in open_views), Decimal(0))
        order_margin = engine.order_margin(account)
        available = engine.available_balance(account)
        now = engine.clock.now_ms()
        asset = {
            "asset": "USDT",
            "walletBalance": fmt(account.wallet),
            "unrealizedProfit": fmt(upnl),
            "marginBalance": fmt(account.wallet + upnl),
            "maintMargin": fmt(maint),
            "initialMargin": fmt(initial + order_margin),
            "positionInitialMargin": fmt(initial),
            "openOrderInitialMargin": fmt(order_margin),
            "crossWalletBalance": fmt(account.wallet - initial),
            "crossUnPnl": "0",
            "availableBalance": fmt(available),
            "maxWithdrawAmount": fmt(available),
            "updateTime": now,
        }
        return {
            "totalInitialMargin": fmt(initial + order_margin),
            "totalMaintMargin": fmt(maint),
            "totalWalletBalance": fmt(account.wallet),
            "totalUnrealizedProfit": fmt(upnl),
            "totalMarginBalance": fmt(account.wallet + upnl),
            "totalPositionInitialMargin": fmt(initial),
            "totalOpenOrderInitialMargin": fmt(order_margin),
            "totalCrossWalletBalance": fmt(account.wallet - initial),
            "totalCrossUnPnl": "0",
            "availableBalance": fmt(available),
            "maxWithdrawAmount": fmt(available),
            "assets": [asset],
            "positions": [
                {
                    "symbol": v.symbol,
                    "positionSide": "BOTH",
                    "positionAmt": fmt(v.qty),
                    "unrealizedProfit": fmt(v.unrealized),
                    "isolatedMargin": fmt(v.margin + v.unrealized),
                    "notional": fmt(v.notional),
                    "isolatedWallet": fmt(v.margin),
                    "initialMargin": fmt(v.initial_margin),
                    "maintMargin": fmt(v.maint_margin),
                    "updateTime": v.updated_ms,
                }
                for v in open_views
            ],
        }

    def position_risk(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params, required=False)
        symbols = [inst.symbol] if inst else list(self.engine.instruments)
        rows = []
        for symbol in symbols:
            v = self.engine.position_view(account, symbol)
            if not v.qty:
                continue
            rows.append(
                {
                    "symbol": v.symbol,
                    "positionSide": "BOTH",
                    "positionAmt": fmt(v.qty),
                    "entryPrice": fmt(v.entry_price),
                    "breakEvenPrice": fmt(v.entry_price),
                    "markPrice": fmt(v.mark),
                    "unRealizedProfit": fmt(v.unrealized),
                    "liquidationPrice": fmt(v.liquidation_price),
                    "isolatedMargin": fmt(v.margin + v.unrealized),
                    "notional": fmt(v.notional),
                    "marginAsset": "USDT",
                    "isolatedWallet": fmt(v.margin),
                    "initialMargin": fmt(v.initial_margin),
                    "maintMargin": fmt(v.maint_margin),
                    "positionInitialMargin": fmt(v.initial_margin),
                    "openOrderInitialMargin": "0",
                    "adl": 1,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": v.updated_ms,
                }
            )
        return rows

    def leverage_bracket(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params, required=False)
        instruments = [inst] if inst else list(self.engine.instruments.values())
        entries = [
            {
                "symbol": i.symbol,
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": n,
                        "initialLeverage": t.max_leverage,
                        "notionalCap": int(t.cap),
                        "notionalFloor": int(t.floor),
                        "maintMarginRatio": float(t.mmr),
                        "cum": float(t.cum),
                    }
                    for n, t in enumerate(i.tiers, start=1)
                ],
            }
            for i in instruments
        ]
        return entries[0] if inst else entries

    def income(self, wire: WireRequest, account: Account) -> Any:
        params = wire.params
        inst = self._instrument(params, required=False)
        kind = params.get("incomeType")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        limit = _limit(params, default=100)
        now = self.engine.clock.now_ms()
        if start is None and end is None:
            start = now - HISTORY_SPAN_MS  # "the recent 7-day data"
        rows = [
            r
            for r in account.income
            if (inst is None or r.symbol == inst.symbol)
            and now - r.time_ms <= INCOME_RETENTION_MS
            and (not kind or r.type.value == kind)
            and (start is None or r.time_ms >= start)
            and (end is None or r.time_ms <= end)
        ]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [
            {
                "symbol": r.symbol,
                "incomeType": r.type.value,
                "income": fmt(r.amount),
                "asset": "USDT",
                "info": r.type.value if r.type is IncomeType.FUNDING_FEE else r.info,
                "time": r.time_ms,
                "tranId": r.tran_id,
                "tradeId": r.info,
            }
            for r in rows
        ]

    def set_leverage(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        assert inst is not None
        leverage = _int(wire.params, "leverage")
        if leverage is None:
            raise error(-1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed.")
        value, cap = self.engine.set_leverage(account, inst.symbol, leverage)
        return {"leverage": value, "maxNotionalValue": fmt(cap), "symbol": inst.symbol}

    def set_margin_type(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        assert inst is not None
        raw = str(wire.params.get("marginType", "")).upper()
        modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS, "CROSS": MarginMode.CROSS}
        if raw not in modes:
            raise error(-1102, "Mandatory parameter 'marginType' was not sent, was empty/null, or malformed.")
        self.engine.set_margin_mode(account, inst.symbol, modes[raw])
        return {"code": 200, "msg": "success"}

    def symbol_config(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params, required=False)
        instruments = [inst] if inst else list(self.engine.instruments.values())
        rows = []
        for i in instruments:
            leverage = self.engine.leverage_of(account, i.symbol)
            mode = self.engine.margin_mode_of(account, i.symbol)
            rows.append(
                {
                    "symbol": i.symbol,
                    "marginType": "ISOLATED" if mode is MarginMode.ISOLATED else "CROSSED",
                    "isAutoAddMargin": "false",
                    "leverage": leverage,
                    "maxNotionalValue": fmt(i.max_notional_for(leverage)),
                }
            )
        return rows

    def set_position_mode(self, wire: WireRequest, account: Account) -> Any:
        """`POST /fapi/v1/positionSide/dual`: refused while any order rests or any position is open
        (bn-sdk `change_position_mode`; codes and messages: ccxt `async_support/binance.py:2778-2783`)."""
        raw = str(wire.params.get("dualSidePosition", "")).lower()
        if raw not in ("true", "false"):
            raise error(
                -1102, "Mandatory parameter 'dualSidePosition' was not sent, was empty/null, or malformed."
            )
        hedged = raw == "true"
        if hedged == account.dual_side:
            raise error(-4059, "No need to change position side.")
        if self.engine.open_orders(account):
            raise error(-4067, "Position side cannot be changed if there exists open orders.")
        if any(position.qty for position in account.positions.values()):
            raise error(-4068, "Position side cannot be changed if there exists position.")
        account.dual_side = hedged
        return {"code": 200, "msg": "success"}

    # ----------------------------------------------------------------- orders

    def _order_request(self, params: dict[str, Any], account: Account, *, algo: bool) -> OrderRequest:
        inst = self._instrument(params)
        assert inst is not None
        side_raw = str(params.get("side", "")).upper()
        if side_raw not in ("BUY", "SELL"):
            raise error(-1117, "Invalid side.")
        type_raw = str(params.get("type", "")).upper()
        try:
            order_type = OrderType(type_raw)
        except ValueError as exc:
            raise error(-1116, "Invalid orderType.") from exc
        if algo and not order_type.conditional:
            raise error(-1116, "Invalid orderType.")
        if not algo and order_type.conditional:
            raise error(
                -4120,
                "Order type not supported for this endpoint. "
                "Please use the Algo Order API endpoints instead.",
            )
        _check_position_side(params, account)
        tif_raw = str(params.get("timeInForce", "GTC")).upper()
        try:
            tif = TimeInForce(tif_raw)
        except ValueError as exc:
            raise error(-1115, "Invalid timeInForce.") from exc
        if order_type is OrderType.LIMIT and "timeInForce" not in params:
            raise error(
                -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."
            )
        working = str(params.get("workingType", TriggerSource.LAST.value)).upper()
        try:
            source = TriggerSource(working)
        except ValueError as exc:
            raise error(-1102, "Invalid workingType.") from exc
        client_field = "clientAlgoId" if algo else "newClientOrderId"
        client_id = str(params.get(client_field) or f"sim-{time.time_ns()}")
        valid_client_id(client_id)
        return OrderRequest(
            symbol=inst.symbol,
            side=OrderSide(side_raw),
            type=order_type,
            qty=_decimal(params, "quantity", required=not flag(params, "closePosition")),
            client_id=client_id,
            price=_decimal(params, "price"),
            trigger_price=_decimal(params, "triggerPrice" if algo else "stopPrice"),
            trigger_source=source,
            time_in_force=tif,
            reduce_only=flag(params, "reduceOnly"),
            close_position=flag(params, "closePosition"),
        )

    def create_order(self, wire: WireRequest, account: Account) -> Any:
        return self.new_order(wire.params, account)

    def new_order(self, params: dict[str, Any], account: Account) -> dict[str, Any]:
        """New Order, alone or as a leg of Place Multiple Orders."""
        request = self._order_request(params, account, algo=False)
        self._within_percent_price(request)
        self._reduce_only_room(request, account)
        order = self.engine.place(account, request)
        if str(params.get("newOrderRespType", "ACK")).upper() != "RESULT":
            return self.ack_json(order)
        return self.order_json(order)

    def _reduce_only_room(
        self, request: OrderRequest, account: Account, *, excluding: int | None = None
    ) -> None:
        """Open reduce-only orders count against the position: a reduce-only order that, with the resting
        reduce-only LIMIT orders on its side, exceeds the position is -4118 "ReduceOnly Order Failed. Please
        check your existing position and open orders." (xLydianSoftware/Qubx#386, live; ccxt
        `binance.py:2187`). Whether resting algo orders count is unverified: they do not here."""
        if not request.reduce_only or request.qty is None:
            return
        symbol = self.engine.instrument(request.symbol).symbol
        position = account.position(symbol)
        if position.side != -request.side.sign:
            return  # nothing to reduce on this side: the engine's own refusal (-2022)
        resting = sum(
            (
                order.remaining
                for order in self.engine.open_orders(account, symbol, conditional=False)
                if order.reduce_only and order.side is request.side and order.order_id != excluding
            ),
            Decimal(0),
        )
        if resting and resting + request.qty > abs(position.qty):
            raise error(
                -4118, "ReduceOnly Order Failed. Please check your existing position and open orders."
            )

    def _within_percent_price(self, request: OrderRequest) -> None:
        """PERCENT_PRICE around the mark: a limit price outside it is -4016 / -4024 (live body
        `{"code":-4016,"msg":"Limit price can't be higher than 9953.53"}`, ccxt/ccxt#7898; ccxt
        `binance.py:2745`, `:2753`); a market order whose best counterparty price (the taker price) is
        outside it is -4131 (ccxt `binance.py:2189`; dev.binance.vision t/10962). Reduce-only orders are not
        exempt (unverified: the harsher reading). docs/exchange-facts.md §6."""
        inst = self.engine.instrument(request.symbol)
        mark = self.engine.marks[inst.symbol]
        high = (mark * PERCENT_PRICE_UP / inst.tick).to_integral_value(ROUND_FLOOR) * inst.tick
        low = (mark * PERCENT_PRICE_DOWN / inst.tick).to_integral_value(ROUND_CEILING) * inst.tick
        if request.type is OrderType.LIMIT and request.price is not None:
            if request.price > high:
                raise error(-4016, f"Limit price can't be higher than {fmt(high)}.")
            if request.price < low:
                raise error(-4024, f"Limit price can't be lower than {fmt(low)}.")
        if request.type is OrderType.MARKET:
            bid, ask = self.engine.book_top(inst.symbol)
            taker = ask if request.side is OrderSide.BUY else bid
            if not low <= taker <= high:
                raise error(
                    -4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit."
                )

    def create_algo_order(self, wire: WireRequest, account: Account) -> Any:
        if str(wire.params.get("algoType", "")).upper() != "CONDITIONAL":
            raise error(-1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.")
        order = self.engine.place(account, self._order_request(wire.params, account, algo=True))
        return self.algo_json(order)

    def _lookup(self, params: dict[str, Any], account: Account, *, algo: bool) -> Order:
        inst = self._instrument(params, required=not algo)
        id_field, client_field = ("algoId", "clientAlgoId") if algo else ("orderId", "origClientOrderId")
        order_id = _int(params, id_field)
        client_id = params.get(client_field)
        if order_id is None and not client_id:
            raise error(-1102, f"Either '{id_field}' or '{client_field}' must be sent.")
        return self.engine.find_order(
            account,
            order_id=order_id,
            client_id=str(client_id) if client_id else None,
            conditional=algo,
            symbol=inst.symbol if inst else None,
        )

    def get_order(self, wire: WireRequest, account: Account) -> Any:
        return self.order_json(self._lookup(wire.params, account, algo=False))

    def open_order(self, wire: WireRequest, account: Account) -> Any:
        order = self._lookup(wire.params, account, algo=False)
        if not order.status.is_open:
            raise error(-2013, "Order does not exist.")
        return self.order_json(order)

    def cancel_order(self, wire: WireRequest, account: Account) -> Any:
        order = self._lookup(wire.params, account, algo=False)
        return self.order_json(self.engine.cancel(account, order_id=order.order_id, conditional=False))

    def open_orders(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params, required=False)
        orders = self.engine.open_orders(
            account, inst.symbol if inst else None, conditional=False, listed=True
        )
        return [self.order_json(o) for o in orders]

    def _history(self, wire: WireRequest, account: Account, *, algo: bool) -> list[Order]:
        """`allOrders` / `allAlgoOrders`: one symbol, `orderId`/`algoId` and later, within [startTime,
        endTime] (default the last 7 days), at most `limit` (default 500, max 1000), oldest first; the
        same retention as single lookups (bn-sdk `all_orders`, `query_all_algo_orders`)."""
        params = wire.params
        inst = self._instrument(params)
        assert inst is not None
        now = self.engine.clock.now_ms()
        from_id = _int(params, "algoId" if algo else "orderId")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        if start is None and end is None and from_id is None:
            start = now - HISTORY_SPAN_MS
        limit = min(_int(params, "limit") or 500, 1000)
        orders = [
            o
            for o in account.orders.values()
            if o.symbol == inst.symbol
            and o.conditional == algo
            and self.engine.retained(o, now)
            and (from_id is None or o.order_id >= from_id)
            and (start is None or o.created_ms >= start)
            and (end is None or o.created_ms <= end)
        ]
        return orders[:limit] if from_id is not None or start is not None else orders[-limit:]

    def all_orders(self, wire: WireRequest, account: Account) -> Any:
        return [self.order_json(o) for o in self._history(wire, account, algo=False)]

    def cancel_all(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        assert inst is not None
        self.engine.cancel_all(account, inst.symbol, conditional=False)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def get_algo_order(self, wire: WireRequest, account: Account) -> Any:
        return self.algo_json(self._lookup(wire.params, account, algo=True))

    def cancel_algo_order(self, wire: WireRequest, account: Account) -> Any:
        order = self._lookup(wire.params, account, algo=True)
        self.engine.cancel(account, order_id=order.order_id, conditional=True)
        return {"algoId": order.order_id, "clientAlgoId": order.client_id, "code": "200", "msg": "success"}

    def open_algo_orders(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params, required=False)
        orders = self.engine.open_orders(
            account, inst.symbol if inst else None, conditional=True, listed=True
        )
        return [self.algo_json(o) for o in orders]

    def all_algo_orders(self, wire: WireRequest, account: Account) -> Any:
        return [self.algo_json(o) for o in self._history(wire, account, algo=True)]

    def cancel_all_algo(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        assert inst is not None
        self.engine.cancel_all(account, inst.symbol, conditional=True)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def user_trades(self, wire: WireRequest, account: Account) -> Any:
        params = wire.params
        inst = self._instrument(params)
        assert inst is not None
        start, end = _int(params, "startTime"), _int(params, "endTime")
        from_id, order_id = _int(params, "fromId"), _int(params, "orderId")
        limit = _limit(params, default=500)
        now = self.engine.clock.now_ms()
        if from_id is not None and (start is not None or end is not None):
            raise error(-1128, "Combination of optional parameters invalid.")
        if from_id is None:
            start, end = _seven_days(start, end, now)
        fills = [
            f
            for f in account.fills
            if f.symbol == inst.symbol
            and now - f.time_ms <= TRADES_RETENTION_MS
            and (start is None or f.time_ms >= start)
            and (end is None or f.time_ms <= end)
            and (from_id is None or f.trade_id >= from_id)
            and (order_id is None or f.order_id == order_id)
        ]
        return [self.trade_json(f) for f in fills[:limit]]

    # ----------------------------------------------------------------- shapes

    @staticmethod
    def order_json(order: Order) -> dict[str, Any]:
        status = OrderStatus.NEW if order.status is OrderStatus.UNTRIGGERED else order.status
        return {
            "orderId": order.order_id,
            "symbol": order.symbol,
            "status": status.value,
            "clientOrderId": order.client_id,
            "price": fmt(order.price or Decimal(0)),
            "avgPrice": fmt(order.avg_price),
            "origQty": fmt(order.qty),
            "executedQty": fmt(order.filled_qty),
            "cumQty": fmt(order.filled_qty),
            "cumQuote": fmt(order.cum_quote),
            "timeInForce": order.time_in_force.value,
            "type": order.type.value,
            "reduceOnly": order.reduce_only,
            "closePosition": order.close_position,
            "side": order.side.value,
            "positionSide": "BOTH",
            "stopPrice": fmt(order.trigger_price or Decimal(0)),
            "workingType": order.trigger_source.value,
            "priceProtect": False,
            "origType": "LIQUIDATION" if order.liquidation else order.type.value,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
            "time": order.created_ms,
            "updateTime": order.updated_ms,
        }

    @classmethod
    def ack_json(cls, order: Order) -> dict[str, Any]:
        """New Order's default answer (`newOrderRespType=ACK`): accepted, nothing said of a fill, no
        `avgPrice`/`cumQuote` (bn-sdk test `new_order`; a filled MARKET order answered `NEW` with zeros,
        ccxt/node-binance-api#444). ccxt sends RESULT for swap orders (`binance.py:7110-7112`); the
        `answer_ack` fault gives it this answer anyway."""
        ack = cls.order_json(order)
        for key in ("avgPrice", "cumQuote", "time"):
            ack.pop(key)
        return ack | {"status": OrderStatus.NEW.value, "executedQty": "0", "cumQty": "0"}

    @staticmethod
    def algo_json(order: Order) -> dict[str, Any]:
        return {
            "algoId": order.order_id,
            "clientAlgoId": order.client_id,
            "algoType": "CONDITIONAL",
            "orderType": order.type.value,
            "symbol": order.symbol,
            "side": order.side.value,
            "positionSide": "BOTH",
            "timeInForce": order.time_in_force.value,
            "quantity": fmt(order.qty),
            "algoStatus": _algo_status(order),
            "actualOrderId": str(order.child_id) if order.child_id else "",
            "actualPrice": fmt(order.avg_price),
            "triggerPrice": fmt(order.trigger_price or Decimal(0)),
            "price": fmt(order.price or Decimal(0)),
            "icebergQuantity": None,
            "tpTriggerPrice": "0",
            "tpPrice": "0",
            "slTriggerPrice": "0",
            "slPrice": "0",
            "tpOrderType": "",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": order.trigger_source.value,
            "priceMatch": "NONE",
            "closePosition": order.close_position,
            "priceProtect": False,
            "reduceOnly": order.reduce_only,
            "createTime": order.created_ms,
            "updateTime": order.updated_ms,
            "triggerTime": order.triggered_ms or 0,
            "goodTillDate": 0,
        }

    @staticmethod
    def trade_json(fill: Fill) -> dict[str, Any]:
        return {
            "symbol": fill.symbol,
            "id": fill.trade_id,
            "orderId": fill.order_id,
            "side": fill.side.value,
            "price": fmt(fill.price),
            "qty": fmt(fill.qty),
            "realizedPnl": fmt(fill.realized_pnl),
            "marginAsset": "USDT",
            "quoteQty": fmt(fill.quote_qty),
            "commission": fmt(fill.fee),
            "commissionAsset": "USDT",
            "time": fill.time_ms,
            "positionSide": "BOTH",
            "maker": fill.maker,
            "buyer": fill.side is OrderSide.BUY,
        }
