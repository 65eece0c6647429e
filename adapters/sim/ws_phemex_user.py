"""Phemex USDT-perpetual private stream on the DataGW connection: `user.auth`, then `aop_p.subscribe`
(account-order-position).

`user.auth` is checked as the REST side checks a request (adapters/sim/phemex.py `authenticate`): a known
API key, HMAC-SHA256(secret, api key + expiry) as hex, an expiry in epoch seconds in the future and no more
than 2 minutes ahead. `aop_p.subscribe` on an authenticated connection answers success, then a `snapshot`
(the account, its positions, its open orders), then an `incremental` message for every change. Changes are
found as the Binance user stream finds them (adapters/sim/ws_binance_user.py): by comparing the engine with
what was last published, after every request, control call and price step (`poke`). Shapes and sources in
docs/simulator.md ("Phemex private stream").
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.sim.engine import Engine
from adapters.sim.model import Account, Fill, Order, OrderSide, OrderType, fmt
from adapters.sim.phemex import _TIF_NAMES, PhemexDialect, phemex_id
from executor.domain.money import ZERO

AUTH_MAX_AHEAD_SECONDS = 120
"""ph-docs "API User Authentication": "Maximum expiry is request time plus 2 minutes"."""
NO_EXEC_ID = "00000000-0000-0000-0000-000000000000"
"""The `execID` of an order event that is no trade (ph-docs AOP sample)."""

Outbox = Callable[[dict[str, Any]], None]


class AuthRefused(Exception):
    """`user.auth` refused; the message says why."""


@dataclass
class _Published:
    account: Account
    fills: int
    orders: dict[int, tuple[str, Decimal, Decimal]] = field(default_factory=dict)
    """order id → (ordStatus as published, filled, its value)"""
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    wallet: Decimal = ZERO


class PhemexUserStreams:
    """One per simulator: who is subscribed to which account, and what each account was last told."""

    def __init__(self, engine: Engine, dialect: PhemexDialect) -> None:
        self.engine = engine
        self.dialect = dialect
        self._outboxes: dict[str, list[Outbox]] = {}
        self._published: dict[str, _Published] = {}
        self.sequence = 0

    def authenticate(self, params: list[Any]) -> str:
        """The account's API key for `["API", key, signature, expiry]`, or AuthRefused."""
        if len(params) != 4 or params[0] != "API":
            raise AuthRefused('expected params ["API", api key, signature, expiry]')
        api_key, signature, expiry = params[1], params[2], params[3]
        secret = self.dialect.secrets.get(str(api_key))
        if secret is None:
            raise AuthRefused("unknown API key")
        if not isinstance(expiry, int) or isinstance(expiry, bool):
            raise AuthRefused("expiry must be an integer (epoch seconds)")
        now = int(time.time())  # the wall clock, as REST's expiry check: the client signs with its own clock
        if expiry <= now:
            raise AuthRefused("expired")
        if expiry > now + AUTH_MAX_AHEAD_SECONDS:
            raise AuthRefused("expiry more than 2 minutes ahead")
        expected = hmac.new(secret.encode(), f"{api_key}{expiry}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(str(signature).lower(), expected):
            raise AuthRefused("signature verification failed")
        return str(api_key)

    def subscribe(self, api_key: str, outbox: Outbox) -> dict[str, Any]:
        """Register the connection's outbox; returns the snapshot to send after the success reply."""
        self.poke()  # what happened before the subscription is in the snapshot, not sent again
        if outbox not in self._outboxes.setdefault(api_key, []):
            self._outboxes[api_key].append(outbox)
        account = self.engine.account(api_key)
        open_orders = [self._order_row(account, o, None) for o in self._shown(account) if o.status.is_open]
        held = [s for s, p in account.positions.items() if p.qty]
        return self._message(account, open_orders, held, "snapshot")

    def unsubscribe(self, outbox: Outbox) -> None:
        for outboxes in self._outboxes.values():
            if outbox in outboxes:
                outboxes.remove(outbox)

    def poke(self) -> None:
        """Publish what changed since the last look to the account's subscribed connections."""
        for api_key, account in self.engine.accounts.items():
            seen = self._published.get(api_key)
            if seen is None or seen.account is not account:  # new, or the engine was reset
                self._published[api_key] = _snapshot(account)
                continue
            rows = self._order_changes(seen)
            positions = self._position_changes(seen)
            if not rows and not positions and seen.wallet == account.wallet:
                continue
            seen.wallet = account.wallet
            message = self._message(account, rows, positions, "incremental")
            for outbox in self._outboxes.get(api_key, []):
                outbox(message)

    # ----------------------------------------------------------------- changes

    @staticmethod
    def _shown(account: Account) -> list[Order]:
        """Orders as Phemex shows them: a fired conditional order's market child is internal, its fills
        are shown under the conditional order (adapters/sim/phemex.py `_visible`, `_shown`)."""
        return [
            o
            for o in sorted(account.orders.values(), key=lambda o: o.order_id)
            if not (o.type is OrderType.MARKET and o.parent_id is not None)
        ]

    def _order_changes(self, seen: _Published) -> list[dict[str, Any]]:
        """New orders, then one row per fill (cumulative as of it), then other changes of status."""
        account = seen.account
        rows: list[dict[str, Any]] = []
        for order in self._shown(account):
            if order.order_id not in seen.orders:
                rows.append(self._order_row(account, order, None, placed=True))
                seen.orders[order.order_id] = (self._placed_status(order), ZERO, ZERO)
        for fill in account.fills[seen.fills :]:
            shown = self.dialect._shown(account, fill)
            _, filled, value = seen.orders.get(shown.order_id, ("New", ZERO, ZERO))
            filled, value = filled + fill.qty, value + fill.quote_qty
            rows.append(self._order_row(account, shown, fill, filled=(filled, value)))
            status = "Filled" if filled >= shown.qty else "PartiallyFilled"
            seen.orders[shown.order_id] = (status, filled, value)
        seen.fills = len(account.fills)
        for order in self._shown(account):
            status = self.dialect._status(order)
            before, filled, value = seen.orders[order.order_id]
            if status != before:
                rows.append(self._order_row(account, order, None, filled=(filled, value)))
                seen.orders[order.order_id] = (status, filled, value)
        return rows

    def _position_changes(self, seen: _Published) -> list[str]:
        changed = []
        for symbol, position in seen.account.positions.items():
            state = (position.qty, position.entry_price)
            if seen.positions.get(symbol, (ZERO, ZERO)) != state:
                changed.append(symbol)
                seen.positions[symbol] = state
        return changed

    def _placed_status(self, order: Order) -> str:
        return "Untriggered" if order.conditional else "New"

    # ----------------------------------------------------------------- shapes

    def _message(
        self, account: Account, orders: list[dict[str, Any]], symbols: list[str], kind: str
    ) -> dict[str, Any]:
        """`{"accounts_p": [...], "orders_p": [...], "positions_p": [...], "sequence", "timestamp", "type",
        "version"}` (ph-docs "Account-Order-Position (AOP) Message Sample")."""
        self.sequence += 1
        positions = [
            row
            for symbol in symbols
            for row in self.dialect._position_rows(account, self.engine.instruments[symbol], with_pnl=False)
        ]
        return {
            "accounts_p": [self.dialect._account(account)],
            "orders_p": orders,
            "positions_p": positions,
            "sequence": self.sequence,
            "timestamp": self.engine.clock.now_ns(),
            "type": kind,
            "version": 0,
        }

    def _order_row(
        self,
        account: Account,
        order: Order,
        fill: Fill | None,
        *,
        placed: bool = False,
        filled: tuple[Decimal, Decimal] | None = None,
    ) -> dict[str, Any]:
        """An `orders_p` element as in the AOP sample: quantities without the `Rq` suffix (`orderQty`,
        `cumQty`, `leavesQty`, `execQty`), a fill's `execID`, `execQty`, `execPriceRp`, `execFeeRv`,
        `execStatus` TakerFill/MakerFill; `action` Cancel for a cancellation."""
        cum, value = (order.filled_qty, order.cum_quote) if filled is None else filled
        status = self._placed_status(order) if placed else self.dialect._status(order)
        if fill is not None:
            status = "Filled" if cum >= order.qty else "PartiallyFilled"
        position = account.position(order.symbol)
        leaves = order.qty - cum if status in ("New", "PartiallyFilled", "Untriggered", "Triggered") else ZERO
        exec_status = {"Untriggered": "Untriggered", "Triggered": "Triggered", "Canceled": "Canceled"}.get(
            status, "New"
        )
        if status == "Deactivated":
            exec_status = "Canceled"
        if fill is not None:
            exec_status = "MakerFill" if fill.maker else "TakerFill"
        now_ns = self.engine.clock.now_ns()
        row: dict[str, Any] = {
            "accountID": 10001,
            "action": "Cancel" if status in ("Canceled", "Deactivated") else "New",
            "actionBy": "ByUser",
            "actionTimeNs": order.created_ms * 1_000_000,
            "clOrdID": order.client_id,
            "closedPnlRv": fmt(fill.realized_pnl if fill else ZERO),
            "closedSize": fmt(fill.qty if fill and fill.realized_pnl else ZERO),
            "currency": "USDT",
            "cumQty": fmt(cum),
            "cumValueRv": fmt(value),
            "curPosSide": "Buy" if position.qty > 0 else "Sell" if position.qty < 0 else "None",
            "curPosSize": fmt(abs(position.qty)),
            "cxlRejReason": 0,
            "displayQty": fmt(order.qty),
            "execFeeRv": fmt(fill.fee if fill else ZERO),
            "execID": f"{fill.trade_id:016x}" if fill else NO_EXEC_ID,
            "execInst": "CloseOnTrigger"
            if order.close_position
            else "ReduceOnly"
            if order.reduce_only
            else "None",
            "execPriceRp": fmt(fill.price if fill else ZERO),
            "execQty": fmt(fill.qty if fill else ZERO),
            "execStatus": exec_status,
            "execValueRv": fmt(fill.quote_qty if fill else ZERO),
            "feeRateRr": fmt(fill.fee_rate if fill else ZERO),
            "leavesQty": fmt(leaves),
            "leavesValueRv": fmt(leaves * (order.price or ZERO)),
            "message": "No error",
            "ordStatus": status,
            "ordType": self.dialect._ord_type(order),
            "orderID": phemex_id(order.order_id),
            "orderQty": fmt(order.qty),
            "posSide": "Merged",
            "priceRp": fmt(order.price or ZERO),
            "side": "Buy" if order.side is OrderSide.BUY else "Sell",
            "stopPxRp": fmt(order.trigger_price or ZERO),
            "symbol": order.symbol,
            "timeInForce": _TIF_NAMES[order.time_in_force] if not order.conditional else "ImmediateOrCancel",
            "tradeType": "Trade",
            "transactTimeNs": fill.time_ms * 1_000_000 if fill else now_ns,
            "userID": 1,
        }
        if fill is not None:
            row["lastLiquidityInd"] = "AddedLiquidity" if fill.maker else "RemovedLiquidity"
        return row


def _snapshot(account: Account) -> _Published:
    published = _Published(account, len(account.fills), wallet=account.wallet)
    for order in account.orders.values():
        published.orders[order.order_id] = (PhemexDialect._status(order), order.filled_qty, order.cum_quote)
    for symbol, position in account.positions.items():
        published.positions[symbol] = (position.qty, position.entry_price)
    return published
