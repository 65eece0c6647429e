"""The page's equity curves as SVG coordinates: time across, equity from its low to its high upwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from executor.reports.equity import Point
from executor.service.dashboard.charts import HEIGHT, MARGIN, WIDTH, line_chart

START = datetime(2026, 6, 2, tzinfo=UTC)


def test_the_low_is_drawn_at_the_bottom_the_high_at_the_top_and_time_across() -> None:
    series = [Point(START, Decimal(100)), Point(START + timedelta(hours=1), Decimal(110))]
    series.append(Point(START + timedelta(hours=2), Decimal(105)))
    chart = line_chart(series, "%H:%M")
    assert chart.points.split() == [
        f"{MARGIN:.1f},{HEIGHT - MARGIN:.1f}",
        f"{WIDTH / 2:.1f},{MARGIN:.1f}",
        f"{WIDTH - MARGIN:.1f},{HEIGHT / 2:.1f}",
    ]
    assert (chart.low, chart.high, chart.first, chart.last, chart.change) == (
        "100.00", "110.00", "00:00", "02:00", Decimal(5),
    )  # fmt: skip


def test_a_flat_curve_is_drawn_across_the_middle_and_one_point_draws_nothing() -> None:
    flat = line_chart([Point(START, Decimal(7)), Point(START + timedelta(minutes=1), Decimal(7))], "%H:%M")
    assert {coordinate.split(",")[1] for coordinate in flat.points.split()} == {f"{HEIGHT / 2:.1f}"}
    assert line_chart([Point(START, Decimal(7))], "%H:%M").points == ""
