"""Phemex USDT-perpetual market data that ccxt-based bots read (issue #10 item 13).

Klines (`kline/last`, `kline/list`), recent public trades and the all-symbol 24 h ticker, in the shapes
ccxt 4.5.90 parses (docs/simulator.md, "What ccxt-based bots call", cites each); the candles come from the
shared candle book, the trades from every account's fills. Nothing here changes the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapters.sim.candles import MINUTE_MS, Bar, CandleBook, public_tape, taker_bought
from adapters.sim.config import Instrument
from adapters.sim.model import fmt
from adapters.sim.phemex import PhemexDialect, error
from adapters.sim.wire import WireRequest

RESOLUTIONS_SECONDS = (60, 300, 900, 1800, 3600, 14400, 86400, 604800)
"""Phemex's kline resolutions up to a week; month, season and year candles are not served (30000)."""
KLINE_LIMITS = (5, 10, 50, 100, 500, 1000)
KLINE_LIST_MAX = 2000
WEEK_OFFSET_MS = 4 * 1440 * MINUTE_MS  # weekly candles open on Monday 00:00 UTC (unverified for Phemex)
TRADES_SHOWN = 1000
DAY_MS = 1440 * MINUTE_MS
PACK_FIELDS = (
    "symbol",
    "openRp",
    "highRp",
    "lowRp",
    "lastRp",
    "volumeRq",
    "turnoverRv",
    "openInterestRv",
    "indexRp",
    "markRp",
    "fundingRateRr",
    "predFundingRateRr",
)
"""The 24 h ticker pack's `fields` (ph-docs Public-Hedged-Perpetual-API "Subscribe 24 Hours Ticker")."""
V2_NAMES = {"lastRp": "closeRp", "indexRp": "indexPriceRp", "markRp": "markPriceRp"}
"""The REST v2 ticker's name for a pack field where the two differ."""


def _bad_arguments() -> Exception:
    """ccxt/ccxt#26619: a `limit` outside the documented set is refused with this envelope."""
    return error(30000, "Please double check input arguments")


