"""Every route, for every method, as a visitor and as each role, fed hostile ids, query strings and forms: never a 5xx.

The walk first opens every page with real ids and keeps the forms it shows (their CSRF token, one-time key and
defaults), so that the hostile values reach the views and services rather than stopping at the CSRF check.
"""
from __future__ import annotations

import io
import itertools
import os
import re
from typing import NamedTuple
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from accounts.models import RegisterEntry, Role
from accounts.users import match_register_entry
from db import utcnow
from extensions import db, limiter
from surveys.builder import create_survey
from surveys.codes import generate_codes
from surveys.models import Anonymity, SurveyKind
from tests.conftest import PASSWORD, Client, png_bytes
from tests.evaluation.builders import Evaluations
from tests.helpers import build_urls, ids_for, result_ids, soup

#: Ids the database cannot hold, no id at all, and more digits than Python's int() reads (4300).
HOSTILE_IDS = ("99999999999999999999", "9223372036854775808", "2147483648", "-1", "0", "1" * 5000, "１")
#: NUL and other control characters, a right-to-left override, emoji, 100,000 characters, a broken escape.
HOSTILE_TEXT = (
    "a\x00b", "\x00", "\x1b[2J\x7f", "\u202egnp.exe\u202c", "😀👩‍👩‍👧", "x" * 100_000, "%zz", " ", "\r\n\t",
    "NaN", "1e309", "-0", "' OR 1=1 --",
)
HOSTILE = HOSTILE_TEXT + HOSTILE_IDS
#: By the type of the input a form shows: numbers no column holds or int() and Decimal() read oddly; the first
#: and last moments a date field reads, which a time zone shifts out of range; and text for both.
HOSTILE_BY_INPUT = {
    "number": HOSTILE_IDS + ("-2147483649", "-99999999999999999999", "1.5", "1e309", "NaN", "", "a\x00b"),
    "date": ("0001-01-01", "9999-12-31", "0001-01-01T00:00", "9999-12-31T23:59", "1899-12-31T23:59", "2026-02-30",
             "0001-01", "9999-12", "", "a\x00b"),
    "text": HOSTILE,
}
DATE_INPUTS = ("date", "datetime-local", "month", "time", "week")
#: Malformed query strings, sent as they are.
RAW_QUERIES = (
    "page=99999999999999999999", "page=-1", "page=0", "page=abc", "q=%00", "%zz", "q=%ff%fe%00", "page=1&page=2",
    "q=a&q=%00", "=", "&&&=&", "page", "a[b]=c", "page=%EF%BC%91", "q=" + "x" * 100_000,
)
#: Query parameters some view reads; the forms that send a GET add their own.
PARAMETERS = ("page", "q", "role", "community", "parent", "township", "category", "organization", "tab", "sort",
              "order", "priority", "from", "to", "next", "code", "mine", "overdue", "user", "action")
#: Form fields some view reads from request.form without a WTForms form, sent where no form was shown.
LOOSE_FIELDS = ("action", "direction", "when", "code", "locale", "next")
#: Uploads: empty, not an image, a NUL or 10,000 characters in the name, NULs and bytes no encoding reads.
HOSTILE_FILES = (
    (b"", ""), (b"not an image", "photo.png"), (None, "a\x00b.png"), (None, "x" * 10_000 + ".png"),
    (b"name,phone,household,community\n\x00,\x00,\x00,\x00\n", "register.csv"), (b"\xff\xfe\x81\x00" * 64, "r.csv"),
)
#: What an empty input of a shown form is given, so that the form as sent is valid but for the hostile field.
FILLER = {"text": "Fuzz", "tel": "13800000000", "password": PASSWORD, "number": "1"}
ROLES = ("resident", "member", "evaluator", "admin")
#: The survey builder's routes act on drafts only; they get a draft survey of their own.
DRAFT_ENDPOINTS = ("surveys.show", "surveys.update", "surveys.add_question", "surveys.update_question",
                   "surveys.delete_question", "surveys.move_question", "surveys.set_targets", "surveys.open_survey",
                   "surveys.delete_survey")
