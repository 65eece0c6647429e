"""Binance USDⓈ-M futures through ccxt's ``binanceusdm``.

Quirks handled here: no attached stop-loss, so the stop is a separate reduce-only STOP_MARKET on
the Algo Order API (own ids ``algoId``/``clientAlgoId``, own open-order list) sent right after the
entry's answer, triggered by the mark price (``workingType=MARK_PRICE``); the insurance fund from
``GET /fapi/v1/insuranceBalance``; ``fetchCurrencies`` off (it would call the spot ``sapi``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import structlog

from adapters.cache import FreshnessCache
from adapters.ccxt_base import CcxtAdapter
from adapters.errors import malformed
from adapters.parsing import (
    dec,
    from_ms,
    interval_from_hours,
    parse_fill,
    parse_order,
    parse_position,
    positive,
    tiers_from_ccxt,
    to_ms,
    unique_fills,
)
from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import EntryType, ExchangeFamily, Side
from executor.domain.key_setup import KeyPermissions, PositionMode, SymbolSetup
from executor.domain.market import FundingInfo, LeverageTier
from executor.domain.orders import (
    EntryRequest,
    Fill,
    FundingPayment,
    Order,
    OrderSide,
    OrderType,
    ProtectedEntry,
)
from executor.ports.errors import ErrorReason, ExchangeError
from executor.ports.exchange import EntryStep, ExchangePort

log = structlog.get_logger(__name__)

DEFAULT_FUNDING_INTERVAL = timedelta(hours=8)
TRADES_KEPT = timedelta(days=180)
"""`userTrades` serves only the past 6 months (bn-sdk `account_trade_list`): nothing older is asked for."""
TRADES_WINDOW = timedelta(days=7)
"""`GET /fapi/v1/userTrades`: at most 7 days between startTime and endTime (bn-sdk `account_trade_list`)."""
HISTORY_PAGE = 1000
"""The most rows `userTrades` and `income` answer per request (`limit` ≤ 1000)."""
WORKING_TYPE_MARK = "MARK_PRICE"
SETTLE = "USDT"
MODE_SWITCH_BLOCKED = {-4067: "open orders", -4068: "an open position"}
""""Position side cannot be changed if there exists open orders / position." (ccxt binance.py:2778-2783)"""
HEDGE_MODE_FIX = (
    "the Binance account is in hedge mode (dualSidePosition) and cannot be switched to one-way mode while it "
    "has {blocker}: close every USDⓈ-M and COIN-M position and order (the setting is shared), or set "
    "Preferences → Position Mode to One-way on Binance; the daemon reads the mode again and starts trading "
    "once it is one-way"
)


class BinanceUsdmAdapter(CcxtAdapter):
    family: ClassVar[ExchangeFamily] = ExchangeFamily.BINANCE
    immediate_or_cancel: ClassVar[Mapping[str, str]] = {"timeInForce": "IOC"}
    """New Order's timeInForce is GTC | IOC | FOK | GTX | GTD (bn-docs New-Order)."""

    def __init__(self, exchange: Any, **kwargs: Any) -> None:
        super().__init__(exchange, **kwargs)
        self._funding_intervals: FreshnessCache[str, dict[str, timedelta]] = FreshnessCache(
            self._settings.tiers_max_age, self._clock
        )

    def _order_from_raw(self, raw: Any, *, conditional: bool | None = None) -> Order:
        info = raw.get("info") or {}
        return parse_order(raw, conditional=conditional, type_name=info.get("orderType") or info.get("type"))

    def _has_separate_conditional_orders(self) -> bool:
        return True

    async def _lookup(self, symbol: str, client_id: str, *, conditional: bool) -> Order | None:
        """A triggered algo order says nothing of its fill: read it from the order it executed."""
        found = await super()._lookup(symbol, client_id, conditional=conditional)
        if found is None and conditional:
            found = await self._lookup_algo_history(symbol, client_id)
        if found is None or not found.conditional or found.executed_order_id is None or found.filled > 0:
            return found
        executed_id = found.executed_order_id
        raw = await self._request(lambda: self._exchange.fetch_order(executed_id, symbol), write=False)
        executed = self._order_from_raw(raw, conditional=False)
        return replace(found, filled=executed.filled, average_price=executed.average_price)

    async def _lookup_algo_history(self, symbol: str, client_id: str) -> Order | None:
        """`GET /fapi/v1/algoOrder` stops serving some closed algo orders that `GET /fapi/v1/allAlgoOrders`
        (the last 7 days) still lists (nautechsystems/nautilus_trader#4448, PR #4449): the newest row
        there with this client id (client ids are unique among open orders only)."""
        raws = await self._request(
            lambda: self._exchange.fetch_orders(symbol, None, None, {"trigger": True}),
            write=False,
            priority=True,
        )
        matches = [raw for raw in raws if raw.get("clientOrderId") == client_id]
        if not matches:
            return None
        newest = max(matches, key=lambda raw: int(raw.get("id") or 0))
        return self._order_from_raw(newest, conditional=True)

    def _lookup_params(self, client_id: str, conditional: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": client_id}
        if conditional:
            params["trigger"] = True
        return params

    def _cancel_params(self, order: Order) -> dict[str, Any]:
        return {"trigger": True} if order.conditional else {}

    async def cancel_all(self, symbol: str) -> None:
        """Cancels never wait behind reads (priority): they end risk. Resending one is safe (write=False)."""
        await self._request(lambda: self._exchange.cancel_all_orders(symbol), write=False, priority=True)
        await self._request(
            lambda: self._exchange.cancel_all_orders(symbol, {"trigger": True}), write=False, priority=True
        )

    async def open_with_stop(self, request: EntryRequest) -> ProtectedEntry:
        """Entry, then at once the algo STOP_MARKET for what filled (the whole quantity for a limit)."""
        entry = await self._send_entry(request, {})
        if entry.status.is_final and entry.filled == 0:
            return ProtectedEntry(entry, None, f"entry {entry.status.value} without a fill; no stop needed")
        qty = entry.filled if request.entry_type is EntryType.MARKET and entry.filled > 0 else request.qty
        self._observe(EntryStep.ENTRY_ANSWERED)
        try:
            stop = await self.place_stop(
                request.symbol, request.side, qty, request.stop_price, request.stop_client_id
            )
        except ExchangeError as error:
            return ProtectedEntry(entry, None, f"stop not placed: {error}")
        self._observe(EntryStep.STOP_ANSWERED)
        if not stop.is_open:
            return ProtectedEntry(entry, None, f"stop is {stop.status.value}, not resting")
        return ProtectedEntry(entry, stop, None)

    async def _send_trigger_order(
        self,
        symbol: str,
        position_side: Side,
        qty: Decimal,
        trigger_price: Decimal,
        client_id: str,
        order_type: OrderType,
    ) -> Order:
        price_key = "stopLossPrice" if order_type is OrderType.STOP_MARKET else "takeProfitPrice"
        params = {
            price_key: float(trigger_price),
            "reduceOnly": True,
            "workingType": WORKING_TYPE_MARK,
            "clientOrderId": client_id,
        }
        side = OrderSide.closing(position_side).value
        return await self._submit(
            symbol,
            client_id,
            conditional=True,
            send=lambda: self._exchange.create_order(symbol, "market", side, float(qty), None, dict(params)),
        )

    async def ensure_one_way(self, symbols: Sequence[str]) -> list[str]:
        """One setting for the whole account (`symbols` do not matter): `GET /fapi/v1/positionSide/dual`; in
        hedge mode `POST … dualSidePosition=false`, which Binance refuses with -4067/-4068 while anything is
        open (docs/exchange-facts.md §2). The fix as one line when it cannot be switched."""
        mode = await self._request(lambda: self._exchange.fetch_position_mode(), write=False)
        if not mode.get("hedged"):
            return []
        try:
            await self._request(lambda: self._exchange.set_position_mode(False), write=False, priority=True)
        except ExchangeError as error:
            if error.reason is ErrorReason.NO_CHANGE:
                return []
            blocker = MODE_SWITCH_BLOCKED.get(error.classification.exchange_code or 0)
            if blocker is not None:
                return [HEDGE_MODE_FIX.format(blocker=blocker)]
            raise
        log.warning("exchange_position_mode_switched", exchange=self.name, to="one-way")
        return []

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        """Every fill since `since`: `userTrades` answers at most 7 days and 1000 rows a request, so a
        position held for weeks is read window by window up to the exchange's clock, each page by page."""
        until = (await self.server_time()).at
        fills: list[Fill] = []
        start = max(since, until - TRADES_KEPT)
        while start <= until:
            end = min(start + TRADES_WINDOW, until)
            page_start = start
            while True:
                call = partial(
                    self._exchange.fetch_my_trades,
                    symbol,
                    to_ms(page_start),
                    HISTORY_PAGE,
                    {"endTime": to_ms(end)},
                )
                raws = await self._request(call, write=False)
                page = [parse_fill(raw) for raw in raws]
                fills.extend(page)
                if len(page) < HISTORY_PAGE:
                    break
                page_start = _next_page_start(page_start, [fill.timestamp for fill in page])
            start = end + timedelta(milliseconds=1)
        return unique_fills([fill for fill in fills if fill.timestamp >= since])

    async def funding_payments_since(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Every funding payment since `since`: `income` answers at most `limit` (≤ 1000) rows, oldest
        first from `startTime`, so it is read page by page."""
        payments: dict[str, FundingPayment] = {}
        page_start = since
        while True:
            call = partial(self._exchange.fetch_funding_history, symbol, to_ms(page_start), HISTORY_PAGE)
            raws = await self._request(call, write=False)
            page = [self._funding_from_raw(raw) for raw in raws]
            payments.update((p.payment_id, p) for p in page if p.timestamp >= since)
            if len(page) < HISTORY_PAGE:
                break
            page_start = _next_page_start(page_start, [p.timestamp for p in page])
        return sorted(payments.values(), key=lambda p: (p.timestamp, p.payment_id))

    async def _fetch_server_ms(self) -> Any:
        return await self._exchange.fetch_time()

    async def _apply_leverage(
        self, symbol: str, leverage: int, margin_mode: MarginMode, margin_set: bool
    ) -> None:
        if not margin_set:
            await self._apply_margin_mode(symbol, margin_mode, None)
        await self._idempotent(lambda: self._exchange.set_leverage(leverage, symbol))

    async def _apply_margin_mode(self, symbol: str, margin_mode: MarginMode, leverage: int | None) -> bool:
        """`POST /fapi/v1/marginType`, on its own (-4046 "No need to change margin type" is success)."""
        await self._idempotent(lambda: self._exchange.set_margin_mode(margin_mode.value, symbol))
        return True

    async def _fetch_tiers(self, symbol: str) -> tuple[LeverageTier, ...]:
        raw = await self._request(lambda: self._exchange.fetch_leverage_tiers([symbol]), write=False)
        return tiers_from_ccxt(raw.get(symbol) or [])

    async def _fetch_mark_and_funding(self, symbol: str) -> tuple[Decimal | None, FundingInfo]:
        raw = await self._request(lambda: self._exchange.fetch_funding_rate(symbol), write=False)
        mark, funding = parse_binance_funding(raw)
        if funding.interval is None:
            funding = replace(funding, interval=await self._funding_interval(symbol))
        return mark, funding

    async def _funding_interval(self, symbol: str) -> timedelta | None:
        """`premiumIndex` has no interval; `GET /fapi/v1/fundingInfo` lists the symbols whose interval was
        adjusted, the others have 8 h (docs/exchange-facts.md §6). Read at most hourly (it shares a
        500 per 5 min budget); None when it cannot be read (the risk engine then assumes 8 h)."""
        intervals = self._funding_intervals.get("all") if self._funding_intervals.is_fresh("all") else None
        if intervals is None:
            try:
                raw = await self._request(lambda: self._exchange.fetch_funding_intervals(), write=False)
            except ExchangeError as error:
                log.warning("exchange_funding_intervals_unavailable", exchange=self.name, error=str(error))
                return None
            intervals = {
                name: hours
                for name, row in raw.items()
                if (hours := interval_from_hours(str(row.get("interval") or "").removesuffix("h")))
            }
            self._funding_intervals.put("all", intervals)
        return intervals.get(symbol, DEFAULT_FUNDING_INTERVAL)

    async def _fetch_book_top(self, symbol: str) -> tuple[Any, Any]:
        """`GET /fapi/v1/ticker/bookTicker?symbol=`: one symbol (ccxt's fetch_bids_asks asks for all)."""
        market_id = self._exchange.market_id(symbol)
        raw = await self._request(
            lambda: self._exchange.fapiPublicGetTickerBookTicker({"symbol": market_id}), write=False
        )
        return raw.get("bidPrice"), raw.get("askPrice")

    @property
    def _has_insurance_fund(self) -> bool:
        return True

    async def _fetch_insurance_fund(self, symbol: str, settle: str) -> Decimal | None:
        market_id = self._exchange.market_id(symbol)
        raw = await self._request(
            lambda: self._exchange.fapiPublicGetInsuranceBalance({"symbol": market_id}), write=False
        )
        return insurance_balance(raw, market_id, settle)

    async def key_permissions(self) -> KeyPermissions:
        """`GET /sapi/v1/account/apiRestrictions` (developers.binance.com/docs/wallet/account/
        api-key-permission): `enableFutures`, `enableWithdrawals`, `ipRestrict`. Demo Trading serves no
        `sapi` (ccxt's demo URLs have none), so there the permissions are unknown."""
        if "sapi" not in self._exchange.urls["api"]:
            return KeyPermissions(None, None, None, "Binance Demo Trading has no API-key permission endpoint")
        raw = await self._request(lambda: self._exchange.sapiGetAccountApiRestrictions(), write=False)
        return KeyPermissions(
            _flag(raw.get("enableFutures")), _flag(raw.get("enableWithdrawals")), _flag(raw.get("ipRestrict"))
        )

    async def symbol_setups(self, symbols: Sequence[str]) -> dict[str, SymbolSetup]:
        """Position mode from `GET /fapi/v1/positionSide/dual` (one per account); margin type and leverage
        from `GET /fapi/v1/symbolConfig` (ccxt fetch_leverages)."""
        mode = await self._request(lambda: self._exchange.fetch_position_mode(), write=False)
        hedged = mode.get("hedged")
        position_mode = None if hedged is None else PositionMode.HEDGE if hedged else PositionMode.ONE_WAY
        leverages = await self._request(lambda: self._exchange.fetch_leverages(list(symbols)), write=False)
        setups = {}
        for symbol in symbols:
            row = leverages.get(symbol) or {}
            raw_mode = row.get("marginMode")
            leverage = row.get("longLeverage") or row.get("shortLeverage")
            setups[symbol] = SymbolSetup(
                symbol,
                position_mode,
                MarginMode(raw_mode) if raw_mode in ("isolated", "cross") else None,
                int(leverage) if leverage else None,
            )
        return setups

    def _venue_limit(self) -> tuple[str, float]:
        """USDⓈ-M exchangeInfo rateLimits: REQUEST_WEIGHT 2400/min per IP, ORDERS 1200/min per account;
        ccxt's costs are scaled so that 1200 units/min spend that weight (adapters/ratelimit.py)."""
        return "2,400 request weight and 1,200 orders per minute (USDⓈ-M)", 1200.0

    async def account_snapshot(self) -> AccountSnapshot:
        balance = await self._request(lambda: self._exchange.fetch_balance(), write=False)
        positions = await self._request(lambda: self._exchange.fetch_positions(), write=False)
        return account_from_binance(balance.get("info") or {}, positions, self._clock())


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _next_page_start(current: datetime, stamps: list[datetime]) -> datetime:
    """A full page goes on from its newest row (rows of that same millisecond come again and are
    deduplicated by id), or one millisecond on when the whole page is one millisecond."""
    newest = max(stamps)
    return newest if newest > current else current + timedelta(milliseconds=1)


def parse_binance_funding(raw: dict[str, Any]) -> tuple[Decimal | None, FundingInfo]:
    rate = dec(raw.get("fundingRate"))
    if rate is None:
        raise malformed("funding response without a rate")
    interval = raw.get("interval")
    hours = interval[:-1] if isinstance(interval, str) and interval.endswith("h") else None
    funding = FundingInfo(rate, from_ms(raw.get("fundingTimestamp")), interval_from_hours(hours))
    return positive(raw.get("markPrice")), funding


def insurance_balance(raw: Any, market_id: str, settle: str) -> Decimal | None:
    """The settlement asset's balance of the pool that holds this symbol (pools are shared)."""
    pools = raw if isinstance(raw, list) else [raw]
    for pool in pools:
        if market_id not in (pool.get("symbols") or [market_id]):
            continue
        for asset in pool.get("assets") or []:
            if asset.get("asset") == settle:
                return dec(asset.get("marginBalance"))
    return None


def account_from_binance(info: dict[str, Any], positions: list[dict[str, Any]], now: Any) -> AccountSnapshot:
    """Equity is the settlement asset's margin balance (wallet + unrealized PnL)."""
    asset = next((a for a in info.get("assets") or [] if a.get("asset") == SETTLE), None)
    if asset is None:
        raise malformed(f"account response without a {SETTLE} asset")
    equity = dec(asset.get("marginBalance"))
    wallet = dec(asset.get("walletBalance"))
    free = dec(asset.get("availableBalance"))
    if equity is None or wallet is None or free is None:
        raise malformed(f"{SETTLE} asset without margin, wallet or available balance")
    parsed = tuple(p for p in map(parse_position, positions) if p is not None)
    return AccountSnapshot(SETTLE, now, equity, wallet, free, parsed)


#: The conformance check: mypy proves this adapter implements the daemon's port.
_PORT: type[ExchangePort] = BinanceUsdmAdapter
