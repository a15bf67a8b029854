"""The secretary page's chart: the satisfaction rate across surveys, with intervals, gaps and threshold lines.

Drawn like the bars (evaluation.charts): texts arrive translated, are escaped here, and no inline styles.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

from markupsafe import Markup, escape

from evaluation.charts import GRID, INK, MUTED, TextAlternative, fit_text, format_percent, svg_image, text_width

LINE = "#1f4e79"
THRESHOLD = "#b00020"
GAP_MARK = "*"


class HistoryPoint(NamedTuple):
    """One survey in a secretary's history; rate, low and high are fractions in [0, 1]."""

    label: str
    rate: float | None
    low: float | None = None
    high: float | None = None
    #: The line drawn across this survey's slot, e.g. 1 - θ as recorded with that result.
    threshold: float | None = None



def history_chart(
    points: Sequence[HistoryPoint],
    *,
    title: str,
    y_label: str,
    gap_note: str = "",
    threshold_label: str = "",
    desc: str | None = None,
    decimals: int = 1,
    width: int = 560,
    height: int = 240,
    id: str | None = None,
) -> Markup:
    """Return the rate across surveys as points with interval whiskers, gaps and threshold lines."""
    for point in points:
        _check_point(point)
    alternative = text_alternative_history(
        points, gap_note=gap_note, threshold_label=threshold_label, decimals=decimals
    )
    font = 12
    step = (width - 56 - 16) / max(len(points), 1)
    label_width = max((text_width(p.label, font) for p in points), default=0)
    rotate = label_width > step - 6
    # Rotated survey labels need room below the axis; longer ones are cut and stay whole in the table.
    axis_room = min(label_width * 0.5 + font, height * 0.3) if rotate else font + 8
    has_gap = any(p.rate is None for p in points)
    note_room = font + 8 if has_gap and gap_note else 0
    thresholds = list(dict.fromkeys(p.threshold for p in points if p.threshold is not None))
    # The threshold's label sits above the plot, where no point or value label can cover it.
    left, right, top = 56, width - 16, 34 if thresholds else 16
    bottom = height - axis_room - note_room - 8
    plot_height = bottom - top

    def x_at(i: int) -> float:
        return left + step * (i + 0.5)

    def y_at(value: float) -> float:
        return bottom - plot_height * value

    parts = []
    for tick in range(0, 101, 20):
        y = y_at(tick / 100)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{INK if tick == 0 else GRID}" '
            'stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end" dominant-baseline="central" font-size="{font}" '
            f'fill="{INK}">{tick}%</text>'
        )
    middle = (top + bottom) / 2
    parts.append(
        f'<text x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})" text-anchor="middle" '
        f'dominant-baseline="central" font-size="{font}" fill="{INK}">{escape(y_label)}</text>'
    )
    if thresholds:
        values = ", ".join(format_percent(t, decimals) for t in thresholds)
        text = f"{threshold_label} ({values})" if threshold_label else values
        x = right - text_width(text, font) - 6
        parts.append(
            f'<line x1="{x - 30:.1f}" y1="12" x2="{x:.1f}" y2="12" stroke="{THRESHOLD}" stroke-width="1.5" '
            'stroke-dasharray="6 4"/>'
            f'<text x="{right}" y="12" text-anchor="end" dominant-baseline="central" font-size="{font}" '
            f'fill="{THRESHOLD}">{escape(text)}</text>'
        )
    parts.extend(_threshold_runs(points, step, left, y_at))
    parts.extend(_polylines(points, x_at, y_at))
    for i, point in enumerate(points):
        x = x_at(i)
        if rotate:
            # The text runs down and to the left of its tick; keep it inside the drawing.
            label = fit_text(point.label, font, min((axis_room - font) * 2, x / math.cos(math.radians(30))))
            parts.append(
                f'<text x="{x:.1f}" y="{bottom + font:.1f}" transform="rotate(-30 {x:.1f} {bottom + font:.1f})" '
                f'text-anchor="end" font-size="{font}" fill="{INK}">{escape(label)}</text>'
            )
        else:
            parts.append(
                f'<text x="{x:.1f}" y="{bottom + font + 4:.1f}" text-anchor="middle" font-size="{font}" '
                f'fill="{INK}">{escape(point.label)}</text>'
            )
        if point.rate is None:
            parts.append(
                f'<text x="{x:.1f}" y="{bottom - 6:.1f}" text-anchor="middle" font-size="{font + 2}" '
                f'fill="{MUTED}">{GAP_MARK}</text>'
            )
            continue
        following = points[i + 1].rate if i + 1 < len(points) else None
        # Put the value on the side away from the line to the next survey.
        below = following is not None and following > point.rate
        parts.append(_point(point, x, y_at, font, decimals, below))
    if note_room:
        parts.append(
            f'<text x="{left}" y="{height - 8}" font-size="{font}" fill="{INK}">'
            f"{GAP_MARK} {escape(gap_note)}</text>"
        )
    return svg_image("lx-chart lx-history", width, height, title, desc or alternative.summary or title, "".join(parts),
                     id)


