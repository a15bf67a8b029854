"""One-time form keys: a form that files a case or appends to its history counts once however often it is sent."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import formkeys
from db import utcnow
from extensions import db
from formkeys import FormKey
from tests.conftest import Client
from tests.helpers import soup
from workflow.machine import State
from workflow.models import Case, CaseEvent
from workflow.tasks import forget_form_keys

#: The finding: twenty identical comments sent at once stored twenty events.
RACERS = 20
OUT_OF_DATE = "This form was out of date. Check it and send it again."
ALREADY_SENT = "This form had already been sent; here is what it did."


def same_browser(app, client: Client, n: int) -> list[Client]:
    """Return n clients that share the client's session cookie, as the tabs and repeated clicks of one browser do."""
    name = app.config["SESSION_COOKIE_NAME"]
    clients = []
    for _ in range(n):
        copy = Client(app.test_client())
        copy.raw.set_cookie(name, client.raw.get_cookie(name).value)
        clients.append(copy)
    return clients


def race(app, clients: list[Client], url: str, data: dict) -> list:
    """Post the same form from every client at the same moment; return the responses."""
    barrier = threading.Barrier(len(clients), timeout=30)

    def post(c: Client):
        with app.app_context():
            barrier.wait()
            return c.post(url, data)

    with ThreadPoolExecutor(len(clients)) as pool:
        responses = list(pool.map(post, clients))
    db.session.rollback()  # end the test's own transaction so it sees what the requests wrote
    return responses


def hidden_fields(response, selector: str) -> dict[str, str]:
    """Return the hidden inputs of the form the selector finds, as the browser would send them."""
    form = soup(response).select_one(selector)
    return {field["name"]: field.get("value", "") for field in form.select("input[type=hidden][name]")}


def events(case: Case, action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(CaseEvent)
                             .where(CaseEvent.case_id == case.id, CaseEvent.action == action))


def cases() -> int:
    return db.session.scalar(select(func.count()).select_from(Case))


def newest_case_url() -> str:
    return f"/track/{db.session.scalars(select(Case).order_by(Case.id.desc())).first().tracking_code}"


def signed_in(app, username: str) -> Client:
    client = Client(app.test_client())
    client.login(username)
    return client


def anonymous(app) -> Client:
    return Client(app.test_client())


@dataclass
class Keyed:
    """A form that carries a key, whom it is shown to, and what its submission appends."""

    client: Client
    #: Someone else who could send this form from a page of their own.
    stranger: Client
    page: str
    selector: str
    url: str
    fields: dict
    appended: Callable[[], int]
    result: Callable[[], str]
    htmx_target: str | None


def _member_action(app, world, action: str, fields: dict) -> Keyed:
    case = world["case"]
    return Keyed(signed_in(app, "member"), signed_in(app, "assignee"), f"/cases/{case.id}",
                 f"details:has(input[name=action][value={action}]) form", f"/cases/{case.id}/actions", fields,
                 lambda: events(case, action), lambda: f"/cases/{case.id}", "case-body")


def _resident_action(app, world, flow, name: str, action: str, fields: dict, state: State | None,
                     with_account: bool) -> Keyed:
    case = world["case"] if with_account else flow.file(None)
    if state is not None:
        flow.bring_to(case, state)
    url = f"/track/{case.tracking_code}"
    owner, stranger = ((signed_in(app, "resident"), signed_in(app, "other.resident")) if with_account
                       else (anonymous(app), anonymous(app)))
    return Keyed(owner, stranger, url, f"form[action='{url}/{name}']", f"{url}/{name}", fields,
                 lambda: events(case, action), lambda: url, "resident-case")


def _filing(app, world, with_account: bool) -> Keyed:
    fields = {"category": str(world["category"].id), "priority": "normal", "title": "Bench broken",
              "description": "The bench by the pond lost a plank.", "address": "Pond", "contact_name": "Li",
              "contact_phone": "13700000000"}
    if with_account:
        client, stranger = signed_in(app, "resident"), signed_in(app, "other.resident")
    else:
        client, stranger = anonymous(app), anonymous(app)
        fields["organization"] = str(world["community"].id)
    return Keyed(client, stranger, "/requests/new", "main form", "/requests/new", fields, cases, newest_case_url,
                 None)


