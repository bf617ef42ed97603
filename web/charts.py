"""Small charts for the metrics page, drawn on the server as inline SVG (no JavaScript).

Every function is pure and returns `Markup`: each piece of text (a team name, a label) is
escaped here, so a team called `<script>` is drawn as those characters. Colours come from CSS
classes in style.css, never from `style` attributes or a `<style>` element: the pages' CSP
(`style-src 'self'`) would refuse those.

Accessibility: a chart is `role="img"` labelled by its `<title>` and described by a `<desc>`
that lists every number drawn, so a screen reader hears the figures, not the geometry. The
card meters repeat figures already written next to them, so they are hidden from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 480
LABEL_WIDTH = 138  # the label column, left of the bars
VALUE_WIDTH = 150  # the value column, right of the bars ("6.3 min (over target)")
ROW = 28
BAR = 18
TEXT_EM = 7.5  # about how wide a character of the 13px chart text is
LABEL_CHARS = 19  # longer labels are cut (the full text stays in the row's <title>)
NO_DATA = "No data in this window"
TONES = frozenset({"", "met", "missed", "over", "muted"})


# --- figures as text -----------------------------------------------------------------------


def format_percent(value: float | None, missing: str = "—") -> str:
    """0.3 → '30.0%' (the page and the CLI write it alike); None → `missing`."""
    return missing if value is None else f"{value * 100:.1f}%"


def format_duration(seconds: float | None, missing: str = "—") -> str:
    """45 → '45 s', 210 → '3.5 min', 13800 → '3.8 h' (the page and the CLI alike); None →
    `missing`."""
    if seconds is None:
        return missing
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# --- building blocks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: `value` None means no data (no bar, 'no data' written)."""

    label: str
    value: float | None
    text: str  # the value as written at the bar's end, e.g. "3", "45 s", "100.0% (4/4)"
    tone: str = ""  # a CSS modifier: "" (neutral), "met", "missed", "over", "muted"


def _num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _chart_id(chart_id: str) -> str:
    """An id safe in an attribute and unique per chart: letters, digits and dashes."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", chart_id.lower()).strip("-")
    return f"chart-{cleaned or 'x'}"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _open_svg(chart_id: str, height: float, title: str, desc: str, css: str = "chart") -> str:
    ident = _chart_id(chart_id)
    return (
        f'<svg class="{css}" id="{ident}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {_num(height)}" width="{WIDTH}" height="{_num(height)}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" focusable="false">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
    )


def describe(bars: Sequence[Bar], target_text: str | None = None) -> str:
    """The chart's numbers in a sentence: 'p50: 45 s; p90: 3.0 min. Target 120 s.'"""
    if not bars:
        return NO_DATA + "."
    parts = "; ".join(
        f"{bar.label}: {'no data' if bar.value is None else bar.text}" for bar in bars
    )
    target = f" {target_text[:1].upper()}{target_text[1:]}." if target_text else ""
    return parts + "." + target


def empty_chart(chart_id: str, title: str, message: str = NO_DATA) -> Markup:
    """A chart with nothing to draw: says so, to the eye and to a screen reader."""
    height = 44
    return Markup(
        _open_svg(chart_id, height, title, message + ".", "chart chart-empty")
        + f'<rect class="chart-frame" x="0.5" y="0.5" width="{WIDTH - 1}" height="{height - 1}" '
        'rx="6"/>'
        f'<text class="chart-note" x="{WIDTH / 2:g}" y="27" text-anchor="middle">'
        f"{escape(message)}</text></svg>"
    )


