"""Rows the bench endpoints need beyond the demo data, and the requests that use them up.

Everything runs in the bench process on the project app bound to the bench database. Bulk rows
go in with SQLAlchemy Core; what has rules of its own (the survey, its invitation codes) goes
through the real services. Each request a write endpoint sends takes a fresh case, voter or
code, so that every one of them does the whole job instead of hitting a conflict.
"""
from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlencode

from flask import Flask, session
from flask_login import login_user, user_logged_in
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, insert, select

import formkeys
from accounts.auth import SIGN_IN_KEY, password_hasher
from accounts.models import Organization, OrgLevel, RegisterEntry, Role, RoleGrant, User
from accounts.sessions import SignIn
from db import utcnow
from demo.cases import REQUESTS
from demo.people import DEMO_PASSWORD
from extensions import db, writing
from session_store import StoredSession
from surveys.ballot_views import CODE_KEY
from surveys.builder import create_survey, set_targets
from surveys.codes import MAX_CODES_PER_BATCH, generate_codes
from surveys.models import Anonymity, Invitation, Survey, SurveyKind
from surveys.transitions import open_survey
from workflow.machine import State
from workflow.models import Case, Category, Priority

HOST = "127.0.0.1"
#: Sent by every client of the run, so that Flask-Login's session identifier stays the same.
USER_AGENT = "lianxin-bench"
#: The demo community whose secretary and member `sec.chunhui` lists and accepts cases.
HOME_COMMUNITY = "春晖社区"
ACCEPTER = "sec.chunhui"
#: Cases added for the case list, most of them in the home community.
LIST_CASES = 10_000
HOME_SHARE = 0.9
#: How the list's cases are spread over the states: an office with years of closed cases.
STATE_WEIGHTS = {
    State.submitted: 8, State.accepted: 6, State.assigned: 6, State.in_progress: 10, State.on_hold: 4,
    State.resolved: 6, State.closed: 50, State.rejected: 5, State.withdrawn: 3, State.merged: 2,
}
#: The free-text answer a third of the voters give.
COMMENT = "希望继续保持，多听听居民的意见。"


class Request(NamedTuple):
    """One request of a feed: the path, the Cookie header (empty: the side's own) and the form body."""

    path: str
    cookie: str
    body: str


def add_list_cases(app: Flask, now: datetime, count: int = LIST_CASES) -> int:
    """Add `count` cases of every state, most in the home community; return how many cases there are."""
    rng = random.Random(2028)
    with app.app_context(), writing():
        communities = db.session.scalars(select(Organization).where(Organization.level == OrgLevel.community)).all()
        home = next(c for c in communities if c.name == HOME_COMMUNITY)
        others = [c for c in communities if c is not home]
        people = {c.id: _people(c.id) for c in communities}
        categories = db.session.scalars(select(Category).order_by(Category.id)).all()
        states, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
        first = _next_case_id()
        rows = []
        for n in range(count):
            community = home if rng.random() < HOME_SHARE else rng.choice(others)
            state = rng.choices(states, weights)[0]
            rows.append(_case_row(rng, first + n, state, community, rng.choice(categories), people[community.id], now))
        db.session.execute(insert(Case.__table__), rows)
        db.session.commit()
        total = db.session.scalar(select(func.count()).select_from(Case))
        db.session.remove()
    return total


def accept_requests(app: Flask, cookie: str, csrf_token: str, count: int, now: datetime) -> list[Request]:
    """Add `count` submitted cases of the home community; return one "accept" request for each."""
    rng = random.Random(2029)
    with app.app_context(), writing():
        home = db.session.scalar(select(Organization).where(Organization.name == HOME_COMMUNITY))
        categories = db.session.scalars(select(Category).order_by(Category.id)).all()
        people = _people(home.id)
        first = _next_case_id()
        rows = [_case_row(rng, first + n, State.submitted, home, rng.choice(categories), people, now)
                for n in range(count)]
        table = Case.__table__
        returning_ids = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = db.session.execute(returning_ids, rows).scalars().all()
        holder = formkeys.user_holder(db.session.scalar(select(User.id).where(User.username == ACCEPTER)))
        db.session.commit()
        db.session.remove()
    # Every case is new, so version 1 is the one its page would have shown, with a form key of its own.
    secret = app.config["SECRET_KEY"].encode()
    return [Request(f"/cases/{case_id}/actions", cookie, urlencode({
        "csrf_token": csrf_token, "action": "accept", "version": 1, "form_key": formkeys.issue(secret, holder, now),
    })) for case_id in ids]


def _next_case_id() -> int:
    return (db.session.scalar(select(func.max(Case.id))) or 0) + 1


def _people(community_id: int) -> dict[str, list[int]]:
    grants = db.session.execute(
        select(RoleGrant.role, RoleGrant.user_id).where(RoleGrant.organization_id == community_id)
        .order_by(RoleGrant.user_id)
    ).all()
    return {
        "members": [user_id for role, user_id in grants if role == Role.member],
        "residents": [user_id for role, user_id in grants if role == Role.resident],
    }


