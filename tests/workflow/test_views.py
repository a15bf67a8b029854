"""Members' case screens: who may act and see, htmx answers, the list, supervision, categories."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from accounts.models import Role
from db import utcnow
from extensions import db
from tests.conftest import Client
from tests.helpers import duplicate_ids, soup
from workflow.actions import ActionInput, parties_for, take_action
from workflow.filing import file_case
from workflow.machine import ACTIONS, State
from workflow.models import Case, CaseEvent, Category, Priority

HTMX = {"HX-Request": "true", "HX-Target": "case-body"}
LANGUAGES = [{"Accept-Language": "en"}, {"Accept-Language": "zh-CN,zh;q=0.9"}]
MEMBER_ACTIONS = ["accept", "reject", "merge", "assign", "start", "request_info", "resume", "resolve", "escalate",
                  "comment"]
#: Who stands how: the world's "member" holds the secretary's term; "plain" is a member without one.
PEOPLE = ["owner", "other_resident", "secretary", "plain", "assignee", "other_member", "evaluator", "admin",
          "anonymous"]
USERNAMES = {"owner": "resident", "other_resident": "other.resident", "secretary": "member", "plain": "plain",
             "assignee": "assignee", "other_member": "other.member", "evaluator": "evaluator", "admin": "admin"}
MEMBERS = {"secretary", "plain", "assignee"}


@pytest.fixture
def people(world, make):
    """The world's people and a plain member of the case's community, keyed as in PEOPLE."""
    return {
        "owner": world["resident"], "other_resident": world["other_resident"], "secretary": world["member"],
        "plain": make.user((Role.member, world["community"]), username="plain"),
        "assignee": world["assignee"], "other_member": world["other_member"], "evaluator": world["evaluator"],
        "admin": world["admin"],
    }


@pytest.fixture
def login(app):
    """Return a client signed in as the person (cached), or an anonymous one."""
    clients: dict[str, Client] = {}

    def login(who: str) -> Client:
        if who not in clients:
            clients[who] = Client(app.test_client())
            if who != "anonymous":
                clients[who].login(USERNAMES[who])
        return clients[who]

    return login


def file(world, *, title="Broken bench", address="Park road 1", priority=Priority.normal, organization=None,
         category=None, now=None):
    case = file_case(
        world["resident"], category_id=(category or world["category"]).id, priority=priority, title=title,
        description="It needs fixing.", address=address, contact_name="Resident", contact_phone="13800000000",
        organization_id=(organization or world["community"]).id, photos=[], upload_dir=Path("/nonexistent"),
        now=now or utcnow(),
    )
    db.session.commit()
    return case


def act(case, action: str, user, now=None, **data):
    """Take an action through the service, as the person would from the panel."""
    take_action(case, action, actor=user, parties=parties_for(user, case),
                seen_version=case.version, data=ActionInput(**data), now=now or utcnow())
    db.session.commit()


def drive(case, state: State, world, now=None) -> Case:
    """Move a submitted case along the main path until it reaches the state."""
    steps = [
        (State.accepted, "accept", "member", {}),
        (State.assigned, "assign", "member", {"assignee_id": world["assignee"].id}),
        (State.in_progress, "start", "assignee", {}),
        (State.on_hold, "request_info", "assignee", {"question": "Which lamp?"}),
    ]
    if state == State.resolved:
        steps[-1] = (State.resolved, "resolve", "assignee", {"resolution": "Replaced it."})
    for reached, action, who, data in steps:
        if case.state == state:
            break
        act(case, action, world[who], now=now, **data)
        assert case.state == reached
    assert case.state == state
    return case


#: A state each action can be taken from.
SOURCE = {
    "accept": State.submitted, "reject": State.submitted, "merge": State.submitted, "assign": State.accepted,
    "start": State.assigned, "request_info": State.in_progress, "resume": State.on_hold,
    "resolve": State.in_progress, "escalate": State.accepted, "comment": State.submitted,
}
#: A state each action cannot be taken from, for someone who could take it otherwise.
WRONG_STATE = {
    "accept": (State.accepted, "secretary"), "reject": (State.assigned, "plain"),
    "merge": (State.assigned, "secretary"), "assign": (State.submitted, "plain"),
    "start": (State.in_progress, "assignee"), "request_info": (State.assigned, "assignee"),
    "resume": (State.in_progress, "assignee"), "resolve": (State.assigned, "assignee"),
    "escalate": (State.submitted, "secretary"),
}
#: Who may take each action on the members' endpoint; everyone else signed in gets 403.
ALLOWED = {
    "accept": MEMBERS, "reject": MEMBERS, "merge": MEMBERS, "assign": MEMBERS, "comment": MEMBERS,
    "start": {"assignee"}, "request_info": {"assignee"}, "resume": {"assignee"}, "resolve": {"assignee"},
    "escalate": {"secretary"},
}


def form_data(action: str, case: Case, world) -> dict:
    data = {"action": action, "version": case.version}
    data.update({
        "reject": {"reason": "Not ours."}, "assign": {"assignee": world["assignee"].id},
        "request_info": {"question": "Which lamp?"}, "resume": {"note": "Got the answer."},
        "resolve": {"resolution": "Fixed."}, "escalate": {"reason": "Needs the township."},
        "comment": {"text": "Looked at it.", "public": "y"},
    }.get(action, {}))
    if action == "merge":
        data["duplicate_of"] = file(world, title="The original").id
    return data


def test_the_matrix_covers_every_member_action():
    assert set(MEMBER_ACTIONS) == {a for a in ACTIONS if a not in ("confirm", "reopen", "withdraw", "auto_close")}
    assert set(SOURCE) == set(ALLOWED) == set(MEMBER_ACTIONS)


@pytest.mark.parametrize("action", MEMBER_ACTIONS)
def test_who_may_take_each_action(world, people, login, action):
    results, expected = {}, {}
    for who in PEOPLE:
        case = drive(file(world), SOURCE[action], world)
        events = len(case.events)
        response = login(who).post(f"/cases/{case.id}/actions", form_data(action, case, world))
        db.session.refresh(case)
        changed = len(case.events) != events
        results[who] = (response.status_code, changed)
        if who == "anonymous":
            expected[who] = (302, False)
            assert "/login" in response.headers["Location"]
        elif who in ALLOWED[action]:
            expected[who] = (303, True)
            assert response.headers["Location"] == f"/cases/{case.id}"
        else:
            expected[who] = (403, False)
    assert results == expected


@pytest.mark.parametrize("action", sorted(WRONG_STATE))
def test_actions_are_refused_from_other_states(world, people, login, action):
    state, who = WRONG_STATE[action]
    case = drive(file(world), state, world)
    version = case.version
    response = login(who).post(f"/cases/{case.id}/actions", form_data(action, case, world))
    assert response.status_code == 409
    assert "cannot be done while the case is" in response.get_data(as_text=True)
    db.session.refresh(case)
    assert case.state == state and case.version == version


@pytest.mark.parametrize("who, status", [
    ("secretary", 200), ("plain", 200), ("assignee", 200), ("evaluator", 200), ("admin", 200),
    ("other_resident", 403), ("other_member", 403), ("anonymous", 302),
])
def test_who_may_open_a_case(world, people, login, who, status):
    response = login(who).get(f"/cases/{world['case'].id}")
    assert response.status_code == status
    if status == 200:
        assert world["case"].title in response.get_data(as_text=True)


def test_an_evaluator_of_another_township_may_not_open_a_case(world, make, login, client):
    make.user((Role.evaluator, world["other_community"].parent), username="far.evaluator")
    client.login("far.evaluator")
    assert client.get(f"/cases/{world['case'].id}").status_code == 403


def test_the_owner_is_sent_to_the_tracking_page(world, login):
    case = world["case"]
    response = login("owner").get(f"/cases/{case.id}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(case.tracking_code)


@pytest.mark.parametrize("who, status", [
    ("owner", 200), ("secretary", 200), ("evaluator", 200), ("admin", 200),
    ("other_resident", 404), ("other_member", 404), ("anonymous", 404),
])
def test_photos_are_served_only_to_those_who_may_see_the_case(world, people, login, who, status):
    case = world["case"]
    response = login(who).get(f"/cases/{case.id}/photos/{case.photos[0].id}")
    assert response.status_code == status
    if status == 200:
        assert response.mimetype == "image/png" and "no-store" in response.headers["Cache-Control"]


def page_apart_from(response, url: str) -> str:
    """Return the page without what differs on every request: its CSRF tokens and its own address."""
    page = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+|("X-CSRFToken": ")[^"]+', r"\1\2",
                  response.get_data(as_text=True))
    return page.replace(url, "URL")


@pytest.mark.parametrize("who", ["other_resident", "other_member", "anonymous"])
def test_a_stranger_cannot_tell_a_hidden_photo_from_a_missing_one(world, people, login, who):
    case = world["case"]
    hidden_url = f"/cases/{case.id}/photos/{case.photos[0].id}"
    missing_url = f"/cases/{case.id}/photos/{case.photos[0].id + 1000}"
    hidden, missing = login(who).get(hidden_url), login(who).get(missing_url)
    assert hidden.status_code == missing.status_code == 404
    assert page_apart_from(hidden, hidden_url) == page_apart_from(missing, missing_url)
    assert "There is no such photo." in soup(hidden).select_one("main").get_text()


def test_a_photo_of_another_case_is_not_found(world, login):
    other = file(world)
    response = login("secretary").get(f"/cases/{other.id}/photos/{world['case'].photos[0].id}")
    assert response.status_code == 404


def test_internal_notes_are_hidden_from_those_who_may_not_see_them(world, people, login):
    case = world["case"]
    response = login("secretary").post(f"/cases/{case.id}/actions",
                                       {"action": "comment", "version": case.version, "text": "Resident is difficult"})
    assert response.status_code == 303
    db.session.refresh(case)
    assert not case.events[-1].public
    member_page = login("plain").get(f"/cases/{case.id}")
    assert "Resident is difficult" in member_page.get_data(as_text=True)
    for who in ("other_resident", "other_member", "anonymous"):
        page = login(who).get(f"/cases/{case.id}", follow_redirects=True)
        assert "Resident is difficult" not in page.get_data(as_text=True), who
    tracking = login("owner").get(f"/cases/{case.id}", follow_redirects=True)
    assert tracking.status_code == 200
    assert "Resident is difficult" not in tracking.get_data(as_text=True)


# --- htmx and the three answers of a mutation -------------------------------------------------

def test_the_list_answers_htmx_with_the_results_fragment(world, login):
    client = login("secretary")
    fragment = client.get("/cases?q=lamp", headers={"HX-Request": "true", "HX-Target": "case-results"})
    assert fragment.status_code == 200
    root = soup(fragment).find(True)
    assert root["id"] == "case-results" and not soup(fragment).find("html")
    assert "Lamp out at gate 2" in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers.get("Vary", "")
    page = client.get("/cases?q=lamp")
    assert soup(page).find("html") and soup(page).select_one("#case-results")


def test_the_filters_follow_the_tab_swapped_in(world, many, login):
    client = login("secretary")
    page = soup(client.get("/cases"))
    assert [i["value"] for i in page.select("input[name=tab]")] == ["open"]
    assert page.select_one("#case-results input[name=tab]")["form"] == page.select_one("form[role=search]")["id"]
    fragment = soup(client.get("/cases?tab=assigned", headers={"HX-Request": "true", "HX-Target": "case-results"}))
    assert fragment.select_one("input[name=tab]")["value"] == "assigned"
    assert fragment.select_one("#tab-assigned")["aria-current"] == "page"


def test_an_action_answers_htmx_with_the_case_body(world, login):
    case = world["case"]
    response = login("secretary").post(f"/cases/{case.id}/actions", {"action": "accept", "version": case.version},
                                       headers=HTMX)
    assert response.status_code == 200
    page = soup(response)
    assert page.find(True)["id"] == "case-body" and not page.find("html")
    assert "Accepted" in page.select_one(".case-status").get_text()
    db.session.refresh(case)
    assert case.state == State.accepted


@pytest.mark.parametrize("headers", [HTMX, {}])
def test_a_missing_field_answers_422_beside_the_field_with_the_action_open(world, login, headers):
    case = world["case"]
    response = login("secretary").post(f"/cases/{case.id}/actions",
                                       {"action": "reject", "version": case.version, "reason": "  "}, headers=headers)
    assert response.status_code == 422
    page = soup(response)
    assert bool(page.find("html")) == (not headers)
    error = page.select_one("#action-reject-reason-error")
    assert error and "Give a reason." in error.get_text()
    assert page.select_one("#action-reject-reason")["aria-invalid"] == "true"
    open_details = page.select("details[open]")
    assert len(open_details) == 1 and open_details[0].find("input", {"name": "action"})["value"] == "reject"
    db.session.refresh(case)
    assert case.state == State.submitted


@pytest.mark.parametrize("action, data, field, message", [
    ("merge", {"duplicate_of": "{self}"}, "duplicate_of", "Give an open case of the same organization."),
    ("merge", {"duplicate_of": "abc"}, "duplicate_of", "Not a valid integer value."),
    ("assign", {"assignee": "{other_member}"}, "assignee", "Not a valid choice."),
    ("escalate", {"reason": ""}, "reason", "Give a reason."),
    ("comment", {"text": "x" * 2001}, "text", "2000"),
])
def test_rules_of_the_services_and_forms_come_back_beside_the_field(world, login, action, data, field, message):
    case = drive(world["case"], State.accepted, world) if action != "merge" else world["case"]
    values = {k: v.format(self=case.id, other_member=world["other_member"].id) for k, v in data.items()}
    version = case.version
    response = login("secretary").post(f"/cases/{case.id}/actions",
                                       {"action": action, "version": version, **values}, headers=HTMX)
    assert response.status_code == 422
    page = soup(response)
    error = page.select_one(f"#action-{action}-{field}-error")
    assert error and message in error.get_text()
    assert page.select_one(f"#action-{action}-{field}").has_attr("autofocus")
    assert len(page.select("[autofocus]")) == 1
    db.session.refresh(case)
    assert case.version == version


def test_after_an_htmx_action_focus_goes_to_the_new_status(world, login):
    case = world["case"]
    client = login("secretary")
    assert not soup(client.get(f"/cases/{case.id}")).select("[autofocus]")
    response = client.post(f"/cases/{case.id}/actions", {"action": "accept", "version": case.version}, headers=HTMX)
    assert [e["id"] for e in soup(response).select("[autofocus]")] == ["status-heading"]


@pytest.mark.parametrize("who, action, status", [("plain", "escalate", 403), ("secretary", "start", 403),
                                                 ("secretary", "resolve", 403), ("secretary", "accept", 409)])
def test_refusals_go_to_the_message_area_for_htmx(world, people, login, who, action, status):
    case = drive(world["case"], State.accepted, world)
    response = login(who).post(f"/cases/{case.id}/actions",
                               {"action": action, "version": case.version, "reason": "x", "resolution": "x"},
                               headers=HTMX)
    assert response.status_code == status
    assert response.headers["HX-Retarget"] == "#flashes"
    assert not soup(response).find("html") and soup(response).get_text(strip=True)


@pytest.mark.parametrize("headers", [HTMX, {}])
def test_a_stale_form_answers_409_with_what_changed_and_changes_nothing(world, login, headers):
    case = world["case"]
    seen = case.version
    act(case, "accept", world["assignee"])
    events = db.session.scalar(select(func.count()).select_from(CaseEvent))
    response = login("secretary").post(f"/cases/{case.id}/actions",
                                       {"action": "reject", "version": seen, "reason": "Not ours."}, headers=headers)
    assert response.status_code == 409
    page = soup(response)
    assert bool(page.find("html")) == (not headers)
    body = page.select_one("#case-body")
    alert = body.select_one("[role=alert]").get_text(" ", strip=True)
    assert "changed by someone else" in alert
    assert "Accept" in alert and world["assignee"].name in alert
    assert "Accepted" in body.select_one(".case-status").get_text()
    # The fresh panel carries the new version, so the next try goes through.
    assert {int(i["value"]) for i in body.select("input[name=version]")} == {case.version}
    db.session.refresh(case)
    assert case.state == State.accepted and case.version == seen + 1
    assert db.session.scalar(select(func.count()).select_from(CaseEvent)) == events


# --- how many statements a page costs ---------------------------------------------------------

class StatementCounter:
    """Count the statements sent to the database, leaving out the BEGIN that SQLite's begin hook sends."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args):
        if not re.fullmatch(r"BEGIN( IMMEDIATE)?", statement.strip()):
            self.statements.append(statement)