#: Requests that end the walking client's sign-in, or delete what the others use, go last.
LAST = ("surveys.delete_question", "surveys.delete_survey", "accounts.logout")
#: Examples per role and database; each sends one request to every rule and method (about 200). CI keeps to
#: two; FUZZ_EXAMPLES=20 digs deeper by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
#: Known requests that gave 500 in the security review (issue 11), with the answer each must get.
KNOWN = [
    ("member", "GET", "/cases/99999999999999999999", None, 404),
    ("member", "GET", "/cases/0", None, 404),
    ("member", "GET", "/cases/-1", None, 404),
    ("member", "GET", "/cases/{case_id}/photos/2147483648", None, 404),
    ("member", "GET", "/cases/{case_id}/photos/" + "9" * 5000, None, 404),
    ("admin", "GET", "/admin/users/9223372036854775808/edit", None, 404),
    ("admin", "POST", "/admin/organizations/2147483648/delete", {}, 404),
    ("evaluator", "GET", "/evaluation/surveys/2147483648", None, 404),
    ("admin", "GET", "/admin/users?page=99999999999999999999", None, 422),
    ("admin", "GET", "/admin/users?page=-1", None, 422),
    ("admin", "GET", "/admin/users?q=%00", None, 422),
    ("admin", "GET", "/admin/organizations/new?parent=99999999999999999999", None, 422),
    ("member", "GET", "/register-entries?page=99999999999999999999", None, 422),
    ("member", "GET", "/register-entries?community=99999999999999999999", None, 422),
    ("member", "GET", "/cases?page=99999999999999999999&q=%00", None, 422),
    ("evaluator", "GET", "/evaluation/surveys/{published_id}?township=99999999999999999999", None, 422),
    (None, "GET", "/track?code=a%00b", None, 422),
    (None, "GET", "/track/a%00b", None, 404),
    (None, "POST", "/login", {"username": "a\x00b", "password": "x"}, 422),
    (None, "POST", "/vote", {"code": "ABCD\x00EFGH"}, 422),
    (None, "POST", "/vote/{survey_id}", {"code": "\x00" * 100}, 422),
    # Found by the walk: a time that UTC+8 moves before year 1.
    ("evaluator", "POST", "/surveys/new", {"title": "T", "kind": "general", "anonymity": "anonymous",
                                           "opens_at": "0001-01-01T00:00", "closes_at": "0001-01-08T00:00",
                                           "min_group_size": "5"}, 422),
]
#: The message beside a field that holds a control character.
CONTROL_MESSAGE = "characters that are not allowed"


@pytest.fixture
def published(world, make, app):
    """A published evaluation of the world's community, so that the result pages show figures."""
    evaluations = Evaluations(world, make, app)
    survey = evaluations.survey([world["community"]], title="Published evaluation")
    evaluations.answers(survey, world["community"], 8, 1, 1, eligible=20)
    return evaluations.close(survey, publish=True)


@pytest.fixture
def scene(app, world, survey, published, make):
    """Real ids by argument name, other ids for some endpoints, and an invitation code for the visitor.

    The resident is on the register, so that their ballot reaches the answers; accounts are changed on a
    bystander, so that no walker loses their sign-in to another's walk.
    """
    resident = world["resident"]
    resident.phone = "13900000001"
    db.session.add(RegisterEntry(community_id=world["community"].id, name=resident.name, phone=resident.phone))
    db.session.flush()
    assert match_register_entry(resident)
    draft = create_survey(world["evaluator"], title="Draft", description="", kind=SurveyKind.democratic_evaluation,
                          anonymity=Anonymity.anonymous, opens_at=survey.opens_at, closes_at=survey.closes_at,
                          min_group_size=5, owner_organization_id=None)
    db.session.flush()
    code, = generate_codes(world["evaluator"], survey, world["community"].id, 1, app.config["CODE_HASH_KEY"],
                           utcnow())
    db.session.commit()
    ids = ids_for(world, survey)
    ids["user_id"] = make.user((Role.resident, world["community"]), username="bystander").id
    endpoint_ids = result_ids(published) | dict.fromkeys(
        DRAFT_ENDPOINTS, {"survey_id": draft.id, "question_id": draft.questions[0].id})
    return ids, endpoint_ids, code


def _signed_in(app, role: str | None) -> Client:
    client = Client(app.test_client())
    if role is not None:
        client.login(role)
    return client


def _send(client: Client, method: str, url: str, body: dict | None = None):
    """Send a request as a browser would; return its response, or the exception that escaped the app."""
    kwargs = {}
    if body is not None:
        kwargs["data"] = {name: _materialized(values) for name, values in body.items()}
    try:
        return client._request(method.lower(), url, **kwargs)
    except Exception as error:  # noqa: BLE001 - the walk reports it beside the request
        return error


def _materialized(values: list):
    """Turn stored uploads into fresh file objects: a request reads them to the end."""
    files = [(io.BytesIO(png_bytes() if content is None else content), name)
             for _file, content, name in (v for v in values if isinstance(v, tuple))]
    return files or values


def _describe(role, method: str, url: str, body: dict | None, status) -> str:
    shown = {k: [str(v)[:40] for v in vs] for k, vs in (body or {}).items() if k not in ("csrf_token", "form_key")}
    return f"{role or 'anonymous'} {method} {url[:160]} {shown} -> {status}"