def _case_row(rng: random.Random, number: int, state: State, community: Organization, category: Category,
              people: dict[str, list[int]], now: datetime) -> dict:
    """Return a case's columns with times that agree with its state, as the services would have left them."""
    title, description, address = rng.choice(REQUESTS[category.name])
    priority = Priority.urgent if rng.random() < 0.1 else Priority.normal
    # Open cases are recent; finished ones go back two years.
    submitted = now - timedelta(days=rng.uniform(0.01, 30) if state.is_open else rng.uniform(30, 730))
    resident = rng.choice(people["residents"]) if people["residents"] and rng.random() < 0.85 else None
    row = {
        # Longer than the service's codes, so never one of theirs.
        "tracking_code": f"BENCH{number:07d}", "category_id": category.id, "priority": priority, "title": title,
        "description": description, "address": f"{community.name}{address}", "contact_name": "居民",
        "contact_phone": "13900000000", "resident_id": resident, "organization_id": community.id,
        "assignee_id": None, "duplicate_of_id": None, "state": state, "version": 1,
        "submitted_at": submitted, "responded_at": None, "accepted_at": None, "resolved_at": None,
        "closed_at": None, "respond_due_at": submitted + timedelta(hours=category.respond_hours(priority)),
        "resolve_due_at": None, "hold_started_at": None, "overdue": False, "supervised_at": None,
        "round": 1, "reopen_count": 0, "created_at": submitted,
    }
    if state in (State.submitted, State.withdrawn):
        row["closed_at"] = submitted + timedelta(hours=2) if state == State.withdrawn else None
        row["overdue"] = state == State.submitted and now > row["respond_due_at"]
        return row
    responded = submitted + timedelta(hours=rng.uniform(0.2, category.respond_hours(priority)))
    row["responded_at"] = responded
    if state in (State.rejected, State.merged):
        row["closed_at"] = responded
        return row
    row["accepted_at"] = responded
    row["resolve_due_at"] = responded + timedelta(hours=category.resolve_hours(priority))
    if state != State.accepted and people["members"]:
        row["assignee_id"] = rng.choice(people["members"])
    if state == State.on_hold:
        row["hold_started_at"] = min(responded + timedelta(hours=rng.uniform(1, 48)), now)
    if state in (State.resolved, State.closed):
        row["resolved_at"] = min(responded + timedelta(hours=rng.uniform(2, 150)), now)
    if state == State.closed:
        row["closed_at"] = min(row["resolved_at"] + timedelta(days=rng.uniform(0.5, 7)), now)
    row["overdue"] = state.is_open and row["resolve_due_at"] < now
    return row


# --- the democratic evaluation --------------------------------------------------------------

class Evaluation(NamedTuple):
    """The open evaluation the ballot endpoints vote in."""

    survey_id: int
    community_ids: list[int]
    #: (key, options) of each question; options is empty for the free-text question.
    questions: list[tuple[str, tuple[str, ...]]]


def open_evaluation(app: Flask, now: datetime) -> Evaluation:
    """Create and open a democratic evaluation of all the communities, as the district's evaluator would."""
    with app.app_context(), writing():
        evaluator = db.session.scalar(select(User).where(User.username == "eval.district"))
        survey = create_survey(
            evaluator, title="Bench evaluation", description="", kind=SurveyKind.democratic_evaluation,
            anonymity=Anonymity.anonymous, opens_at=now, closes_at=now + timedelta(days=7), min_group_size=5,
            owner_organization_id=None,
        )
        community_ids = list(db.session.scalars(
            select(Organization.id).where(Organization.level == OrgLevel.community).order_by(Organization.id)
        ))
        set_targets(evaluator, survey, community_ids)
        open_survey(evaluator, survey, now, box_key=app.config["BALLOT_BOX_KEY"])
        db.session.commit()
        questions = [(f"q{q.id}", q.option_values()) for q in survey.questions]
        evaluation = Evaluation(survey.id, community_ids, questions)
        db.session.remove()
    return evaluation


def _answers(rng: random.Random, evaluation: Evaluation) -> dict[str, str]:
    answers = {}
    for key, options in evaluation.questions:
        if options:
            answers[key] = rng.choice(options)
        elif rng.random() < 1 / 3:
            answers[key] = COMMENT
    return answers


