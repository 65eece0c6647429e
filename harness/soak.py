"""The soak: many trading days on an accelerated simulator clock, with the daemon's footprint sampled.

Every `trade_every`-th day a position opens, is held across a funding settlement (the clock jumps
8 h) and leaves by its stop, a `close` signal, or a moved stop then a close; the days between only
pass. Every `breaker_every`-th day losses are stacked (the mark gaps 15 % through each stop) until
the daily-loss breaker trips; an `open` is then refused with HALTED, and the next day must find the
breaker reset. At each day's end the daemon's resident memory, threads, open file descriptors and
database size are sampled; a few quiet days at the end show whether the database grows without data.

Trades are spread out because the daemon paces its requests to Binance's weight budget (1200 units a
minute): compressing a month of closes (each reads the income history, 30 units) into a minute would
exhaust it and stall every request, orders included (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from executor.domain.enums import PositionStatus
from harness.e2e import ACCOUNT, Daemon, Sim
from harness.stress import rss_kib, table_rows

DAY_MS = 86_400_000
HOUR = 3600.0
ROLLOVER_WITHIN_S = 60.0
OPEN_ATTEMPTS = 5
SYMBOL, SIM_SYMBOL = "SOL/USDT:USDT", "SOLUSDT"
TABLES = ("signals", "rejected_signals", "decisions", "orders", "fills", "positions", "funding_payments",
          "daily_loss", "risk_state", "events")  # fmt: skip


@dataclass(frozen=True)
class Sample:
    day: int
    rss_kib: int
    threads: int
    fds: int
    db_bytes: int
    rows: int
    tasks: int | None


@dataclass
class SoakReport:
    samples: list[Sample] = field(default_factory=list)
    quiet_samples: list[Sample] = field(default_factory=list)
    breaker_days: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    funding_payments: int = 0
    stale_retries: int = 0
    seconds: float = 0.0


def process_sample(pid: int) -> tuple[int, int, int]:
    """(RSS KiB, threads, open file descriptors) from /proc."""
    threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss_kib(pid), threads, len(list(Path(f"/proc/{pid}/fd").iterdir()))


class Soak:
    def __init__(
        self,
        sim: Sim,
        daemon: Daemon,
        *,
        days: int,
        breaker_every: int = 10,
        trade_every: int = 3,
        quiet_days: int = 3,
    ) -> None:
        self.sim = sim
        self.trade_every = trade_every
        self.daemon = daemon
        self.days = days
        self.breaker_every = breaker_every
        self.quiet_days = quiet_days
        self.report = SoakReport()
        self.count = 0

    # ------------------------------------------------------------------ helpers

    async def _wait(self, probe: Any, what: str, within: float = 10.0) -> Any:
        deadline = time.monotonic() + within
        while True:
            found = await probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"soak day: timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def _now_ms(self) -> int:
        return int((await self.sim.state())["now_ms"])

    async def _mark(self) -> Decimal:
        return Decimal((await self.sim.state())["marks"][SIM_SYMBOL])

    async def _position(self) -> Decimal:
        account = await self.sim.account()
        return sum(
            (Decimal(p["qty"]) for p in account.get("positions", []) if p["symbol"] == SIM_SYMBOL), Decimal(0)
        )

    async def _send(self, payload: dict[str, Any]) -> None:
        _, answer = await self.daemon.post(payload)
        if answer.get("status") != "queued":
            raise AssertionError(f"signal {payload['id']} answered {answer}")

    def _id(self, what: str) -> str:
        self.count += 1
        return f"soak-{self.count}-{what}"

    async def _open(self) -> str:
        mark = await self._mark()
        signal_id = self._id("open")
        stop = (mark * Decimal("0.98")).quantize(Decimal("0.01"))
        payload = {"id": signal_id, "symbol": SYMBOL, "side": "long", "entry": {"type": "market"}}
        await self._send({**payload, "stop": str(stop), "conviction": 8})
        return signal_id

    async def _opened(self) -> None:
        """An open sent and its position protected. Right after a day's jump the daemon may refuse it
        `DATA_MISSING` (its cached funding and tiers are a simulated day old until the next background
        refresh): failing closed, as it should; the open is sent again (counted in `stale_retries`)."""
        for _ in range(OPEN_ATTEMPTS):
            signal_id = await self._open()

            async def outcome(signal_id: str = signal_id) -> Any:
                account = await self.sim.account()
                stops = [o for o in account.get("open_orders", []) if o["type"] == "STOP_MARKET"]
                if await self._position() > 0 and len(stops) == 1:
                    return "protected"
                decision = await self._decision(signal_id)
                return decision is not None and decision.reason == "DATA_MISSING" and "stale"

            if await self._wait(outcome, "a protected position") == "protected":
                return
            self.report.stale_retries += 1
            await asyncio.sleep(1)
        raise AssertionError(f"soak day: {OPEN_ATTEMPTS} opens refused DATA_MISSING in a row")

    async def _decision(self, signal_id: str) -> Any:
        async with self.daemon.store() as store, store.read() as tx:
            signal = await tx.signals.get(ACCOUNT, signal_id)
            if signal is None or signal.status == "queued":
                return None
            return await tx.decisions.for_signal(signal.id)

    async def booked_flat(self) -> None:
        async def flat() -> bool:
            if await self._position():
                return False
            async with self.daemon.store() as store, store.read() as tx:
                return not await tx.positions.with_status(ACCOUNT, PositionStatus.OPEN)

        await self._wait(flat, "the close to be booked")

    async def _stop_out(self, gap: Decimal = Decimal("0.97")) -> None:
        """The mark jumps through the stop (to `gap` × mark): the stop fills at the gapped price."""
        await self.sim.mark(((await self._mark()) * gap).quantize(Decimal("0.01")), SIM_SYMBOL)
        await self.booked_flat()

    async def _day_row(self) -> Any:
        async with self.daemon.store() as store, store.read() as tx:
            return await tx.daily_loss.latest(ACCOUNT)

    async def _tripped(self, within: float) -> bool:
        """Whether the breaker trips within `within` seconds (two readings on the equity basis)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            row = await self._day_row()
            if row is not None and row.breaker == "tripped":
                return True
            await asyncio.sleep(0.1)
        return False

    async def _sample(self, day: int) -> Sample:
        assert self.daemon.process is not None
        rss, threads, fds = process_sample(self.daemon.process.pid)
        return Sample(day, rss, threads, fds, await self._db_bytes(), await self._rows(), await self._tasks())

    async def _rows(self) -> int:
        return sum((await table_rows(self.daemon.database_url, TABLES)).values())

    async def _db_bytes(self) -> int:
        url = self.daemon.database_url
        if url.startswith("sqlite"):
            path = Path(url.split(":///", 1)[1])
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        import asyncpg

        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await connection.close()

    async def _tasks(self) -> int | None:
        """The daemon's asyncio task count, when its /metrics exposes `executor_asyncio_tasks`."""
        _, body = await self.daemon.get("/metrics")
        for line in str(body).splitlines():
            if line.startswith("executor_asyncio_tasks "):
                return int(float(line.split()[1]))
        return None

    # ------------------------------------------------------------------ days

    async def _next_day(self) -> int:
        """Jump to 00:30 of the next trading day and wait until the daemon has rolled its ledger."""
        now = await self._now_ms()
        target = (now // DAY_MS + 1) * DAY_MS + 1_800_000
        await self.sim.advance((target - now) / 1000)
        day = target // DAY_MS

        async def rolled() -> Any:
            row = await self._day_row()
            return row is not None and (row.trading_day.toordinal() - 719163) == day and row

        # The daemon learns of the jump through its clock sync and rolls its ledger after an account read:
        # reads the throttle may hold back while polling has spent its share of the rate window, which the
        # soak's fast days and per-jump stream resyncs can do (up to the window's 60 s). Memory is measured
        # here, not latency.
        row = await self._wait(rolled, "the trading day to roll over", within=ROLLOVER_WITHIN_S)
        if row.breaker != "active":
            self.report.problems.append(f"day {day}: breaker {row.breaker} after the rollover")
        return int(day)

    async def _ordinary_day(self, index: int) -> None:
        await self._opened()
        await self.sim.advance(8 * HOUR)  # across a funding settlement
        await self.sim.mark((await self._mark()) * Decimal("1.004"), SIM_SYMBOL)
        exit_kind = index % 3
        if exit_kind == 0:
            await self._stop_out()
            return
        if exit_kind == 2:
            stop = ((await self._mark()) * Decimal("0.995")).quantize(Decimal("0.01"))
            await self._send(
                {"id": self._id("move"), "action": "move_stop", "symbol": SYMBOL, "stop": str(stop)}
            )
        await self._send({"id": self._id("close"), "action": "close", "symbol": SYMBOL})
        await self.booked_flat()

    async def _breaker_day(self, day: int) -> None:
        for _ in range(6):
            await self._opened()
            await self._stop_out(Decimal("0.85"))
            if await self._tripped(within=4.0):
                break
        row = await self._day_row()
        if row is None or row.breaker != "tripped":
            self.report.problems.append(f"day {day}: six stop-outs and the breaker is not tripped")
            return
        self.report.breaker_days.append(day)
        refused = await self._open()
        decision = await self._wait(lambda: self._decision(refused), "the refused signal's decision")
        if decision.accepted or decision.reason != "HALTED":
            self.report.problems.append(f"day {day}: open while halted decided {decision.reason}")

    async def run(self) -> SoakReport:
        started = time.monotonic()
        await self._next_day()
        for index in range(self.days):
            day = await self._next_day()
            if self.breaker_every and index % self.breaker_every == self.breaker_every - 1:
                await self._breaker_day(day)
            elif index % self.trade_every == 0:
                await self._ordinary_day(index // self.trade_every)
            else:
                await self.sim.advance(12 * HOUR)
            self.report.samples.append(await self._sample(day))
        for _ in range(self.quiet_days):
            day = await self._next_day()
            await self.sim.advance(12 * HOUR)
            await asyncio.sleep(1.0)
            self.report.quiet_samples.append(await self._sample(day))
        async with self.daemon.store() as store, store.read() as tx:
            closed = await tx.positions.with_status(ACCOUNT, PositionStatus.CLOSED)
        self.report.funding_payments = sum(1 for row in closed if row.funding)
        self.report.seconds = time.monotonic() - started
        return self.report
