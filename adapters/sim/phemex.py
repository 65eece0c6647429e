"""The Phemex USDT-perpetual dialect: g- routes, request-expiry signing, HTTP 200 `{"code": N}` errors."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapters.sim.book import book_sides
from adapters.sim.config import Instrument, PhemexEnvelope, SimConfig
from adapters.sim.engine import Engine
from adapters.sim.model import (
    Account,
    AttachedTrigger,
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
from adapters.sim.phemex_limits import PhemexLimits
from adapters.sim.phemex_positions import closed_position_row, closed_terms
from adapters.sim.wire import ApiError, WireRequest, flag, wire_of
from executor.domain.account import MarginMode
from executor.domain.money import NotANumber, to_decimal, to_int

NAME = "phemex"
API_KEY_HEADER = "x-phemex-access-token"
ORDER_PATHS = ("/g-orders", "/g-orders/create")
RATIO_SCALE = 8
TRADES_MAX_LIMIT = 200
TRADES_DEFAULT_SPAN_MS = 2 * 24 * 3600 * 1000
CL_ORD_ID_MAX = 40
"""ph-docs `_contract.md` "Place Order" (USDⓈ-M): "client order id, max length is 40"."""
_ID_PREFIX = "00000000-0000-4000-8000-"

_REJECT_CODES: dict[Reject, tuple[int, str]] = {
    Reject.UNKNOWN_SYMBOL: (11027, "TE_SYMBOL_INVALID"),
    Reject.DUPLICATE_CLIENT_ID: (11085, "TE_CL_ORD_ID_DUPLICATE"),
    Reject.ORDER_NOT_FOUND: (10002, "OM_ORDER_NOT_FOUND"),
    Reject.INSUFFICIENT_MARGIN: (11001, "TE_NO_ENOUGH_AVAILABLE_BALANCE"),
    Reject.REDUCE_ONLY_REJECTED: (11011, "TE_REDUCE_ONLY_ABORT"),
    Reject.POST_ONLY_WOULD_TAKE: (11035, "TE_ORD_TYPE_INVALID: PostOnly order would take liquidity"),
    Reject.QTY_INVALID: (11058, "TE_QTY_TOO_SMALL"),
    Reject.QTY_STEP: (11058, "TE_QTY_TOO_SMALL: quantity is not a multiple of the step"),
    Reject.QTY_TOO_SMALL: (11058, "TE_QTY_TOO_SMALL"),
    Reject.QTY_TOO_LARGE: (11056, "TE_QTY_TOO_LARGE"),
    Reject.PRICE_TICK: (11055, "TE_PRICE_TOO_SMALL: price is not a multiple of the tick"),
    Reject.PRICE_REQUIRED: (11055, "TE_PRICE_TOO_SMALL"),
    Reject.NOTIONAL_TOO_SMALL: (11115, "TE_ORDER_VALUE_TOO_SMALL"),
    Reject.LEVERAGE_INVALID: (11004, "TE_INVALID_LEVERAGE"),
    Reject.POSITION_LIMIT: (11081, "TE_RISK_LIMIT_EXCEEDS"),
    Reject.MARGIN_MODE_UNSUPPORTED: (
        11004,
        "TE_INVALID_LEVERAGE: the simulator supports isolated margin only",
    ),
    Reject.CLOSE_POSITION_WITH_QTY: (11037, "TE_EXEC_INST_INVALID"),
    Reject.CLOSE_POSITION_WITH_REDUCE_ONLY: (11037, "TE_EXEC_INST_INVALID"),
    Reject.CLOSE_POSITION_NOT_CONDITIONAL: (11037, "TE_EXEC_INST_INVALID"),
    Reject.STOP_REJECTED: (11031, "TE_SO_NUM_EXCEEDS"),
    Reject.AMEND_NOT_LIMIT: (11067, "TE_CANNOT_REPLACE_PRICE"),
    Reject.AMEND_UNCHANGED: (11065, "TE_ORD_REPLACE_NOT_MODIFIED"),
    Reject.AMEND_LIMIT: (11066, "TE_ORD_STATUS_CANNOT_REPLACE"),
}

_ORD_TYPES = {"Market": OrderType.MARKET, "Limit": OrderType.LIMIT}
_TIFS = {
    "GoodTillCancel": TimeInForce.GTC,
    "ImmediateOrCancel": TimeInForce.IOC,
    "FillOrKill": TimeInForce.FOK,
    "PostOnly": TimeInForce.GTX,
}
_TIF_NAMES = {value: key for key, value in _TIFS.items()}
_TRIGGERS = {"ByMarkPrice": TriggerSource.MARK, "ByLastPrice": TriggerSource.LAST}
_TRIGGER_NAMES = {value: key for key, value in _TRIGGERS.items()}
_NUMERIC_TYPE = {"Market": "1", "Limit": "2", "Stop": "3", "MarketIfTouched": "5"}
_NUMERIC_STATUS = {
    "Created": "1",
    "New": "5",
    "PartiallyFilled": "6",
    "Untriggered": "5",
    "Filled": "7",
    "Canceled": "8",
    "Deactivated": "3",
    "Rejected": "4",
}


def phemex_id(order_id: int) -> str:
    """Phemex order ids are UUIDs; the engine's integer id is kept readable in the last group."""
    return f"{_ID_PREFIX}{order_id:012x}"


def engine_id(phemex_order_id: str) -> int | None:
    if not phemex_order_id.startswith(_ID_PREFIX):
        return None
    try:
        return int(phemex_order_id[len(_ID_PREFIX) :], 16)
    except ValueError:
        return None


def error(code: int, msg: str, status: int = 200) -> ApiError:
    return ApiError(status, {"code": code, "msg": msg, "data": None})


def reject_error(exc: EngineReject, params: dict[str, Any] | None = None) -> ApiError:
    """Phemex's code for a rejection; trigger and TP/SL codes depend on the order's side and direction."""
    reason = exc.reason
    params = params or {}
    buy = params.get("side") == "Buy"
    if reason is Reject.WOULD_TRIGGER_IMMEDIATELY:
        rising = (params.get("ordType") == "Stop") == buy
        return (
            error(11043, "TE_RISING_TRIGGER_DIRECTLY")
            if rising
            else error(11044, "TE_FALLING_TRIGGER_DIRECTLY")
        )
    if reason is Reject.STOP_LOSS_WRONG_SIDE:
        return error(11048, "TE_BUY_SL_SHOULD_LT_BASE") if buy else error(11052, "TE_SELL_SL_SHOULD_GT_BASE")
    if reason is Reject.TAKE_PROFIT_WRONG_SIDE:
        return error(11047, "TE_BUY_TP_SHOULD_GT_BASE") if buy else error(11050, "TE_SELL_TP_SHOULD_LT_BASE")
    code, msg = _REJECT_CODES.get(reason, (19999, exc.message))
    return error(code, msg)