def test_the_case_list_takes_at_most_ten_statements(app, world, login, make):
    other_category = Category(name="垃圾", name_en="Rubbish")
    db.session.add(other_category)
    db.session.commit()
    for n in range(22):
        case = file(world, title=f"Case {n}", category=other_category if n % 2 else world["category"],
                    priority=Priority.urgent if n % 3 == 0 else Priority.normal)
        if n % 4 == 0:
            drive(case, State.assigned, world)
    client = login("secretary")
    with StatementCounter(db.engine) as counter:
        response = client.get("/cases")
    assert response.status_code == 200
    assert len(soup(response).select(".case-table tbody tr")) == 20
    assert len(counter.statements) <= 10, "\n\n".join(counter.statements)


@pytest.mark.parametrize("who", ["secretary", "assignee", "evaluator"])
def test_the_case_page_takes_at_most_ten_statements(app, world, people, login, who):
    case = world["case"]
    drive(case, State.in_progress, world)
    act(case, "comment", world["member"], text="Internal", public=False)
    act(case, "comment", people["plain"], text="Seen it")
    url = f"/cases/{case.id}"  # built before counting: the test's own session would reload the case
    client = login(who)
    with StatementCounter(db.engine) as counter:
        response = client.get(url)
    assert response.status_code == 200
    page = soup(response)
    assert page.select(".photos img") and "Seen it" in page.select_one(".timeline").get_text()
    assert bool(page.select("#action-panel details")) == (who != "evaluator")
    assert len(counter.statements) <= 10, "\n\n".join(counter.statements)


