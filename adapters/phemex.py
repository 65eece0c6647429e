"""Phemex USDT perpetuals (the hedged-perpetual ``g-`` API) through ccxt's ``phemex``.

Quirks handled here: the stop-loss is attached to the entry request (``stopLossRp`` with
``slTrigger=ByMarkPrice``) and becomes a separate conditional order once the entry fills, named by
the exchange, not by us; trigger orders need ``triggerDirection``; the market-order answer is only
an acknowledgement, so the fill is read back; cancel-all of untriggered stops needs the raw
``untriggered`` flag (ccxt's own spelling is wrong); there is no insurance-fund API (the snapshot
says unknown); leverage tiers come with the product list (ccxt's tier call refuses USDT markets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import ccxt.async_support as ccxt  # type: ignore[import-untyped]
import structlog

from adapters.ccxt_base import CcxtAdapter
from adapters.errors import describe_body, exchange_code, malformed
from adapters.parsing import (
    dec,
    from_ms,
    parse_funding_payment,
    parse_market,
    parse_order,
    parse_position,
    positive,
    tiers_from_phemex_risk_limits,
    to_ms,
    unique_fills,
)
from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import ExchangeFamily, Side
from executor.domain.key_setup import KeyPermissions, PositionMode, SymbolSetup
from executor.domain.market import FundingInfo, LeverageTier, Market
from executor.domain.orders import (
    EntryRequest,
    Fill,
    FundingPayment,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    ProtectedEntry,
)
from executor.ports.errors import ExchangeError, OrderRejectedError
from executor.ports.exchange import EntryStep, ExchangePort

log = structlog.get_logger(__name__)

SETTLE = "USDT"
TRADES_PAGE = 200
"""`/api-data/g-futures/trades` answers at most 200 rows a page (ph-docs "Query Trades History")."""
MAX_TRADE_PAGES = 100
DUPLICATED_REQUEST = 19999
CANNOT_ATTACH_TP_SL = 11074
"""ph-docs BizError: "Order request cannot contain TP/SL parameters when the account already has positions"
(which positions is not said: the simulator takes any of the account's)."""
MARK_TRIGGER = "ByMarkPrice"
ORDER_TYPES = {"stop": OrderType.STOP_MARKET, "marketiftouched": OrderType.TAKE_PROFIT_MARKET}
HISTORY_TYPES = {"3": "stop", "5": "marketiftouched"}
"""`orderList` rows give `ordType` as a number (3 Stop, 5 MarketIfTouched: ph-docs; the recorded fixture's
triggered stop is `"ordType": "3"`), which ccxt 4.5.90 leaves as type None (it reads `orderType`,
phemex.py:2514)."""


def trigger_direction(position_side: Side, order_type: OrderType) -> str:
    """A long's stop fires on a falling mark and its take-profit on a rising one; a short mirrors."""
    falling = (position_side is Side.LONG) == (order_type is OrderType.STOP_MARKET)
    return "descending" if falling else "ascending"


def _typed_history_row(raw: dict[str, Any]) -> dict[str, Any]:
    if raw.get("type") is not None:
        return raw
    return {**raw, "type": HISTORY_TYPES.get(str((raw.get("info") or {}).get("ordType")))}


def _attached_stop(request: EntryRequest, orders: Sequence[Order]) -> Order | None:
    """The closing stop-market at the request's stop price (the exchange names it, not us)."""
    closing = OrderSide.closing(request.side)
    for order in orders:
        if (
            order.conditional
            and order.type is OrderType.STOP_MARKET
            and order.side is closing
            and order.trigger_price == request.stop_price
        ):
            return order
    return None


DEACTIVATED = "Deactivated"
POSITION_MODES = {"OneWay": PositionMode.ONE_WAY, "Hedged": PositionMode.HEDGE}


class PhemexAdapter(CcxtAdapter):
    family: ClassVar[ExchangeFamily] = ExchangeFamily.PHEMEX
    immediate_or_cancel: ClassVar[Mapping[str, str]] = {"timeInForce": "ImmediateOrCancel"}
    """Place order's timeInForce is GoodTillCancel | PostOnly | ImmediateOrCancel | FillOrKill (ph-docs);
    ccxt passes the parameter through unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leverage_margins: dict[str, list[dict[str, Any]]] = {}

    def _order_from_raw(self, raw: Any, *, conditional: bool | None = None) -> Order:
        order = parse_order(raw, conditional=conditional, dialect_types=ORDER_TYPES)
        info = raw.get("info") or {}
        if info.get("ordStatus") == DEACTIVATED and order.filled == 0:
            # ccxt calls it 'closed'; it never traded: Phemex retired it when its position went flat.
            return replace(order, status=OrderStatus.EXPIRED)
        return order

    def _funding_from_raw(self, raw: Any) -> FundingPayment:
        """Phemex reports the fee (paid > 0) under the raw symbol id; the port wants received > 0."""
        market = self._exchange.safe_market(raw.get("symbol"))
        fee = dec(raw.get("amount"))
        received = -fee if fee is not None else None
        return parse_funding_payment({**raw, "symbol": market["symbol"], "amount": received})

    async def cancel_all(self, symbol: str) -> None:
        """Cancels never wait behind reads (priority): they end risk."""
        await self._request(
            lambda: _unless_replayed(self._exchange.cancel_all_orders(symbol)), write=False, priority=True
        )
        await self._request(
            lambda: _unless_replayed(self._exchange.cancel_all_orders(symbol, {"untriggered": True})),
            write=False,
            priority=True,
        )

    async def _send_cancel(self, order: Order) -> Any:
        return await _unless_replayed(super()._send_cancel(order))

    async def open_with_stop(self, request: EntryRequest) -> ProtectedEntry:
        """One request carries entry and stop; the exchange arms the stop when the entry fills.

        Refused with 11074 while the account holds a position: then the entry goes alone and the stop
        follows as a separate reduce-only conditional order, as on Binance.
        """
        attached = {"stopLoss": {"triggerPrice": float(request.stop_price), "triggerPriceType": "mark"}}
        try:
            entry = await self._send_entry(request, attached)
        except OrderRejectedError as error:
            if error.classification.exchange_code != CANNOT_ATTACH_TP_SL:
                raise
            log.info("phemex_attached_stop_refused", client_id=request.entry_client_id)
            entry = await self._send_entry(request, {})
            return await self._stop_after_entry(request, entry)
        self._observe(EntryStep.ENTRY_ANSWERED)
        if entry.filled == 0:
            if entry.status.is_final:
                return ProtectedEntry(
                    entry, None, f"entry {entry.status.value} without a fill; no stop needed"
                )
            return ProtectedEntry(
                entry, None, "entry resting; its attached stop arms when it fills", stop_attached=True
            )
        stop = await self._find_attached_stop(request, entry)
        if stop is None:
            return ProtectedEntry(entry, None, "attached stop not found on the exchange after the fill")
        return ProtectedEntry(entry, stop, None)

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        """Fills naming their order, from `GET /api-data/g-futures/trades` (ccxt's fetch_my_trades reads
        `tradingList`, whose rows carry no order id: exchange-facts.md §9), paged by `offset` up to the
        documented maximum of 200 rows until a short page."""
        market_id = (await self.markets())[symbol].exchange_symbol
        start = to_ms(since)
        fills: list[Fill] = []
        for page in range(MAX_TRADE_PAGES):
            query = {"symbol": market_id, "start": start, "offset": page * TRADES_PAGE, "limit": TRADES_PAGE}
            raw = await self._request(
                partial(self._exchange.privateGetApiDataGFuturesTrades, query), write=False
            )
            rows = _rows(raw)
            fills.extend(parse_phemex_trade(row, symbol) for row in rows)
            if len(rows) < TRADES_PAGE:
                return unique_fills([fill for fill in fills if fill.timestamp >= since])
        raise malformed(f"phemex trades of {symbol} since {since.isoformat()}: over {MAX_TRADE_PAGES} pages")

    async def _fetch_order_raw(self, order_id: str | None, symbol: str, params: dict[str, Any]) -> Any:
        """`GET /api-data/g-futures/orders/by-order-id` may answer `{"data": {"rows": [...]}}` (what live
        clients read) while ccxt 4.5.90's fetch_order unwraps `rows` only for spot (phemex.py:3068-3080):
        for a swap it parses the dict itself into an order with every field None and raises nothing
        (docs/exchange-facts.md §11). Here the rows are read: none is OrderNotFound, else the newest row
        (the doc spells it `ordType` where ccxt reads `orderType`)."""
        raw = await self._exchange.fetch_order(order_id, symbol, params)
        info = raw.get("info")
        if raw.get("id") is not None or not isinstance(info, dict) or "rows" not in info:
            return raw
        rows = info.get("rows") or []
        if not rows:
            raise ccxt.OrderNotFound(f"phemex fetchOrder() {symbol}: no order with {order_id or params}")
        row = dict(rows[0])
        row.setdefault("orderType", row.get("ordType"))
        return self._exchange.parse_order(row, self._exchange.market(symbol))

    async def ensure_one_way(self, symbols: Sequence[str]) -> list[str]:
        """Phemex keeps the position mode per symbol (`posMode` on each position row; no read endpoint) and
        switches it with `PUT /g-positions/switch-pos-mode-sync` (ccxt set_position_mode, phemex.py:4324).
        A hedged symbol is switched only when it holds no position and no open order."""
        raws = await self._request(
            lambda: self._exchange.fetch_positions(None, {"code": SETTLE}), write=False
        )
        wanted = set(symbols)
        hedged = sorted(
            {p["symbol"] for p in raws if (p.get("info") or {}).get("posMode") == "Hedged"} & wanted
        )
        held = {p["symbol"] for p in raws if p.get("contracts")}
        problems = []
        for symbol in hedged:
            if symbol in held or await self.open_orders(symbol):
                problems.append(
                    f"{symbol} is in hedged position mode on Phemex with a position or open orders, and the "
                    f"executor trades one-way only: close them (or switch {symbol} to one-way in Phemex), "
                    "then restart the executor"
                )
                continue
            await self._request(
                partial(self._exchange.set_position_mode, False, symbol), write=False, priority=True
            )
            log.info("phemex_position_mode_switched", symbol=symbol, mode="OneWay")
        return problems

    async def _find_attached_stop(self, request: EntryRequest, entry: Order) -> Order | None:
        """The stop the exchange made of the entry's attached stop-loss: among the open orders, or, when
        a fast mark has already triggered it, in the order history (`GET /exchange/order/v2/orderList`,
        ccxt fetch_closed_orders, phemex.py:3170) from the entry's time on, newest first, so that the stop
        is booked with its real state and its fills link to it."""
        for _ in range(self._settings.fill_readback_attempts):
            try:
                orders = await self.open_orders(request.symbol)
            except ExchangeError:
                orders = []
            found = _attached_stop(request, orders)
            if found is None and entry.timestamp is not None:
                try:
                    orders = await self._closed_orders(request.symbol, entry.timestamp)
                except ExchangeError:
                    orders = []
                found = _attached_stop(request, [o for o in orders if not o.is_open])
            if found is not None:
                return found
            await asyncio.sleep(self._settings.fill_readback_delay.total_seconds())
        return None

    async def _closed_orders(self, symbol: str, since: datetime) -> list[Order]:
        raws = await self._request(
            lambda: self._exchange.fetch_closed_orders(symbol, to_ms(since)), write=False
        )
        orders = [self._order_from_raw(_typed_history_row(raw)) for raw in raws]
        return sorted(orders, key=lambda o: o.timestamp or since, reverse=True)

    async def _fetch_book_top(self, symbol: str) -> tuple[Any, Any]:
        """`GET /md/v2/orderbook?symbol=` (ccxt has no fetch_bids_asks for Phemex): its best levels."""
        book = await self._request(lambda: self._exchange.fetch_order_book(symbol), write=False)
        bids, asks = book.get("bids") or [[None]], book.get("asks") or [[None]]
        return bids[0][0], asks[0][0]

    async def _fetch_server_ms(self) -> Any:
        """Phemex has no time endpoint: a ticker's timestamp is the exchange's clock."""
        markets = await self.markets()
        symbol = min(markets) if markets else "BTC/USDT:USDT"
        ticker = await self._exchange.fetch_ticker(symbol)
        return ticker.get("timestamp")

    async def _send_trigger_order(
        self,
        symbol: str,
        position_side: Side,
        qty: Decimal,
        trigger_price: Decimal,
        client_id: str,
        order_type: OrderType,
    ) -> Order:
        params = {
            "triggerPrice": float(trigger_price),
            "triggerDirection": trigger_direction(position_side, order_type),
            "triggerType": MARK_TRIGGER,
            "reduceOnly": True,
            "clientOrderId": client_id,
        }
        side = OrderSide.closing(position_side).value
        return await self._submit(
            symbol,
            client_id,
            conditional=True,
            send=lambda: self._exchange.create_order(symbol, "market", side, float(qty), None, dict(params)),
        )

    async def _apply_leverage(
        self, symbol: str, leverage: int, margin_mode: MarginMode, margin_set: bool
    ) -> None:
        """One call sets both: a positive leverageRr means isolated, a negative one cross."""
        await self._idempotent(
            lambda: self._exchange.set_margin_mode(margin_mode.value, symbol, {"leverage": leverage})
        )

    async def _apply_margin_mode(self, symbol: str, margin_mode: MarginMode, leverage: int | None) -> bool:
        """The mode is the sign of the leverage: it is set with the symbol's current leverage, or left for
        the first `ensure_leverage` when the account does not say it."""
        if leverage is None:
            return False
        await self._apply_leverage(symbol, leverage, margin_mode, margin_set=False)
        return True

    async def _refresh_markets(self) -> None:
        """Leverage tiers come from `leverageMargins` in `GET /public/products` (risk limits are leverage
        based, ph-docs "Set RiskLimit"), which ccxt 4.5.90 drops: it reads only `riskLimitsV2`
        (phemex.py:1119). Read here first, so the markets refresh finds them; `riskLimitsV2` is the
        fallback."""
        raw = await self._request(lambda: self._exchange.v2GetPublicProducts(), write=False)
        data = raw.get("data") or {}
        entries = data.get("leverageMargins") or []
        self._leverage_margins = {str(entry.get("index_id")): entry.get("items") or [] for entry in entries}
        await super()._refresh_markets()

    def _market_from_raw(self, raw: Any) -> Market:
        """The minimum order value is the product's `minOrderValueRv` in `GET /public/products` (11115
        TE_ORDER_VALUE_TOO_SMALL below it); ccxt 4.5.90 keeps the row as `info` but sets no minimum cost
        (phemex.py:805-807). A product without it fails the refresh: a minimum of 0 would pass orders the
        exchange refuses."""
        market = parse_market(raw)
        info = raw.get("info") or {}
        minimum = dec(info.get("minOrderValueRv"))
        if minimum is None or minimum < 0:
            raise malformed(
                f"Phemex product {market.exchange_symbol} without minOrderValueRv: {describe_body(info)}"
            )
        return replace(market, filters=replace(market.filters, min_notional=minimum))

    def _tiers_from_market(self, symbol: str) -> tuple[LeverageTier, ...]:
        """The product's `leverageMargins` entry (by its `leverageMargin` index), else its `riskLimitsV2`."""
        info = (self._exchange.markets.get(symbol) or {}).get("info") or {}
        items = self._leverage_margins.get(str(info.get("leverageMargin")))
        if items:
            return tiers_from_phemex_leverage_margins(items)
        return tiers_from_phemex_risk_limits(info.get("riskLimits") or [])

    async def _fetch_tiers(self, symbol: str) -> tuple[LeverageTier, ...]:
        """Tiers ride on the product list: reload it only when it is due, not per snapshot."""
        if self._markets.needs_refresh("all"):
            await self._refresh_markets()
        return self._tiers_from_market(symbol)

    async def _fetch_mark_and_funding(self, symbol: str) -> tuple[Decimal | None, FundingInfo]:
        raw = await self._request(lambda: self._exchange.fetch_funding_rate(symbol), write=False)
        market = self._exchange.markets.get(symbol) or {}
        return parse_phemex_funding(raw, market.get("info") or {})

    async def key_permissions(self) -> KeyPermissions:
        """Phemex documents no endpoint that reports an API key's permissions (none among ccxt's Phemex
        endpoints); a key without trade permission shows itself only when it writes (401 Insufficient
        privilege)."""
        return KeyPermissions(None, None, None, "Phemex does not report an API key's permissions")

    async def symbol_setups(self, symbols: Sequence[str]) -> dict[str, SymbolSetup]:
        """From the position rows (`GET /g-accounts/accountPositions`, one per symbol and side): `posMode`
        OneWay/Hedged, and the leverage form — `leverageRr` > 0 isolated, < 0 cross (one-way only)."""
        raws = await self._request(
            lambda: self._exchange.fetch_positions(None, {"code": SETTLE}), write=False
        )
        setups = {}
        for symbol in symbols:
            info = next(((p.get("info") or {}) for p in raws if p.get("symbol") == symbol), None)
            if info is None:
                setups[symbol] = SymbolSetup(symbol, None, None, None)
                continue
            mode = POSITION_MODES.get(str(info.get("posMode")))
            leverage = dec(info.get("leverageRr"))
            margin = None if not leverage else MarginMode.ISOLATED if leverage > 0 else MarginMode.CROSS
            setups[symbol] = SymbolSetup(symbol, mode, margin, abs(int(leverage)) if leverage else None)
        return setups

    def _venue_limit(self) -> tuple[str, float]:
        """Phemex's Contract group allows 500 requests per minute per user; every request to the testnet
        shares 500 per 5 minutes (docs/exchange-facts.md §12). ccxt's Phemex cost unit is one request."""
        if self._exchange.isSandboxModeEnabled:
            return "500 requests per 5 minutes for everything (testnet)", 100.0
        return "500 Contract requests per minute per user", 500.0

    async def account_snapshot(self) -> AccountSnapshot:
        """One `GET /g-accounts/accountPositions`: it answers the account and its positions together, the
        endpoint behind both ccxt's fetch_balance and its fetch_positions for USDT, so reading them apart
        cost two requests of the testnet's 500 per 5 minutes for one answer."""
        await self.markets()  # ccxt parses the positions against its loaded markets
        raw = await self._request(
            partial(self._exchange.privateGetGAccountsAccountPositions, {"currency": SETTLE}), write=False
        )
        rows = ((raw or {}).get("data") or {}).get("positions") or []
        positions = [self._exchange.parse_position(row) for row in rows]
        return account_from_phemex(raw or {}, positions, self._clock())


