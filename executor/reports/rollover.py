"""At each trading-day rollover: the ended day's report written, then the daily summary notified with a
link to it.

The report is made by `executor report --day DAY --markets -` in a child process, given the daemon's
markets (each symbol's tick and step, so prices and quantities read as on the exchange) on its stdin,
so drawing the chart never holds the daemon's event loop (matplotlib would keep the GIL for a fraction
of a second, at midnight, when funding is paid and stops may need moving) and its libraries never load
into the daemon's memory. The breaker's tick only starts it. A report that fails or overruns its time is
logged and the summary goes out without the link; at shutdown one still running is stopped and its
summary sent all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Final

from executor.config.settings import ReportSettings
from executor.domain.market import Market, grid
from executor.domain.notices import Figure, Notice
from executor.observability.logging import get_logger
from executor.ports.errors import ExchangeError

log = get_logger("executor.reports")

REPORT_TIMEOUT_SECONDS: Final = 120.0
MARKETS_WAIT_SECONDS: Final = 5.0
"""The markets are cached; an exchange silent this long leaves the report's numbers as stored."""


def report_command(config_path: Path | None) -> list[str]:
    """This interpreter running `executor report`, with the daemon's own configuration file if it had one
    (the EXECUTOR__ variables reach the child through its environment)."""
    command = [sys.executable, "-m", "executor", "report"]
    return command if config_path is None else [*command, "--config", str(config_path)]


class DailyReporter:
    def __init__(
        self,
        settings: ReportSettings,
        notify: Callable[[Notice], None],
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        markets: Callable[[], Awaitable[Mapping[str, Market]]] | None = None,
    ) -> None:
        self._settings, self._notify = settings, notify
        self._command, self._env = list(command), None if env is None else dict(env)
        self._markets = markets
        self._pending: set[asyncio.Task[Notice]] = set()

    def day_ended(self, day: date, summary: Notice) -> None:
        """Write `day`'s report, then send `summary` linking it; without reports, send it now."""
        if not self._settings.daily:
            self._notify(summary)
            return
        task = asyncio.create_task(self._linked(day, summary), name=f"report-{day.isoformat()}")
        self._pending.add(task)
        task.add_done_callback(lambda done: self._send(done, day, summary))

    def _send(self, task: asyncio.Task[Notice], day: date, summary: Notice) -> None:
        """The summary goes out once whatever became of its report: linked, or plain if it was cut short."""
        self._pending.discard(task)
        if task.cancelled():
            log.warning("daily_report_unfinished", day=day.isoformat(), detail="stopped by the shutdown")
            self._notify(summary)
        else:
            self._notify(task.result())

    async def _linked(self, day: date, summary: Notice) -> Notice:
        """`summary` with a link to the day's report, once written; unchanged if that failed."""
        directory = self._settings.dir
        grids = json.dumps(await self._grids()).encode()
        process = await asyncio.create_subprocess_exec(
            *self._command,
            "--day",
            day.isoformat(),
            "--dir",
            str(directory),
            "--markets",
            "-",
            env=self._env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(REPORT_TIMEOUT_SECONDS):
                out, err = await process.communicate(grids)
        except TimeoutError:
            log.error(
                "daily_report_failed",
                day=day.isoformat(),
                error=f"not done in {REPORT_TIMEOUT_SECONDS:.0f} s",
            )
            return summary
        finally:
            if process.returncode is None:  # overran, or the shutdown cancelled the wait
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        html = directory / f"{day.isoformat()}.html"
        if process.returncode != 0 or str(html) not in out.decode(errors="replace").splitlines():
            last = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            log.error("daily_report_failed", day=day.isoformat(), exit=process.returncode, error=last)
            return summary
        base = self._settings.link_url
        link = f"{base}/reports/{html.name}" if base else str(html.resolve())
        log.info("daily_report_written", day=day.isoformat(), html=str(html))
        return replace(summary, figures=(*summary.figures, Figure("report", link)))

    async def _grids(self) -> dict[str, dict[str, str]]:
        """Every known market's tick and step; none (numbers as stored) when the exchange cannot say."""
        if self._markets is None:
            return {}
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for loses a cancellation (the shutdown's) that
            # comes as the lookup completes, and the report would then run on past the shutdown.
            async with asyncio.timeout(MARKETS_WAIT_SECONDS):
                known = await self._markets()
        except (ExchangeError, TimeoutError) as exc:
            log.warning("daily_report_markets_unknown", error=str(exc) or type(exc).__name__)
            return {}
        return {symbol: grid(market.filters) for symbol, market in known.items()}

    async def flush(self, seconds: float) -> None:
        """At shutdown: let a report under way finish within `seconds`, else stop it and send its summary."""
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=seconds)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