# --- the list ---------------------------------------------------------------------------------

def rows(response) -> list[str]:
    return [tr.find("a").get_text() for tr in soup(response).select(".case-table tbody tr") if tr.find("a")]


def tab_counts(response) -> dict[str, int]:
    counts = {}
    for link in soup(response).select("nav.tabs a"):
        tab = re.search(r"tab=(\w+)", link["href"]).group(1)
        counts[tab] = int(link.select_one(".count").get_text())
    return counts


@pytest.fixture
def many(world):
    """Cases in several states, categories, priorities and deadlines, in the world's community."""
    now = utcnow()
    rubbish = Category(name="垃圾", name_en="Rubbish")
    db.session.add(rubbish)
    db.session.commit()
    cases = {
        "late": file(world, title="Late drain", address="North gate", now=now - timedelta(days=3)),
        "urgent": file(world, title="Gas smell", address="Block 7", priority=Priority.urgent,
                       now=now - timedelta(minutes=30)),
        "rubbish": file(world, title="Bins full", address="East yard", category=rubbish,
                        now=now - timedelta(minutes=20)),
        "assigned": drive(file(world, title="Loose tile", address="Block 3", now=now - timedelta(minutes=10)),
                          State.assigned, world),
        "closed": file(world, title="Old request", address="Block 9", now=now - timedelta(minutes=5)),
    }
    act(cases["closed"], "reject", world["member"], reason="Not ours.")
    return cases