def text_alternative_history(
    points: Sequence[HistoryPoint], *, gap_note: str = "", threshold_label: str = "", decimals: int = 1
) -> TextAlternative:
    """Return the history's data; rows are (survey, rate, low–high, threshold), gaps carry gap_note."""
    rows = []
    sentences = []
    for point in points:
        _check_point(point)
        threshold = "" if point.threshold is None else format_percent(point.threshold, decimals)
        if point.rate is None:
            rows.append((point.label, gap_note, "", threshold))
            sentences.append(f"{point.label}: {gap_note or '—'}")
            continue
        rate = format_percent(point.rate, decimals)
        interval = ""
        if point.low is not None and point.high is not None:
            interval = f"{format_percent(point.low, decimals)}–{format_percent(point.high, decimals)}"
        rows.append((point.label, rate, interval, threshold))
        sentences.append(f"{point.label}: {rate}" + (f" ({interval})" if interval else ""))
    summary = "; ".join(sentences)
    thresholds = {p.threshold for p in points if p.threshold is not None}
    if len(thresholds) == 1:
        summary += f"; {threshold_label or '—'}: {format_percent(thresholds.pop(), decimals)}"
    return TextAlternative(summary, tuple(rows))


def _check_point(point: HistoryPoint) -> None:
    values = [v for v in (point.rate, point.low, point.high, point.threshold) if v is not None]
    if any(not 0 <= v <= 1 or math.isnan(v) for v in values):
        raise ValueError(f"rates must be fractions in [0, 1]: {point!r}")
    if point.rate is not None and point.low is not None and point.high is not None:
        if not point.low <= point.rate <= point.high:
            raise ValueError(f"need low <= rate <= high: {point!r}")


def _threshold_runs(points, step, left, y_at) -> list[str]:
    """Draw one dashed segment per run of surveys that share a threshold."""
    parts = []
    i = 0
    while i < len(points):
        value = points[i].threshold
        j = i
        while j + 1 < len(points) and points[j + 1].threshold == value:
            j += 1
        if value is not None:
            x1, x2, y = left + step * i, left + step * (j + 1), y_at(value)
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{THRESHOLD}" '
                'stroke-width="1.5" stroke-dasharray="6 4"/>'
            )
        i = j + 1
    return parts


def _polylines(points, x_at, y_at) -> list[str]:
    """Join consecutive known rates; a survey without a figure breaks the line."""
    runs: list[list[str]] = [[]]
    for i, point in enumerate(points):
        if point.rate is None:
            runs.append([])
        else:
            runs[-1].append(f"{x_at(i):.1f},{y_at(point.rate):.1f}")
    return [
        f'<polyline points="{" ".join(run)}" fill="none" stroke="{LINE}" stroke-width="2"/>'
        for run in runs
        if len(run) > 1
    ]


def _point(point: HistoryPoint, x: float, y_at, font: int, decimals: int, below: bool) -> str:
    parts = ['<g class="lx-point">']
    tooltip = f"{point.label}: {format_percent(point.rate, decimals)}"
    if point.low is not None and point.high is not None:
        lo, hi = y_at(point.low), y_at(point.high)
        tooltip += f" ({format_percent(point.low, decimals)}–{format_percent(point.high, decimals)})"
        parts.append(
            f'<path d="M{x - 4:.1f},{hi:.1f}H{x + 4:.1f}M{x:.1f},{hi:.1f}V{lo:.1f}M{x - 4:.1f},{lo:.1f}H{x + 4:.1f}" '
            f'fill="none" stroke="{INK}" stroke-width="1.2"/>'
        )
    y = y_at(point.rate)
    parts.append(f"<title>{escape(tooltip)}</title>")
    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{LINE}" stroke="#ffffff" stroke-width="1.5"/>')
    parts.append(
        f'<text x="{x + 7:.1f}" y="{y + (9 if below else -9):.1f}" dominant-baseline="central" font-size="{font}" '
        f'fill="{INK}" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
        f"{format_percent(point.rate, decimals)}</text>"
    )
    parts.append("</g>")
    return "".join(parts)
