"""Server-rendered SVG charts for the evaluation screens, readable without colour and without scripts.

Every text arrives translated from the caller; this module only lays it out and escapes it.
No inline ``style`` attributes (the CSP allows only style sheets): presentation attributes instead.
"""

import functools
import math
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from markupsafe import Markup, escape

SVG_NS = "http://www.w3.org/2000/svg"

#: Paint for the 满意 / 基本满意 / 不满意 segments: (pattern id, base colour, label colour).
#: Blue and orange stay apart under the common colour-vision deficiencies; the patterns
#: (solid, hatched, dotted) and the printed percentages carry the meaning without colour.
SEGMENT_PAINTS = (
    ("lx-fill-satisfied", "#1f4e79", "#ffffff"),
    ("lx-fill-basic", "#9ecae1", "#0b1f33"),
    ("lx-fill-dissatisfied", "#f4a261", "#3d1a00"),
)
INK = "#1f2328"
MUTED = "#57606a"
GRID = "#d0d7de"
LINE = "#1f4e79"
THRESHOLD = "#b00020"
GAP_MARK = "*"
#: The characters markupsafe.escape replaces.
_HTML_SPECIAL = re.compile("[&<>\"']")


class HistoryPoint(NamedTuple):
    """One survey in a secretary's history; rate, low and high are fractions in [0, 1]."""

    label: str
    rate: float | None
    low: float | None = None
    high: float | None = None
    #: The line drawn across this survey's slot, e.g. 1 - θ as recorded with that result.
    threshold: float | None = None


@dataclass(frozen=True)
class TextAlternative:
    """The data of a chart as one sentence and as table rows for a <details> beside it."""

    summary: str
    rows: tuple[tuple[str, ...], ...]


def escape_text(text: str) -> str:
    """Return markupsafe.escape(text), as it is when it holds nothing to escape (most texts) without copying it.

    A table draws a thousand bars, and escape() builds a new string for each text even when nothing changes.
    """
    if text.__class__ is str and not _HTML_SPECIAL.search(text):
        return text
    return escape(text)


def format_percent(value: float, decimals: int = 0) -> str:
    """Format a fraction as a percentage, e.g. 0.667 → "66.7%"."""
    # printf-style: the same digits as format(), parsed quicker, for the thousands of cells of a table.
    return "%.*f%%" % (decimals, value * 100)


def pattern_defs() -> Markup:
    """Return the hidden SVG with the bar patterns; include it once per page that shows stacked bars."""
    (satisfied_id, satisfied, _), (basic_id, basic, _), (dissatisfied_id, dissatisfied, _) = SEGMENT_PAINTS
    # Not display:none: some browsers then drop the paint servers the bars refer to.
    return Markup(
        f'<svg xmlns="{SVG_NS}" class="visually-hidden" width="0" height="0" aria-hidden="true" focusable="false">'
        "<defs>"
        f'<pattern id="{satisfied_id}" patternUnits="userSpaceOnUse" width="6" height="6">'
        f'<rect width="6" height="6" fill="{satisfied}"/>'
        "</pattern>"
        f'<pattern id="{basic_id}" patternUnits="userSpaceOnUse" width="6" height="6" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{basic}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{satisfied}" stroke-width="1.5"/>'
        "</pattern>"
        f'<pattern id="{dissatisfied_id}" patternUnits="userSpaceOnUse" width="5" height="5">'
        f'<rect width="5" height="5" fill="{dissatisfied}"/>'
        '<circle cx="2.5" cy="2.5" r="1" fill="#7a3100"/>'
        "</pattern>"
        "</defs></svg>"
    )


def stacked_bar(
    satisfied: int,
    basic: int,
    dissatisfied: int,
    *,
    labels: tuple[str, str, str],
    title: str | None = None,
    empty_text: str = "N = 0",
    width: int = 160,
    height: int = 18,
    id: str | None = None,
) -> Markup:
    """Return the 满意 / 基本满意 / 不满意 shares as a horizontal stacked bar."""
    counts = (satisfied, basic, dissatisfied)
    if min(counts) < 0:
        raise ValueError("counts must not be negative")
    n = sum(counts)
    if n == 0:
        return placeholder_bar(empty_text, title=title, width=width, height=height, id=id)
    desc = text_alternative_bar(satisfied, basic, dissatisfied, labels=labels).summary
    return _svg("lx-chart lx-bar", width, height, title or desc, desc if title else f"N = {n}",
                _bar_body(counts, width, height), id)


