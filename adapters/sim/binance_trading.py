"""Binance USDⓈ-M trade routes behind ccxt's remaining unified methods: batch orders, modify order, isolated
position margin and its history, the account's liquidation orders (docs/simulator.md, "What ccxt-based bots
call"). The shared checks and shapes are the dialect's (`binance.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from adapters.sim.binance import (
    HISTORY_SPAN_MS,
    BinanceDialect,
    _decimal,
    _int,
    error,
    reject_error,
)
from adapters.sim.model import Account, EngineReject, fmt
from adapters.sim.wire import ApiError, WireRequest

BATCH_PATH = "/fapi/v1/batchOrders"
BATCH_NEW_MAX = 5
"""Place Multiple Orders: "batchOrders … Max 5 orders"."""
BATCH_CANCEL_MAX = 10
"""Cancel Multiple Orders: `orderIdList` / `origClientOrderIdList` "max length 10"."""
MARGIN_HISTORY_SPAN_MS = 30 * 86_400_000
"""Get Position Margin Change History: "not older than 30 days", a window of at most 30 days."""
FORCE_ORDERS_DEFAULT_LIMIT = 50
FORCE_ORDERS_MAX_LIMIT = 100


def _json_list(params: dict[str, Any], *names: str) -> list[Any] | None:
    """A parameter sent as a JSON list (`batchOrders`, `orderIdList`); -1130 when it is not one."""
    for name in names:
        raw = params.get(name)
        if raw in (None, ""):
            continue
        try:
            value = json.loads(str(raw))
        except ValueError as exc:
            raise error(-1130, f"Data sent for parameter '{names[0]}' is not valid.") from exc
        if not isinstance(value, list):
            raise error(-1130, f"Data sent for parameter '{names[0]}' is not valid.")
        return value
    return None


class BinanceTrading:
    def __init__(self, dialect: BinanceDialect) -> None:
        self.dialect = dialect
        self.engine = dialect.engine

    def add_routes(self, app: web.Application) -> None:
        private: list[tuple[str, str, Callable[[WireRequest, Account], Any]]] = [
            ("PUT", "/fapi/v1/order", self.modify_order),
            ("POST", BATCH_PATH, self.place_batch),
            ("PUT", BATCH_PATH, self.modify_batch),
            ("DELETE", BATCH_PATH, self.cancel_batch),
            ("POST", "/fapi/v1/positionMargin", self.position_margin),
            ("GET", "/fapi/v1/positionMargin/history", self.position_margin_history),
            ("GET", "/fapi/v1/forceOrders", self.force_orders),
        ]
        for method, path, private_fn in private:
            app.router.add_route(method, path, self.dialect._private(private_fn))

    # ----------------------------------------------------------------- orders

    def modify_order(self, wire: WireRequest, account: Account) -> Any:
        """Modify Order (`PUT /fapi/v1/order`): LIMIT only; `orderId` or `origClientOrderId`, and `side`,
        `quantity`, `price` all required; the order keeps its ids (engine `amend` has the rules)."""
        return self._modify(wire.params, account)

    def _modify(self, params: dict[str, Any], account: Account) -> dict[str, Any]:
        dialect = self.dialect
        order = dialect._lookup(params, account, algo=False)
        side_raw = str(params.get("side", "")).upper()
        if side_raw not in ("BUY", "SELL") or side_raw != order.side.value:
            raise error(-1117, "Invalid side.")
        qty = _decimal(params, "quantity", required=True)
        price = _decimal(params, "price", required=True)
        assert qty is not None and price is not None
        if order.status.is_open:
            request = self.engine.amended_request(order, qty, price)
            dialect._within_percent_price(request)
            dialect._reduce_only_room(request, account, excluding=order.order_id)
        return dialect.order_json(self.engine.amend(account, order, qty, price))

    def _each(self, legs: list[Any], run: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer per leg in the order sent: the order, or that leg's `{"code", "msg"}` refusal."""
        answers = []
        for leg in legs:
            try:
                if not isinstance(leg, dict):
                    raise error(-1130, "Data sent for parameter 'batchOrders' is not valid.")
                answers.append(run({k: v for k, v in leg.items() if v is not None}))
            except ApiError as exc:
                answers.append(exc.body)
            except EngineReject as exc:
                answers.append(reject_error(exc).body)
        return answers

    def _legs(self, params: dict[str, Any]) -> list[Any]:
        legs = _json_list(params, "batchOrders")
        if legs is None:
            raise error(
                -1102, "Mandatory parameter 'batchOrders' was not sent, was empty/null, or malformed."
            )
        if not 0 < len(legs) <= BATCH_NEW_MAX:
            raise error(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        return legs

    def place_batch(self, wire: WireRequest, account: Account) -> Any:
        """Place Multiple Orders: each leg as New Order (its own `newOrderRespType`, default ACK), in the
        order sent; a refused leg is its error object in its place, the others are placed."""
        return self._each(self._legs(wire.params), lambda leg: self.dialect.new_order(leg, account))

    def modify_batch(self, wire: WireRequest, account: Account) -> Any:
        """Modify Multiple Orders (ccxt `edit_orders`): each leg as Modify Order."""
        return self._each(self._legs(wire.params), lambda leg: self._modify(leg, account))

    def cancel_batch(self, wire: WireRequest, account: Account) -> Any:
        """Cancel Multiple Orders: `orderIdList` or `origClientOrderIdList` (JSON lists, at most 10; ccxt
        sends them in lower case, `orderidlist`), one answer per id: the cancelled order or -2011."""
        params = wire.params
        inst = self.dialect._instrument(params)
        assert inst is not None
        ids = _json_list(params, "orderIdList", "orderidlist")
        client_ids = _json_list(params, "origClientOrderIdList", "origclientorderidlist")
        if (ids is None) == (client_ids is None):
            raise error(-1102, "Either 'orderIdList' or 'origClientOrderIdList' must be sent.")
        wanted: list[Any] = ids if ids is not None else client_ids  # type: ignore[assignment]
        if not 0 < len(wanted) <= BATCH_CANCEL_MAX:
            raise error(-1130, "Data sent for parameter 'orderIdList' is not valid.")
        key = "orderId" if ids is not None else "origClientOrderId"
        return self._each(
            [{"symbol": inst.symbol, key: str(value)} for value in wanted],
            lambda leg: self._cancel(leg, account),
        )

    def _cancel(self, leg: dict[str, Any], account: Account) -> dict[str, Any]:
        try:
            order = self.dialect._lookup(leg, account, algo=False)
            cancelled = self.engine.cancel(account, order_id=order.order_id, conditional=False)
        except EngineReject as exc:
            raise reject_error(exc, cancelling=True) from exc
        return self.dialect.order_json(cancelled)

    # ----------------------------------------------------------------- margin and liquidations

    def position_margin(self, wire: WireRequest, account: Account) -> Any:
        """Modify Isolated Position Margin: `type` 1 adds, 2 reduces; answers `{"amount", "code": 200,
        "msg": "Successfully modify position margin.", "type"}` (the doc's sample, `amount` a number)."""
        params = wire.params
        inst = self.dialect._instrument(params)
        assert inst is not None
        kind = _int(params, "type")
        if kind not in (1, 2):
            raise error(-1102, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
        amount = _decimal(params, "amount", required=True)
        assert amount is not None
        self.engine.adjust_margin(account, inst.symbol, amount, add=kind == 1)
        return {
            "amount": float(amount),
            "code": 200,
            "msg": "Successfully modify position margin.",
            "type": kind,
        }

    def position_margin_history(self, wire: WireRequest, account: Account) -> Any:
        """Get Position Margin Change History: one symbol, `type` 1/2, `startTime`..`endTime` (end defaults to
        now) at most 30 days apart (-1127, text unverified), the last 30 days only, `limit` default 500."""
        params = wire.params
        inst = self.dialect._instrument(params)
        assert inst is not None
        kind = _int(params, "type")
        now = self.engine.clock.now_ms()
        start, end = _int(params, "startTime"), _int(params, "endTime") or now
        if start is not None and end - start > MARGIN_HISTORY_SPAN_MS:
            raise error(-1127, "More than 30 days between startTime and endTime.")
        limit = _int(params, "limit") or 500
        rows = [
            c
            for c in account.margin_changes
            if c.symbol == inst.symbol
            and now - c.time_ms <= MARGIN_HISTORY_SPAN_MS
            and (kind is None or (1 if c.added else 2) == kind)
            and (start is None or c.time_ms >= start)
            and c.time_ms <= end
        ]
        return [
            {
                "symbol": c.symbol,
                "type": 1 if c.added else 2,
                "deltaType": "USER_ADJUST",
                "amount": fmt(c.amount),
                "asset": "USDT",
                "time": c.time_ms,
                "positionSide": "BOTH",
            }
            for c in rows[:limit]
        ]

    def force_orders(self, wire: WireRequest, account: Account) -> Any:
        """User's Force Orders: the account's liquidation orders (`autoclose-…`; the simulator has no ADL),
        newest window the last 7 days unless `startTime`/`endTime` say otherwise, `limit` default 50, at most
        100 (-1130)."""
        params = wire.params
        inst = self.dialect._instrument(params, required=False)
        kind = str(params.get("autoCloseType", "LIQUIDATION")).upper()
        if kind not in ("LIQUIDATION", "ADL"):
            raise error(-1102, "Invalid autoCloseType.")
        limit = _int(params, "limit") or FORCE_ORDERS_DEFAULT_LIMIT
        if not 0 < limit <= FORCE_ORDERS_MAX_LIMIT:
            raise error(-1130, "Data sent for parameter 'limit' is not valid.")
        now = self.engine.clock.now_ms()
        start, end = _int(params, "startTime"), _int(params, "endTime")
        if start is None:
            start = (end or now) - HISTORY_SPAN_MS
        orders = [
            o
            for o in account.orders.values()
            if o.liquidation
            and kind == "LIQUIDATION"
            and (inst is None or o.symbol == inst.symbol)
            and o.created_ms >= start
            and (end is None or o.created_ms <= end)
        ]
        return [self.dialect.order_json(o) for o in orders[-limit:]]