def test_tabs_count_cases_per_state(world, many, login):
    counts = tab_counts(login("secretary").get("/cases"))
    assert counts["open"] == 5 and counts["submitted"] == 4 and counts["assigned"] == 1
    assert counts["all"] == 6 and counts["closed"] == 0 and counts["rejected"] == 1
    assert set(counts) == {"open", "all", *(state.value for state in State)}
    rejected = login("secretary").get("/cases?tab=rejected")
    assert rows(rejected) == ["Old request"]


@pytest.mark.parametrize("query, expected", [
    ("priority=urgent", {"Gas smell"}),
    ("overdue=1", {"Late drain"}),
    ("tab=all&q=BLOCK", {"Gas smell", "Loose tile", "Old request"}),
    ("q=drain", {"Late drain"}),
    ("q=east+yard", {"Bins full"}),
])
def test_filters_and_search(world, many, login, query, expected):
    assert set(rows(login("secretary").get(f"/cases?{query}"))) == expected


def test_filter_by_category_and_search_by_number_and_code(world, many, login):
    client = login("secretary")
    rubbish = many["rubbish"]
    assert rows(client.get(f"/cases?category={rubbish.category_id}")) == ["Bins full"]
    assert rows(client.get(f"/cases?q=%23{many['urgent'].id}")) == ["Gas smell"]
    assert rows(client.get(f"/cases?q={many['late'].tracking_code.lower()}")) == ["Late drain"]