@functools.lru_cache(maxsize=4096)
def _bar_body(counts: tuple[int, int, int], width: int, height: int) -> str:
    """Return the segments of a stacked bar; the same counts always draw the same, so tables reuse them."""
    widths = _apportion(counts, width, sliver=True)
    percents = _apportion(counts, 100)
    font = max(9, round(height * 0.62))
    parts = []
    x = 0
    for (pattern_id, base, ink), count, w, pct in zip(SEGMENT_PAINTS, counts, widths, percents):
        if w == 0:
            continue
        # The colour after url() is the fallback when a page forgets pattern_defs().
        parts.append(f'<rect x="{x}" y="0" width="{w}" height="{height}" fill="url(#{pattern_id}) {base}"/>')
        text = f"{pct}%"
        if _text_width(text, font) + 4 <= w:
            parts.append(
                f'<text x="{x + w / 2:g}" y="{height / 2:g}" text-anchor="middle" dominant-baseline="central" '
                f'font-size="{font}" fill="{ink}" stroke="{base}" stroke-width="3" paint-order="stroke">'
                f"{text}</text>"
            )
        if x > 0:
            parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{height}" stroke="#ffffff" stroke-width="1"/>')
        x += w
    parts.append(_outline(width, height))
    return "".join(parts)


def placeholder_bar(
    text: str, *, title: str | None = None, width: int = 160, height: int = 18, id: str | None = None
) -> Markup:
    """Return a neutral bar that shows text instead of shares, for no answers or a hidden group."""
    font = max(9, round(height * 0.62))
    label = _fit(text, font, width - 4)
    body = (
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#f6f8fa" '
        f'stroke="{MUTED}" stroke-width="1" stroke-dasharray="3 2"/>'
        f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" dominant-baseline="central" '
        f'font-size="{font}" fill="{INK}">{escape(label)}</text>'
    )
    return _svg("lx-chart lx-bar lx-bar-empty", width, height, title or text, text, body, id)


def text_alternative_bar(
    satisfied: int, basic: int, dissatisfied: int, *, labels: tuple[str, str, str]
) -> TextAlternative:
    """Return the bar's data; rows are (answer, count, share) with shares that add up to 100%."""
    return _text_alternative_bar((satisfied, basic, dissatisfied), tuple(map(str, labels)))


@functools.lru_cache(maxsize=4096)
def _text_alternative_bar(counts: tuple[int, int, int], labels: tuple[str, str, str]) -> TextAlternative:
    n = sum(counts)
    percents = _apportion(counts, 100) if n else [0, 0, 0]
    rows = tuple((label, str(count), f"{pct}%") for label, count, pct in zip(labels, counts, percents))
    summary = "; ".join(f"{label}: {count} ({pct})" for label, count, pct in rows) + f"; N = {n}"
    return TextAlternative(summary, rows)


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
    label_width = max((_text_width(p.label, font) for p in points), default=0)
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
        x = right - _text_width(text, font) - 6
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
            label = _fit(point.label, font, min((axis_room - font) * 2, x / math.cos(math.radians(30))))
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
    return _svg("lx-chart lx-history", width, height, title, desc or alternative.summary or title, "".join(parts), id)


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


def _svg(css_class: str, width: int, height: int, title: str, desc: str, body: str, id: str | None) -> Markup:
    # Ids must be unique in the page; a random default suits fragments swapped in from any worker.
    base = escape_text(id or f"lx-{uuid.uuid4().hex[:12]}")
    return Markup(
        f'<svg xmlns="{SVG_NS}" id="{base}" class="{css_class}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{base}-title" aria-describedby="{base}-desc">'
        f'<title id="{base}-title">{escape_text(title)}</title><desc id="{base}-desc">{escape_text(desc)}</desc>'
        f"{body}</svg>"
    )


def _outline(width: int, height: int) -> str:
    return (
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" '
        f'stroke="{INK}" stroke-width="1"/>'
    )


def _apportion(counts: Sequence[int], total: int, *, sliver: bool = False) -> list[int]:
    """Split total in proportion to counts by largest remainder, so the parts add up exactly."""
    n = sum(counts)
    parts = [c * total // n for c in counts]
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(counts[i] * total % n), i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    if sliver:
        # A drawn share that rounds to nothing still shows as a sliver, taken from the widest part.
        for i, count in enumerate(counts):
            widest = max(range(len(parts)), key=parts.__getitem__)
            if count and not parts[i] and parts[widest] > 1:
                parts[widest] -= 1
                parts[i] = 1
    return parts


def _text_width(text: str, font: float) -> float:
    """Estimate rendered width: CJK characters take a full em, others about 0.6 em."""
    return sum(font if unicodedata.east_asian_width(ch) in "WF" else font * 0.6 for ch in text)


def _fit(text: str, font: float, room: float) -> str:
    """Cut text with an ellipsis so that it fits in room."""
    if _text_width(text, font) <= room:
        return text
    while text and _text_width(text + "…", font) > room:
        text = text[:-1]
    return text + "…"
