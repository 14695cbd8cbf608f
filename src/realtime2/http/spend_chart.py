"""The dashboard's spend chart: a day series laid out as SVG bars, computed here so the page
draws it with no script and nothing fetched (the template writes the numbers out)."""

from __future__ import annotations

from dataclasses import dataclass

from realtime2.accounts.spend import DaySpend

WIDTH = 1000
HEIGHT = 260
LEFT = 56  # room for the axis labels
RIGHT = 8
TOP = 12
BOTTOM = 28
TICKS = 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str  # YYYY-MM-DD
    credits: int
    seconds: float


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class DayLabel:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: float  # x of the plot's right edge
    baseline: float  # y of zero
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[DayLabel]
    total: int
    peak: int


def tick_step(peak: int, ticks: int = TICKS) -> int:
    """The smallest round step (1, 2, 2.5 or 5 × 10ⁿ, whole numbers only) with which `ticks`
    steps reach `peak`: the axis then reads 0, step, 2·step, … with no repeated label."""
    need = max(1, -(-peak // ticks))  # ceil(peak / ticks), at least 1
    magnitude = 1
    while magnitude * 10 <= need:
        magnitude *= 10
    steps = [magnitude, 2 * magnitude, 5 * magnitude, 10 * magnitude]
    if magnitude >= 10:  # 2.5 × 10ⁿ is a whole number from 25 on
        steps.insert(2, magnitude * 5 // 2)
    return next(step for step in steps if step >= need)


def spend_chart(series: list[DaySpend], *, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """Bars for `series` (oldest first) on an axis of `TICKS` round steps that reaches the
    largest day; a date label on the first, middle and last day."""
    peak = max((day.credits for day in series), default=0)
    step = tick_step(peak)
    top = step * TICKS
    plot_width = width - LEFT - RIGHT
    plot_height = height - TOP - BOTTOM
    baseline = float(TOP + plot_height)
    slot = plot_width / max(1, len(series))
    gap = min(4.0, slot * 0.2)
    bars = []
    for i, day in enumerate(series):
        bar_height = round(plot_height * day.credits / top, 2)
        bars.append(
            Bar(
                x=round(LEFT + i * slot + gap / 2, 2),
                y=round(baseline - bar_height, 2),
                width=round(slot - gap, 2),
                height=bar_height,
                day=day.day.isoformat(),
                credits=day.credits,
                seconds=day.seconds,
            )
        )
    ticks = [Tick(round(baseline - plot_height * k / TICKS, 2), step * k) for k in range(TICKS + 1)]
    marks = sorted({0, len(series) // 2, len(series) - 1}) if series else []
    labels = [
        DayLabel(round(LEFT + (i + 0.5) * slot, 2), series[i].day.strftime("%b %d")) for i in marks
    ]
    return Chart(
        width=width,
        height=height,
        left=LEFT,
        right=float(width - RIGHT),
        baseline=baseline,
        bars=bars,
        ticks=ticks,
        labels=labels,
        total=sum(day.credits for day in series),
        peak=peak,
    )
