"""Every page each demo role reaches from the navigation passes axe, in English and in Chinese."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from accounts.models import User
from extensions import db

COMMUNITY = "春晖社区"
TOWNSHIP = "东湖街道党工委"
RESIDENT = "13800000001"


@pytest.fixture(params=["en", "zh_Hans"])
def locale(request):
    return request.param


@pytest.fixture(autouse=True)
def forget_language_choices(app):
    """Clear the languages stored on accounts, so later logins start in English again."""
    yield
    with app.app_context():
        db.session.execute(update(User).values(locale=None))
        db.session.commit()


@pytest.fixture
def choose_language(tr):
    """Switch the page to a locale with the header's language button."""

    def choose(page, locale: str) -> None:
        if locale == "zh_Hans":
            page.get_by_role("button", name="简体中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if locale == "zh_Hans" else "en")

    return choose


@pytest.fixture
def shows(check_a11y):
    """Assert the page's main heading, then run axe on the page."""

    def check(page, heading: str) -> None:
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_a11y(page)

    return check


def main_nav(page, tr, locale):
    return page.get_by_role("navigation", name=tr("Main", locale))


def test_logged_out_pages(page, locale, tr, choose_language, shows):
    """The welcome, login, registration and not-found pages."""
    page.goto("/")
    choose_language(page, locale)
    shows(page, f"{tr('Lianxin', locale)} 连心")
    main_nav(page, tr, locale).get_by_role("link", name=tr("Log in", locale), exact=True).click()
    shows(page, tr("Log in", locale))
    main_nav(page, tr, locale).get_by_role("link", name=tr("Create an account", locale), exact=True).click()
    shows(page, tr("Create a resident account", locale))
    response = page.goto("/no-such-page")
    assert response.status == 404
    shows(page, f"{tr('Page not found', locale)} (404)")


def test_admin_pages(page, locale, tr, log_in, name_of, choose_language, shows):
    """An administrator's navigation, the admin screens, the register import and the evaluation settings."""
    log_in(page, "admin")
    choose_language(page, locale)
    shows(page, tr("Hello, %(name)s", locale, name=name_of("admin")))
    nav = main_nav(page, tr, locale)

    nav.get_by_role("link", name=tr("Organizations", locale), exact=True).click()
    shows(page, tr("Organizations", locale))
    page.get_by_role("link", name=COMMUNITY, exact=True).click()
    shows(page, COMMUNITY)

    nav.get_by_role("link", name=tr("Resident register", locale), exact=True).click()
    shows(page, tr("Resident register", locale))
    page.get_by_role("button", name=tr("Import from CSV", locale), exact=True).click()
    shows(page, tr("Import the resident register", locale))

    nav.get_by_role("link", name=tr("Users", locale), exact=True).click()
    shows(page, tr("Users", locale))
    page.get_by_role("button", name=tr("New account", locale), exact=True).click()
    shows(page, tr("New account", locale))
    nav.get_by_role("link", name=tr("Users", locale), exact=True).click()
    page.get_by_label(tr("Name, login or phone", locale)).fill("sec.chunhui")
    page.get_by_role("button", name=tr("Search", locale), exact=True).click()
    page.get_by_role("row").filter(has_text="sec.chunhui").get_by_role("link").click()
    shows(page, tr("Edit account %(username)s", locale, username="sec.chunhui"))

    nav.get_by_role("link", name=tr("Organization tree", locale), exact=True).click()
    shows(page, tr("Organization tree", locale))
    page.get_by_role("link", name=f"{tr('Edit', locale)} {COMMUNITY}", exact=True).click()
    shows(page, tr("Edit organization", locale))
    nav.get_by_role("link", name=tr("Organization tree", locale), exact=True).click()
    page.get_by_role("link", name=f"{tr('Secretary terms', locale)} {COMMUNITY}", exact=True).click()
    shows(page, tr("Secretary terms of %(name)s", locale, name=COMMUNITY))
    nav.get_by_role("link", name=tr("Organization tree", locale), exact=True).click()
    page.get_by_role("button", name=tr("Add an organization", locale), exact=True).click()
    shows(page, tr("Add an organization", locale))

    nav.get_by_role("link", name=tr("Evaluation settings", locale), exact=True).click()
    shows(page, tr("Evaluation settings", locale))

    nav.get_by_role("link", name=name_of("admin"), exact=True).click()
    shows(page, tr("Your account", locale))


def test_evaluator_pages(page, locale, tr, log_in, name_of, choose_language, shows):
    """A district evaluator's start page, organizations, evaluation results and account."""
    log_in(page, "eval.district")
    choose_language(page, locale)
    shows(page, tr("Hello, %(name)s", locale, name=name_of("eval.district")))
    nav = main_nav(page, tr, locale)
    nav.get_by_role("link", name=tr("Organizations", locale), exact=True).click()
    shows(page, tr("Organizations", locale))
    page.get_by_role("link", name=TOWNSHIP, exact=True).click()
    shows(page, TOWNSHIP)
    page.get_by_role("link", name=COMMUNITY, exact=True).click()
    shows(page, COMMUNITY)

    nav.get_by_role("link", name=tr("Evaluation results", locale), exact=True).click()
    shows(page, tr("Evaluation results", locale))
    page.get_by_role("region", name=tr("Surveys in progress", locale)).get_by_role("link").first.click()
    shows(page, tr("Participation", locale))
    nav.get_by_role("link", name=tr("Evaluation results", locale), exact=True).click()
    latest = page.get_by_role("region", name=tr("Surveys with results", locale)).get_by_role("rowheader").first
    title = latest.inner_text()
    latest.get_by_role("link").click()
    shows(page, title)
    page.get_by_role("row").filter(has_text=COMMUNITY).get_by_role("link", name=name_of("sec.chunhui")).click()
    shows(page, name_of("sec.chunhui"))
    page.go_back()
    page.get_by_role("link", name=tr("Publication page", locale), exact=True).click()
    shows(page, tr("Public notice of the results: %(title)s", locale, title=title))

    nav.get_by_role("link", name=name_of("eval.district"), exact=True).click()
    shows(page, tr("Your account", locale))


def test_secretary_pages(page, locale, tr, log_in, name_of, choose_language, shows):
    """A community secretary's start page, register, import and account."""
    log_in(page, "sec.chunhui")
    choose_language(page, locale)
    shows(page, tr("Hello, %(name)s", locale, name=name_of("sec.chunhui")))
    nav = main_nav(page, tr, locale)
    nav.get_by_role("link", name=tr("Resident register", locale), exact=True).click()
    shows(page, tr("Resident register", locale))
    page.get_by_role("button", name=tr("Import from CSV", locale), exact=True).click()
    shows(page, tr("Import the resident register", locale))
    nav.get_by_role("link", name=name_of("sec.chunhui"), exact=True).click()
    shows(page, tr("Your account", locale))


def test_resident_pages(page, locale, tr, log_in, name_of, choose_language, shows):
    """A verified resident's start page and account."""
    log_in(page, RESIDENT)
    choose_language(page, locale)
    shows(page, tr("Hello, %(name)s", locale, name=name_of(RESIDENT)))
    verified = "Your account is verified against the community register: you may vote in democratic evaluations."
    expect(page.get_by_text(tr(verified, locale))).to_be_visible()
    main_nav(page, tr, locale).get_by_role("link", name=name_of(RESIDENT), exact=True).click()
    shows(page, tr("Your account", locale))