async def _unless_replayed(cancel: Awaitable[Any]) -> Any:
    """19999 REQUEST_IS_DUPLICATED on a cancel: the same signed request reached Phemex already (a resend
    within the same expiry second is byte-identical); what became of the order is read back after it."""
    try:
        return await cancel
    except ccxt.BadRequest as exc:
        if exchange_code(str(exc)) != DUPLICATED_REQUEST:
            raise
        log.info("phemex_cancel_replayed")
        return None


def tiers_from_phemex_leverage_margins(items: list[dict[str, Any]]) -> tuple[LeverageTier, ...]:
    """`leverageMargins[].items`: notional cap, max leverage, maintenance rate and amount of each tier."""
    tiers: list[LeverageTier] = []
    floor = Decimal(0)
    for item in sorted(items, key=lambda i: dec(i.get("notionalValueRv")) or Decimal(0)):
        cap, leverage = dec(item.get("notionalValueRv")), positive(item.get("maxLeverage"))
        rate, amount = dec(item.get("maintenanceMarginRateRr")), dec(item.get("maintenanceAmountRv"))
        if cap is None or leverage is None or rate is None or amount is None:
            raise malformed(f"leverage margin item without notional, leverage or rate: {describe_body(item)}")
        tiers.append(LeverageTier(floor, cap, leverage, rate, amount))
        floor = cap
    return tuple(tiers)


