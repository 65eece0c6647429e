"""The price a decision stands on, in a moving book: its age at the decision, and slippage allowed vs taken.

A fresh simulator per exchange with a spread (`slippage_bps = 2`: the best ask 2 bps over the mark, the
best bid 2 bps under, which are also the prices a taker fills at) and a daemon at the production
intervals on SQLite. This process moves the mark every `--step-ms` (25 ms) by a Gaussian step of
`--volatility-bps` (2 bps), pulled back toward the start, and keeps the history of the marks with the time
each move was answered. Market entries, long and short in turn, go out at random moments; each filled one
is closed again before the next.

Per trade, from the daemon's rows read with the bare driver: the decision's reference price, its source
and the age the daemon recorded (`reference_price` step), the order's price bound, and the position's
slippage allowed and taken per unit (migration 0005). From the outside: the entry request's arrival at the
simulator (request log) and the book at that moment from the mark history, and how long before the
entry reached the simulator the book had already left the price the decision stood on ("stale at the
wire": 0 while the book still showed it; unmatched when it never did), on the simulator's clock alone.

Goals: price age p99 ≤ `execution.max_price_age_ms` (1,000 by default), by the daemon's record and by
the outside's; slippage: every fill within its allowance (the IOC bound), a move past it leaves the order
unfilled rather than filled beyond it.

    python -m bench.price_bench [--trades 12] [--step-ms 25] [--volatility-bps 2] [--exchanges binance,phemex]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    Rows,
    arguments,
    load_now,
    machine,
    running,
    stats_ms,
    stream_names,
    verdict,
    wait_for,
)
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from harness.e2e import Daemon, Sim
from harness.stress import Table, percentile

SYMBOL, SIM_SYMBOL, TICK = "SOL/USDT:USDT", "SOLUSDT", Decimal("0.01")
SPREAD_BPS = Decimal(2)
BPS = Decimal("0.0001")
MAX_PRICE_AGE_MS = 1000
FINAL = ("filled", "canceled", "rejected", "not_sent")
ENTRY_PATHS = ("/fapi/v1/order", "/g-orders", "/g-orders/create")
DECISION = (
    "SELECT d.accepted, d.reason, d.entry, d.order_price, d.steps, d.decided_at FROM decisions d"
    " JOIN signals s ON d.signal_pk = s.id WHERE s.signal_id = ?"
)
ENTRY = (
    "SELECT state, filled_qty, average_price FROM orders WHERE client_order_id = ? AND state IN (?, ?, ?, ?)"
)
POSITION = (
    "SELECT p.id, p.entry_price, p.slippage_allowed, p.slippage FROM positions p JOIN signals s"
    " ON p.signal_pk = s.id WHERE s.signal_id = ? AND p.slippage_allowed IS NOT NULL"
)
CLOSED = "SELECT 1 FROM positions WHERE id = ? AND status = ?"


class Book:
    """The mark this process set, with the wall time (ns) each move was answered; the top of the book
    follows from the simulator's rule (mark ± slippage_bps, rounded to the tick against the taker)."""

    def __init__(self, start: Decimal) -> None:
        self.times: list[int] = [0]
        self.marks: list[Decimal] = [start]

    def record(self, at_ns: int, mark: Decimal) -> None:
        self.times.append(at_ns)
        self.marks.append(mark)

    def side(self, long: bool, mark: Decimal) -> Decimal:
        raw = mark * (1 + (SPREAD_BPS if long else -SPREAD_BPS) * BPS)
        return (raw / TICK).to_integral_value(rounding=ROUND_CEILING if long else ROUND_FLOOR) * TICK

    def at(self, long: bool, at_ns: int) -> Decimal:
        return self.side(long, self.marks[bisect.bisect_right(self.times, at_ns) - 1])

    def stale_ms(self, long: bool, price: Decimal, at_ns: int) -> float | None:
        """How long before `at_ns` the book's side stopped showing `price`: 0 while it still did, None if
        it never did before `at_ns`."""
        index = bisect.bisect_right(self.times, at_ns) - 1
        if self.side(long, self.marks[index]) == price:
            return 0.0
        for earlier in range(index - 1, -1, -1):
            if self.side(long, self.marks[earlier]) == price:
                return (at_ns - self.times[earlier + 1]) / 1e6
        return None


async def move_book(sim: Sim, book: Book, start: Decimal, step_ms: float, volatility_bps: float) -> None:
    mark = start
    rng = random.Random(11)
    while True:
        step = Decimal(str(round(rng.gauss(0.0, volatility_bps), 3))) * BPS
        pull = (start - mark) / start * Decimal("0.05")  # back toward the start: stops stay far
        mark = max(TICK, ((mark * (1 + step + pull)) / TICK).to_integral_value() * TICK)
        await sim.mark(mark, SIM_SYMBOL)
        book.record(time.time_ns(), mark)
        await asyncio.sleep(step_ms / 1000)


