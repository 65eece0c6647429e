"""The control API under /_sim/: set marks, move the clock and funding, read state, install faults.

JSON in and out; amounts are decimal strings. Never under an exchange path, never signed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from adapters.sim.engine import Engine
from adapters.sim.faults import FaultBook, FaultRuleError, RequestLog
from adapters.sim.model import Account, EngineReject, Fill, FundingEvent, Income, Order, fmt
from executor.domain.money import NotANumber, to_decimal

PREFIX = "/_sim"


def fill_json(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_id": fill.client_id,
        "account": fill.account,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "price": fmt(fill.price),
        "qty": fmt(fill.qty),
        "fee": fmt(fill.fee),
        "realized_pnl": fmt(fill.realized_pnl),
        "maker": fill.maker,
        "time_ms": fill.time_ms,
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": fmt(order.qty),
        "price": fmt(order.price) if order.price is not None else None,
        "trigger_price": fmt(order.trigger_price) if order.trigger_price is not None else None,
        "trigger_source": order.trigger_source.value,
        "time_in_force": order.time_in_force.value,
        "reduce_only": order.reduce_only,
        "close_position": order.close_position,
        "status": order.status.value,
        "filled_qty": fmt(order.filled_qty),
        "avg_price": fmt(order.avg_price),
        "parent_id": order.parent_id,
        "child_id": order.child_id,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def income_json(row: Income) -> dict[str, Any]:
    return {
        "tran_id": row.tran_id,
        "symbol": row.symbol,
        "type": row.type.value,
        "amount": fmt(row.amount),
        "time_ms": row.time_ms,
        "info": row.info,
    }


def funding_json(event: FundingEvent) -> dict[str, Any]:
    return {
        "symbol": event.symbol,
        "time_ms": event.time_ms,
        "rate": fmt(event.rate),
        "mark": fmt(event.mark),
    }


class ControlApi:
    def __init__(
        self,
        engine: Engine,
        faults: FaultBook,
        requests: RequestLog,
        *,
        on_mark: Callable[[str], None],
        on_reset: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.requests = requests
        self._on_mark = on_mark
        self._on_reset = on_reset

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]] = [
            ("POST", "/mark", self.mark),
            ("POST", "/clock", self.clock),
            ("POST", "/funding", self.funding),
            ("GET", "/state", self.state),
            ("POST", "/reset", self.reset),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.install_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/requests", self.list_requests),
            ("DELETE", "/requests", self.clear_requests),
        ]
        for method, path, fn in routes:
            app.router.add_route(method, PREFIX + path, self._json(fn))

    @staticmethod
    def _json(
        fn: Callable[[web.Request], Awaitable[Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                return web.json_response(await fn(request))
            except (EngineReject, FaultRuleError, NotANumber, KeyError, ValueError) as exc:
                message = exc.message if isinstance(exc, EngineReject) else str(exc)
                return web.json_response({"error": message}, status=400)

        return handle

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    async def mark(self, request: web.Request) -> Any:
        body = await self._body(request)
        inst = self.engine.instrument(str(body["symbol"]))
        price = to_decimal(body["price"])
        last = to_decimal(body["last"]) if body.get("last") is not None else None
        self._on_mark(inst.symbol)
        self.engine.catch_up()
        fills = self.engine.set_mark(inst.symbol, price, last)
        return {
            "symbol": inst.symbol,
            "mark": fmt(self.engine.marks[inst.symbol]),
            "last": fmt(self.engine.lasts[inst.symbol]),
            "fills": [fill_json(f) for f in fills],
        }

    async def clock(self, request: web.Request) -> Any:
        body = await self._body(request)
        seconds = float(body.get("advance_seconds", 0))
        now = self.engine.clock.advance(seconds)
        settled = self.engine.catch_up(now)
        return {
            "now_ms": now,
            "offset_ms": self.engine.clock.offset_ms,
            "funding": [funding_json(e) for e in settled],
            "next_funding_ms": dict(self.engine.next_funding_ms),
        }

    async def funding(self, request: web.Request) -> Any:
        body = await self._body(request)
        inst = self.engine.instrument(str(body["symbol"]))
        self.engine.set_funding_rate(inst.symbol, to_decimal(body["rate"]))
        return {
            "symbol": inst.symbol,
            "rate": fmt(self.engine.funding_rates[inst.symbol]),
            "next_funding_ms": self.engine.next_funding_ms[inst.symbol],
        }

    def _account_json(self, account: Account) -> dict[str, Any]:
        engine = self.engine
        positions = []
        for symbol in engine.instruments:
            view = engine.position_view(account, symbol)
            if not view.qty:
                continue
            positions.append(
                {
                    "symbol": symbol,
                    "qty": fmt(view.qty),
                    "entry_price": fmt(view.entry_price),
                    "mark": fmt(view.mark),
                    "unrealized_pnl": fmt(view.unrealized),
                    "margin": fmt(view.margin),
                    "maint_margin": fmt(view.maint_margin),
                    "liquidation_price": fmt(view.liquidation_price),
                    "leverage": view.leverage,
                    "margin_mode": view.margin_mode.value,
                }
            )
        return {
            "wallet": fmt(account.wallet),
            "available": fmt(engine.available_balance(account)),
            "leverage": {s: engine.leverage_of(account, s) for s in engine.instruments},
            "positions": positions,
            "open_orders": [order_json(o) for o in engine.open_orders(account)],
            "orders": [order_json(o) for o in account.orders.values()],
            "fills": [fill_json(f) for f in account.fills],
            "income": [income_json(r) for r in account.income],
        }

    async def state(self, request: web.Request) -> Any:
        engine = self.engine
        engine.catch_up()
        return {
            "now_ms": engine.clock.now_ms(),
            "marks": {s: fmt(p) for s, p in engine.marks.items()},
            "lasts": {s: fmt(p) for s, p in engine.lasts.items()},
            "funding_rates": {s: fmt(r) for s, r in engine.funding_rates.items()},
            "next_funding_ms": dict(engine.next_funding_ms),
            "funding_history": {s: [funding_json(e) for e in h] for s, h in engine.funding_history.items()},
            "insurance_fund": fmt(engine.insurance_fund),
            "accounts": {key: self._account_json(acct) for key, acct in engine.accounts.items()},
        }

    async def reset(self, request: web.Request) -> Any:
        self.engine.reset()
        self.faults.clear()
        self.requests.clear()
        self._on_reset()
        return {"ok": True, "now_ms": self.engine.clock.now_ms()}

    async def list_faults(self, request: web.Request) -> Any:
        return {"rules": [r.to_json() for r in self.faults.rules]}

    async def install_fault(self, request: web.Request) -> Any:
        rule = self.faults.install(await self._body(request))
        return rule.to_json()

    async def clear_faults(self, request: web.Request) -> Any:
        removed = len(self.faults.rules)
        self.faults.clear()
        return {"removed": removed}

    async def list_requests(self, request: web.Request) -> Any:
        since = int(request.query.get("since", 0))
        path = request.query.get("path")
        method = request.query.get("method")
        rows = [
            r.to_json()
            for r in self.requests.entries
            if r.seq > since
            and (path is None or r.path == path)
            and (method is None or r.method == method.upper())
        ]
        return {"requests": rows}

    async def clear_requests(self, request: web.Request) -> Any:
        removed = len(self.requests.entries)
        self.requests.clear()
        return {"removed": removed}
