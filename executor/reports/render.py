"""The day's report as files: DAY.html (Jinja2, self-contained but for its chart) and DAY.png, the equity
curve drawn by matplotlib's Agg backend, imported only here, when a report is written (it costs the
daemon's start-up nothing)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

import jinja2

from executor.domain.market import MarketFilters
from executor.domain.notices import Figure, Unit, figure_text
from executor.reports.daily import DayReport

TEMPLATES: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


TEMPLATES.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S %Z")


@dataclass(frozen=True, slots=True)
class Written:
    html: Path
    png: Path


def text(value: Decimal | None, unit: str = "money", filters: MarketFilters | None = None) -> str:
    """Money with 2 decimals, a PnL as a profit or a loss, an R multiple; a price to the market's tick and
    a quantity to its step when `filters` are known, as stored otherwise."""
    if value is None:
        return "—"
    return figure_text(Figure("", value, Unit(unit)), filters, "")


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers (a browser following the notification's link) never see half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def chart_png(report: DayReport) -> bytes:
    """The day's equity as a step line (a step at each closed trade), or a note when there is no ledger."""
    from matplotlib.figure import Figure as Canvas  # heavy: imported only when a report is drawn

    figure = Canvas(figsize=(8, 3), dpi=100, layout="tight")
    axes = figure.subplots()
    if len(report.curve) >= 2:
        # Hours since midnight on x (23 or 25 of them on a daylight-saving day).
        hours = [(point.at - report.start).total_seconds() / 3600 for point in report.curve]
        values = [float(point.equity) for point in report.curve]
        axes.step(hours, values, where="post", color="#0969da")
        length = (report.end - report.start).total_seconds() / 3600
        axes.set_xlim(0, length)
        ticks = range(0, int(length) + 1, 3)
        axes.set_xticks(list(ticks), [f"{tick:02d}:00" for tick in ticks])
        axes.set_ylabel("equity")
        axes.grid(alpha=0.3)
    else:
        axes.text(0.5, 0.5, "no daily ledger for this day", ha="center", va="center")
        axes.set_axis_off()
    axes.set_title(f"{report.account} · equity on {report.day.isoformat()} ({report.timezone})")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write(report: DayReport, directory: Path, markets: Mapping[str, MarketFilters] | None = None) -> Written:
    """DAY.html and DAY.png in `directory` (made if missing), each replaced whole; prices and quantities of
    the symbols in `markets` on their tick and step."""
    directory.mkdir(parents=True, exist_ok=True)
    name = report.day.isoformat()
    written = Written(directory / f"{name}.html", directory / f"{name}.png")
    _atomic_write(written.png, chart_png(report))
    known = dict(markets or {})
    html = TEMPLATES.get_template("daily.html").render(
        report=report, chart=written.png.name, text=text, market=known.get
    )
    _atomic_write(written.html, html.encode())
    return written
