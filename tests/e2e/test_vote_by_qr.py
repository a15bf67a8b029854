"""A slip's QR link, /vote#CODE: the code stays in the browser, with JavaScript or without."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from db import utcnow
from extensions import db
from surveys.codes import format_code, generate_codes
from tests.e2e.test_survey_flow import answer_every_question, open_evaluation_of_community, unique_title

pytestmark = pytest.mark.usefixtures("forget_language_choices")

NO_SCRIPT_HINT = "If you scanned the square on your slip and the code is not filled in, type the code printed under the square."


@pytest.fixture
def slips(app):
    """Open an evaluation of 桂花社区 and issue two codes; return its id, its title and the codes as printed."""
    title = unique_title()
    with app.app_context():
        survey, evaluator, community = open_evaluation_of_community(title)
        codes = generate_codes(evaluator, survey, community.id, 2, app.config["CODE_HASH_KEY"], utcnow())
        db.session.commit()
        return survey.id, title, [format_code(code) for code in codes]


def watch_requests(page) -> list[str]:
    """Collect the address and the Referer of every request the page sends."""
    sent = []
    page.on("request", lambda request: sent.extend((request.url, request.headers.get("referer", ""))))
    return sent


def assert_never_sent(sent: list[str], code: str) -> None:
    spellings = {code, code.replace("-", ""), code.lower(), code.replace("-", "").lower()}
    assert [line for line in sent if any(spelling in line for spelling in spellings)] == []


def vote(page, tr, title: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    answer_every_question(page)
    page.get_by_role("button", name=tr("Send my answers")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Thank you for taking part"))


def test_with_javascript_the_qr_link_fills_the_code_and_leaves_the_address_bar(
    new_page, base_url, tr, slips, check_a11y
):
    survey_id, title, (code, _other) = slips
    page = new_page()
    sent = watch_requests(page)

    page.goto(f"/vote#{code}")

    field = page.get_by_label(tr("Invitation code"), exact=True)
    expect(field).to_have_value(code)
    expect(page).to_have_url(f"{base_url}/vote")
    assert page.evaluate("location.hash") == ""
    send = page.get_by_role("button", name=tr("Continue to the survey"))
    expect(send).to_be_focused()
    check_a11y(page)
    with page.expect_request(lambda request: request.method == "POST") as posted:
        send.click()
    assert parse_qs(posted.value.post_data)["code"] == [code]
    expect(page).to_have_url(f"{base_url}/vote/{survey_id}")
    vote(page, tr, title)
    # A reload of the page left behind finds no code to fill: it left the history with the address bar.
    page.go_back()
    page.go_back()
    expect(page).to_have_url(f"{base_url}/vote")
    page.reload()
    expect(page.get_by_label(tr("Invitation code"), exact=True)).to_have_value("")
    assert_never_sent(sent, code)


def test_a_fragment_that_is_not_a_code_is_left_alone(new_page, tr):
    page = new_page()
    page.goto("/vote#main")
    expect(page.get_by_label(tr("Invitation code"), exact=True)).to_have_value("")
    assert urlsplit(page.url).fragment == "main"


def test_without_javascript_the_page_asks_for_the_code_printed_on_the_slip(new_page, base_url, tr, slips):
    survey_id, title, (_first, code) = slips
    page = new_page(java_script_enabled=False)
    sent = watch_requests(page)

    page.goto(f"/vote#{code}")

    field = page.get_by_label(tr("Invitation code"), exact=True)
    expect(field).to_have_value("")
    expect(page.get_by_text(tr(NO_SCRIPT_HINT))).to_be_visible()
    field.fill(code)
    page.get_by_role("button", name=tr("Continue to the survey")).click()
    expect(page).to_have_url(re.compile(rf"/vote/{survey_id}$"))
    vote(page, tr, title)
    assert_never_sent(sent, code)