def rate_limit_response(status: int) -> web.Response:
    """Phemex throttles with a plain-text 429 and a retry-after header (no JSON envelope)."""
    return web.Response(
        status=status,
        text="Too Many Requests",
        headers={"x-ratelimit-retry-after-contract": "60", "x-ratelimit-remaining-contract": "0"},
    )


def rate_limited(headers: dict[str, str]) -> web.Response:
    """Over a budget: HTTP 429 with `x-ratelimit-retry-after-<group>` (ph-docs "Rate limits"); the body is
    undocumented, plain text here as in the `rate_limit` fault (ccxt: RateLimitExceeded)."""
    return web.Response(status=429, text="Too Many Requests", headers=headers)


def _wall_ms() -> int:
    """Budgets run on real time: advancing the simulated clock must not refill them."""
    return time.monotonic_ns() // 1_000_000


def stop_rejected_response() -> web.Response:
    return reject_error(EngineReject(Reject.STOP_REJECTED, "stop rejected")).response()


def is_stop_order(wire: WireRequest) -> bool:
    if wire.path not in ORDER_PATHS or wire.method not in ("POST", "PUT"):
        return False
    return any(
        wire.params.get(key) not in (None, "", "0") for key in ("stopPxRp", "stopLossRp", "takeProfitRp")
    )


