"""Democratic evaluations in the browser: built and opened by an evaluator, answered once by code or by account."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import segno
from playwright.sync_api import expect
from sqlalchemy import select

from accounts.models import Organization, User
from db import utcnow
from extensions import db
from tests.conftest import BOX_KEY
from surveys.builder import create_survey, set_targets
from surveys.models import Anonymity, Survey, SurveyKind
from surveys.transitions import open_survey

pytestmark = pytest.mark.usefixtures("forget_language_choices")

EVALUATOR = "eval.district"  # eval.donghu is locked out for a while by the login throttling test
COMMUNITY = "桂花社区"  # its first secretary, 孙明, was replaced: the ballot names the one in office
SECRETARY = "sec.guihua"
FORMER_SECRETARY = "孙明"
RESIDENT = "13800000011"  # verified resident of 桂花社区
CODE_RE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}")


def unique_title() -> str:
    return f"E2E 书记民主评议 {uuid.uuid4().hex[:8]}"


def qr_drawing(url: str) -> str:
    """Return the path a QR code of the url draws, made the way the sheet makes it (error correction M)."""
    return re.search(r' d="([^"]+)"', segno.make(url, error="m").svg_inline()).group(1)


def main_nav(page, tr, locale="en"):
    return page.get_by_role("navigation", name=tr("Main", locale))


def answer_every_question(page) -> None:
    """Choose the first option of every question with options; free-text questions stay empty."""
    questions = page.locator("#ballot-form fieldset.ballot-question")
    assert questions.count() > 0
    for question in questions.all():
        options = question.get_by_role("radio")
        if options.count():
            options.first.check()


def assert_ballot_page(page, tr, locale, title, name_of, check_a11y, duplicate_ids) -> None:
    """The ballot names the secretary in office, passes axe and has no id twice."""
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".ballot-subject")).to_have_text(tr(
        "You are evaluating %(name)s, Party secretary of %(community)s.", locale,
        name=name_of(SECRETARY), community=COMMUNITY,
    ))
    expect(page.get_by_text(FORMER_SECRETARY)).to_have_count(0)
    check_a11y(page)
    assert duplicate_ids(page) == []


def open_evaluation_of_community(title: str) -> tuple[Survey, User, Organization]:
    """Open a democratic evaluation of 桂花社区's secretary through the services, in the caller's app context."""
    evaluator = db.session.scalar(select(User).where(User.username == EVALUATOR))
    community = db.session.scalar(select(Organization).where(Organization.name == COMMUNITY))
    now = utcnow()
    survey = create_survey(
        evaluator, title=title, description="", kind=SurveyKind.democratic_evaluation,
        anonymity=Anonymity.anonymous, opens_at=now, closes_at=now + timedelta(days=14), min_group_size=5,
        owner_organization_id=None,
    )
    set_targets(evaluator, survey, [community.id])
    open_survey(evaluator, survey, now, box_key=BOX_KEY)
    return survey, evaluator, community


@pytest.fixture
def open_evaluation(app):
    """Open a democratic evaluation of 桂花社区's secretary; return its id and title."""
    title = unique_title()
    with app.app_context():
        survey, _evaluator, _community = open_evaluation_of_community(title)
        db.session.commit()
        return survey.id, title


