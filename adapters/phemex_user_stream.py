"""The Phemex USDT-perpetual private stream (`user.auth`, `aop_p`) through ccxt.pro, turned into the daemon's
user events.

The follower is the Binance one (adapters/user_stream.py: one connection shared by `watch_orders`,
`watch_my_trades` and `watch_positions`, ccxt's caches read whole at every wake, a gap at every connection
and loss, backoff); what differs is the instance — `PhemexPro` (adapters/phemex_pro.py), which passes on
the `orders_p` list and the `positions_p` rows ccxt.pro 4.5.90 drops — the absence of a listen key (ccxt.pro
sends `user.auth` on each new connection), and the fields. Every number comes from the row's own strings.
docs/adapters.md "User data stream".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.ccxt_target import target_simulator
from adapters.parsing import dec, positive
from adapters.streams import StreamSettings
from adapters.user_stream import BinanceUserStream, TradeFields, stream_trade
from executor.domain.client_ids import kind_of
from executor.domain.enums import ExchangeId, ExchangeMode, Side
from executor.domain.orders import Order, OrderSide, OrderStatus, OrderType
from executor.domain.user_events import OrderUpdate, PositionUpdate, TradeUpdate

FILLS = ("TakerFill", "MakerFill")
"""`execStatus` of a row that is a trade; ccxt.pro files every row whose `action` is not Cancel as a trade
(ccxt/pro/phemex.py:1131-1136), an order's New included (`execQty` 0, `execID` all zeros)."""
_STATUS = {
    "Created": OrderStatus.OPEN,
    "New": OrderStatus.OPEN,
    "PartiallyFilled": OrderStatus.OPEN,
    "Untriggered": OrderStatus.OPEN,
    "Triggered": OrderStatus.OPEN,
    "Filled": OrderStatus.CLOSED,
    "Canceled": OrderStatus.CANCELED,
    "Rejected": OrderStatus.REJECTED,
}
_TYPES = {
    "Market": OrderType.MARKET,
    "Limit": OrderType.LIMIT,
    "Stop": OrderType.STOP_MARKET,
    "MarketIfTouched": OrderType.TAKE_PROFIT_MARKET,
}
CONDITIONAL_TYPES = ("Stop", "MarketIfTouched", "StopLimit", "LimitIfTouched")
REDUCING = ("ReduceOnly", "CloseOnTrigger")


def build_phemex_user_stream(
    exchange: ExchangeId,
    mode: ExchangeMode,
    api_key: str,
    secret: str,
    *,
    sim_base_url: str | None,
    settings: StreamSettings,
) -> Any:
    """The `PhemexPro` for the account's private stream (built when the stream starts); ccxt's ping-pong
    keepalive at `stall_after` / 2 finds a dead connection (a private stream is silent while nothing
    happens)."""
    from adapters.phemex_pro import PhemexPro

    instance = PhemexPro({"apiKey": api_key, "secret": secret, "options": {"defaultType": "swap"}})
    instance.streaming = {**instance.streaming, "keepAlive": int(settings.stall_after.total_seconds() * 500)}
    if mode is ExchangeMode.PAPER and not exchange.simulated:
        instance.set_sandbox_mode(True)
    if exchange.simulated:
        if not sim_base_url:
            raise ValueError(f"{exchange.value} needs the simulator's base URL")
        target_simulator(instance, sim_base_url)
    return instance


def _at(info: Mapping[str, Any]) -> datetime | None:
    ns = info.get("transactTimeNs")
    return datetime.fromtimestamp(int(str(ns)) / 1e9, UTC) if ns not in (None, "", 0, "0") else None


