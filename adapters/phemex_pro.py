"""ccxt.pro `phemex` with the USDT-perpetual private messages it drops handled: the one narrow override.

ccxt.pro 4.5.90's `handle_message` reads the account-order-position message's `orders_p` with `safe_dict_2`
(ccxt/pro/phemex.py:1450-1452), but Phemex sends a list (ph-docs Public-Hedged-Perpetual-API
"Account-Order-Position (AOP) Message Sample"): `safe_dict_2` gives `{}` for a list, `handle_orders` returns
at once on an empty message (:1127-1130), and no order or fill event ever reaches `watch_orders` or
`watch_my_trades`. `positions_p` is not read at all (`watchPositions: None`, :28). And `handle_my_trades`
builds its trade cache without keeping it (`cachedTrades = ArrayCacheBySymbolById(limit)`, never stored in
`self.myTrades`, :896-899), so each wake sees only that message's trades and `myTrades` stays None. This
subclass passes the `orders_p` list to ccxt's own `handle_orders` (with a kept trade cache), and parses
`positions_p` rows with ccxt's REST `parse_position` into `watch_positions` (the latest per symbol kept in
`positions`). Everything else is ccxt.pro's. Imported only when a Phemex user stream starts (a command that
only looks at the exchange never imports ccxt.pro).
"""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro  # type: ignore[import-untyped]
from ccxt.async_support.base.ws.cache import ArrayCacheBySymbolById  # type: ignore[import-untyped]

POSITIONS = "positions"
"""The message hash `watch_positions` waits on."""


class PhemexPro(ccxtpro.phemex):  # type: ignore[misc]
    def describe(self) -> Any:
        return self.deep_extend(super().describe(), {"has": {"watchPositions": True}})

    def handle_message(self, client: Any, message: Any) -> None:
        super().handle_message(client, message)
        if not isinstance(message, dict):
            return
        orders = message.get("orders_p")
        if isinstance(orders, list) and orders:
            if getattr(self, "myTrades", None) is None:
                self.myTrades = ArrayCacheBySymbolById(self.safe_integer(self.options, "tradesLimit", 1000))
            self.handle_orders(client, orders)
        positions = message.get("positions_p")
        if isinstance(positions, list) and positions:
            self.handle_positions(client, positions)

    def handle_positions(self, client: Any, rows: list[Any]) -> None:
        """`positions` keeps the latest row per symbol: in one-way mode a flat row says side "None", which
        ccxt's by-side cache would file beside the open one instead of replacing it."""
        parsed = [self.parse_position(row) for row in rows]
        latest = {position["symbol"]: position for position in getattr(self, "positions", None) or []}
        latest.update({position["symbol"]: position for position in parsed})
        self.positions = list(latest.values())
        client.resolve(parsed, POSITIONS)

    async def watch_positions(
        self,
        symbols: list[str] | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Any = None,
    ) -> Any:
        """Positions as `positions_p` brings them (on the same `aop_p` subscription as orders and trades)."""
        await self.load_markets()
        positions = await self.subscribe_private("swap", POSITIONS, {"settle": "USDT"})
        return self.filter_by_symbols_since_limit(positions, self.market_symbols(symbols), since, limit, True)