def _rows(raw: Any) -> list[dict[str, Any]]:
    """`data` as a list, or the documented `data.rows` (exchange-facts.md §11)."""
    data = raw.get("data") if isinstance(raw, dict) else None
    if isinstance(data, dict):
        data = data.get("rows")
    if not isinstance(data, list):
        raise malformed(f"phemex answer without rows: {describe_body(raw)}")
    return data


def parse_phemex_trade(row: dict[str, Any], symbol: str) -> Fill:
    """A `/api-data/g-futures/trades` row (ph-docs "Query Trades History"): `execID`, `orderID`, `side`."""
    timestamp_ns = row.get("transactTimeNs")
    price, qty = dec(row.get("execPriceRp")), dec(row.get("execQtyRq"))
    side = str(row.get("side") or "").lower()
    known = bool(row.get("execID")) and timestamp_ns not in (None, "") and side in ("buy", "sell")
    if not known or price is None or qty is None:
        raise malformed(f"trade row without execID, time, price, quantity or side: {describe_body(row)}")
    return Fill(
        trade_id=str(row["execID"]),
        order_id=str(row["orderID"]) if row.get("orderID") else None,
        symbol=symbol,
        side=OrderSide(side),
        qty=qty,
        price=price,
        fee=dec(row.get("execFeeRv")) or Decimal(0),
        fee_asset=str(row.get("currency") or SETTLE),
        timestamp=datetime.fromtimestamp(int(str(timestamp_ns)) / 1e9, UTC),
    )