def _server_error(result) -> str | None:
    """Return how a request failed on the server's side, or None if it did not."""
    if isinstance(result, Exception):
        return f"{type(result).__name__}: {str(result)[:300]}"
    return str(result.status_code) if result.status_code >= 500 else None


# --- the forms a page shows ------------------------------------------------------------------

class Shown(NamedTuple):
    """A form as a page showed it: what a browser would send for it left alone, and the kind of each input."""

    fields: dict[str, list]
    kinds: dict[str, str]


def _inputs(form) -> Shown:
    """Return the values a browser would send for a form left as shown."""
    fields: dict[str, list] = {}
    kinds: dict[str, str] = {}
    for element in form.find_all(["input", "select", "textarea"]):
        name = element.get("name")
        if not name or element.has_attr("disabled"):
            continue
        kind = element.get("type", "text").lower() if element.name == "input" else element.name
        if kind == "number" or element.get("inputmode") == "numeric" or element.get("value", "x").isdigit():
            kinds[name] = "number"
        elif kind in DATE_INPUTS:
            kinds[name] = "date"
        if kind == "file":
            fields[name] = [("file", None, "photo.png" if "image" in element.get("accept", "") else "register.csv")]
        elif kind == "checkbox":
            if element.has_attr("checked"):
                fields.setdefault(name, []).append(element.get("value", "on"))
        elif kind == "radio":
            if element.has_attr("checked") or name not in fields:
                fields[name] = [element.get("value", "on")]
        elif kind == "select":
            options = element.find_all("option")
            chosen = [o for o in options if o.has_attr("selected")] or [o for o in options if o.get("value")][:1]
            fields[name] = [o.get("value", o.get_text()) for o in chosen]
        elif kind == "textarea":
            fields[name] = [element.get_text() or FILLER["text"]]
        elif kind not in ("submit", "button", "reset", "image"):
            fields[name] = [element.get("value") or FILLER.get(kind, "")]
    for button in form.find_all("button", attrs={"name": True}):
        fields.setdefault(button["name"], [button.get("value", "")])
    return Shown(fields, kinds)


def _forms(html_page, page_path: str, posts: dict[str, list[Shown]], gets: set[str]) -> None:
    """Keep a page's POST forms by the path they post to, and the names its GET forms send."""
    for form in html_page.find_all("form"):
        shown = _inputs(form)
        if (form.get("method") or "get").lower() == "post":
            posts.setdefault(urlsplit(form.get("action") or page_path).path, []).append(shown)
        else:
            gets.update(shown.fields)


# --- hostile requests -------------------------------------------------------------------------

ARGUMENT_RE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
#: The plan holds indices, taken modulo the length of the lists they pick from: what it draws must not depend on
#: what the pages showed (the walk changes the data), and its repr must stay short (values run to 100,000
#: characters).
INDEX = st.integers(0, 255)
#: Hypothesis starts with the simplest plan (real ids, the first hostile value everywhere): make it count.
QUERY = st.tuples(st.sampled_from(("pair", "raw", "none")), INDEX, INDEX)
#: For each form a route's pages show (or none), one field made hostile, or two: which, and the value each gets
#: (from the list for its kind of input, or the files). One field alone lets the rest of the form pass, so that
#: the value reaches the service. Forms beyond the third reuse the changes of the first ones.
CHANGE = st.tuples(INDEX, INDEX)
BODIES = st.tuples(*[st.tuples(CHANGE, st.one_of(st.none(), CHANGE))] * 3)
#: A path argument: the real id (None) or a hostile value.
ARGUMENT = st.one_of(st.none(), INDEX)


def _pick(values: tuple, index: int):
    return values[index % len(values)]


def _routes(app) -> list[tuple[str, object, str]]:
    routes = [(rule.endpoint, rule, method) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in sorted(rule.methods)]
    return sorted(routes, key=lambda route: LAST.index(route[0]) if route[0] in LAST else -1)


def _plan(routes):
    """Draw, for each route, its path arguments, query string and form changes."""
    return st.tuples(*(
        st.tuples(st.tuples(*[ARGUMENT] * len(ARGUMENT_RE.findall(rule.rule))), QUERY,
                  BODIES if method == "POST" else st.none())
        for _endpoint, rule, method in routes
    ))


def _path(rule, ids: dict, arguments: tuple) -> tuple[str, str]:
    """Return the rule's path with real ids, and with the drawn hostile values in place of some."""
    real = ARGUMENT_RE.sub(lambda match: str(ids.get(match[1], 1)), rule.rule)
    drawn = iter(arguments)

    def value(match):
        hostile = next(drawn)
        return quote(_pick(HOSTILE, hostile), safe="") if hostile is not None else str(ids.get(match[1], 1))
    return real, ARGUMENT_RE.sub(value, rule.rule)


