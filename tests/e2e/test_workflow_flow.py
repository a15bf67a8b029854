"""A request's whole life in the browser: filed with a photo, handled, reopened by feedback, closed.

Run with htmx swapping the panels in place, without JavaScript (every form answers 303) and in Chinese.
"""
from __future__ import annotations

import io
import re
import uuid

import pytest
from PIL import Image
from playwright.sync_api import expect

RESIDENT = "13800000001"  # verified resident of 春晖社区
SECRETARY = "sec.chunhui"
ASSIGNEE = "member.chunhui"
CATEGORY = {"en": "Street lights", "zh_Hans": "路灯照明"}

pytestmark = pytest.mark.usefixtures("forget_language_choices")


def png_photo() -> dict:
    """Return a small PNG made in memory, as Playwright uploads it."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 160, 40)).save(buffer, format="PNG")
    return {"name": "lamp.png", "mimeType": "image/png", "buffer": buffer.getvalue()}


class Browser:
    """One person's page in the run: the locale and whether JavaScript runs decide how to check each step."""

    def __init__(self, page, tr, locale: str, javascript: bool):
        self.page, self._tr, self.locale, self.javascript = page, tr, locale, javascript

    def t(self, message: str, **variables) -> str:
        return self._tr(message, self.locale, **variables)

    def state(self):
        return self.page.get_by_role("region", name=self.t("Status"), exact=True).locator("p.state")

    def submit(self, button, path_end: str, status: int = 200):
        """Click a form's button; with JavaScript expect an htmx swap in place, without it a 303 redirect."""
        page = self.page
        url = page.url
        if self.javascript:
            page.evaluate("() => { window.e2eSamePage = true; }")
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(path_end)) as info:
            button.click()
        response = info.value
        if self.javascript:
            assert response.request.headers.get("hx-request") == "true"
            assert response.status == status
        else:
            assert response.status == (303 if status == 200 else status)
        return url

    def assert_swapped_in_place(self, url: str) -> None:
        """Without JavaScript nothing to check: the 303 was checked. With it, no navigation happened."""
        if self.javascript:
            assert self.page.url == url
            assert self.page.evaluate("() => window.e2eSamePage === true"), "the page was reloaded, not swapped"

    def check_a11y(self, check) -> None:
        # axe is a script: with JavaScript off it cannot run, and the markup is the one the run with it checks.
        if self.javascript:
            check(self.page)


