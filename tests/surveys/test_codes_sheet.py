"""The code sheet: every slip links to /vote#CODE, so a code never travels in a request, on screen or on paper."""
from __future__ import annotations

import base64
import re

import segno
from bs4 import BeautifulSoup

from db import utcnow
from tests.conftest import Client
from tests.helpers import soup
from tests.surveys.conftest import DAY, HOUR

CODE_RE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}\b")
QR_PATH = re.compile(r' d="([^"]+)"')


def qr_path(url: str) -> str:
    """Return the path a QR code of the url draws, made as the sheet makes it (error correction M, scale 3)."""
    return QR_PATH.search(segno.make(url, error="m").svg_inline(scale=3)).group(1)


def test_slips_carry_the_code_in_the_fragment_of_their_link(app, sv, world):
    now = utcnow()
    survey = sv.opened(now=now, opens_at=now - HOUR, closes_at=now + 7 * DAY)
    evaluator = Client(app.test_client())
    evaluator.login("evaluator")

    response = evaluator.post(f"/surveys/{survey.id}/codes", {"organization": world["community"].id, "count": "4"})

    assert response.status_code == 200
    page = soup(response)
    slips = page.select("li.slip")
    codes = [slip.select_one(".slip-code").get_text(strip=True) for slip in slips]
    assert len(codes) == 4 and all(CODE_RE.fullmatch(code) for code in codes)
    svg = base64.b64decode(page.find("a", download=True)["href"].split(",", 1)[1]).decode()
    sheet_paths = QR_PATH.findall(svg)
    assert len(sheet_paths) == 4
    for slip, sheet_path, code in zip(slips, sheet_paths, codes):
        link = f"http://localhost/vote#{code}"
        # The QR code on screen and in the downloaded sheet is the ballot page with the code as its fragment.
        assert slip.find("svg").find("path")["d"] == qr_path(link)
        assert sheet_path == qr_path(link)
        assert qr_path(f"http://localhost/vote?code={code}") != sheet_path
    # The printed link is the bare ballot page: the code is typed from under the square.
    assert "http://localhost/vote " in page.select_one(".slip-help").get_text()
    for text in (response.get_data(as_text=True), svg):
        assert "code=" not in text and "?code" not in text
    assert BeautifulSoup(svg, "html.parser").find("a") is None
