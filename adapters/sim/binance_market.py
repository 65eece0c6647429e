"""Binance USDⓈ-M market data and account settings that ccxt-based bots read (issue #10 item 13).

Candles (last, mark, index, premium index), the order book and its RPI form, 24-hour tickers, public and old
trades, open interest, trading fees, the account configuration, the Multi-Assets mode and the system status,
in the shapes ccxt 4.5.90 parses (docs/simulator.md, "What ccxt-based bots call", cites each). Everything
comes from the engine's state and the candle book; nothing here changes the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from adapters.sim.binance import API_KEY_HEADER, BinanceDialect, Handler, _int, error
from adapters.sim.book import book_sides
from adapters.sim.candles import MINUTE_MS, Bar, CandleBook, public_tape, taker_bought
from adapters.sim.config import Instrument, SimConfig
from adapters.sim.model import Account, Fill, fmt
from adapters.sim.wire import WireRequest, flag

DAY_MS = 1440 * MINUTE_MS
INTERVALS_MINUTES = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
    "3d": 4320,
    "1w": 10080,
}
"""Binance's kline intervals except `1M` (calendar months are not served: -1120, the harsher reading)."""
WEEK_OFFSET_MS = 4 * DAY_MS  # weekly candles open on Monday 00:00 UTC; 1970-01-01 was a Thursday
OPEN_INTEREST_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
OPEN_INTEREST_KEPT_MS = 30 * DAY_MS
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
RPI_DEPTH_LIMITS = (1000,)
"""RPI Order Book (`/fapi/v1/rpiDepth`): limit 1000 only."""
HISTORICAL_TRADES_DEFAULT = 100
HISTORICAL_TRADES_MAX = 500
"""Old Trades Lookup (`/fapi/v1/historicalTrades`): `limit` default 100, at most 500."""
KLINE_LIMIT_MAX = 1500
TRADES_LIMIT_MAX = 1000
AGG_TRADES_SPAN_MS = 3_600_000
MULTI_ASSETS_MISSING = "Mandatory parameter 'multiAssetsMargin' was not sent, was empty/null, or malformed."
MULTI_ASSETS_ISOLATED = (
    "Unable to adjust to Multi-Assets mode with symbols of USDⓈ-M Futures under isolated-margin mode."
)
MULTI_ASSETS_UNCHANGED = "Adjusted asset mode is currently set and does not need to be adjusted repeatedly."


