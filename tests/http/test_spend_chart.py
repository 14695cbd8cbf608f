"""The spend chart's layout: bars proportional to each day, round and distinct axis ticks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from realtime2.accounts.spend import DaySpend
from realtime2.http.spend_chart import TICKS, spend_chart, tick_step


def series(*credits: int) -> list[DaySpend]:
    start = date(2026, 11, 1)
    return [DaySpend(start + timedelta(days=i), c) for i, c in enumerate(credits)]


@pytest.mark.parametrize("peak", [0, 1, 2, 3, 5, 9, 42, 99, 100, 101, 240, 12_345, 10**12])
def test_the_axis_reaches_the_peak_in_round_distinct_steps(peak: int) -> None:
    step = tick_step(peak)
    assert step * TICKS >= peak and (step - 1) * TICKS < max(peak, 1) * 3
    assert str(step).rstrip("0") in ("1", "2", "25", "5")
    chart = spend_chart(series(peak, 0))
    values = [t.value for t in chart.ticks]
    assert values == sorted(set(values)) and values[0] == 0 and values[-1] >= peak


def test_bars_are_proportional_and_labelled() -> None:
    credits = [0] * 27 + [10, 40, 20]
    chart = spend_chart(series(*credits))
    assert len(chart.bars) == 30 and chart.total == 70 and chart.peak == 40
    heights = {b.day: b.height for b in chart.bars}
    assert heights["2026-11-28"] * 4 == pytest.approx(heights["2026-11-29"], abs=0.05)
    assert heights["2026-11-30"] * 2 == pytest.approx(heights["2026-11-29"], abs=0.05)
    assert all(b.height == 0 for b in chart.bars[:27])
    assert all(b.y + b.height == pytest.approx(chart.baseline) for b in chart.bars)
    xs = [b.x for b in chart.bars]
    assert xs == sorted(xs) and xs[0] >= chart.left and xs[-1] + chart.bars[-1].width <= chart.right
    assert [label.text for label in chart.labels] == ["Nov 01", "Nov 16", "Nov 30"]


def test_no_days() -> None:
    chart = spend_chart([])
    assert chart.bars == [] and chart.labels == [] and chart.total == 0