def _int(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError as exc:
        raise _bad_arguments() from exc


class PhemexMarket:
    def __init__(self, dialect: PhemexDialect, candles: CandleBook) -> None:
        self.dialect = dialect
        self.engine = dialect.engine
        self.candles = candles

    def add_routes(self, app: web.Application) -> None:
        public: list[tuple[str, Callable[[WireRequest], Any]]] = [
            ("/exchange/public/md/v2/kline/last", self.kline_last),
            ("/exchange/public/md/v2/kline/list", self.kline_list),
            ("/md/v2/trade", self.trades),
            ("/md/v2/ticker/24hr", self.ticker),
            ("/md/v2/ticker/24hr/all", self.tickers),
        ]
        for path, fn in public:
            app.router.add_route("GET", path, self.dialect._public(fn))

    # ----------------------------------------------------------------- klines

    def _candles(self, params: dict[str, Any]) -> tuple[Instrument, int, list[tuple[int, list[Bar]]]]:
        """Whole candles only, oldest first: "Kline under generation beyond the latest interval is not
        included in the response" (ph-docs "Query kline")."""
        inst = self.dialect._instrument(params)
        resolution = _int(params, "resolution")
        if resolution not in RESOLUTIONS_SECONDS:
            raise _bad_arguments()
        size = resolution * 1000
        offset = WEEK_OFFSET_MS if resolution == 604800 else 0
        series = self.candles.bars(self.engine, inst)
        now = self.engine.clock.now_ms()
        grouped: dict[int, list[Bar]] = {}
        for bar in series.lasts:
            grouped.setdefault((bar.open_ms - offset) // size * size + offset, []).append(bar)
        whole = [(opened, bars) for opened, bars in sorted(grouped.items()) if opened + size <= now]
        return inst, size, whole

    def _rows(self, inst: Instrument, size: int, candles: list[tuple[int, list[Bar]]]) -> Any:
        """`[timestamp s, interval s, last_close, open, high, low, close, volume, turnover]` (ph-docs)."""
        fills = public_tape(self.engine, inst.symbol)
        rows = []
        previous: Decimal | None = None
        for opened, bars in candles:
            inside = [f for f in fills if opened <= f.time_ms < opened + size]
            rows.append(
                [
                    opened // 1000,
                    size // 1000,
                    fmt(previous if previous is not None else bars[0].open),
                    fmt(bars[0].open),
                    fmt(max(b.high for b in bars)),
                    fmt(min(b.low for b in bars)),
                    fmt(bars[-1].close),
                    fmt(sum((f.qty for f in inside), Decimal(0))),
                    fmt(sum((f.quote_qty for f in inside), Decimal(0))),
                ]
            )
            previous = bars[-1].close
        return {"code": 0, "msg": "OK", "data": {"total": -1, "rows": rows}}

    def kline_last(self, wire: WireRequest) -> Any:
        """The latest `limit` whole candles; `limit` one of 5, 10, 50, 100, 500, 1000 (else 30000)."""
        limit = _int(wire.params, "limit")
        if limit not in KLINE_LIMITS:
            raise _bad_arguments()
        inst, size, candles = self._candles(wire.params)
        return self._rows(inst, size, candles[-limit:])

    def kline_list(self, wire: WireRequest) -> Any:
        """Whole candles opening in [`from`, `to`) (seconds, both required), fewer than 2000 of them."""
        start, end = _int(wire.params, "from"), _int(wire.params, "to")
        if start is None or end is None or end < start:
            raise _bad_arguments()
        inst, size, candles = self._candles(wire.params)
        if (end - start) * 1000 // size > KLINE_LIST_MAX:
            raise _bad_arguments()
        chosen = [(opened, bars) for opened, bars in candles if start * 1000 <= opened < end * 1000]
        return self._rows(inst, size, chosen)

    # ----------------------------------------------------------------- trades and tickers

    def trades(self, wire: WireRequest) -> Any:
        """`{"error":null,"id":0,"result":{"sequence","symbol","trades_p":[[ns,"Buy"|"Sell",priceRp,sizeRq]…],
        "type":"snapshot"}}`, newest first; the side is the taker's."""
        inst = self.dialect._instrument(wire.params)
        fills = public_tape(self.engine, inst.symbol)[-TRADES_SHOWN:]
        rows = [
            [f.time_ms * 1_000_000, "Buy" if taker_bought(f) else "Sell", fmt(f.price), fmt(f.qty)]
            for f in reversed(fills)
        ]
        sequence = fills[-1].trade_id if fills else 0
        return {
            "error": None,
            "id": 0,
            "result": {"sequence": sequence, "symbol": inst.symbol, "trades_p": rows, "type": "snapshot"},
        }

    def _ticker(self, inst: Instrument) -> dict[str, Any]:
        """The v2 shape ccxt reads (`closeRp`, not v3's `lastRp`): the last 24 h of last-price bars and
        fills, the mark, the funding rate and the open interest in contracts (ccxt reads `openInterestRv`
        as an amount)."""
        series = self.candles.bars(self.engine, inst)
        symbol = inst.symbol
        now = self.engine.clock.now_ms()
        day = [b for b in series.lasts if b.open_ms > now - DAY_MS]
        fills = [f for f in public_tape(self.engine, symbol) if f.time_ms > now - DAY_MS]
        mark = self.engine.marks[symbol]
        rate = fmt(self.engine.funding_rates[symbol])
        open_qty = sum(
            (abs(a.positions[symbol].qty) for a in self.engine.accounts.values() if symbol in a.positions),
            Decimal(0),
        )
        return {
            "closeRp": fmt(day[-1].close),
            "fundingRateRr": rate,
            "highRp": fmt(max(b.high for b in day)),
            "indexPriceRp": fmt(mark),
            "lowRp": fmt(min(b.low for b in day)),
            "markPriceRp": fmt(mark),
            "openInterestRv": fmt(open_qty),
            "openRp": fmt(day[0].open),
            "predFundingRateRr": rate,
            "symbol": symbol,
            "timestamp": self.engine.clock.now_ns(),
            "turnoverRv": fmt(sum((f.quote_qty for f in fills), Decimal(0))),
            "volumeRq": fmt(sum((f.qty for f in fills), Decimal(0))),
        }

    def pack_row(self, inst: Instrument) -> list[str]:
        """One row of the WebSocket `perp_market24h_pack_p` ticker, in its `fields` order (PACK_FIELDS)."""
        ticker = self._ticker(inst)
        return [str(ticker[V2_NAMES.get(name, name)]) for name in PACK_FIELDS]

    def ticker(self, wire: WireRequest) -> Any:
        inst = self.dialect._instrument(wire.params)
        return {"error": None, "id": 0, "result": self._ticker(inst)}

    def tickers(self, wire: WireRequest) -> Any:
        """Every symbol's ticker as a list (ph-docs "Query 24 ticker for all symbols")."""
        rows = [self._ticker(inst) for inst in self.engine.instruments.values()]
        return {"error": None, "id": 0, "result": rows}
