"""Checks over every route: CSRF, security headers, both languages, unique ids, 404s, plain services."""
from __future__ import annotations

from pathlib import Path

import pytest


from tests.conftest import PASSWORD
from tests.evaluation.builders import Evaluations
from tests.helpers import build_urls, duplicate_ids, ids_for, result_ids, soup

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def published(world, make, app):
    """A published evaluation of the world's community with enough answers to show every figure."""
    evaluations = Evaluations(world, make, app)
    survey = evaluations.survey([world["community"]], title="Published evaluation")
    evaluations.answers(survey, world["community"], 8, 1, 1, eligible=20)
    return evaluations.close(survey, publish=True)


def test_every_post_route_refuses_a_missing_csrf_token(app, client, world, survey):
    client.login("admin")
    urls = list(build_urls(app, {"POST"}, ids_for(world, survey)))
    assert len(urls) >= 10
    for endpoint, url in urls:
        response = client.post(url, csrf=False)
        assert response.status_code == 400, endpoint
        assert "expired" in response.get_data(as_text=True)


def test_htmx_sends_the_csrf_token_in_a_header(client, world):
    response = client.post("/language", {"locale": "zh_Hans"}, csrf=False, headers={"X-CSRFToken": client.token()})
    assert response.status_code == 303


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


def _check_security_headers(response, where):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (where, name)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, where


def _get_pages(app, client, world, survey, published):
    for endpoint, url in build_urls(app, {"GET"}, ids_for(world, survey), endpoint_ids=result_ids(published)):
        yield endpoint, url, client.get(url)


def test_every_response_carries_the_security_headers(app, client, world, survey, published):
    for endpoint, _url, response in _get_pages(app, client, world, survey, published):
        _check_security_headers(response, endpoint)
    _check_security_headers(client.get("/no-such-page"), "404")
    _check_security_headers(client.post("/logout", csrf=False), "400")
    client.login("admin")
    for endpoint, _url, response in _get_pages(app, client, world, survey, published):
        _check_security_headers(response, endpoint)


def test_session_cookie_is_httponly_and_lax(client, world):
    response = client.post("/login", {"username": "member", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


ANONYMOUS_PAGES = {"accounts.index", "accounts.login", "accounts.register"}
#: Pages an administrator is rightly refused or sent on from: they are for residents.
RESIDENT_PAGES = {"ballots.ballot": 403, "ballots.code_ballot": 303}


@pytest.mark.parametrize(
    "language, signed_in_marker, visitor_marker", [("en", "Log out", "Log in"), ("zh-CN", "退出登录", "登录")]
)
def test_every_page_renders_in_both_languages_without_duplicate_ids(
    app, client, world, survey, published, language, signed_in_marker, visitor_marker
):
    headers = {"Accept-Language": language}
    pages = list(build_urls(app, {"GET"}, ids_for(world, survey), endpoint_ids=result_ids(published)))
    for endpoint, url in pages:
        if endpoint in ANONYMOUS_PAGES:
            response = client.get(url, headers=headers)
            assert response.status_code == 200, endpoint
            assert visitor_marker in response.get_data(as_text=True), endpoint
            assert duplicate_ids(response) == [], endpoint
    client.login("admin")
    checked = 0
    for endpoint, url in pages:
        if endpoint in ANONYMOUS_PAGES - {"accounts.index"}:
            continue
        response = client.get(url, headers=headers)
        assert response.status_code == RESIDENT_PAGES.get(endpoint, 200), endpoint
        if response.mimetype != "text/html" or response.status_code == 303:
            continue
        assert signed_in_marker in response.get_data(as_text=True), endpoint
        assert duplicate_ids(response) == [], endpoint
        checked += 1
    assert checked >= 12


def test_unknown_page_is_a_styled_404_in_the_users_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 404
    page = soup(response)
    assert page.html["lang"] == "zh-Hans"
    assert "页面不存在" in page.h1.get_text()


def test_the_chinese_catalog_is_complete_and_names_states_as_declared(app):
    from babel.messages.pofile import read_po
    from flask_babel import force_locale, gettext

    from workflow.machine import State

    with open(ROOT / "translations" / "zh_Hans" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale="zh_Hans")
    for message in catalog:
        if message.id:
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            assert all(strings) and not message.fuzzy, message.id
    # The checks `pybabel compile` runs: a placeholder the translation drops or adds fails the build.
    assert [(message.id, errors) for message, errors in catalog.check()] == []
    with app.test_request_context(), force_locale("zh_Hans"):
        assert {state: gettext(state.label) for state in State} == {state: state.label_zh for state in State}