def bar_chart(
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    *,
    maximum: float | None = None,
    target: float | None = None,
    target_text: str | None = None,
) -> Markup:
    """Horizontal bars, one row per `Bar`, scaled to `maximum` (default: the largest value,
    or the target if larger). `target` draws a dashed line labelled `target_text`."""
    if not bars:
        return empty_chart(chart_id, title)
    values = [bar.value for bar in bars if bar.value is not None]
    if not values:
        return empty_chart(chart_id, title)
    top = 20.0 if target is not None else 4.0
    height = top + ROW * len(bars) + 4
    scale_max = maximum if maximum is not None else max([*values, target or 0])
    scale_max = scale_max if scale_max > 0 else 1.0  # all zeros: empty bars, no division by 0
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH

    def x_of(value: float) -> float:
        return LABEL_WIDTH + span * min(max(value, 0.0), scale_max) / scale_max

    parts = [_open_svg(chart_id, height, title, describe(bars, target_text))]
    parts.append(
        f'<line class="chart-axis" x1="{LABEL_WIDTH}" y1="{_num(top - 2)}" '
        f'x2="{LABEL_WIDTH}" y2="{_num(height - 2)}"/>'
    )
    line = None if target is None else x_of(target)
    value_texts: list[str] = []  # drawn last, over the target line (each with a halo, in CSS)
    for index, bar in enumerate(bars):
        tone = bar.tone if bar.tone in TONES else ""
        y = top + index * ROW
        middle = _num(y + ROW / 2)
        parts.append(f'<g class="chart-row"><title>{escape(bar.label)}: {escape(bar.text)}</title>')
        parts.append(
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{middle}" '
            f'text-anchor="end" dominant-baseline="central">{escape(_short(bar.label))}</text>'
        )
        if bar.value is None:
            parts.append("</g>")
            value_texts.append(
                f'<text class="chart-value chart-none" x="{LABEL_WIDTH + 6}" y="{middle}" '
                'dominant-baseline="central">no data</text>'
            )
            continue
        end = x_of(bar.value)
        if end - LABEL_WIDTH >= 0.5:
            parts.append(
                f'<rect class="bar{f" bar-{tone}" if tone else ""}" x="{LABEL_WIDTH}" '
                f'y="{_num(y + (ROW - BAR) / 2)}" width="{_num(end - LABEL_WIDTH)}" '
                f'height="{BAR}" rx="2"/>'
            )
        parts.append("</g>")
        at = end + 6
        if line is not None and at - 2 <= line <= at + TEXT_EM * len(bar.text):
            at = line + 6  # the figure would sit on the target line: write it just past it
        value_texts.append(
            f'<text class="chart-value" x="{_num(at)}" y="{middle}" '
            f'dominant-baseline="central">{escape(bar.text)}</text>'
        )
    if line is not None:
        anchor = "end" if line > WIDTH - VALUE_WIDTH - 20 else "middle"
        parts.append(
            f'<line class="chart-target" x1="{_num(line)}" y1="14" x2="{_num(line)}" '
            f'y2="{_num(height - 2)}"/>'
            f'<text class="chart-target-label" x="{_num(line)}" y="11" '
            f'text-anchor="{anchor}">{escape(target_text or "target")}</text>'
        )
    parts.append('<g class="chart-values">' + "".join(value_texts) + "</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


# --- the metrics page's charts -------------------------------------------------------------


def count_bars(
    chart_id: str, title: str, counts: Sequence[tuple[str, int]], unit: str = ""
) -> Markup:
    """How many per group, e.g. escalations by team: [('billing', 3), ('engineering', 5)].
    A group counted 0 keeps its row (an empty bar, '0')."""
    bars = [Bar(label, count, f"{count}{unit}") for label, count in counts]
    return bar_chart(chart_id, title, bars)


def duration_bars(
    chart_id: str,
    title: str,
    durations: Sequence[tuple[str, float | None]],
    *,
    target_seconds: float | None = None,
) -> Markup:
    """Durations per label (None: no data); with a target, bars under it are 'met' and bars
    at or past it 'over' (and say so in words)."""
    bars = []
    for label, seconds in durations:
        tone = ""
        if target_seconds is not None and seconds is not None:
            tone = "over" if seconds >= target_seconds else "met"
        text = format_duration(seconds) + (" (over target)" if tone == "over" else "")
        bars.append(Bar(label, seconds, text, tone))
    target_text = None
    if target_seconds is not None:  # "target 120 s", as the metric's target is written
        written = (
            f"{target_seconds:g} s" if target_seconds <= 600 else format_duration(target_seconds)
        )
        target_text = f"target {written}"
    return bar_chart(chart_id, title, bars, target=target_seconds, target_text=target_text)


def percentile_bars(
    chart_id: str,
    title: str,
    p50: float | None,
    p90: float | None,
    maximum: float | None,
    target_seconds: float,
) -> Markup:
    """p50 / p90 / max of a duration against its target line (the time-to-escalate chart)."""
    return duration_bars(
        chart_id,
        title,
        [("p50", p50), ("p90", p90), ("max", maximum)],
        target_seconds=target_seconds,
    )


def share_bars(
    chart_id: str, title: str, shares: Sequence[tuple[str, int, int]], target: float | None = None
) -> Markup:
    """Shares on a 0–100% scale: (label, part, whole), e.g. SLA attained per priority; a whole
    of 0 is 'no data'. With a target (a fraction), bars at or above it are 'met'."""
    bars = []
    for label, part, whole in shares:
        if whole <= 0:
            bars.append(Bar(label, None, "no data"))
            continue
        value = part / whole
        tone = "" if target is None else ("met" if value >= target else "missed")
        bars.append(Bar(label, value, f"{format_percent(value)} ({part}/{whole})", tone))
    target_text = None if target is None else f"target {format_percent(target)}"
    return bar_chart(chart_id, title, bars, maximum=1.0, target=target, target_text=target_text)


def meter(value: float | None, target: float | None, met: bool | None) -> Markup:
    """A card's small 0–100% bar with a tick at the target. Decorative (aria-hidden): the
    card writes the same figures in words."""
    width, height = 200, 16
    parts = [
        f'<svg class="meter" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" '
        'aria-hidden="true" focusable="false">',
        f'<rect class="meter-track" x="0" y="3" width="{width}" height="10" rx="5"/>',
    ]
    if value is not None:
        filled = width * min(max(value, 0.0), 1.0)
        tone = "" if met is None else (" bar-met" if met else " bar-missed")
        if filled >= 0.5:
            parts.append(
                f'<rect class="bar{tone}" x="0" y="3" width="{_num(filled)}" height="10" rx="5"/>'
            )
    if target is not None:
        tick = _num(min(max(width * target, 1.0), width - 1.0))
        parts.append(f'<line class="meter-target" x1="{tick}" y1="0" x2="{tick}" y2="{height}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
