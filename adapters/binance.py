"""Binance USDⓈ-M futures through ccxt's ``binanceusdm``.

Quirks handled here: no attached stop-loss, so the stop is a separate reduce-only STOP_MARKET on
the Algo Order API (own ids ``algoId``/``clientAlgoId``, own open-order list) sent right after the
entry's answer, triggered by the mark price (``workingType=MARK_PRICE``); the insurance fund from
``GET /fapi/v1/insuranceBalance``; ``fetchCurrencies`` off (it would call the spot ``sapi``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

from adapters.ccxt_base import CcxtAdapter
from adapters.errors import malformed
from adapters.parsing import (
    dec,
    from_ms,
    interval_from_hours,
    parse_order,
    parse_position,
    positive,
    tiers_from_ccxt,
)
from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import EntryType, ExchangeFamily, Side
from executor.domain.market import FundingInfo, LeverageTier
from executor.domain.orders import EntryRequest, Order, OrderSide, OrderType, ProtectedEntry
from executor.ports.errors import ExchangeError
from executor.ports.exchange import EntryStep, ExchangePort

WORKING_TYPE_MARK = "MARK_PRICE"
SETTLE = "USDT"


class BinanceUsdmAdapter(CcxtAdapter):
    family: ClassVar[ExchangeFamily] = ExchangeFamily.BINANCE
    immediate_or_cancel: ClassVar[Mapping[str, str]] = {"timeInForce": "IOC"}
    """New Order's timeInForce is GTC | IOC | FOK | GTX | GTD (bn-docs New-Order)."""

    def _order_from_raw(self, raw: Any, *, conditional: bool | None = None) -> Order:
        info = raw.get("info") or {}
        return parse_order(raw, conditional=conditional, type_name=info.get("orderType") or info.get("type"))

    def _has_separate_conditional_orders(self) -> bool:
        return True

    async def _lookup(self, symbol: str, client_id: str, *, conditional: bool) -> Order | None:
        """A triggered algo order says nothing of its fill: read it from the order it executed."""
        found = await super()._lookup(symbol, client_id, conditional=conditional)
        if found is None or not found.conditional or found.executed_order_id is None or found.filled > 0:
            return found
        executed_id = found.executed_order_id
        raw = await self._request(lambda: self._exchange.fetch_order(executed_id, symbol), write=False)
        executed = self._order_from_raw(raw, conditional=False)
        return replace(found, filled=executed.filled, average_price=executed.average_price)

    def _lookup_params(self, client_id: str, conditional: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": client_id}
        if conditional:
            params["trigger"] = True
        return params

    def _cancel_params(self, order: Order) -> dict[str, Any]:
        return {"trigger": True} if order.conditional else {}

    async def cancel_all(self, symbol: str) -> None:
        await self._request(lambda: self._exchange.cancel_all_orders(symbol), write=False)
        await self._request(lambda: self._exchange.cancel_all_orders(symbol, {"trigger": True}), write=False)

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

    async def _fetch_server_ms(self) -> Any:
        return await self._exchange.fetch_time()

    async def _apply_leverage(self, symbol: str, leverage: int, margin_mode: MarginMode) -> None:
        await self._idempotent(lambda: self._exchange.set_margin_mode(margin_mode.value, symbol))
        await self._idempotent(lambda: self._exchange.set_leverage(leverage, symbol))

    async def _fetch_tiers(self, symbol: str) -> tuple[LeverageTier, ...]:
        raw = await self._request(lambda: self._exchange.fetch_leverage_tiers([symbol]), write=False)
        return tiers_from_ccxt(raw.get(symbol) or [])

    async def _fetch_mark_and_funding(self, symbol: str) -> tuple[Decimal | None, FundingInfo]:
        raw = await self._request(lambda: self._exchange.fetch_funding_rate(symbol), write=False)
        return parse_binance_funding(raw)

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

    async def account_snapshot(self) -> AccountSnapshot:
        balance = await self._request(lambda: self._exchange.fetch_balance(), write=False)
        positions = await self._request(lambda: self._exchange.fetch_positions(), write=False)
        return account_from_binance(balance.get("info") or {}, positions, self._clock())


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
