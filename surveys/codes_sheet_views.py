"""The page of freshly issued invitation codes: a slip per code with its ballot link and QR code, and an SVG sheet."""
from __future__ import annotations

import base64
from dataclasses import dataclass

import segno
from flask import render_template, url_for
from flask_babel import ngettext
from markupsafe import Markup

from surveys.codes import format_code
from surveys.models import Survey

#: Columns of the downloadable SVG sheet, the scale of its QR codes, and the room for text on a slip (px).
SHEET_COLUMNS, QR_SCALE, SLIP_WIDTH, SLIP_TEXT_HEIGHT = 4, 3, 200, 70


@dataclass(frozen=True)
class Slip:
    code: str
    qr: Markup
    qr_size: int


def _slips(codes: list[str]) -> list[Slip]:
    """Return a slip per code with its ballot link and QR code."""
    slips = []
    for code in codes:
        formatted = format_code(code)
        # The code rides in the fragment, which browsers never send: it stays out of requests and logs.
        url = url_for("ballots.vote", _anchor=formatted, _external=True)
        qr = segno.make(url, error="m")
        slips.append(Slip(formatted, Markup(qr.svg_inline(scale=QR_SCALE)), qr.symbol_size(scale=QR_SCALE)[0]))
    return slips


def _sheet_svg(survey: Survey, community: str, slips: list[Slip]) -> str:
    """Return the whole sheet as one SVG document, base64-encoded for a data: URI."""
    qr_size = max(slip.qr_size for slip in slips)
    slip_height = qr_size + SLIP_TEXT_HEIGHT
    svg = render_template(
        "surveys/codes_sheet.svg", survey=survey, community=community, slips=slips, columns=SHEET_COLUMNS,
        width=SHEET_COLUMNS * SLIP_WIDTH, height=-(-len(slips) // SHEET_COLUMNS) * slip_height,
        slip_width=SLIP_WIDTH, slip_height=slip_height, qr_size=qr_size,
    )
    return base64.b64encode(svg.encode()).decode()


def render_sheet(survey: Survey, organization_id: int, codes: list[str]) -> str:
    """Render the page that shows a community's new codes once, to print or to download as SVG."""
    community = next(t.organization.name for t in survey.targets if t.organization_id == organization_id)
    slips = _slips(codes)
    return render_template(
        "surveys/codes_sheet.html", survey=survey, community=community, slips=slips,
        svg_data=_sheet_svg(survey, community, slips),
        svg_name=f"codes-{survey.id}-{organization_id}.svg", vote_url=url_for("ballots.vote", _external=True),
        summary=ngettext("%(num)d code for %(community)s", "%(num)d codes for %(community)s", len(slips),
                         community=community),
    )
