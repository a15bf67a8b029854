"""Server-rendered SVG for the evaluation screens: the stacked bars and the drawing every chart shares.

Readable without colour and without scripts. Every text arrives translated from the caller; this module only
lays it out and escapes it. No inline ``style`` attributes (the CSP allows only style sheets): presentation
attributes instead. The history chart of the secretary page is in evaluation.history_chart.
"""

import functools
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

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
#: The characters markupsafe.escape replaces.
_HTML_SPECIAL = re.compile("[&<>\"']")


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
    return svg_image("lx-chart lx-bar", width, height, title or desc, desc if title else f"N = {n}",
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
        if text_width(text, font) + 4 <= w:
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
    label = fit_text(text, font, width - 4)
    body = (
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#f6f8fa" '
        f'stroke="{MUTED}" stroke-width="1" stroke-dasharray="3 2"/>'
        f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" dominant-baseline="central" '
        f'font-size="{font}" fill="{INK}">{escape(label)}</text>'
    )
    return svg_image("lx-chart lx-bar lx-bar-empty", width, height, title or text, text, body, id)


def rating_bar(rating, name: str, reason: str | None, bar_id: str, words, no_figure: str) -> Markup:
    """Return a rating's 满意/基本满意/不满意 bar, or a placeholder saying its figures are hidden (and why, in its title).

    A function rather than a template macro: the evaluation table draws a thousand of them.
    """
    if not rating:
        return placeholder_bar(words.hidden_marker if reason else no_figure,
                               title=words.placeholder_title(name, reason), id=bar_id)
    return stacked_bar(rating.satisfied, rating.basically_satisfied, rating.dissatisfied, labels=words.rating3,
                       title=words.bar_title(name, rating), id=bar_id)


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


def svg_image(css_class: str, width: int, height: int, title: str, desc: str, body: str, id: str | None) -> Markup:
    """Return body drawn in an <svg> image named by its title and described by desc, for screen readers."""
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


def text_width(text: str, font: float) -> float:
    """Estimate rendered width: CJK characters take a full em, others about 0.6 em."""
    return sum(font if unicodedata.east_asian_width(ch) in "WF" else font * 0.6 for ch in text)


def fit_text(text: str, font: float, room: float) -> str:
    """Cut text with an ellipsis so that it fits in room."""
    if text_width(text, font) <= room:
        return text
    while text and text_width(text + "…", font) > room:
        text = text[:-1]
    return text + "…"
