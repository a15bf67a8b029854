"""A live Lianxin server seeded with the demo data, Debian's Chromium and an axe check."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask_babel import force_locale, gettext
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select, update
from werkzeug.serving import make_server

import config
from accounts.models import User
from app import create_app
from demo.cli import seed_everything
from demo.people import DEMO_PASSWORD
from extensions import db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BLOCKING_IMPACTS = {"serious", "critical"}
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    """Mark every test under tests/e2e as an e2e test."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The app on its own SQLite file, seeded as `flask demo seed` does; SQLite only, unlike the root fixture."""
    folder = tmp_path_factory.mktemp("e2e")
    database = folder / "lianxin.sqlite3"

    class E2EConfig(config.TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{database}"
        UPLOAD_FOLDER = str(folder / "uploads")
        # The defaults, pinned: the throttling test counts attempts against them whatever the environment says.
        LOGIN_LIMIT_PER_ACCOUNT = "20 per day"
        LOGIN_LIMIT_PER_ACCOUNT_AND_IP = "5 per day"
        LOGIN_LIMIT_PER_IP = "300 per hour"
        LOGIN_DELAY_SECONDS = 60

    app = create_app(E2EConfig)
    with app.app_context():
        db.create_all()
        # The same steps as `flask demo seed`; the case demo refreshes the case figures.
        seed_everything(
            Path(app.config["UPLOAD_FOLDER"]), app.config["CODE_HASH_KEY"], app.config["BALLOT_BOX_KEY"]
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def close_when_dropped(wsgi_app):
    """Close what the app answers even when the browser drops the connection mid-response.

    Werkzeug's server then fails while draining the socket, before it closes the response; a static file
    left open warns (ResourceWarning), and the warning fails whichever test is running.
    """

    def app(environ, start_response):
        body = wsgi_app(environ, start_response)

        def chunks():
            try:
                yield from body
            finally:
                if hasattr(body, "close"):
                    body.close()

        return chunks()

    return app


@pytest.fixture(scope="session")
def base_url(app):
    """Serve the app on a free local port for the whole session."""
    server = make_server("127.0.0.1", 0, close_when_dropped(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless; missing it skips, or fails when REQUIRE_BROWSER=1."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"Chromium is not installed at {CHROMIUM} (run `make browser`)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, base_url):
    """Open pages in fresh browser contexts (no cookies), closed after the test; options go to new_context."""
    contexts = []

    def open_page(locale: str = "en-US", **options):
        context = browser.new_context(base_url=base_url, locale=locale, **options)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture(scope="session")
def check_a11y():
    """Return a check that fails on any serious or critical axe violation on the page."""
    axe = Axe()

    def check(page) -> None:
        violations = axe.run(page).response["violations"]
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe found serious or critical violations on {page.url}:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']}; nodes: {[node['target'] for node in v['nodes']]}"
            for v in blocking
        )

    return check


@pytest.fixture(scope="session")
def tr(app):
    """Translate a message the way the app shows it in a locale."""

    def translate(message: str, locale: str = "en", **variables) -> str:
        with app.test_request_context(), force_locale(locale):
            return gettext(message, **variables)

    return translate


@pytest.fixture
def forget_language_choices(app):
    """Clear the languages stored on accounts after the test, so later logins start in English again."""
    yield
    with app.app_context():
        db.session.execute(update(User).values(locale=None))
        db.session.commit()


@pytest.fixture(scope="session")
def switch_language():
    """Switch a page to a locale with the header's language button, staying on the same page."""

    def switch(page, locale: str) -> None:
        if locale == "zh_Hans":
            page.get_by_role("button", name="简体中文").click()
        elif page.locator("html").get_attribute("lang") != "en":
            page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if locale == "zh_Hans" else "en")

    return switch


@pytest.fixture(scope="session")
def duplicate_ids():
    """Return the ids that more than one element of the page carries."""

    def collect(page) -> list[str]:
        return page.evaluate(
            "() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id);"
            " return [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))]; }"
        )

    return collect


@pytest.fixture(scope="session")
def name_of(app):
    """Look up the full name shown for a login, as its owner knows it."""

    def lookup(username: str) -> str:
        with app.app_context():
            return db.session.scalar(select(User.name).where(User.username == username))

    return lookup


@pytest.fixture(scope="session")
def log_in(tr):
    """Log a page in through the login form and wait for the start page."""

    def submit(page, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        page.get_by_label(tr("Login or phone number")).fill(username)
        page.get_by_label(tr("Password"), exact=True).fill(password)
        page.get_by_role("button", name=tr("Log in")).click()
        expect(page.get_by_role("button", name=tr("Log out"))).to_be_visible()

    return submit
