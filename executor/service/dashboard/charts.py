"""Equity curves as inline SVG, drawn on the server: the page needs no chart library and works offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from executor.domain.display import money
from executor.reports.equity import Point

WIDTH = 600
HEIGHT = 160
MARGIN = 8


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws: a polyline in a WIDTH×HEIGHT box and its labels."""

    points: str
    """SVG polyline coordinates, "x,y x,y ..."; empty with fewer than two points."""
    low: str
    high: str
    first: str
    last: str
    change: Decimal | None


def line_chart(series: Sequence[Point], time_format: str) -> Chart:
    """Time on x (first to last point), equity on y (its low to its high, a flat line centred)."""
    if len(series) < 2:
        return Chart("", "", "", "", "", None)
    start, end = series[0].at.timestamp(), series[-1].at.timestamp()
    low, high = min(p.equity for p in series), max(p.equity for p in series)
    span_x = (end - start) or 1.0
    span_y = float(high - low)
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def y(value: Decimal) -> float:
        if span_y == 0:
            return HEIGHT / 2
        return MARGIN + inner_h * (1 - float(value - low) / span_y)

    coordinates = " ".join(
        f"{MARGIN + inner_w * (p.at.timestamp() - start) / span_x:.1f},{y(p.equity):.1f}" for p in series
    )
    return Chart(
        points=coordinates,
        low=money(low),
        high=money(high),
        first=series[0].at.strftime(time_format),
        last=series[-1].at.strftime(time_format),
        change=series[-1].equity - series[0].equity,
    )