def resident_ballot_requests(app: Flask, evaluation: Evaluation, count: int) -> list[Request]:
    """Add `count` verified residents, each signed in; return one ballot by account for each."""
    rng = random.Random(2030)
    with app.app_context(), writing():
        password_hash = password_hasher().hash(DEMO_PASSWORD)  # once: every bench resident shares it
        now = utcnow()
        first = 10_000_000 + db.session.scalar(select(func.count()).select_from(User))
        communities = [evaluation.community_ids[n % len(evaluation.community_ids)] for n in range(count)]
        entries, users = RegisterEntry.__table__, User.__table__
        entry_ids = db.session.execute(insert(entries).returning(entries.c.id, sort_by_parameter_order=True), [
            {"community_id": community, "name": f"居民{n}", "phone": f"139{first + n:08d}",
             "household": f"{n // 40 + 1}号楼", "imported_at": now}
            for n, community in enumerate(communities)
        ]).scalars().all()
        user_ids = db.session.execute(insert(users).returning(users.c.id, sort_by_parameter_order=True), [
            {"username": f"139{first + n:08d}", "name": f"居民{n}", "phone": f"139{first + n:08d}",
             "password_hash": password_hash, "active": True, "locale": None, "register_entry_id": entry_id,
             "session_version": 1, "created_at": now, "last_login_at": None}
            for n, entry_id in enumerate(entry_ids)
        ]).scalars().all()
        db.session.execute(insert(RoleGrant.__table__), [
            {"user_id": user_id, "role": Role.resident, "organization_id": community}
            for user_id, community in zip(user_ids, communities)
        ])
        db.session.commit()
        db.session.remove()
    path = f"/surveys/{evaluation.survey_id}/ballot"
    requests = []
    users = [User(id=user_id, session_version=1, active=True) for user_id in user_ids]
    for (cookie, token), user_id in zip(sessions_cookies(app, users), user_ids):
        requests.append(Request(path, cookie, urlencode({"csrf_token": token, **_answers(rng, evaluation)})))
    return requests


def code_ballot_requests(app: Flask, evaluation: Evaluation, count: int) -> list[Request]:
    """Issue `count` invitation codes through the service; return one ballot by code for each."""
    rng = random.Random(2031)
    codes: list[str] = []
    with app.app_context(), writing():
        evaluator = db.session.scalar(select(User).where(User.username == "eval.district"))
        survey = db.session.get(Survey, evaluation.survey_id)
        key = app.config["CODE_HASH_KEY"]
        while len(codes) < count:
            community = evaluation.community_ids[len(codes) // MAX_CODES_PER_BATCH
                                                 % len(evaluation.community_ids)]
            batch = min(count - len(codes), MAX_CODES_PER_BATCH)
            codes += generate_codes(evaluator, survey, community, batch, key, utcnow())
        db.session.commit()
        db.session.remove()
    path = f"/vote/{evaluation.survey_id}"
    requests = []
    # As after the code was taken at /vote: the checked code waits in the session and comes back in the form.
    cookies = sessions_cookies(app, [None] * len(codes), [{CODE_KEY: code} for code in codes])
    for code, (cookie, token) in zip(codes, cookies):
        body = urlencode({"csrf_token": token, "code": code, **_answers(rng, evaluation)})
        requests.append(Request(path, cookie, body))
    return requests


def bare_ballot_requests(app: Flask, evaluation: Evaluation, count: int, seed: int) -> list[Request]:
    """Add `count` invitations for the bare endpoint's participations; return one bare ballot for each."""
    rng = random.Random(seed)
    with app.app_context(), writing():
        now = utcnow()
        communities = [evaluation.community_ids[n % len(evaluation.community_ids)] for n in range(count)]
        table = Invitation.__table__
        ids = db.session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), [
            {"survey_id": evaluation.survey_id, "organization_id": community,
             "code_hash": secrets.token_hex(32), "created_at": now}
            for community in communities
        ]).scalars().all()
        db.session.commit()
        db.session.remove()
    return [
        Request("/ballot-bare", "", urlencode({"survey": evaluation.survey_id, "organization": community,
                                               "invitation": invitation_id, **_answers(rng, evaluation)}))
        for invitation_id, community in zip(ids, communities)
    ]


def sessions_cookies(app: Flask, users: list[User | None], extras: list[dict] | None = None) -> list[tuple[str, str]]:
    """Store a server-side session for each user (or anonymous visitor); return each one's Cookie header and
    the CSRF token its forms carry.

    With a user, the session is signed in as /login leaves it (Flask-Login's keys and a sign-in row);
    the session identifier matches wrk's requests, so Flask-Login never rewrites it. Written in bulk:
    one request context each, one insert for all.
    """
    now = utcnow()
    sign_ins, stored, cookies = [], [], []
    for user, extra in zip(users, extras or [{}] * len(users)):
        with app.test_request_context("/", headers={"User-Agent": USER_AGENT}, environ_base={"REMOTE_ADDR": HOST}), \
                user_logged_in.muted():
            if user is not None:
                login_user(user)
                session[SIGN_IN_KEY] = secrets.token_urlsafe(32)
                sign_ins.append({"id": session[SIGN_IN_KEY], "user_id": user.id, "created_at": now,
                                 "last_seen_at": now, "device": USER_AGENT})
            session.update(extra)
            token = generate_csrf()
            stored.append({"id": session.sid, "data": app.session_interface.serializer.encode(session),
                           "expires_at": now + app.permanent_session_lifetime})
            cookies.append((f"{app.config['SESSION_COOKIE_NAME']}={session.sid}", token))
    with app.app_context(), writing():
        if sign_ins:
            db.session.execute(insert(SignIn), sign_ins)
        db.session.execute(insert(StoredSession), stored)
        db.session.commit()
        db.session.remove()
    return cookies