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
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from adapters.ccxt_base import CcxtAdapter
from adapters.errors import malformed
from adapters.parsing import (
    dec,
    from_ms,
    parse_funding_payment,
    parse_order,
    parse_position,
    positive,
    tiers_from_phemex_risk_limits,
)
from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import ExchangeFamily, Side
from executor.domain.market import FundingInfo, LeverageTier
from executor.domain.orders import (
    EntryRequest,
    FundingPayment,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    ProtectedEntry,
)
from executor.ports.errors import ExchangeError
from executor.ports.exchange import EntryStep, ExchangePort

SETTLE = "USDT"
MARK_TRIGGER = "ByMarkPrice"
ORDER_TYPES = {"stop": OrderType.STOP_MARKET, "marketiftouched": OrderType.TAKE_PROFIT_MARKET}


def trigger_direction(position_side: Side, order_type: OrderType) -> str:
    """A long's stop fires on a falling mark and its take-profit on a rising one; a short mirrors."""
    falling = (position_side is Side.LONG) == (order_type is OrderType.STOP_MARKET)
    return "descending" if falling else "ascending"


DEACTIVATED = "Deactivated"


class PhemexAdapter(CcxtAdapter):
    family: ClassVar[ExchangeFamily] = ExchangeFamily.PHEMEX
    immediate_or_cancel: ClassVar[Mapping[str, str]] = {"timeInForce": "ImmediateOrCancel"}
    """Place order's timeInForce is GoodTillCancel | PostOnly | ImmediateOrCancel | FillOrKill (ph-docs);
    ccxt passes the parameter through unchanged."""

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
        await self._request(lambda: self._exchange.cancel_all_orders(symbol), write=False)
        await self._request(
            lambda: self._exchange.cancel_all_orders(symbol, {"untriggered": True}), write=False
        )

    async def open_with_stop(self, request: EntryRequest) -> ProtectedEntry:
        """One request carries entry and stop; the exchange arms the stop when the entry fills."""
        attached = {"stopLoss": {"triggerPrice": float(request.stop_price), "triggerPriceType": "mark"}}
        entry = await self._send_entry(request, attached)
        self._observe(EntryStep.ENTRY_ANSWERED)
        if entry.filled == 0:
            if entry.status.is_final:
                return ProtectedEntry(
                    entry, None, f"entry {entry.status.value} without a fill; no stop needed"
                )
            return ProtectedEntry(entry, None, "entry resting; its attached stop arms when it fills")
        stop = await self._find_attached_stop(request)
        if stop is None:
            return ProtectedEntry(entry, None, "attached stop not found on the exchange after the fill")
        return ProtectedEntry(entry, stop, None)

    async def _find_attached_stop(self, request: EntryRequest) -> Order | None:
        closing = OrderSide.closing(request.side)
        for _ in range(self._settings.fill_readback_attempts):
            try:
                orders = await self.open_orders(request.symbol)
            except ExchangeError:
                orders = []
            for order in orders:
                if (
                    order.conditional
                    and order.type is OrderType.STOP_MARKET
                    and order.side is closing
                    and order.trigger_price == request.stop_price
                ):
                    return order
            await asyncio.sleep(self._settings.fill_readback_delay.total_seconds())
        return None

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

    async def _apply_leverage(self, symbol: str, leverage: int, margin_mode: MarginMode) -> None:
        """One call sets both: a positive leverageRr means isolated, a negative one cross."""
        await self._idempotent(
            lambda: self._exchange.set_margin_mode(margin_mode.value, symbol, {"leverage": leverage})
        )

    def _tiers_from_market(self, symbol: str) -> tuple[LeverageTier, ...]:
        market = self._exchange.markets.get(symbol) or {}
        return tiers_from_phemex_risk_limits((market.get("info") or {}).get("riskLimits") or [])

    async def _fetch_tiers(self, symbol: str) -> tuple[LeverageTier, ...]:
        """Tiers ride on the product list: reload it only when it is due, not per snapshot."""
        if self._markets.needs_refresh("all"):
            await self._refresh_markets()
        return self._tiers_from_market(symbol)

    async def _fetch_mark_and_funding(self, symbol: str) -> tuple[Decimal | None, FundingInfo]:
        raw = await self._request(lambda: self._exchange.fetch_funding_rate(symbol), write=False)
        market = self._exchange.markets.get(symbol) or {}
        return parse_phemex_funding(raw, market.get("info") or {})

    async def account_snapshot(self) -> AccountSnapshot:
        balance = await self._request(
            lambda: self._exchange.fetch_balance({"type": "swap", "code": SETTLE}), write=False
        )
        positions = await self._request(
            lambda: self._exchange.fetch_positions(None, {"code": SETTLE}), write=False
        )
        return account_from_phemex(balance.get("info") or {}, positions, self._clock())


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