def open_action(person: Browser, label: str):
    """Open an action of the case page's panel and return its <details>."""
    panel = person.page.locator("#action-panel")
    details = panel.locator("details").filter(
        has=person.page.locator("summary", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    )
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return details


def take_action(person: Browser, label: str, expected_state: str, fields: dict[str, str] | None = None,
                choose: dict[str, str] | None = None, check_a11y=None) -> None:
    """Take an action from the case page's panel and wait for the case's new state."""
    details = open_action(person, label)
    for field_label, value in (fields or {}).items():
        details.get_by_label(field_label, exact=True).fill(value)
    for field_label, option in (choose or {}).items():
        details.get_by_label(field_label, exact=True).select_option(label=option)
    if check_a11y:
        person.check_a11y(check_a11y)
    url = person.submit(details.get_by_role("button", name=label, exact=True), "/actions")
    expect(person.state()).to_have_text(person.t(expected_state))
    person.assert_swapped_in_place(url)


def give_feedback(person: Browser, solved: str, satisfaction: str, comment: str, expected_state: str,
                  check_a11y=None) -> None:
    """Answer the tracking page's feedback form and wait for the case's new state."""
    page, t = person.page, person.t
    feedback = page.locator("article.resident-feedback")
    expect(feedback.get_by_role("heading", name=t("Your feedback"))).to_be_visible()
    feedback.get_by_role("group", name=t("Was your problem solved?")).get_by_role(
        "radio", name=t(solved), exact=True).check()
    feedback.get_by_role("group", name=t("How satisfied are you with how it was handled?")).get_by_role(
        "radio", name=t(satisfaction), exact=True).check()
    if comment:
        feedback.get_by_label(t("Comment"), exact=True).fill(comment)
    if check_a11y:
        person.check_a11y(check_a11y)
    url = person.submit(feedback.get_by_role("button", name=t("Send the feedback")), "/feedback")
    expect(page.get_by_role("status").filter(has_text=t("Thank you for your feedback."))).to_be_visible()
    expect(person.state()).to_have_text(t(expected_state))
    person.assert_swapped_in_place(url)


@pytest.mark.parametrize(
    ("locale", "javascript"),
    [("en", True), ("en", False), ("zh_Hans", True)],
    ids=["english-htmx", "english-no-javascript", "chinese-htmx"],
)
def test_request_is_reopened_by_feedback_then_closed(
    new_page, log_in, tr, name_of, switch_language, check_a11y, locale, javascript
):
    """A resident files with a photo; members accept, assign, start, resolve; 'dissatisfied' reopens; then closed."""
    title = f"E2E 北门路灯不亮 {uuid.uuid4().hex[:8]}"

    def person(username: str) -> Browser:
        page = new_page(java_script_enabled=javascript)
        log_in(page, username)
        switch_language(page, locale)
        return Browser(page, tr, locale, javascript)

    # The resident files the request with a photo and lands on its tracking page.
    resident = person(RESIDENT)
    page, t = resident.page, resident.t
    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("Report a problem")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Report a problem"))
    page.get_by_label(t("What is it about?")).select_option(label=CATEGORY[locale])
    page.get_by_label(t("Short title")).fill(title)
    page.get_by_label(t("What is the problem?")).fill("北门口的路灯连续三个晚上不亮。")
    page.get_by_label(t("Where?")).fill("春晖社区北门")
    expect(page.get_by_label(t("Phone number for a call back"))).to_have_value(RESIDENT)
    page.get_by_label(t("Photos (optional)")).set_input_files(png_photo())
    resident.check_a11y(check_a11y)
    with page.expect_response(lambda r: r.request.method == "POST") as filed:
        page.get_by_role("button", name=t("Send the request")).click()
    assert filed.value.status == 303

    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    code = page.locator("strong.tracking-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{6,20}", code), code
    track_url = page.url
    assert track_url.endswith(f"/track/{code}")
    expect(page.get_by_role("status")).to_have_text(t(
        "Your request was filed. Its tracking code is %(code)s; you also find it under “My requests”.", code=code
    ))
    expect(resident.state()).to_have_text(t("Submitted"))
    photo = page.get_by_role("img", name=t("Photo %(n)d of the request", n=1))
    expect(photo).to_be_visible()
    served = page.request.get(photo.get_attribute("src"))
    assert served.status == 200 and served.headers["content-type"] == "image/png"
    resident.check_a11y(check_a11y)

    # The secretary finds the case in the list, accepts it and assigns it to a member.
    secretary = person(SECRETARY)
    page = secretary.page
    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("Cases"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("Cases"))
    page.get_by_label(t("Search"), exact=True).fill(title)
    page.get_by_role("button", name=t("Show"), exact=True).click()
    expect(page.locator("#case-results tbody tr")).to_have_count(1)
    secretary.check_a11y(check_a11y)
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    case_url = page.url
    assert re.search(r"/cases/\d+$", case_url), case_url
    expect(secretary.state()).to_have_text(t("Submitted"))
    take_action(secretary, t("Accept"), "Accepted", check_a11y=check_a11y)
    member_name = name_of(ASSIGNEE)
    take_action(secretary, t("Assign"), "Assigned", choose={t("Assign to"): member_name}, check_a11y=check_a11y)
    expect(page.get_by_role("region", name=t("Status"), exact=True)).to_contain_text(member_name)

    # The assignee starts the work and reports it solved.
    assignee = person(ASSIGNEE)
    assignee.page.goto(case_url)
    take_action(assignee, t("Start work"), "In progress")
    take_action(assignee, t("Resolve"), "Resolved, awaiting feedback",
                fields={t("How it was solved"): "更换了灯泡。"})

    # The resident is not satisfied: without a reason the feedback is refused, with one the case reopens.
    page = resident.page
    page.goto(track_url)
    expect(resident.state()).to_have_text(t("Resolved, awaiting feedback"))
    feedback = page.locator("article.resident-feedback")
    feedback.get_by_role("group", name=t("Was your problem solved?")).get_by_role("radio", name=t("No"),
                                                                                  exact=True).check()
    feedback.get_by_role("group", name=t("How satisfied are you with how it was handled?")).get_by_role(
        "radio", name=t("Dissatisfied"), exact=True).check()
    url = resident.submit(feedback.get_by_role("button", name=t("Send the feedback")), "/feedback", status=422)
    resident.assert_swapped_in_place(url)
    expect(page.locator("article.resident-feedback").get_by_label(t("Comment"), exact=True)).to_have_attribute(
        "aria-invalid", "true")
    expect(resident.state()).to_have_text(t("Resolved, awaiting feedback"))
    resident.check_a11y(check_a11y)
    give_feedback(resident, "No", "Dissatisfied", "第二天晚上路灯又不亮了。", "In progress", check_a11y=check_a11y)
    expect(page.get_by_role("region", name=t("Status"), exact=True)).to_contain_text(t("Reopened"))

    # The assignee solves it again; this time the resident confirms and the case closes.
    assignee.page.goto(case_url)
    expect(assignee.state()).to_have_text(t("In progress"))
    take_action(assignee, t("Resolve"), "Resolved, awaiting feedback",
                fields={t("How it was solved"): "更换了整套灯具，并回访确认。"})
    page.goto(track_url)
    give_feedback(resident, "Yes", "Satisfied", "", "Closed")
    expect(page.locator("article.resident-feedback")).to_have_count(0)

    # The members' page tells the whole story.
    secretary.page.goto(case_url)
    expect(secretary.state()).to_have_text(t("Closed"))
    history = secretary.page.get_by_role("region", name=t("History"), exact=True)
    for step in ("Filed", "Accept", "Assign", "Start work", "Resolve", "Reopen", "Confirm the solution"):
        expect(history).to_contain_text(t(step))