def _query(names: list[str], drawn) -> str:
    how, index, value = drawn
    if how == "raw":
        return _pick(RAW_QUERIES, index)
    return urlencode([(_pick(names, index), _pick(HOSTILE, value))]) if how == "pair" else ""


def _bodies(forms: list[Shown], drawn) -> list[dict[str, list]]:
    """Return each form the pages showed with a field or two made hostile, or fields read loosely."""
    bodies = []
    for shown, changes in zip(forms or [Shown({}, {})], itertools.cycle(drawn)):
        body = {name: list(values) for name, values in shown.fields.items()}
        names = sorted(set(body) - {"csrf_token"}) or list(LOOSE_FIELDS)
        for index, value in filter(None, changes):
            name = _pick(names, index)
            if any(isinstance(v, tuple) for v in body.get(name, [])):
                body[name] = [("file", *_pick(HOSTILE_FILES, value))]
            else:
                body[name] = [_pick(HOSTILE_BY_INPUT[shown.kinds.get(name, "text")], value)]
        bodies.append(body)
    return bodies


class Pages:
    """What a role's pages show with real ids: the POST forms by the path they post to, the GET forms' names."""

    def __init__(self, app, role, ids: dict, endpoint_ids: dict, code: str, failures: list[str]) -> None:
        client = _signed_in(app, role)
        if role is None:
            client.post("/vote", {"code": code})  # so that the code's ballot page shows its form
        self.posts: dict[str, list[Shown]] = {}
        gets = set(PARAMETERS)
        for _endpoint, url in build_urls(app, {"GET"}, ids, endpoint_ids=endpoint_ids):
            response = _send(client, "GET", url)
            if error := _server_error(response):
                failures.append(_describe(role, "GET", url, None, error))
            elif response.mimetype == "text/html":
                _forms(soup(response), url, self.posts, gets)
        self.parameters = sorted(gets)


def _walk(app, role, pages: Pages, plan, routes, ids, endpoint_ids) -> list[str]:
    """Send every rule and method the values the plan drew; return the requests that failed."""
    failures = []
    client = _signed_in(app, role)
    token = client.token()  # the forms were shown to another sign-in
    for (endpoint, rule, method), (arguments, query, changes) in zip(routes, plan):
        real, path = _path(rule, {**ids, **endpoint_ids.get(endpoint, {})}, arguments)
        url = path + "?" + query if (query := _query(pages.parameters, query)) else path
        requests = [(url, None)]
        if method == "POST":
            # The first form goes where the plan says; the others to the real path, to reach the view.
            bodies = [body | {"csrf_token": [token]} for body in _bodies(pages.posts.get(real, []), changes)]
            requests = [(url if n == 0 else real, body) for n, body in enumerate(bodies)]
        for where, body in requests:
            if error := _server_error(_send(client, method, where, body)):
                failures.append(_describe(role, method, where, body, error))
    return failures


def test_no_route_answers_hostile_input_with_a_server_error(app, scene):
    ids, endpoint_ids, code = scene
    routes = _routes(app)
    failures: list[str] = []

    # No shrinking: an example names every request that failed, and the walk changes the data it runs on,
    # so a smaller example replayed would not meet the same database.
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(plan=_plan(routes))
    def walk(role, pages, plan):
        limiter.reset()  # the walk's logins and ballots would run into the per-address limits
        if found := _walk(app, role, pages, plan, routes, ids, endpoint_ids):
            raise AssertionError("\n".join(found))

    # The administrator goes last: what they change (passwords, terms, surveys) would stop the others' walks.
    for role in (None, *ROLES):
        limiter.reset()
        pages = Pages(app, role, ids, endpoint_ids, code, failures)
        try:
            walk(role, pages)
        except AssertionError as error:
            failures.append(str(error))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def test_known_hostile_requests_get_a_clear_4xx(app, world, survey, published):
    wrong = []
    for role, method, url, body, status in KNOWN:
        url = url.format(case_id=world["case"].id, published_id=published.id, survey_id=survey.id)
        client = _signed_in(app, role)
        response = client.get(url) if method == "GET" else client.post(url, body)
        if response.status_code != status:
            wrong.append(_describe(role, method, url, body and {k: [v] for k, v in body.items()}, response.status_code))
    assert wrong == [], "\n".join(wrong)


def test_a_control_character_is_refused_beside_its_field(client, world):
    response = client.post("/login", {"username": "a\x00b", "password": "x"})
    assert response.status_code == 422
    assert CONTROL_MESSAGE in soup(response).find(id="username-error").get_text()