FORMS: dict[str, Callable] = {
    "member comment": lambda app, world, flow: _member_action(app, world, "comment", {"text": "On my way."}),
    "member accept": lambda app, world, flow: _member_action(app, world, "accept", {}),
    "answer": lambda app, world, flow: _resident_action(app, world, flow, "answer", "resume", {"note": "Gate 2."},
                                                         State.on_hold, with_account=False),
    "feedback": lambda app, world, flow: _resident_action(
        app, world, flow, "feedback", "confirm", {"solved": "yes", "satisfaction": "satisfied"}, State.resolved,
        with_account=False),
    "withdraw": lambda app, world, flow: _resident_action(app, world, flow, "withdraw", "withdraw", {}, None,
                                                           with_account=True),
    "resident comment": lambda app, world, flow: _resident_action(
        app, world, flow, "comment", "comment", {"text": "Still dark."}, None, with_account=True),
    "code holder's comment": lambda app, world, flow: _resident_action(
        app, world, flow, "comment", "comment", {"text": "Still dark."}, None, with_account=False),
    "filing": lambda app, world, flow: _filing(app, world, with_account=True),
    "filing without an account": lambda app, world, flow: _filing(app, world, with_account=False),
}
SWAPPED = [name for name in FORMS if not name.startswith("filing")]


@pytest.fixture(params=list(FORMS))
def keyed(request, app, world, flow) -> Keyed:
    return FORMS[request.param](app, world, flow)


def form_of(keyed: Keyed, client: Client | None = None) -> dict:
    """Return what the browser sends: the page's hidden fields and what the person filled in."""
    return {**hidden_fields((client or keyed.client).get(keyed.page), keyed.selector), **keyed.fields}


def without_key(client: Client, url: str, data: dict):
    """Post the form as a page from before form keys would."""
    return client._request("post", url, data={k: v for k, v in data.items() if k != "form_key"})


# --- the finding, and races ---------------------------------------------------------------

def test_twenty_identical_comments_sent_at_once_store_one_event(app, world):
    case = world["case"]
    member = signed_in(app, "member")
    data = {**hidden_fields(member.get(f"/cases/{case.id}"), "details:has(input[name=action][value=comment]) form"),
            "text": "On my way."}
    responses = race(app, same_browser(app, member, RACERS), f"/cases/{case.id}/actions", data)
    assert [r.status_code for r in responses] == [303] * RACERS
    assert {r.headers["Location"] for r in responses} == {f"/cases/{case.id}"}
    assert events(case, "comment") == 1


def test_a_filing_sent_at_once_from_one_browser_files_one_case(app, world):
    filing = _filing(app, world, with_account=False)
    before, data = cases(), form_of(filing)
    responses = race(app, same_browser(app, filing.client, 8), filing.url, data)
    assert [r.status_code for r in responses] == [303] * 8
    assert cases() == before + 1
    assert {r.headers["Location"] for r in responses} == {newest_case_url()}


# --- every form that appends ----------------------------------------------------------------

def test_a_form_sent_again_appends_nothing_and_shows_what_it_did(keyed):
    before = keyed.appended()
    data = form_of(keyed)
    first = keyed.client.post(keyed.url, data)
    assert first.status_code == 303 and first.headers["Location"] == keyed.result()
    again = keyed.client.post(keyed.url, data)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert keyed.appended() == before + 1
    shown = keyed.client.get(again.headers["Location"])
    assert ALREADY_SENT in soup(shown).select_one("#flashes").get_text()


def test_a_form_without_its_key_is_refused_with_a_fresh_key_to_send_it_again(keyed):
    before = keyed.appended()
    data = form_of(keyed)
    refused = without_key(keyed.client, keyed.url, data)
    assert refused.status_code == 422
    assert OUT_OF_DATE in refused.get_data(as_text=True)
    assert keyed.appended() == before
    fresh = hidden_fields(refused, keyed.selector)["form_key"]
    assert fresh and fresh != data["form_key"]
    assert keyed.client.post(keyed.url, {**data, "form_key": fresh}).status_code == 303
    assert keyed.appended() == before + 1


@pytest.mark.parametrize("key", ["nonsense", "x" * 5000, "\x00", "a.b.c"])
def test_a_malformed_key_is_refused(app, world, key):
    member = signed_in(app, "member")
    case = world["case"]
    response = member.post(f"/cases/{case.id}/actions",
                           {"action": "comment", "version": case.version, "text": "Hi", "form_key": key})
    assert response.status_code == 422 and OUT_OF_DATE in response.get_data(as_text=True)
    assert events(case, "comment") == 0