def order_update(raw: Mapping[str, Any], now: datetime) -> OrderUpdate:
    """An `orders_p` row as ccxt.pro cached it (`info`): quantities `orderQty`/`cumQty`, prices `…Rp`. A
    Deactivated order that never traded was retired by Phemex (its position went flat): EXPIRED, as REST
    reads it (adapters/phemex.py `_order_from_raw`)."""
    info: Mapping[str, Any] = raw.get("info") or {}
    status_text = str(info.get("ordStatus"))
    filled = dec(info.get("cumQty")) or Decimal(0)
    if status_text == "Deactivated":
        status = OrderStatus.CLOSED if filled else OrderStatus.EXPIRED
    elif status_text in _STATUS:
        status = _STATUS[status_text]
    else:
        raise ValueError(f"order status {status_text!r} is unknown: {dict(info)!r}"[:300])
    value = dec(info.get("cumValueRv"))
    client_id = str(info.get("clOrdID") or "") or None
    at = _at(info) or now
    trigger = positive(info.get("stopPxRp"))
    order = Order(
        symbol=str(raw.get("symbol")),
        exchange_id=str(info.get("orderID")),
        client_id=client_id,
        kind=kind_of(client_id),
        type=_TYPES.get(str(info.get("ordType")), OrderType.OTHER),
        side=OrderSide(str(info.get("side")).lower()),
        status=status,
        qty=dec(info.get("orderQty")) or Decimal(0),
        filled=filled,
        average_price=value / filled if value is not None and filled else None,
        price=positive(info.get("priceRp")),
        trigger_price=trigger,
        reduce_only=info.get("execInst") in REDUCING,
        conditional=info.get("ordType") in CONDITIONAL_TYPES or trigger is not None,
        timestamp=at,
        executed_order_id=None,  # Phemex shows a fired stop's fills under the stop's own order id
    )
    return OrderUpdate(order, at)


TRADE_FIELDS = TradeFields(
    trade_id="execID",
    order_id="orderID",
    side="side",
    qty="execQty",
    price="execPriceRp",
    fee="execFeeRv",
    client_id="clOrdID",
    realized_pnl="closedPnlRv",
)
"""A fill row's: `execID` the id REST's trade history gives too."""


def trade_update(raw: Mapping[str, Any]) -> TradeUpdate:
    """A fill row; its fee is in `currency` (USDT when absent), reduce-only is told by `execInst`."""
    info: Mapping[str, Any] = raw.get("info") or {}
    return stream_trade(
        raw,
        TRADE_FIELDS,
        _at(info),
        fee_asset=str(info.get("currency") or "USDT"),
        reduce_only=info.get("execInst") in REDUCING,
    )


def position_update(raw: Mapping[str, Any], now: datetime) -> PositionUpdate:
    """A `positions_p` row (one-way mode, `posSide` Merged): `size` absolute, `side` Buy/Sell/None."""
    info: Mapping[str, Any] = raw.get("info") or {}
    size = dec(info.get("size"))
    if size is None:
        raise ValueError(f"a position without a size: {dict(info)!r}"[:300])
    side = {"Buy": Side.LONG, "Sell": Side.SHORT}.get(str(info.get("side"))) if size else None
    return PositionUpdate(
        str(raw.get("symbol")), side, size, positive(info.get("avgEntryPriceRp")), _at(info) or now
    )


class PhemexUserStream(BinanceUserStream):
    """Follows the account's `aop_p` stream into the sink (see the module docstring for what differs)."""

    async def _renew_key(self) -> None:
        """No listen key: ccxt.pro authenticates each new connection itself."""

    def _note_key(self) -> None:
        """No listen key to have been replaced."""

    def _client(self) -> Any:
        return next(iter(self._exchange.clients.values()), None)

    async def _connected(self, tasks: Mapping[asyncio.Future[Any], str]) -> None:
        """Announced once the `aop_p` snapshot has arrived (its account row wakes `watch_balance`): from then
        on every change is streamed, so the REST resync the gap asks for cannot miss one made between the
        connection and the subscription."""
        snapshot = asyncio.ensure_future(self._exchange.watch_balance({"settle": "USDT"}))
        try:
            async with asyncio.timeout(self._settings.stall_after.total_seconds() * 2):
                while not snapshot.done():
                    waiting = {snapshot, *(task for task in tasks if not task.done())}
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    for task in tasks:
                        if task.done():
                            task.result()  # a failed watch ends the connection
            snapshot.result()
        finally:
            snapshot.cancel()
        await super()._connected(tasks)

    def _trade_key(self, raw: Mapping[str, Any]) -> tuple[str, str] | None:
        info = raw.get("info") or {}
        return (str(raw.get("symbol")), str(info.get("execID"))) if info.get("execStatus") in FILLS else None

    def _order_state(self, raw: Mapping[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
        info = raw.get("info") or {}
        key = (str(raw.get("symbol")), str(info.get("orderID")))
        return key, (str(info.get("ordStatus")), str(info.get("cumQty")))

    def _cached_positions(self) -> list[Any]:
        return list(self._exchange.positions or [])

    def _position_state(self, info: Mapping[str, Any]) -> tuple[str, str]:
        return (str(info.get("size")), str(info.get("avgEntryPriceRp")))

    _trade_update = staticmethod(trade_update)
    _order_update = staticmethod(order_update)
    _position_update = staticmethod(position_update)