def test_assigned_to_me(world, many, login):
    assert rows(login("assignee").get("/cases?mine=1")) == ["Loose tile"]
    assert rows(login("secretary").get("/cases?mine=1")) == []


def test_filter_by_organization_for_the_township_evaluator(world, make, many, login):
    neighbour = make.organization(parent=world["township"], name="Summer")
    file(world, title="Summer pothole", organization=neighbour)
    client = login("evaluator")
    assert "Summer pothole" in rows(client.get("/cases"))
    assert rows(client.get(f"/cases?organization={neighbour.id}")) == ["Summer pothole"]
    options = [o.get_text() for o in soup(client.get("/cases")).select("#organization option")]
    assert "Summer" in options and "Autumn" not in options


@pytest.mark.parametrize("sort, expected", [
    ("newest", ["Lamp out at gate 2", "Loose tile", "Bins full", "Gas smell", "Late drain"]),
    ("oldest", ["Late drain", "Gas smell", "Bins full", "Loose tile", "Lamp out at gate 2"]),
    ("due", ["Late drain", "Gas smell", "Bins full", "Lamp out at gate 2", "Loose tile"]),
    ("priority", ["Gas smell", "Late drain", "Bins full", "Lamp out at gate 2", "Loose tile"]),
])
def test_sorting(world, many, login, sort, expected):
    # The fixture back-dates its cases, so the world's case is the newest.
    assert rows(login("secretary").get(f"/cases?sort={sort}")) == expected