@dataclass
class Trade:
    signal_id: str
    long: bool
    reason: str = ""
    source: str = ""
    reference: Decimal | None = None
    order_price: Decimal | None = None
    age_ms: int | None = None
    stale_ms: float | None = None
    """How long before the entry reached the simulator the book had left the decided price."""
    stamp_ms: float | None = None
    """The decision's stored time minus the entry's arrival: a few ms below 0 unless the daemon's clock
    (the exchange's, as the daemon estimates it) is off."""
    wire_move_bps: Decimal | None = None
    fill: Decimal | None = None
    allowed: Decimal | None = None
    actual: Decimal | None = None
    outcome: str = ""


@dataclass
class Result:
    family: str
    streams: str = ""
    load: str = ""
    trades: list[Trade] = field(default_factory=list)


def parse_time(value: Any) -> datetime:
    """A stored timestamp (SQLite keeps naive UTC text) as an aware datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def trade(sim: Sim, daemon: Daemon, rows: Rows, book: Book, index: int) -> Trade:
    long = index % 2 == 0
    signal_id = f"price-{index}-{time.time_ns()}"
    mark = book.marks[-1]
    stop = ((mark * (Decimal("0.98") if long else Decimal("1.02"))) / TICK).to_integral_value() * TICK
    record = Trade(signal_id, long)
    await asyncio.sleep(random.uniform(0.1, 0.6))  # not in step with the book or the daemon's timers
    payload = {
        "id": signal_id,
        "symbol": SYMBOL,
        "side": "long" if long else "short",
        "entry": {"type": "market"},
        "stop": str(stop),
    }
    _, answer = await daemon.post(payload)
    if answer.get("status") != "queued":
        raise RuntimeError(f"signal not queued: {answer}")

    async def decided() -> tuple[Any, ...] | None:
        found = await rows.fetch(DECISION, signal_id)
        return found[0] if found else None

    accepted, reason, entry, order_price, steps, decided_at = await wait_for(
        decided, f"the decision on {signal_id}", within=60, interval=0.02
    )
    if not accepted:
        record.reason, record.outcome = str(reason), "refused"
        return record
    step = next(s for s in _steps(steps) if s["step"] == "reference_price")
    record.reference, record.order_price = money(entry), money(order_price)
    record.source, record.age_ms = str(step["after"]["source"]), int(step["before"]["age_ms"])
    assert record.reference is not None
    entry_id = client_order_id(signal_id, OrderKind.ENTRY)

    async def settled() -> tuple[Any, ...] | None:
        found = await rows.fetch(ENTRY, entry_id, *FINAL)
        return found[0] if found else None

    state, filled_qty, _ = await wait_for(settled, f"the entry of {signal_id}", within=60, interval=0.02)
    arrival = next(
        row["arrival_wall_ns"]
        for row in await sim.requests()
        if row["path"] in ENTRY_PATHS
        and entry_id in (row["params"].get("newClientOrderId"), row["params"].get("clOrdID"))
    )
    record.stale_ms = book.stale_ms(long, record.reference, arrival)
    record.stamp_ms = (parse_time(decided_at).timestamp() * 1e9 - arrival) / 1e6
    sign = 1 if long else -1
    record.wire_move_bps = (book.at(long, arrival) - record.reference) * sign / record.reference / BPS
    if not Decimal(str(filled_qty)):
        record.outcome = f"not filled ({state})"
        return record

    async def booked() -> tuple[Any, ...] | None:
        found = await rows.fetch(POSITION, signal_id)
        return found[0] if found else None

    position, fill, allowed, actual = await wait_for(booked, f"the position of {signal_id}", within=60)
    record.fill, record.allowed, record.actual = money(fill), money(allowed), money(actual)
    within = record.actual is not None and record.allowed is not None and record.actual <= record.allowed
    record.outcome = "within" if within else "BEYOND"
    await daemon.post({"id": f"{signal_id}-close", "action": "close", "symbol": SYMBOL})
    await rows.first_seen(CLOSED, position, "closed", within=60)
    return record


def _steps(steps: Any) -> list[dict[str, Any]]:
    return json.loads(steps) if isinstance(steps, str) else list(steps)


async def measure(family: str, workdir: Path, args: argparse.Namespace) -> Result:
    result = Result(family)
    url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    sim_config = f'[sim]\nslippage_bps = "{SPREAD_BPS}"\n'
    async with running(family, url, workdir, sim_config=sim_config) as (sim, daemon):
        result.streams, result.load = await stream_names(daemon), load_now()
        start = Decimal((await sim.state())["marks"][SIM_SYMBOL])
        book = Book(start)
        mover = asyncio.create_task(move_book(sim, book, start, args.step_ms, args.volatility_bps))
        try:
            await asyncio.sleep(1.5)  # the daemon's streams see the book move before the first signal
            rows = Rows(url)
            for index in range(args.trades):
                result.trades.append(await trade(sim, daemon, rows, book, index))
        finally:
            mover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mover
    return result


def fmt(value: Decimal | float | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def report(results: list[Result]) -> None:
    ages = Table(
        [
            "exchange",
            "daemon's streams",
            "load",
            "decisions",
            "sources",
            "recorded age p50 ms",
            "p99 ms",
            "max ms",
            "stale at the wire p50 ms",
            "p99 ms",
            "max ms",
            "unmatched",
            "decided_at − wire p50 ms",
            "goal",
        ]
    )
    for result in results:
        decided = [t for t in result.trades if t.age_ms is not None]
        recorded = [float(t.age_ms) for t in decided if t.age_ms is not None]
        stale = [t.stale_ms for t in decided if t.stale_ms is not None]
        sources = ", ".join(
            f"{s} {sum(t.source == s for t in decided)}" for s in sorted({t.source for t in decided})
        )
        worst = max(percentile(recorded, 99) if recorded else 0.0, percentile(stale, 99) if stale else 0.0)
        ages.add(
            result.family,
            result.streams,
            result.load,
            len(decided),
            sources or "-",
            *stats_ms(recorded),
            *stats_ms(stale),
            len(decided) - len(stale),
            stats_ms([t.stamp_ms for t in decided if t.stamp_ms is not None])[0],
            verdict(bool(decided) and worst <= MAX_PRICE_AGE_MS),
        )
    print("price age at decision: the daemon's record (reference_price step) and the outside's view")
    ages.print()
    print(
        f"goal: p99 ≤ execution.max_price_age_ms ({MAX_PRICE_AGE_MS} ms), both columns; 'stale at the wire':"
        " how long before the entry reached the exchange the book had left the decided price (0: it still"
        " showed it); 'decided_at − wire': the decision's stored time against the entry's arrival (the"
        " daemon's clock)"
    )
    print()
    trades = Table(
        [
            "exchange",
            "trade",
            "side",
            "source",
            "reference",
            "age ms",
            "stale at the wire ms",
            "bound",
            "book moved by the wire bps",
            "fill",
            "allowed /unit",
            "taken /unit",
            "outcome",
        ]
    )
    for result in results:
        for number, t in enumerate(result.trades, 1):
            trades.add(
                result.family,
                number,
                "long" if t.long else "short",
                t.source or t.reason,
                fmt(t.reference),
                "-" if t.age_ms is None else t.age_ms,
                fmt(t.stale_ms, 1),
                fmt(t.order_price),
                fmt(t.wire_move_bps, 1),
                fmt(t.fill),
                fmt(t.allowed, 4),
                fmt(t.actual, 4),
                t.outcome,
            )
    print("slippage per trade, allowed vs taken (per unit; positive: paid)")
    trades.print()
    summary = Table(["exchange", "trades", "filled", "within allowance", "not filled", "refused", "goal"])
    for result in results:
        filled = [t for t in result.trades if t.fill is not None]
        within = sum(t.outcome == "within" for t in filled)
        unfilled = sum(t.outcome.startswith("not filled") for t in result.trades)
        refused = sum(t.outcome == "refused" for t in result.trades)
        ok = bool(filled) and within == len(filled)
        summary.add(result.family, len(result.trades), len(filled), within, unfilled, refused, verdict(ok))
    summary.print()
    print("goal: every fill within its allowance (a book that ran past it leaves the IOC unfilled)")


async def main_async(args: argparse.Namespace) -> None:
    print(machine(), flush=True)
    print(f"book: a step every {args.step_ms:g} ms, σ {args.volatility_bps:g} bps, spread ±{SPREAD_BPS} bps")
    results = []
    with tempfile.TemporaryDirectory(prefix="executor-price-") as folder:
        for family in args.exchanges.split(","):
            workdir = Path(folder) / family
            workdir.mkdir()
            results.append(await measure(family, workdir, args))
    report(results)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--trades", type=int, default=12, help="market entries per exchange")
    parser.add_argument("--step-ms", type=float, default=25.0, help="ms between moves of the book")
    parser.add_argument("--volatility-bps", type=float, default=2.0, help="σ of one move, in bps")
    parser.add_argument("--exchanges", default="binance,phemex", help="comma-separated (default both)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