def test_code_from_the_printed_sheet_gives_one_ballot(
    page, new_page, base_url, log_in, tr, name_of, switch_language, check_a11y, duplicate_ids
):
    """An evaluator builds and opens an evaluation and prints codes; a code votes once, then is refused."""
    title = unique_title()
    log_in(page, EVALUATOR)
    main_nav(page, tr).get_by_role("link", name=tr("Evaluations and surveys"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Surveys"))
    page.get_by_role("button", name=tr("New survey"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("New survey"))
    page.get_by_label(tr("Title"), exact=True).fill(title)
    page.get_by_role("radio", name=tr(
        "Democratic evaluation of community secretaries (ready questions included)"), exact=True).check()
    page.get_by_role("button", name=tr("Create the survey"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    survey_url = page.url

    # The ready questions are there; choose the community and open the evaluation now.
    questions = page.get_by_role("region", name=tr("Questions"), exact=True)
    expect(questions.locator("li[id^=question-]")).to_have_count(6)
    expect(questions).to_contain_text(tr("Overall, how satisfied are you with your community's Party secretary?"))
    targets = page.get_by_role("region", name=tr("Communities asked"), exact=True)
    targets.get_by_role("checkbox", name=re.compile(COMMUNITY)).check()
    with page.expect_response(lambda r: r.url.endswith("/targets")) as saved:
        targets.get_by_role("button", name=tr("Save the communities")).click()
    assert saved.value.status == 200
    expect(page.get_by_role("region", name=tr("Communities asked"), exact=True).get_by_role(
        "checkbox", name=re.compile(COMMUNITY))).to_be_checked()
    page.get_by_role("button", name=tr("Open now"), exact=True).click()
    codes = page.get_by_role("region", name=tr("Invitation codes"), exact=True)
    expect(codes).to_be_visible()
    communities = page.get_by_role("region", name=tr("Communities asked"), exact=True)
    expect(communities).to_contain_text(tr("The communities are locked because the survey has opened."))
    expect(communities).to_contain_text(tr("secretary: %(name)s", name=name_of(SECRETARY)))

    # Three codes for the community, shown once on a printable sheet.
    codes.get_by_label(tr("Community"), exact=True).select_option(label=COMMUNITY)
    codes.get_by_label(tr("Number of codes"), exact=True).fill("3")
    with page.expect_response(lambda r: r.url.endswith("/codes")) as issued:
        codes.get_by_role("button", name=tr("Issue codes and show the sheet")).click()
    assert issued.value.status == 200
    assert issued.value.headers["cache-control"] == "no-store"
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Invitation codes"))
    slips = page.get_by_role("list", name=tr("Slips")).get_by_role("listitem")
    expect(slips).to_have_count(3)
    for slip in slips.all():
        expect(slip).to_contain_text(COMMUNITY)
        expect(slip.locator("svg")).to_be_visible()
    check_a11y(page)
    sheet_codes = [slip.locator("code").inner_text() for slip in slips.all()]
    assert all(CODE_RE.fullmatch(code) for code in sheet_codes), sheet_codes
    assert len(set(sheet_codes)) == 3
    code = sheet_codes[0]
    # The page shows each slip's ballot link only as a QR code: build the link and check the slip draws it.
    link = f"/vote#{code}"
    assert slips.first.locator("svg path").get_attribute("d") == qr_drawing(base_url + link)

    # Someone without an account follows the slip's link: the code, in the fragment, is never sent.
    voter = new_page()
    voter.goto(link)
    voter.get_by_role("button", name=tr("Continue to the survey")).click()
    expect(voter).to_have_url(re.compile(r"/vote/\d+$"))
    assert code not in voter.url
    assert_ballot_page(voter, tr, "en", title, name_of, check_a11y, duplicate_ids)
    switch_language(voter, "zh_Hans")
    assert_ballot_page(voter, tr, "zh_Hans", title, name_of, check_a11y, duplicate_ids)
    answer_every_question(voter)
    voter.get_by_role("button", name=tr("Send my answers", "zh_Hans")).click()
    expect(voter.get_by_role("heading", level=1)).to_have_text(tr("Thank you for taking part", "zh_Hans"))
    expect(voter.get_by_role("status")).to_have_text(
        tr("Your answers were received. They count once, and cannot be changed.", "zh_Hans"))

    # The same slip again: refused, nothing stored twice.
    voter.goto(link)
    with voter.expect_response(lambda r: r.request.method == "POST") as again:
        voter.get_by_role("button", name=tr("Continue to the survey", "zh_Hans")).click()
    assert again.value.status == 409
    expect(voter.get_by_text(tr("This code has already been used: each code gives one ballot.", "zh_Hans"))
           ).to_be_visible()
    check_a11y(voter)

    # Another slip's code typed by hand, in lower case and without its dash, still opens the ballot.
    other = new_page()
    other.goto("/")
    main_nav(other, tr).get_by_role("link", name=tr("Answer with a code"), exact=True).click()
    other.get_by_label(tr("Invitation code"), exact=True).fill(sheet_codes[1].replace("-", "").lower())
    other.get_by_role("button", name=tr("Continue to the survey")).click()
    assert_ballot_page(other, tr, "en", title, name_of, check_a11y, duplicate_ids)

    # The evaluator sees one ballot counted for the community.
    page.goto(survey_url)
    row = page.get_by_role("region", name=tr("Participation"), exact=True).get_by_role("row").filter(
        has_text=COMMUNITY)
    expect(row.get_by_role("cell").nth(1)).to_have_text("1")

    # Closing it queues the tally, which opens the sealed ballots: the results may then be published.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=tr("Close now"), exact=True).click()
    expect(page.get_by_text(tr("The survey takes no more answers. Publish it when its results may be seen."))
           ).to_be_visible()
    expect(page.get_by_role("button", name=tr("Publish"), exact=True)).to_be_visible()
    expect(row.get_by_role("cell").nth(1)).to_have_text("1")


def test_resident_votes_by_account_once(
    page, log_in, tr, name_of, check_a11y, duplicate_ids, open_evaluation
):
    """A verified resident answers from the Surveys link; a second try says they have taken part."""
    survey_id, title = open_evaluation
    log_in(page, RESIDENT)
    main_nav(page, tr).get_by_role("link", name=tr("Surveys"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Surveys"))
    entry = page.get_by_role("listitem").filter(has_text=title)
    entry.get_by_role("button", name=tr("Answer")).click()
    assert_ballot_page(page, tr, "en", title, name_of, check_a11y, duplicate_ids)

    # Nothing answered: the form comes back with a message beside each required question.
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name=tr("Send my answers")).click()
    assert refused.value.status == 422
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(tr("Your answers were not sent yet. Please check:"))
    expect(alert.get_by_role("link")).to_have_count(5)
    expect(page.get_by_text(tr("Please answer this question."), exact=True)).to_have_count(5)
    check_a11y(page)
    assert duplicate_ids(page) == []

    answer_every_question(page)
    page.get_by_role("button", name=tr("Send my answers")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Thank you for taking part"))

    main_nav(page, tr).get_by_role("link", name=tr("Surveys"), exact=True).click()
    entry = page.get_by_role("listitem").filter(has_text=title)
    expect(entry).to_contain_text(tr("You have taken part"))
    expect(entry.get_by_role("button")).to_have_count(0)

    response = page.goto(f"/surveys/{survey_id}/ballot")
    assert response.status == 409
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("You have already taken part"))
    expect(page.get_by_text(tr("You have already taken part in this survey. Thank you!"))).to_be_visible()
    expect(page.locator("#ballot-form")).to_have_count(0)
    check_a11y(page)