def test_pagination(world, login):
    for n in range(21):
        file(world, title=f"Case {n}")
    client = login("secretary")
    first = client.get("/cases")
    assert len(rows(first)) == 20
    assert "Page 1 of 2" in first.get_data(as_text=True)
    next_link = soup(first).select_one(".pagination a[rel=next]")["href"]
    second = client.get(next_link)
    assert len(rows(second)) == 2 and "Page 2 of 2" in second.get_data(as_text=True)
    assert not set(rows(first)) & set(rows(second))


BAD_QUERIES = {
    "tab=nope": "There is no tab “nope”.",
    "sort=drop-table": "Cases cannot be sorted by “drop-table”.",
    "tab=open&sort=1;DROP TABLE cases": "Cases cannot be sorted by “1;DROP TABLE cases”.",
    "priority=x": "There is no priority “x”.",
    "category=abc": "Choose a category from the list.",
    "category=99999999999999999999": "Choose a category from the list.",
    "organization=%27": "Choose an organization from the list.",
    "organization=99999999999999999999": "Choose an organization from the list.",
    "page=x": "Page numbers are whole numbers from 1.",
    "page=0": "Page numbers are whole numbers from 1.",
    "page=-3": "Page numbers are whole numbers from 1.",
    "page=%C2%B2": "Page numbers are whole numbers from 1.",
    "page=99999999999999999999": "Page numbers are whole numbers from 1.",
}


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Target": "case-results"}])
def test_bad_list_parameters_answer_422_with_a_message(world, login, headers):
    client = login("secretary")
    answers = {}
    for query, message in BAD_QUERIES.items():
        response = client.get(f"/cases?{query}", headers=headers)
        answers[query] = (response.status_code, message in soup(response).get_text())
    assert answers == {query: (422, True) for query in BAD_QUERIES}