def parse_phemex_funding(
    raw: dict[str, Any], market_info: dict[str, Any]
) -> tuple[Decimal | None, FundingInfo]:
    rate = dec(raw.get("fundingRate"))
    if rate is None:
        raise malformed("funding response without a rate")
    funding = FundingInfo(rate, from_ms(raw.get("fundingTimestamp")), funding_interval(market_info))
    return positive(raw.get("markPrice")), funding


def funding_interval(market_info: dict[str, Any]) -> timedelta | None:
    """Phemex lists the interval in hours (v1 products) or seconds (v2 products)."""
    value = positive(market_info.get("fundingInterval"))
    if value is None:
        return None
    return timedelta(seconds=float(value)) if value > 24 else timedelta(hours=float(value))


def account_from_phemex(info: dict[str, Any], positions: list[dict[str, Any]], now: Any) -> AccountSnapshot:
    """Equity = wallet (accountBalanceRv) + unrealized PnL; free = wallet − used balance."""
    account = (info.get("data") or {}).get("account") or {}
    wallet = dec(account.get("accountBalanceRv"))
    used = dec(account.get("totalUsedBalanceRv"))
    if wallet is None or used is None:
        raise malformed("account response without accountBalanceRv or totalUsedBalanceRv")
    parsed = tuple(p for p in map(parse_position, positions) if p is not None)
    upnl = sum((p.unrealized_pnl for p in parsed), Decimal(0))
    return AccountSnapshot(SETTLE, now, wallet + upnl, wallet, wallet - used, parsed)


#: The conformance check: mypy proves this adapter implements the daemon's port.
_PORT: type[ExchangePort] = PhemexAdapter