def _limit(params: dict[str, Any], *, default: int, most: int) -> int:
    limit = _int(params, "limit") or default
    if not 0 < limit <= most:
        raise error(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


class BinanceMarket:
    def __init__(self, dialect: BinanceDialect, candles: CandleBook, config: SimConfig) -> None:
        self.dialect = dialect
        self.engine = dialect.engine
        self.candles = candles
        self.config = config

    def add_routes(self, app: web.Application) -> None:
        public: list[tuple[str, Callable[[WireRequest], Any]]] = [
            ("/fapi/v1/klines", lambda wire: self.klines(wire, mark=False)),
            ("/fapi/v1/markPriceKlines", lambda wire: self.klines(wire, mark=True)),
            ("/fapi/v1/indexPriceKlines", lambda wire: self.klines(wire, mark=True, by_pair=True)),
            ("/fapi/v1/premiumIndexKlines", self.premium_index_klines),
            ("/fapi/v1/depth", lambda wire: self.depth(wire, legal=DEPTH_LIMITS, default=500)),
            ("/fapi/v1/rpiDepth", lambda wire: self.depth(wire, legal=RPI_DEPTH_LIMITS, default=1000)),
            ("/sapi/v1/system/status", lambda wire: {"status": 0, "msg": "normal"}),
            ("/fapi/v1/ticker/24hr", self.ticker_24hr),
            ("/fapi/v2/ticker/price", self.dialect.ticker_price),
            ("/fapi/v1/trades", self.trades),
            ("/fapi/v1/aggTrades", self.agg_trades),
            ("/fapi/v1/openInterest", self.open_interest),
            ("/futures/data/openInterestHist", self.open_interest_hist),
        ]
        private: list[tuple[str, str, Callable[[WireRequest, Account], Any]]] = [
            ("GET", "/fapi/v1/commissionRate", self.commission_rate),
            ("GET", "/fapi/v1/accountConfig", self.account_config),
            ("GET", "/fapi/v1/multiAssetsMargin", lambda wire, account: {"multiAssetsMargin": False}),
            ("POST", "/fapi/v1/multiAssetsMargin", self.set_multi_assets),
        ]
        for path, public_fn in public:
            app.router.add_route("GET", path, self.dialect._public(public_fn))
        app.router.add_route("GET", "/fapi/v1/historicalTrades", self._keyed(self.historical_trades))
        for method, path, private_fn in private:
            app.router.add_route(method, path, self.dialect._private(private_fn))

    # ----------------------------------------------------------------- candles

    def _instrument(self, params: dict[str, Any], *, key: str = "symbol") -> Instrument:
        if key != "symbol":
            params = {"symbol": params.get(key)}
        inst = self.dialect._instrument(params)
        assert inst is not None
        return inst

    def _bars(self, inst: Instrument, *, mark: bool) -> list[Bar]:
        series = self.candles.bars(self.engine, inst)
        return series.marks if mark else series.lasts

    def klines(self, wire: WireRequest, *, mark: bool, by_pair: bool = False) -> Any:
        """`[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBuyBase,
        takerBuyQuote, "0"]` per candle; mark and index candles carry "0" volumes and the count of
        one-minute bars in the candle."""
        params = wire.params
        inst = self._instrument(params, key="pair" if by_pair else "symbol")
        interval = str(params.get("interval", ""))
        if interval not in INTERVALS_MINUTES:
            raise error(-1120, "Invalid interval.")
        size = INTERVALS_MINUTES[interval] * MINUTE_MS
        offset = WEEK_OFFSET_MS if interval == "1w" else 0
        limit = _limit(params, default=500, most=KLINE_LIMIT_MAX)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        if start is not None and end is not None and start > end:
            raise error(-1023, "Start time is greater than end time.")
        candles: dict[int, list[Bar]] = {}
        for bar in self._bars(inst, mark=mark):
            opened = (bar.open_ms - offset) // size * size + offset
            if (start is None or opened >= start) and (end is None or opened <= end):
                candles.setdefault(opened, []).append(bar)
        keys = sorted(candles)
        chosen = keys[:limit] if start is not None else keys[-limit:]
        fills = [] if mark else public_tape(self.engine, inst.symbol)
        return [self._kline(opened, size, candles[opened], fills, mark=mark) for opened in chosen]

    @staticmethod
    def _kline(opened: int, size: int, bars: list[Bar], fills: list[Fill], *, mark: bool) -> list[Any]:
        inside = [f for f in fills if opened <= f.time_ms < opened + size]
        taker_buys = [f for f in inside if taker_bought(f)]
        return [
            opened,
            fmt(bars[0].open),
            fmt(max(b.high for b in bars)),
            fmt(min(b.low for b in bars)),
            fmt(bars[-1].close),
            fmt(sum((f.qty for f in inside), Decimal(0))),
            opened + size - 1,
            fmt(sum((f.quote_qty for f in inside), Decimal(0))),
            len(bars) if mark else len(inside),
            fmt(sum((f.qty for f in taker_buys), Decimal(0))),
            fmt(sum((f.quote_qty for f in taker_buys), Decimal(0))),
            "0",
        ]

    # ----------------------------------------------------------------- book and tickers

    def premium_index_klines(self, wire: WireRequest) -> Any:
        """Premium index candles: the mark candles' times with every price "0". The simulator's index is the
        mark and its book straddles the mark (bid below, ask above), so the premium index (impact prices
        against the index) is zero throughout."""
        rows = self.klines(wire, mark=True)
        return [[row[0], "0", "0", "0", "0", "0", row[6], "0", row[8], "0", "0", "0"] for row in rows]

    def depth(self, wire: WireRequest, *, legal: tuple[int, ...], default: int) -> Any:
        """The ladder of adapters/sim/book.py; `limit` one of Binance's legal values. The RPI book is the
        same ladder: the simulator has no RPI orders."""
        inst = self._instrument(wire.params)
        limit = _int(wire.params, "limit") or default
        if limit not in legal:
            legal_text = ", ".join(str(n) for n in legal)
            raise error(
                -1100, f"Illegal characters found in parameter 'limit'; legal range is '{legal_text}'."
            )
        now = self.engine.clock.now_ms()
        return {"lastUpdateId": now, "E": now, "T": now, **book_sides(self.engine, self.config, inst, limit)}

    def ticker_24hr(self, wire: WireRequest) -> Any:
        inst = self.dialect._instrument(wire.params, required=False)
        rows = [self._ticker(i) for i in ([inst] if inst else self.engine.instruments.values())]
        return rows[0] if inst else rows

    def _ticker(self, inst: Instrument) -> dict[str, Any]:
        now = self.engine.clock.now_ms()
        day = [b for b in self._bars(inst, mark=False) if b.open_ms > now - DAY_MS]
        fills = [f for f in public_tape(self.engine, inst.symbol) if f.time_ms > now - DAY_MS]
        opened, last = day[0].open, day[-1].close
        volume = sum((f.qty for f in fills), Decimal(0))
        quote = sum((f.quote_qty for f in fills), Decimal(0))
        return {
            "symbol": inst.symbol,
            "priceChange": fmt(last - opened),
            "priceChangePercent": f"{(last - opened) / opened * 100:.3f}",
            "weightedAvgPrice": fmt(quote / volume if volume else last),
            "lastPrice": fmt(last),
            "lastQty": fmt(fills[-1].qty if fills else Decimal(0)),
            "openPrice": fmt(opened),
            "highPrice": fmt(max(b.high for b in day)),
            "lowPrice": fmt(min(b.low for b in day)),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote),
            "openTime": now - DAY_MS,
            "closeTime": now,
            "firstId": fills[0].trade_id if fills else -1,
            "lastId": fills[-1].trade_id if fills else -1,
            "count": len(fills),
        }

    # ----------------------------------------------------------------- trades and open interest

    def trades(self, wire: WireRequest) -> Any:
        inst = self._instrument(wire.params)
        limit = _limit(wire.params, default=500, most=TRADES_LIMIT_MAX)
        return [self._trade_row(f) for f in public_tape(self.engine, inst.symbol)[-limit:]]

    def _keyed(self, fn: Callable[[WireRequest], Any]) -> Handler:
        """A MARKET_DATA route: the API key header must name a key (-2014 / -2015), no signature."""

        async def handle(request: web.Request) -> web.StreamResponse:
            api_key = request.headers.get(API_KEY_HEADER)
            if not api_key:
                return error(-2014, "API-key format invalid.", status=401).response()
            if api_key not in self.dialect.secrets:
                return error(-2015, "Invalid API-key, IP, or permissions for action.", status=401).response()
            return await self.dialect._public(fn)(request)

        return handle

    def historical_trades(self, wire: WireRequest) -> Any:
        """Old Trades Lookup: the public tape from `fromId` (else the most recent), `limit` default 100, at
        most 500; the rows of `/fapi/v1/trades`."""
        inst = self._instrument(wire.params)
        limit = _limit(wire.params, default=HISTORICAL_TRADES_DEFAULT, most=HISTORICAL_TRADES_MAX)
        from_id = _int(wire.params, "fromId")
        tape = public_tape(self.engine, inst.symbol)
        chosen = [f for f in tape if f.trade_id >= from_id][:limit] if from_id is not None else tape[-limit:]
        return [self._trade_row(f) for f in chosen]

    @staticmethod
    def _trade_row(fill: Fill) -> dict[str, Any]:
        return {
            "id": fill.trade_id,
            "price": fmt(fill.price),
            "qty": fmt(fill.qty),
            "quoteQty": fmt(fill.quote_qty),
            "time": fill.time_ms,
            "isBuyerMaker": not taker_bought(fill),
        }

    def agg_trades(self, wire: WireRequest) -> Any:
        """Each fill is its own aggregate; `startTime`..`endTime` spans less than an hour (-1127)."""
        params = wire.params
        inst = self._instrument(params)
        limit = _limit(params, default=500, most=TRADES_LIMIT_MAX)
        start, end, from_id = _int(params, "startTime"), _int(params, "endTime"), _int(params, "fromId")
        if start is not None and end is not None and end - start >= AGG_TRADES_SPAN_MS:
            raise error(-1127, "More than 1 hours between startTime and endTime.")
        fills = [
            f
            for f in public_tape(self.engine, inst.symbol)
            if (start is None or f.time_ms >= start)
            and (end is None or f.time_ms <= end)
            and (from_id is None or f.trade_id >= from_id)
        ]
        chosen = fills[:limit] if start is not None or from_id is not None else fills[-limit:]
        return [
            {
                "a": f.trade_id,
                "p": fmt(f.price),
                "q": fmt(f.qty),
                "f": f.trade_id,
                "l": f.trade_id,
                "T": f.time_ms,
                "m": not taker_bought(f),
            }
            for f in chosen
        ]

    def _open_interest_at(self, symbol: str, time_ms: int) -> Decimal:
        """Contracts open at `time_ms`: each account's position then (now, less the fills since), summed.
        Every simulated fill has the exchange as its counterparty, so this is one side of the market."""
        total = Decimal(0)
        for account in self.engine.accounts.values():
            qty = account.positions[symbol].qty if symbol in account.positions else Decimal(0)
            for fill in account.fills:
                if fill.symbol == symbol and fill.time_ms > time_ms:
                    qty -= fill.side.sign * fill.qty
            total += abs(qty)
        return total

    def open_interest(self, wire: WireRequest) -> Any:
        inst = self._instrument(wire.params)
        now = self.engine.clock.now_ms()
        open_qty = self._open_interest_at(inst.symbol, now)
        return {"openInterest": fmt(open_qty), "symbol": inst.symbol, "time": now}

    def open_interest_hist(self, wire: WireRequest) -> Any:
        """`{"symbol","sumOpenInterest","sumOpenInterestValue","CMCCirculatingSupply","timestamp"}` per
        period, oldest first; the latest 30 days only; limit 30 by default, 500 at most."""
        params = wire.params
        inst = self._instrument(params)
        period = str(params.get("period", ""))
        if period not in OPEN_INTEREST_PERIODS:
            raise error(-1120, "Invalid period.")
        size = INTERVALS_MINUTES[period] * MINUTE_MS
        limit = _limit(params, default=30, most=500)
        now = self.engine.clock.now_ms()
        start, end = _int(params, "startTime"), _int(params, "endTime")
        newest = min(end if end is not None else now, now) // size * size
        oldest = max(start if start is not None else 0, now - OPEN_INTEREST_KEPT_MS)
        stamps = list(range(-(-oldest // size) * size, newest + 1, size))
        times = stamps[:limit] if start is not None else stamps[-limit:]
        marks = {b.open_ms: b.close for b in self._bars(inst, mark=True)}
        rows = []
        for stamp in times:
            qty = self._open_interest_at(inst.symbol, stamp)
            mark = marks.get(stamp - MINUTE_MS, self.engine.marks[inst.symbol])
            rows.append(
                {
                    "symbol": inst.symbol,
                    "sumOpenInterest": fmt(qty),
                    "sumOpenInterestValue": fmt(qty * mark),
                    "CMCCirculatingSupply": "0",
                    "timestamp": stamp,
                }
            )
        return rows

    # ----------------------------------------------------------------- fees and account settings

    def commission_rate(self, wire: WireRequest, account: Account) -> Any:
        inst = self._instrument(wire.params)
        return {
            "symbol": inst.symbol,
            "makerCommissionRate": fmt(inst.maker_fee),
            "takerCommissionRate": fmt(inst.taker_fee),
        }

    def account_config(self, wire: WireRequest, account: Account) -> Any:
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "dualSidePosition": account.dual_side,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }

    def set_multi_assets(self, wire: WireRequest, account: Account) -> Any:
        """The simulator margins every symbol isolated, and Multi-Assets mode needs cross on all of them
        (-4167); asking for the mode in force is -4171."""
        if "multiAssetsMargin" not in wire.params:
            raise error(-1102, MULTI_ASSETS_MISSING)
        if flag(wire.params, "multiAssetsMargin"):
            raise error(-4167, MULTI_ASSETS_ISOLATED)
        raise error(-4171, MULTI_ASSETS_UNCHANGED)