@pytest.mark.parametrize("query", [
    "page=99", "category=999", "q=" + "x" * 500, "q=%2399999999999999999999", "q=99999999999999999999", "q=%C2%B2",
])
def test_odd_searches_and_empty_pages_do_no_harm(world, login, query):
    response = login("secretary").get(f"/cases?{query}")
    assert response.status_code == 200
    assert rows(response) == []


def test_control_characters_in_the_search_are_refused(world, login):
    response = login("secretary").get("/cases?q=%00lamp%07")
    assert response.status_code == 422
    assert "This field contains characters that are not allowed." in soup(response).get_text()


def test_evaluators_see_only_their_subtree_and_admins_everything(world, login):
    file(world, title="Autumn leak", organization=world["other_community"])
    assert "Autumn leak" not in rows(login("evaluator").get("/cases"))
    assert "Autumn leak" not in rows(login("secretary").get("/cases"))
    assert "Autumn leak" in rows(login("other_member").get("/cases"))
    assert {"Autumn leak", "Lamp out at gate 2"} <= set(rows(login("admin").get("/cases")))


@pytest.mark.parametrize("who, status", [("owner", 403), ("other_resident", 403), ("anonymous", 302)])
def test_residents_have_no_case_list(world, login, who, status):
    assert login(who).get("/cases").status_code == status


# --- supervision ------------------------------------------------------------------------------

@pytest.mark.parametrize("who, status", [
    ("secretary", 200), ("evaluator", 200), ("admin", 200),
    ("plain", 403), ("assignee", 403), ("owner", 403), ("other_member", 403), ("anonymous", 302),
])
def test_supervision_list(world, people, login, who, status):
    file(world, title="Forgotten drain", now=utcnow() - timedelta(days=5))
    response = login(who).get("/cases/supervision")
    assert response.status_code == status
    if status == 200:
        text = response.get_data(as_text=True)
        assert "Forgotten drain" in text and "Lamp out at gate 2" not in text


# --- categories -------------------------------------------------------------------------------

def test_admin_lists_adds_and_edits_categories(world, login):
    client = login("admin")
    assert "Street lights" in client.get("/admin/categories/").get_data(as_text=True)
    assert client.get("/admin/categories/new").status_code == 200
    response = client.post("/admin/categories/new", {
        "name": "绿化", "name_en": "Greenery", "active": "y", "urgent_respond_hours": 2, "urgent_resolve_hours": 48,
        "normal_respond_hours": 24, "normal_resolve_hours": 240,
    })
    assert response.status_code == 303
    greenery = db.session.scalar(select(Category).where(Category.name == "绿化"))
    assert greenery.urgent_resolve_hours == 48
    edit = f"/admin/categories/{greenery.id}/edit"
    assert client.get(edit).status_code == 200
    response = client.post(edit, {
        "name": "绿化", "name_en": "Green spaces", "urgent_respond_hours": 2, "urgent_resolve_hours": 48,
        "normal_respond_hours": 24, "normal_resolve_hours": 240,
    })
    assert response.status_code == 303
    db.session.refresh(greenery)
    assert greenery.name_en == "Green spaces" and not greenery.active
    listing = client.get("/admin/categories/").get_data(as_text=True)
    assert "Green spaces" in listing and "2 days" in listing


@pytest.mark.parametrize("path", ["new", "edit"])
def test_category_names_are_unique(world, login, path):
    client = login("admin")
    if path == "edit":
        other = Category(name="绿化", name_en="Greenery")
        db.session.add(other)
        db.session.commit()
        url = f"/admin/categories/{other.id}/edit"
    else:
        url = "/admin/categories/new"
    response = client.post(url, {"name": "路灯", "name_en": "Lamps", "urgent_respond_hours": 1,
                                 "urgent_resolve_hours": 24, "normal_respond_hours": 24, "normal_resolve_hours": 168})
    assert response.status_code == 422
    assert "exists already" in soup(response).select_one("#name-error").get_text()
    assert db.session.scalar(select(func.count()).select_from(Category).where(Category.name == "路灯")) == 1