def _decimal(params: dict[str, Any], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = to_decimal(raw)
    except NotANumber as exc:
        raise error(19999, f"invalid number in '{name}'") from exc
    return value if value else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ns(ms: int) -> int:
    return ms * 1_000_000


MATCHING_ENGINE_PATHS = frozenset(
    {"/g-orders", "/g-orders/create", "/g-orders/replace", "/g-orders/cancel", "/g-orders/all"}
)


def request_still_valid(headers: Any) -> None:
    """A request held up after arrival executes only until its `x-phemex-request-expiry` (epoch seconds).

    Phemex documents no later check; the harsher reading is that an expired request is never executed.
    """
    if int(time.time()) > int(str(headers.get("x-phemex-request-expiry", "0"))):
        raise error(401, "401 Request expired.", status=401)


class PhemexDialect:
    name = NAME

    def __init__(self, engine: Engine, config: SimConfig) -> None:
        self.engine = engine
        self.config = config
        self.secrets = {c.api_key: c.secret for c in config.credentials}
        self._book_sequence = 0
        self._seen: dict[str, int] = {}
        self.limits = PhemexLimits(config.rate_limits)

    # ----------------------------------------------------------------- plumbing

    def add_routes(self, app: web.Application) -> None:
        public: list[tuple[str, str, Callable[[WireRequest], Any]]] = [
            ("GET", "/public/products", self.products),
            ("GET", "/exchange/public/products", self.products),
            ("GET", "/v1/exchange/public/products", self.v1_products),
            ("GET", "/md/v2/orderbook", self.orderbook),
            ("GET", "/api-data/public/data/funding-rate-history", self.funding_rate_history),
            ("GET", "/public/time", lambda wire: {"code": 0, "msg": "", "data": {"serverTime": self._now()}}),
        ]
        private: list[tuple[str, str, Callable[[WireRequest, Account], Any]]] = [
            ("GET", "/g-accounts/accountPositions", self.account_positions),
            ("GET", "/g-accounts/positions", self.positions_with_pnl),
            ("PUT", "/g-positions/leverage", self.set_leverage),
            ("PUT", "/g-positions/switch-pos-mode-sync", self.switch_pos_mode),
            ("POST", "/g-orders", self.create_order),
            ("PUT", "/g-orders/create", self.create_order),
            ("PUT", "/g-orders/replace", self.replace_order),
            ("GET", "/g-orders/activeList", self.active_list),
            ("GET", "/api-data/g-futures/orders/by-order-id", self.orders_by_id),
            ("DELETE", "/g-orders/cancel", self.cancel_order),
            ("DELETE", "/g-orders/all", self.cancel_all),
            ("GET", "/exchange/order/v2/orderList", self.order_list),
            ("GET", "/exchange/order/v2/tradingList", self.trading_list),
            ("GET", "/api-data/g-futures/trades", self.trades),
            ("GET", "/api-data/g-futures/funding-fees", self.funding_fees),
            ("GET", "/api-data/g-futures/closedPosition", self.closed_positions),
        ]
        for method, path, public_fn in public:
            app.router.add_route(method, path, self._public(public_fn))
        for method, path, private_fn in private:
            app.router.add_route(method, path, self._private(private_fn))

    def _now(self) -> int:
        return self.engine.clock.now_ms()

    @staticmethod
    def _ok(data: Any) -> dict[str, Any]:
        return {"code": 0, "msg": "", "data": data}

    def _public(self, fn: Callable[[WireRequest], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            wire = wire_of(request)
            verdict = self.limits.admit(wire.method, wire.path, None, _wall_ms())
            if not verdict.allowed:
                return rate_limited(verdict.headers)
            try:
                response = web.json_response(fn(wire))
            except ApiError as exc:
                response = exc.response()
            except EngineReject as exc:
                response = reject_error(exc).response()
            response.headers.update(verdict.headers)
            return response

        return handle

    def _private(self, fn: Callable[[WireRequest, Account], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            wire = wire_of(request)
            headers: dict[str, str] = {}
            try:
                account = self.authenticate(wire, request.headers)
                verdict = self.limits.admit(wire.method, wire.path, account.api_key, _wall_ms())
                if not verdict.allowed:
                    return rate_limited(verdict.headers)
                headers = verdict.headers
                if wire.method != "GET" and wire.path in MATCHING_ENGINE_PATHS:
                    request_still_valid(request.headers)
                    self._refuse_replay(request.headers)
                response = web.json_response(fn(wire, account))
            except ApiError as exc:
                response = exc.response()
            except EngineReject as exc:
                response = reject_error(exc, wire.params).response()
            response.headers.update(headers)
            return response

        return handle

    def _refuse_replay(self, headers: Any) -> None:
        """19999 REQUEST_IS_DUPLICATED ("Duplicated request ID", ph-docs BizError table) for an order write
        whose signed request was already seen while its expiry lasts: ccxt signs path + query + expiry
        (whole seconds) + body, so a resend within the same second is the same request. What Phemex calls
        a request id is undocumented; the harsher reading: the repeat is refused, the first may have run."""
        now = int(time.time())
        self._seen = {sig: expiry for sig, expiry in self._seen.items() if expiry >= now}
        signature = str(headers.get("x-phemex-request-signature", "")).lower()
        if signature in self._seen:
            raise error(19999, "REQUEST_IS_DUPLICATED")
        self._seen[signature] = int(str(headers.get("x-phemex-request-expiry", "0")))

    def authenticate(self, wire: WireRequest, headers: Any) -> Account:
        """HMAC-SHA256(secret, path + query + expiry + body) , expiry in the future, as Phemex checks."""
        api_key = headers.get(API_KEY_HEADER)
        secret = self.secrets.get(api_key or "")
        if secret is None:
            raise error(401, "401 Failed to load API KEY.", status=401)
        expiry = str(headers.get("x-phemex-request-expiry", ""))
        if not (expiry.isascii() and expiry.isdigit()) or int(expiry) < wire.arrival_ms // 1000:
            raise error(401, "401 Request expired.", status=401)
        payload = wire.path + wire.raw_query + expiry + wire.body
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        signature = str(headers.get("x-phemex-request-signature", ""))
        if not hmac.compare_digest(signature.lower(), expected):
            raise error(401, "401 Signature verification failed.", status=401)
        self.engine.catch_up()
        return self.engine.account(str(api_key))

    def _instrument(self, params: dict[str, Any]) -> Instrument:
        symbol = params.get("symbol")
        if not symbol:
            raise error(412, "Missing parameter - symbol")
        try:
            return self.engine.instrument(str(symbol))
        except EngineReject as exc:
            raise error(39997, f"Symbol not listed {symbol}") from exc

    # ----------------------------------------------------------------- market data

    def _product(self, inst: Instrument) -> dict[str, Any]:
        scale = Decimal(10) ** RATIO_SCALE
        return {
            "symbol": inst.symbol,
            "code": 41541,
            "type": "PerpetualV2",
            "displaySymbol": f"{inst.base} / {inst.quote}",
            "indexSymbol": f".{inst.symbol}",
            "markSymbol": f".M{inst.symbol}",
            "fundingRateSymbol": f".{inst.symbol}FR",
            "fundingRate8hSymbol": f".{inst.symbol}FR8H",
            "contractUnderlyingAssets": inst.base,
            "settleCurrency": inst.quote,
            "quoteCurrency": inst.quote,
            "baseCurrency": inst.base,
            "tickSize": fmt(inst.tick),
            "priceScale": 0,
            "ratioScale": RATIO_SCALE,
            "pricePrecision": max(-inst.tick.normalize().as_tuple().exponent, 0),  # type: ignore[operator]
            "minPriceRp": fmt(inst.tick),
            "maxPriceRp": "2000000",
            "maxOrderQtyRq": fmt(inst.max_qty),
            "minOrderValueRv": fmt(inst.min_notional),
            "qtyStepSize": fmt(inst.step),
            "minOrderQtyRq": fmt(inst.min_qty),
            "status": "Listed",
            "majorSymbol": True,
            "defaultLeverage": "-10",
            "fundingInterval": inst.funding_interval_hours * 3600,
            "maxLeverage": inst.max_leverage,
            "makerFeeRateEr": int(inst.maker_fee * scale),
            "takerFeeRateEr": int(inst.taker_fee * scale),
        }

    @staticmethod
    def _leverage_margin(index_id: int, inst: Instrument) -> dict[str, Any]:
        """A `leverageMargins[]` entry (ph-docs "Set RiskLimit": risk limits are leverage based now; the
        product names its entry by `leverageMargin` = `index_id`), the doc's sample types."""
        return {
            "index_id": index_id,
            "items": [
                {
                    "notionalValueRv": int(t.cap),
                    "maxLeverage": t.max_leverage,
                    "maintenanceMarginRateRr": fmt(t.mmr),
                    "maintenanceAmountRv": fmt(t.cum),
                }
                for t in inst.tiers
            ],
        }

    def _risk_limits(self, inst: Instrument) -> dict[str, Any]:
        return {
            "symbol": inst.symbol,
            "steps": "tiers",
            "riskLimits": [
                {
                    "limit": int(t.cap),
                    "initialMarginRr": fmt(Decimal(1) / t.max_leverage),
                    "maintenanceMarginRr": fmt(t.mmr),
                }
                for t in inst.tiers
            ],
        }

    def products(self, wire: WireRequest) -> Any:
        instruments = list(self.engine.instruments.values())
        codes = ["USDT", *sorted({i.base for i in instruments})]
        currencies = [
            {
                "currency": code,
                "name": code,
                "code": n,
                "valueScale": 8,
                "minValueEv": 1,
                "maxValueEv": 5000000000000000000,
                "needAddrTag": 0,
                "status": "Listed",
                "displayCurrency": code,
                "inAssetsDisplay": 1,
                "perpetual": 2 if code == "USDT" else 0,
                "stableCoin": 1 if code == "USDT" else 0,
                "assetsPrecision": 8,
            }
            for n, code in enumerate(codes, start=1)
        ]
        return self._ok(
            {
                "currencies": currencies,
                "products": [],
                "perpProductsV2": [
                    {**self._product(inst), "leverageMargin": n}
                    for n, inst in enumerate(instruments, start=1)
                ],
                "riskLimits": [],
                "riskLimitsV2": [self._risk_limits(i) for i in instruments],
                "leverageMargins": [self._leverage_margin(n, i) for n, i in enumerate(instruments, start=1)],
                "leverages": [],
                "leveragesV2": [],
            }
        )

    def v1_products(self, wire: WireRequest) -> Any:
        return {"code": 0, "msg": "OK", "data": [self._product(i) for i in self.engine.instruments.values()]}

    def orderbook(self, wire: WireRequest) -> Any:
        """`{"error":null,"id":0,"result":{"orderbook_p":{"asks":[["p","q"]],"bids":[…]},"depth":30,
        "sequence","timestamp","symbol","type":"snapshot"}}` (docs/exchange-facts.md); adapters/sim/book.py's
        ladder, at most 30 levels a side."""
        inst = self._instrument(wire.params)
        self._book_sequence += 1
        book = book_sides(self.engine, self.config, inst, 30)
        result = {
            "orderbook_p": book,
            "depth": 30,
            "sequence": self._book_sequence,
            "timestamp": self.engine.clock.now_ns(),
            "symbol": inst.symbol,
            "type": "snapshot",
        }
        return {"error": None, "id": 0, "result": result}

    def funding_rate_history(self, wire: WireRequest) -> Any:
        self.engine.catch_up()
        raw = str(wire.params.get("symbol", ""))
        symbol = raw[1:-4] if raw.startswith(".") and raw.endswith("FR8H") else raw
        inst = self._instrument({"symbol": symbol})
        start = _int(wire.params, "start")
        end = _int(wire.params, "end")
        limit = _int(wire.params, "limit") or 100
        rows = [
            e
            for e in self.engine.funding_history[inst.symbol]
            if (start is None or e.time_ms >= start) and (end is None or e.time_ms <= end)
        ]
        rows = rows[-limit:]
        return self._ok(
            {
                "rows": [
                    {
                        "symbol": raw,
                        "fundingRate": fmt(e.rate),
                        "fundingTime": e.time_ms,
                        "intervalSeconds": inst.funding_interval_hours * 3600,
                    }
                    for e in rows
                ]
            }
        )

    # ----------------------------------------------------------------- account

    def _account(self, account: Account) -> dict[str, Any]:
        used = self.engine.order_margin(account) + sum(
            (p.margin for p in account.positions.values() if p.qty), Decimal(0)
        )
        return {
            "userID": 1,
            "accountId": 10001,
            "currency": "USDT",
            "accountBalanceRv": fmt(account.wallet),
            "totalUsedBalanceRv": fmt(used),
            "bonusBalanceRv": "0",
            "status": "0",
        }

    def _position_row(self, account: Account, inst: Instrument, *, with_pnl: bool) -> dict[str, Any]:
        view = self.engine.position_view(account, inst.symbol)
        fills = [f for f in account.fills if f.symbol == inst.symbol]
        side = "Buy" if view.qty > 0 else "Sell" if view.qty < 0 else "None"
        funding = sum(
            (
                r.amount
                for r in account.income
                if r.symbol == inst.symbol and r.type is IncomeType.FUNDING_FEE
            ),
            Decimal(0),
        )
        row: dict[str, Any] = {
            "userID": 1,
            "accountID": 10001,
            "symbol": inst.symbol,
            "currency": "USDT",
            "side": side,
            "positionStatus": "Normal",
            "crossMargin": view.margin_mode is MarginMode.CROSS,
            "leverageRr": fmt(Decimal(view.leverage)),
            "initMarginReqRr": fmt(Decimal(1) / view.leverage),
            "maintMarginReqRr": fmt(view.mmr),
            "riskLimitRv": fmt(inst.max_notional_for(view.leverage)),
            "size": fmt(abs(view.qty)),
            "valueRv": fmt(abs(view.qty) * view.entry_price),
            "avgEntryPriceRp": fmt(view.entry_price),
            "avgEntryPrice": fmt(view.entry_price),
            "posCostRv": fmt(view.margin),
            "assignedPosBalanceRv": fmt(view.margin),
            "bankruptCommRv": "0",
            "bankruptPriceRp": "0",
            "positionMarginRv": fmt(view.margin),
            "liquidationPriceRp": fmt(view.liquidation_price),
            "deleveragePercentileRr": "0",
            "buyValueToCostRr": fmt(Decimal(1) / view.leverage),
            "sellValueToCostRr": fmt(Decimal(1) / view.leverage),
            "markPriceRp": fmt(view.mark),
            "estimatedOrdLossRv": "0",
            "usedBalanceRv": fmt(view.margin),
            "cumClosedPnlRv": fmt(sum((f.realized_pnl for f in fills), Decimal(0))),
            "cumFundingFeeRv": fmt(-funding),
            "cumTransactFeeRv": fmt(sum((f.fee for f in fills), Decimal(0))),
            "transactTimeNs": _ns(view.updated_ms),
            "takerFeeRateRr": fmt(inst.taker_fee),
            "makerFeeRateRr": fmt(inst.maker_fee),
            "term": 1,
            "lastTermEndTimeNs": 0,
            "lastFundingTimeNs": 0,
            "curTermRealisedPnlRv": "0",
            "execSeq": len(fills),
            "posSide": "Merged",
            "posMode": "OneWay",
            "buyLeavesValueRv": "0",
            "sellLeavesValueRv": "0",
        }
        if with_pnl:
            row["unRealisedPnlRv"] = fmt(view.unrealized)
        return row

    def _position_rows(self, account: Account, inst: Instrument, *, with_pnl: bool) -> list[dict[str, Any]]:
        """One `Merged` row in one-way mode; a `Long` and a `Short` row (`posMode: Hedged`) in hedged mode."""
        row = self._position_row(account, inst, with_pnl=with_pnl)
        if inst.symbol not in account.hedged:
            return [row]
        held = account.position(inst.symbol).qty
        flat = {"side": "None", "size": "0", "valueRv": "0", "positionMarginRv": "0", "unRealisedPnlRv": "0"}
        return [
            {**row, "posMode": "Hedged", "posSide": pos_side, **({} if mine else flat)}
            for pos_side, mine in (("Long", held > 0), ("Short", held < 0))
        ]

    def account_positions(self, wire: WireRequest, account: Account) -> Any:
        if str(wire.params.get("currency", "USDT")) != "USDT":
            raise error(11028, "TE_CURRENCY_INVALID")
        instruments = self.engine.instruments.values()
        rows = [r for i in instruments for r in self._position_rows(account, i, with_pnl=False)]
        return self._ok({"account": self._account(account), "positions": rows})

    def positions_with_pnl(self, wire: WireRequest, account: Account) -> Any:
        instruments = self.engine.instruments.values()
        rows = [r for i in instruments for r in self._position_rows(account, i, with_pnl=True)]
        return self._ok({"account": self._account(account), "positions": rows})

    def set_leverage(self, wire: WireRequest, account: Account) -> Any:
        """`leverageRr` sets a one-way (merged) position; hedged mode takes `longLeverageRr` and
        `shortLeverageRr` (ph-docs "Set Leverage": "if leverageRr exists, the position side is merged").
        The wrong form for the symbol's mode is refused with 20004 (the harsher reading)."""
        inst = self._instrument(wire.params)
        hedged = inst.symbol in account.hedged
        merged = wire.params.get("leverageRr") not in (None, "")
        sides = [wire.params.get(k) for k in ("longLeverageRr", "shortLeverageRr")]
        if hedged and (merged or None in sides or "" in sides or sides[0] != sides[1]):
            raise error(20004, "TE_ERR_INCONSISTENT_POS_MODE: hedged mode takes long/shortLeverageRr")
        if not hedged and not merged:
            raise error(20004, "TE_ERR_INCONSISTENT_POS_MODE: one-way mode takes leverageRr")
        raw = sides[0] if hedged else wire.params.get("leverageRr")
        try:
            leverage = int(Decimal(str(raw)))
        except (ArithmeticError, ValueError) as exc:
            raise error(11004, "TE_INVALID_LEVERAGE") from exc
        if leverage < 0:
            self.engine.set_margin_mode(account, inst.symbol, MarginMode.CROSS)
        self.engine.set_leverage(account, inst.symbol, leverage)
        return self._ok("OK")

    def switch_pos_mode(self, wire: WireRequest, account: Account) -> Any:
        """`PUT /g-positions/switch-pos-mode-sync?symbol=&targetPosMode=OneWay|Hedged`, per symbol.

        Refused while the symbol has a position or an open order: the code for that is undocumented,
        the simulator answers 20004 (the harsher reading: no switch under anything open).
        """
        inst = self._instrument(wire.params)
        target = str(wire.params.get("targetPosMode", ""))
        if target not in ("OneWay", "Hedged"):
            raise error(30000, "Please double check input arguments")
        if (target == "Hedged") == (inst.symbol in account.hedged):
            return self._ok("OK")
        if account.position(inst.symbol).qty or any(
            o.symbol == inst.symbol and o.status.is_open for o in account.orders.values()
        ):
            raise error(
                20004,
                "TE_ERR_INCONSISTENT_POS_MODE: the position mode cannot change while the symbol has "
                "a position or open orders",
            )
        if target == "Hedged":
            account.hedged.add(inst.symbol)
        else:
            account.hedged.discard(inst.symbol)
        return self._ok("OK")

    # ----------------------------------------------------------------- orders

    def _order_request(self, params: dict[str, Any], account: Account) -> OrderRequest:
        inst = self._instrument(params)
        side_raw = str(params.get("side", ""))
        if side_raw not in ("Buy", "Sell"):
            raise error(11034, "TE_SIDE_INVALID")
        side = OrderSide.BUY if side_raw == "Buy" else OrderSide.SELL
        reduce_only = flag(params, "reduceOnly") or flag(params, "closeOnTrigger")
        if self._closes_hedged_side(params, account, inst.symbol, side):
            reduce_only = True
        ord_type = str(params.get("ordType", ""))
        trigger_price = _decimal(params, "stopPxRp")
        if ord_type in ("Stop", "MarketIfTouched"):
            order_type = OrderType.STOP_MARKET if ord_type == "Stop" else OrderType.TAKE_PROFIT_MARKET
        elif ord_type in _ORD_TYPES and trigger_price is None:
            order_type = _ORD_TYPES[ord_type]
        else:
            raise error(11035, "TE_ORD_TYPE_INVALID")
        tif_raw = str(params.get("timeInForce", "GoodTillCancel"))
        if tif_raw not in _TIFS:
            raise error(11036, "TE_TIME_IN_FORCE_INVALID")
        trigger_raw = str(params.get("triggerType", "ByMarkPrice"))
        if trigger_raw not in _TRIGGERS:
            raise error(11038, "TE_TRIGGER_INVALID")
        client_id = str(params.get("clOrdID") or f"sim{time.time_ns()}")
        return OrderRequest(
            symbol=inst.symbol,
            side=side,
            type=order_type,
            qty=_decimal(params, "orderQtyRq"),
            client_id=client_id,
            price=_decimal(params, "priceRp"),
            trigger_price=trigger_price,
            trigger_source=_TRIGGERS[trigger_raw],
            time_in_force=_TIFS[tif_raw],
            reduce_only=reduce_only,
            stop_loss=self._attached(params, "stopLossRp", "slTrigger"),
            take_profit=self._attached(params, "takeProfitRp", "tpTrigger"),
        )

    @staticmethod
    def _closes_hedged_side(params: dict[str, Any], account: Account, symbol: str, side: OrderSide) -> bool:
        """`posSide` must match the symbol's mode: `Merged` in one-way, `Long`/`Short` in hedged, else 20004
        (ccxt/ccxt#18624, #20243). In hedged mode `Long` opens with Buy and closes with Sell (`Short`
        mirrors); the simulator holds one side per symbol, so opening the second side is refused."""
        pos_side = str(params.get("posSide", "Merged"))
        if pos_side not in ("Merged", "Long", "Short"):
            raise error(30000, "Please double check input arguments")
        hedged = symbol in account.hedged
        if (pos_side == "Merged") == hedged:
            raise error(20004, "TE_ERR_INCONSISTENT_POS_MODE")
        if not hedged:
            return False
        long_side = pos_side == "Long"
        closing = long_side != (side is OrderSide.BUY)
        held = account.position(symbol).qty
        if not closing and held and (held > 0) != long_side:
            raise error(20004, "TE_ERR_INCONSISTENT_POS_MODE: the simulator holds one side per symbol")
        return closing

    @staticmethod
    def _attached(params: dict[str, Any], price_key: str, trigger_key: str) -> AttachedTrigger | None:
        price = _decimal(params, price_key)
        if price is None:
            return None
        trigger_raw = str(params.get(trigger_key, "ByMarkPrice"))
        if trigger_raw not in _TRIGGERS:
            raise error(11080 if price_key == "stopLossRp" else 11077, "TE_SL_TRIGGER_INVALID")
        return AttachedTrigger(price, _TRIGGERS[trigger_raw])

    def create_order(self, wire: WireRequest, account: Account) -> Any:
        if len(str(wire.params.get("clOrdID") or "")) > CL_ORD_ID_MAX:
            raise error(30000, "Please double check input arguments")
        request = self._order_request(wire.params, account)
        if (request.stop_loss or request.take_profit) and any(p.qty for p in account.positions.values()):
            # "Order request cannot contain TP/SL parameters when the account already has positions"
            # (ph-docs BizError 11074): any position of the account, the harsher reading.
            raise error(11074, "TE_CANNOT_ATTACH_TP_SL")
        if request.reduce_only and not request.type.conditional and not account.position(request.symbol).qty:
            raise error(11057, "TE_QTY_NOT_MATCH_REDUCE_ONLY")
        order = self.engine.place(account, request)
        return self._ok(self.ack_json(order))

    def replace_order(self, wire: WireRequest, account: Account) -> Any:
        """Amend order by orderID (`PUT /g-orders/replace`, ph-docs "Amend order by orderID"): `orderID`
        required; `priceRp` / `orderQtyRq` the new values (unchanged when absent); `clOrdID` is the order's
        *new* client id, as ph-docs define it (ccxt 4.5.90 sends `clOrdID` instead of `orderID` when given a
        client id, phemex.py:2895-2898: refused here for the missing `orderID`). Only a resting limit order
        is amended (a conditional order's `stopPxRp` is not: 11067, harsher than ph-docs); a closed one is
        11066; the engine's `amend` has the rest. Answers the amended order."""
        params = wire.params
        inst = self._instrument(params)
        if not params.get("orderID"):
            raise error(30000, "Please double check input arguments")
        order = self._find(wire, account)
        self._closes_hedged_side(params, account, inst.symbol, order.side)
        if not order.status.is_open:
            raise error(11066, "TE_ORD_STATUS_CANNOT_REPLACE")
        new_client_id = str(params.get("clOrdID") or "")
        if len(new_client_id) > CL_ORD_ID_MAX:
            raise error(30000, "Please double check input arguments")
        if new_client_id and any(
            o.client_id == new_client_id and o is not order for o in self.engine.open_orders(account)
        ):
            raise reject_error(EngineReject(Reject.DUPLICATE_CLIENT_ID, "duplicate"))
        qty = _decimal(params, "orderQtyRq") or order.qty
        price = _decimal(params, "priceRp") or order.price or Decimal(0)
        amended = self.engine.amend(account, order, qty, price)
        if new_client_id:
            amended.client_id = new_client_id
        return self._ok(self.order_json(amended))

    def _visible(self, account: Account, symbol: str | None = None) -> list[Order]:
        """Orders as Phemex lists them: a fired conditional keeps its id, its market child is internal;
        an order a `hide_order` fault hides is not listed yet."""
        now = self.engine.clock.now_ms()
        return [
            o
            for o in account.orders.values()
            if not (o.type is OrderType.MARKET and o.parent_id is not None)
            and not o.hidden(now)
            and (symbol is None or o.symbol == symbol)
        ]

    def _find(self, wire: WireRequest, account: Account) -> Order:
        inst = self._instrument(wire.params)
        raw_id = str(wire.params.get("orderID", ""))
        client_id = wire.params.get("clOrdID")
        order_id = engine_id(raw_id) if raw_id else None
        if raw_id and order_id is None:
            raise EngineReject(Reject.ORDER_NOT_FOUND, "OM_ORDER_NOT_FOUND")
        for order in reversed(self._visible(account, inst.symbol)):
            if (order_id is not None and order.order_id == order_id) or (
                order_id is None and client_id and order.client_id == client_id
            ):
                return order
        raise EngineReject(Reject.ORDER_NOT_FOUND, "OM_ORDER_NOT_FOUND")

    def active_list(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        rows = [self.order_json(o) for o in self._visible(account, inst.symbol) if o.status.is_open]
        if not rows:
            raise error(10002, "OM_ORDER_NOT_FOUND")
        return self._ok({"rows": rows, "nextPageArg": ""})

    def orders_by_id(self, wire: WireRequest, account: Account) -> Any:
        """Every order matching `orderID` or `clOrdID`, newest first (ph-docs "Query Orders By Ids").

        `phemex_envelope = "rows"` (the default): `{"data": {"rows": [...]}}` with the doc's row spelling
        (`orderId`, `clOrdId`, `ordType`); "list": `{"data": [...]}` in ccxt's spelling (exchange-facts §11).
        """
        inst = self._instrument(wire.params)
        raw_id = str(wire.params.get("orderID", ""))
        order_id = engine_id(raw_id) if raw_id else None
        client_id = wire.params.get("clOrdID")
        found = [
            o
            for o in reversed(self._visible(account, inst.symbol))
            if (order_id is not None and o.order_id == order_id) or (client_id and o.client_id == client_id)
        ]
        if self.config.phemex_envelope is PhemexEnvelope.LIST:
            return self._ok([self.order_json(o) for o in found])
        return {"code": 0, "msg": "OK", "data": {"rows": [self.by_id_row(o) for o in found]}}

    def cancel_order(self, wire: WireRequest, account: Account) -> Any:
        order = self._find(wire, account)
        self.engine.cancel(account, order_id=order.order_id)
        return self._ok(self.order_json(order))

    def cancel_all(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        conditional = flag(wire.params, "untriggered")
        cancelled = self.engine.cancel_all(account, inst.symbol, conditional=conditional)
        return self._ok(len(cancelled))

    def order_list(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        start = _int(wire.params, "start")
        limit = _int(wire.params, "limit") or 200
        orders = [o for o in self._visible(account, inst.symbol) if start is None or o.created_ms >= start]
        return {"code": 0, "msg": "OK", "data": [self.history_json(o) for o in orders[-limit:]]}

    def trading_list(self, wire: WireRequest, account: Account) -> Any:
        start = _int(wire.params, "start")
        limit = min(_int(wire.params, "limit") or TRADES_MAX_LIMIT, TRADES_MAX_LIMIT)
        offset = _int(wire.params, "offset") or 0
        symbol = wire.params.get("symbol")
        fills = [
            f
            for f in account.fills
            if (start is None or f.time_ms >= start) and (not symbol or f.symbol == symbol)
        ]
        fills.sort(key=lambda f: f.trade_id, reverse=True)
        return {
            "code": 0,
            "msg": "OK",
            "data": [self.trade_json(account, f) for f in fills[offset : offset + limit]],
        }

    def trades(self, wire: WireRequest, account: Account) -> Any:
        """`GET /api-data/g-futures/trades?symbol=|symbols=&currency=&start=&end=&offset=&limit=`
        (ph-docs "Query Trades History"): the only fill history naming the order (`orderID`, `clOrdID`,
        `closedPnlRv`). `start` defaults to two days before `end` (default now), `limit` to 20, at most
        200 (more is cut to 200); newest first. Symbol and currency cannot both be empty."""
        params = wire.params
        symbols = {s.strip() for s in str(params.get("symbols") or "").split(",") if s.strip()}
        if params.get("symbol"):
            symbols = {self._instrument(params).symbol}
        elif not params.get("currency"):
            raise error(30000, "Please double check input arguments")
        end = _int(params, "end") or self._now()
        start = _int(params, "start")
        start = end - TRADES_DEFAULT_SPAN_MS if start is None else start
        limit = min(_int(params, "limit") or 20, TRADES_MAX_LIMIT)
        offset = _int(params, "offset") or 0
        fills = [
            f for f in account.fills if start <= f.time_ms <= end and (not symbols or f.symbol in symbols)
        ]
        fills.sort(key=lambda f: f.trade_id, reverse=True)
        rows = [self.trade_history_json(account, f) for f in fills[offset : offset + limit]]
        if self.config.phemex_envelope is PhemexEnvelope.LIST:
            return self._ok(rows)
        return {"code": 0, "msg": "OK", "data": {"rows": rows}}

    def closed_positions(self, wire: WireRequest, account: Account) -> Any:
        """`GET /api-data/g-futures/closedPosition?symbol=&currency=&offset=&limit=` (ph-docs "Query Closed
        Positions"; ccxt `fetch_position_history`, `phemex.py:3801`): one row per position term with something
        closed (`phemex_positions.py`), newest first; `limit` default 20, at most 200; neither symbol nor
        currency: 30000. Envelope as by-order-id (`phemex_envelope`; ccxt's sample is the list)."""
        params = wire.params
        if params.get("symbol"):
            symbols = [self._instrument(params).symbol]
        elif params.get("currency"):
            symbols = list(self.engine.instruments)
        else:
            raise error(30000, "Please double check input arguments")
        limit = min(_int(params, "limit") or 20, TRADES_MAX_LIMIT)
        offset = _int(params, "offset") or 0
        terms = [t for symbol in symbols for t in closed_terms(account, symbol)]
        terms.sort(key=lambda t: t.updated_ms, reverse=True)
        rows = [
            closed_position_row(t, self.engine.leverage_of(account, t.symbol))
            for t in terms[offset : offset + limit]
        ]
        if self.config.phemex_envelope is PhemexEnvelope.LIST:
            return self._ok(rows)
        return {"code": 0, "msg": "OK", "data": {"rows": rows}}

    def funding_fees(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        limit = _int(wire.params, "limit") or 20
        rows = [r for r in account.income if r.symbol == inst.symbol and r.type is IncomeType.FUNDING_FEE]
        rows = list(reversed(rows))[:limit]
        events = {e.time_ms: e for e in self.engine.funding_history[inst.symbol]}
        out = []
        for r in rows:
            event = events.get(r.time_ms)
            mark = event.mark if event else Decimal(0)
            rate = event.rate if event else Decimal(0)
            qty = abs(r.amount / (mark * rate)) if mark and rate else Decimal(0)
            out.append(
                {
                    "symbol": inst.symbol,
                    "currency": "USDT",
                    "execQtyRq": fmt(qty),
                    "side": "Buy" if -r.amount * rate > 0 else "Sell",
                    "execPriceRp": fmt(mark),
                    "execValueRv": fmt(qty * mark),
                    "fundingRateRr": fmt(rate),
                    "feeRateRr": fmt(rate),
                    "execFeeRv": fmt(-r.amount),
                    "createTime": r.time_ms,
                }
            )
        return self._ok({"rows": out, "total": len(out)})

    # ----------------------------------------------------------------- shapes

    @staticmethod
    def _ord_type(order: Order) -> str:
        if order.type is OrderType.STOP_MARKET:
            return "Stop"
        if order.type is OrderType.TAKE_PROFIT_MARKET:
            return "MarketIfTouched"
        return "Market" if order.type is OrderType.MARKET else "Limit"

    @staticmethod
    def _status(order: Order) -> str:
        if order.conditional:
            if order.status is OrderStatus.UNTRIGGERED:
                return "Untriggered"
            if order.status is OrderStatus.TRIGGERING:
                return "Triggered"
            if order.status is OrderStatus.TRIGGERED:
                return "Filled" if order.filled_qty else "Deactivated"
            if order.status is OrderStatus.EXPIRED:
                return "Deactivated"
        names = {
            OrderStatus.NEW: "New",
            OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
            OrderStatus.FILLED: "Filled",
            OrderStatus.CANCELED: "Canceled",
            OrderStatus.EXPIRED: "Canceled",
            OrderStatus.REJECTED: "Rejected",
        }
        return names.get(order.status, "Canceled")

    def order_json(self, order: Order) -> dict[str, Any]:
        conditional = order.conditional
        rising = conditional and order.triggered_by(order.trigger_price + 1) if order.trigger_price else False
        leaves = order.remaining if order.status.is_open else Decimal(0)
        exec_inst = (
            "CloseOnTrigger" if order.close_position else "ReduceOnly" if order.reduce_only else "None"
        )
        return {
            "bizError": 0,
            "orderID": phemex_id(order.order_id),
            "clOrdID": order.client_id,
            "symbol": order.symbol,
            "side": "Buy" if order.side is OrderSide.BUY else "Sell",
            "actionTimeNs": _ns(order.created_ms),
            "transactTimeNs": _ns(order.updated_ms),
            "orderType": self._ord_type(order),
            "priceRp": fmt(order.price or Decimal(0)),
            "orderQtyRq": fmt(order.qty),
            "displayQtyRq": fmt(order.qty),
            "timeInForce": _TIF_NAMES[order.time_in_force] if not conditional else "ImmediateOrCancel",
            "closedPnlRv": "0",
            "closedSizeRq": "0",
            "cumQtyRq": fmt(order.filled_qty),
            "cumValueRv": fmt(order.cum_quote),
            "leavesQtyRq": fmt(leaves),
            "leavesValueRv": fmt(leaves * (order.price or Decimal(0))),
            "stopDirection": ("Rising" if rising else "Falling") if conditional else "UNSPECIFIED",
            "stopPxRp": fmt(order.trigger_price or Decimal(0)),
            "trigger": _TRIGGER_NAMES[order.trigger_source] if conditional else "UNSPECIFIED",
            "pegOffsetValueRp": "0",
            "pegOffsetProportionRr": "0",
            "execStatus": "Registered" if order.status is OrderStatus.UNTRIGGERED else "New",
            "pegPriceType": "UNSPECIFIED",
            "ordStatus": self._status(order),
            "execInst": exec_inst,
            "takeProfitRp": fmt(order.take_profit.trigger_price) if order.take_profit else "0",
            "stopLossRp": fmt(order.stop_loss.trigger_price) if order.stop_loss else "0",
            "slPxRp": "0",
            "tpPxRp": "0",
            "execFeeRv": fmt(order.fee),
            "reduceOnly": order.reduce_only,
            "posSide": "Merged",
        }

    def by_id_row(self, order: Order) -> dict[str, Any]:
        """The by-order-id row as ph-docs prints it: `orderId`, `clOrdId`, `ordType`."""
        row = self.order_json(order)
        renamed = {"orderID": "orderId", "clOrdID": "clOrdId", "orderType": "ordType"}
        return {renamed.get(key, key): value for key, value in row.items()}

    def ack_json(self, order: Order) -> dict[str, Any]:
        """Phemex answers a new order with an ack: Created (or Untriggered), nothing filled yet."""
        ack = self.order_json(order)
        ack.update(
            {
                "ordStatus": "Untriggered" if order.conditional else "Created",
                "execStatus": "Registered" if order.conditional else "PendingNew",
                "cumQtyRq": "0",
                "cumValueRv": "0",
                "leavesQtyRq": fmt(order.qty) if order.type is OrderType.LIMIT else "0",
                "leavesValueRv": fmt(order.qty * (order.price or Decimal(0))),
                "transactTimeNs": _ns(order.created_ms),
                "execFeeRv": "0",
            }
        )
        return ack

    def history_json(self, order: Order) -> dict[str, Any]:
        ord_type = self._ord_type(order)
        status = self._status(order)
        rising = order.conditional and order.trigger_price and order.triggered_by(order.trigger_price + 1)
        return {
            "createdAt": order.created_ms,
            "symbol": order.symbol,
            "orderQtyRq": fmt(order.qty),
            "side": "1" if order.side is OrderSide.BUY else "2",
            "posSide": "3",
            "priceRp": fmt(order.price or Decimal(0)),
            "execQtyRq": fmt(order.filled_qty),
            "leavesQtyRq": fmt(order.remaining if order.status.is_open else Decimal(0)),
            "execPriceRp": fmt(order.avg_price),
            "orderValueRv": fmt(order.qty * (order.price or order.avg_price)),
            "leavesValueRv": "0",
            "cumValueRv": fmt(order.cum_quote),
            "stopDirection": ("1" if rising else "2") if order.conditional else "0",
            "stopPxRp": fmt(order.trigger_price or Decimal(0)),
            "trigger": ("1" if order.trigger_source is TriggerSource.MARK else "2")
            if order.conditional
            else "0",
            "actionBy": "1",
            "execFeeRv": fmt(order.fee),
            "ordType": _NUMERIC_TYPE[ord_type],
            "ordStatus": _NUMERIC_STATUS[status],
            "clOrdId": order.client_id,
            "orderId": phemex_id(order.order_id),
            "execStatus": "7" if order.filled_qty else "0",
            "bizError": "0",
            "totalPnlRv": None,
            "avgTransactPriceRp": fmt(order.avg_price) if order.filled_qty else None,
            "orderDetailsVos": None,
            "tradeType": "1",
            "updatedAt": order.updated_ms,
        }

    @staticmethod
    def _shown(account: Account, fill: Fill) -> Order:
        """The order a fill belongs to as Phemex shows it: a fired conditional order keeps its own id."""
        order = account.orders[fill.order_id]
        fired = order.parent_id is not None and order.type is OrderType.MARKET
        return account.orders[order.parent_id] if fired and order.parent_id is not None else order

    def trade_history_json(self, account: Account, fill: Fill) -> dict[str, Any]:
        """A `/api-data/g-futures/trades` row (ph-docs sample): string enums, the order's ids, closed PnL."""
        shown = self._shown(account, fill)
        hedged = fill.symbol in account.hedged
        closing = bool(fill.realized_pnl) or shown.reduce_only
        held_side = fill.side.opposite if closing else fill.side
        return {
            "transactTimeNs": _ns(fill.time_ms),
            "symbol": fill.symbol,
            "currency": "USDT",
            "action": "New",
            "posSide": ("Long" if held_side is OrderSide.BUY else "Short") if hedged else "Merged",
            "side": "Buy" if fill.side is OrderSide.BUY else "Sell",
            "tradeType": "Trade",
            "execQtyRq": fmt(fill.qty),
            "execPriceRp": fmt(fill.price),
            "orderQtyRq": fmt(shown.qty),
            "priceRp": fmt(shown.price or Decimal(0)),
            "execValueRv": fmt(fill.quote_qty),
            "feeRateRr": fmt(fill.fee_rate),
            "execFeeRv": fmt(fill.fee),
            "closedSizeRq": fmt(fill.qty if closing else Decimal(0)),
            "closedPnlRv": fmt(fill.realized_pnl),
            "ordType": self._ord_type(shown),
            "execID": f"{fill.trade_id:016x}",
            "orderID": phemex_id(shown.order_id),
            "clOrdID": shown.client_id,
            "execStatus": "MakerFill" if fill.maker else "TakerFill",
        }

    def trade_json(self, account: Account, fill: Fill) -> dict[str, Any]:
        """A `tradingList` row: numeric enums and no order id (ph-docs "Query user trade")."""
        shown = self._shown(account, fill)
        return {
            "createdAt": fill.time_ms,
            "symbol": fill.symbol,
            "currency": "USDT",
            "action": "1",
            "tradeType": "1",
            "execQtyRq": fmt(fill.qty),
            "execPriceRp": fmt(fill.price),
            "side": "1" if fill.side is OrderSide.BUY else "2",
            "orderQtyRq": fmt(shown.qty),
            "priceRp": fmt(shown.price or Decimal(0)),
            "execValueRv": fmt(fill.quote_qty),
            "feeRateRr": fmt(fill.fee_rate),
            "execFeeRv": fmt(fill.fee),
            "ordType": _NUMERIC_TYPE[self._ord_type(shown)],
            "execId": f"{fill.trade_id:016x}",
            "execStatus": "6" if fill.maker else "7",
            "posSide": "3",
            "ptFeeRv": "0",
            "ptPriceRp": "0",
        }


def _int(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return to_int(raw)
    except NotANumber as exc:
        raise error(19999, f"invalid integer in '{name}'") from exc