def test_a_key_from_someone_else_s_page_is_refused_and_tells_nothing(keyed):
    before = keyed.appended()
    data = form_of(keyed)
    theirs = {**data, "csrf_token": keyed.stranger.token()}
    assert keyed.stranger.post(keyed.url, theirs).status_code == 422
    assert keyed.appended() == before
    first = keyed.client.post(keyed.url, data)
    assert first.status_code == 303, "the stranger's try did not use the key up"
    replayed = keyed.stranger.post(keyed.url, theirs)
    assert replayed.status_code == 422 and "Location" not in replayed.headers
    assert ALREADY_SENT not in replayed.get_data(as_text=True)
    if keyed.result() != keyed.page:
        assert keyed.result() not in replayed.get_data(as_text=True), "the result of someone else's form"
    assert keyed.appended() == before + 1


@pytest.mark.parametrize("keyed", SWAPPED, indirect=True)
def test_an_htmx_submit_answers_a_partial_with_a_fresh_key(keyed):
    headers = {"HX-Request": "true", "HX-Target": keyed.htmx_target}
    before = keyed.appended()
    data = form_of(keyed)
    fragment = keyed.client.post(keyed.url, data, headers=headers)
    assert fragment.status_code == 200 and soup(fragment).find()["id"] == keyed.htmx_target
    fresh = {field["value"] for field in soup(fragment).select("input[name=form_key]")}
    assert fresh and data["form_key"] not in fresh
    again = keyed.client.post(keyed.url, data, headers=headers)
    assert again.status_code == 200 and again.headers["HX-Redirect"] == keyed.result()
    assert again.get_data(as_text=True) == ""
    assert keyed.appended() == before + 1


def test_the_fresh_key_of_a_partial_sends_the_next_comment(app, world):
    case = world["case"]
    member = signed_in(app, "member")
    headers = {"HX-Request": "true", "HX-Target": "case-body"}
    selector = "details:has(input[name=action][value=comment]) form"
    data = {**hidden_fields(member.get(f"/cases/{case.id}"), selector), "text": "First."}
    fragment = member.post(f"/cases/{case.id}/actions", data, headers=headers)
    member.post(f"/cases/{case.id}/actions", {**hidden_fields(fragment, selector), "text": "Second."}, headers=headers)
    assert events(case, "comment") == 2


def test_each_form_of_a_page_has_its_own_key(app, world):
    case = world["case"]
    member = signed_in(app, "member")
    page = member.get(f"/cases/{case.id}")
    comment = {**hidden_fields(page, "details:has(input[name=action][value=comment]) form"), "text": "Looking."}
    accept = hidden_fields(page, "details:has(input[name=action][value=accept]) form")
    assert member.post(f"/cases/{case.id}/actions", comment).status_code == 303
    # The same page again, as the browser's Back button shows it: its other action was never sent.
    assert member.post(f"/cases/{case.id}/actions", accept).status_code == 303
    assert (events(case, "comment"), events(case, "accept")) == (1, 1)
    resident = signed_in(app, "resident")
    keys = [field["value"] for field in soup(resident.get(f"/track/{case.tracking_code}"))
            .select("#resident-case input[name=form_key]")]
    assert len(keys) == 2 and len(set(keys)) == 2  # comment and withdraw


# --- the keys themselves --------------------------------------------------------------------

SECRET = b"k" * 32
NOW = utcnow()
DAY = timedelta(days=1)


def test_a_key_is_good_only_for_its_holder_and_while_it_is_young():
    key = formkeys.issue(SECRET, "user:1", NOW)
    nonce = formkeys.nonce_of(key, SECRET, "user:1", NOW + DAY, max_age=2 * DAY)
    assert nonce and key.startswith(nonce)
    assert formkeys.nonce_of(key, SECRET, "user:2", NOW, max_age=2 * DAY) is None
    assert formkeys.nonce_of(key, SECRET, "session:abc", NOW, max_age=2 * DAY) is None
    assert formkeys.nonce_of(key, b"o" * 32, "user:1", NOW, max_age=2 * DAY) is None
    assert formkeys.nonce_of(key, SECRET, "user:1", NOW + 3 * DAY, max_age=2 * DAY) is None
    nonce_part, issued, mac = key.split(".")
    older = f"{nonce_part}.{int(issued) + 86400}.{mac}"  # a later date would keep it alive longer
    assert formkeys.nonce_of(older, SECRET, "user:1", NOW, max_age=2 * DAY) is None
    assert formkeys.issue(SECRET, "user:1", NOW) != key


def test_old_claimed_keys_are_forgotten_by_the_hourly_task(app):
    now = utcnow()
    for nonce, age in (("a" * 22, timedelta(days=3)), ("b" * 22, timedelta(days=1))):
        formkeys.claim(nonce, now - age)
        formkeys.settle(nonce, "/somewhere")
    db.session.commit()
    forget_form_keys()
    db.session.rollback()
    assert db.session.scalars(select(FormKey.nonce)).all() == ["b" * 22]