def test_category_hours_must_be_positive(world, login):
    response = login("admin").post("/admin/categories/new", {
        "name": "绿化", "name_en": "Greenery", "urgent_respond_hours": 0, "urgent_resolve_hours": 24,
        "normal_respond_hours": 24, "normal_resolve_hours": 168,
    })
    assert response.status_code == 422
    assert soup(response).select_one("#urgent_respond_hours-error")
    assert db.session.scalar(select(Category).where(Category.name == "绿化")) is None


def test_editing_a_missing_category_is_not_found(world, login):
    assert login("admin").get("/admin/categories/9999/edit").status_code == 404


@pytest.mark.parametrize("who", ["secretary", "evaluator", "owner"])
def test_categories_are_for_administrators(world, login, who):
    client = login(who)
    edit = f"/admin/categories/{world['category'].id}/edit"
    answers = {
        "list": client.get("/admin/categories/").status_code,
        "new": client.get("/admin/categories/new").status_code,
        "edit": client.get(edit).status_code,
        "add": client.post("/admin/categories/new", {"name": "x"}).status_code,
        "save": client.post(edit, {"name": "x"}).status_code,
    }
    assert answers == dict.fromkeys(answers, 403)
    assert db.session.scalar(select(func.count()).select_from(Category)) == 1


# --- pages in both languages ------------------------------------------------------------------

@pytest.mark.parametrize("headers", LANGUAGES)
def test_pages_have_unique_ids_in_both_languages(world, many, login, headers):
    accepted = drive(file(world, title="Accepted one"), State.accepted, world)
    in_progress = drive(file(world, title="Working on it"), State.in_progress, world)
    pages = {
        "secretary": ["/cases", "/cases?tab=all&sort=due", f"/cases/{world['case'].id}", f"/cases/{accepted.id}",
                      "/cases/supervision"],
        "assignee": [f"/cases/{in_progress.id}"],
        "evaluator": ["/cases", f"/cases/{accepted.id}", "/cases/supervision"],
        "admin": ["/admin/categories/", "/admin/categories/new", f"/admin/categories/{world['category'].id}/edit",
                  "/cases"],
    }
    for who, urls in pages.items():
        for url in urls:
            response = login(who).get(url, headers=headers)
            assert response.status_code == 200, url
            assert not duplicate_ids(response), (url, duplicate_ids(response))
    # The secretary's panel on an accepted case holds several forms at once.
    panel = soup(login("secretary").get(f"/cases/{accepted.id}", headers=headers))
    names = [i["value"] for i in panel.select("#action-panel input[name=action]")]
    assert names == ["merge", "assign", "escalate", "comment"]
    for label in panel.select("#action-panel label[for]"):
        assert panel.find(id=label["for"]), label["for"]


@pytest.mark.parametrize("headers", LANGUAGES)
def test_error_answers_have_unique_ids_in_both_languages(world, login, headers):
    case = world["case"]
    client = login("secretary")
    answers = [
        client.post(f"/cases/{case.id}/actions", {"action": "reject", "version": case.version}, headers=headers),
        client.get("/cases?tab=nope", headers=headers),
        login("admin").post("/admin/categories/new", {"name": ""}, headers=headers),
    ]
    act(case, "comment", world["assignee"], text="Seen")
    act(case, "accept", world["assignee"])
    answers.append(client.post(f"/cases/{case.id}/actions", {"action": "reject", "version": 1, "reason": "x"},
                               headers=headers))
    assert [r.status_code for r in answers] == [422, 422, 422, 409]
    for response in answers:
        assert not duplicate_ids(response)


def test_chinese_pages_are_in_chinese(world, login):
    zh = LANGUAGES[1]
    page = soup(login("secretary").get(f"/cases/{world['case'].id}", headers=zh))
    assert page.html["lang"] == "zh-Hans"
    assert page.select_one("#status-heading").get_text() == "状态"
    assert "路灯" in page.select_one("hgroup").get_text()
