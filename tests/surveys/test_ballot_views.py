"""Residents' ballot pages: who may answer, validation, exactly once (also under races), codes, no logging."""
from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from flask_babel import force_locale, format_datetime
from sqlalchemy import event, func, select

from accounts.models import RegisterEntry, Role
from accounts.users import match_register_entry
from db import utcnow
from extensions import db
from surveys import builder, transitions
from surveys.codes import format_code, generate_codes
from surveys.models import Anonymity, Ballot, Envelope, Participation, QuestionType, Survey, SurveyKind, SurveyTarget
from surveys.tasks import run_tally
from tests.conftest import BOX_KEY, Client
from tests.helpers import duplicate_ids, soup
from tests.surveys.rollups import rollup_counts

RACERS = 16
SECRET_COMMENT = "my-very-private-remark-7f3a"


def verified_resident(make, community, username: str | None = None):
    """Create a resident of the community whom the register lists, so that they are verified."""
    user = make.user((Role.resident, community), username=username, phone=f"139{make._next():08d}")
    db.session.add(RegisterEntry(community_id=community.id, name=user.name, phone=user.phone))
    db.session.flush()
    assert match_register_entry(user)
    db.session.commit()
    return user


def make_survey(world, *, state: str = "open", kind: SurveyKind = SurveyKind.democratic_evaluation,
                anonymity: Anonymity = Anonymity.anonymous, title: str = "2025 evaluation of secretaries") -> Survey:
    """Build a survey of the world's community in the given state, through the services."""
    evaluator, now = world["evaluator"], utcnow()
    opens_at = now + timedelta(days=2) if state == "future" else now - timedelta(hours=1)
    survey = builder.create_survey(
        evaluator, title=title, description="Tell us how your secretary did this year.", kind=kind,
        anonymity=anonymity, opens_at=opens_at, closes_at=now + timedelta(days=7), min_group_size=5,
        owner_organization_id=None,
    )
    if kind != SurveyKind.democratic_evaluation:
        builder.add_question(evaluator, survey, qtype=QuestionType.likert5, text="The office is easy to reach.",
                             required=True, allow_dont_know=False, choices=[])
        builder.add_question(evaluator, survey, qtype=QuestionType.single_choice, text="How did you come?",
                             required=False, allow_dont_know=False, choices=["On foot", "By bus"])
    builder.set_targets(evaluator, survey, [world["community"].id])
    if state != "draft":
        transitions.open_survey(evaluator, survey, now, immediately=state != "future", box_key=BOX_KEY)
    if state == "closed":
        transitions.close_survey(evaluator, survey, now + timedelta(seconds=1))
    db.session.commit()
    return survey


def full_answers(survey: Survey, comment: str = "Keep it up.") -> dict[str, str]:
    """Answer every question: the first option of each closed question, and the comment."""
    return {
        f"q{q.id}": comment if q.type == QuestionType.free_text else q.option_values()[0] for q in survey.questions
    }


def codes_for(app, world, survey: Survey, count: int = 1) -> list[str]:
    codes = generate_codes(world["evaluator"], survey, world["community"].id, count,
                           key=app.config["CODE_HASH_KEY"], now=utcnow())
    db.session.commit()
    return codes


def stored(survey: Survey) -> tuple[int, int]:
    """Return (envelopes, ballots) of the survey: sealed while it is open, ballots once counted (or identified)."""
    envelopes = db.session.scalar(select(func.count()).select_from(Envelope).where(Envelope.survey_id == survey.id))
    ballots = db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.survey_id == survey.id))
    return envelopes, ballots


def counts(survey: Survey) -> tuple[int, int]:
    """Return (ballots taken, sealed or not, participations)."""
    participations = db.session.scalar(
        select(func.count()).select_from(Participation).where(Participation.survey_id == survey.id))
    return sum(stored(survey)), participations


def close_and_count(world, survey: Survey) -> None:
    """Close the survey now and run its tally, as closing it on its page does."""
    transitions.close_survey(world["evaluator"], db.session.get(Survey, survey.id), utcnow())
    db.session.commit()
    run_tally(survey.id, utcnow())


def target_of(survey: Survey, world) -> SurveyTarget:
    return db.session.get(SurveyTarget, (survey.id, world["community"].id))


def ballot_url(survey: Survey) -> str:
    return f"/surveys/{survey.id}/ballot"


@pytest.fixture
def voter(client, make, world):
    """A verified resident of the world's community, logged in."""
    user = verified_resident(make, world["community"], username="voter")
    client.login("voter")
    return user


# --- by account ---------------------------------------------------------------------------

def test_open_surveys_list_links_to_the_ballot_and_marks_taking_part(client, world, voter):
    survey = make_survey(world)
    page = client.get("/surveys/open")
    assert page.status_code == 200
    assert soup(page).find("a", href=ballot_url(survey))
    client.post(ballot_url(survey), full_answers(survey))
    page = client.get("/surveys/open")
    assert not soup(page).find("a", href=ballot_url(survey))
    assert "You have taken part" in page.get_data(as_text=True)


def test_open_surveys_list_needs_login(client, world):
    assert client.get("/surveys/open").status_code == 302


def test_ballot_page_names_the_secretary_and_explains_anonymity(client, world, voter):
    survey = make_survey(world)
    page = client.get(ballot_url(survey))
    assert page.status_code == 200
    html = soup(page)
    subject = html.find(class_="ballot-subject").get_text()
    assert world["member"].name in subject and "Spring" in subject
    privacy = html.find(class_="ballot-privacy")
    assert "nobody, administrators included and even with the whole database and its logs, can tell which " \
        "answers are yours" in " ".join(privacy.get_text().split())
    assert privacy.find("a", href="/privacy/ballots")
    fieldsets = html.find_all("fieldset", class_="ballot-question")
    assert [f["id"] for f in fieldsets] == [f"q{q.id}-group" for q in survey.questions]
    assert all(f.find("legend") for f in fieldsets)
    first = survey.questions[0]
    assert [i["value"] for i in html.find_all("input", attrs={"name": f"q{first.id}"})] == \
        ["satisfied", "basically_satisfied", "dissatisfied", "dont_know"]
    assert "Don't know" in fieldsets[0].get_text()
    comment = survey.questions[-1]
    assert html.find("textarea", attrs={"name": f"q{comment.id}"})["maxlength"] == "2000"


def test_vote_by_account(client, world, voter):
    survey = make_survey(world)
    response = client.post(ballot_url(survey), full_answers(survey))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/vote/thanks")
    thanks = client.get(response.headers["Location"])
    assert thanks.status_code == 200
    assert "Keep it up." not in thanks.get_data(as_text=True)
    assert counts(survey) == (1, 1)
    assert target_of(survey, world).ballots == 1
    # Sealed while the survey is open: nothing counted yet.
    assert stored(survey) == (1, 0) and rollup_counts(survey) == {}
    participation = db.session.scalar(select(Participation).where(Participation.survey_id == survey.id))
    assert participation.resident_id == voter.id and participation.ballot_id is None
    close_and_count(world, survey)
    assert stored(survey) == (0, 1)
    rollups = rollup_counts(survey)
    assert sum(rollups.values()) == len(survey.questions)
    assert rollups[(world["community"].id, survey.questions[0].id, "satisfied")] == 1


def test_second_vote_is_refused_as_already_taken_part(client, world, voter):
    survey = make_survey(world)
    assert client.post(ballot_url(survey), full_answers(survey)).status_code == 303
    again = client.post(ballot_url(survey), full_answers(survey))
    assert again.status_code == 409
    assert "already taken part" in again.get_data(as_text=True)
    page = client.get(ballot_url(survey))
    assert page.status_code == 409
    assert "already taken part" in page.get_data(as_text=True)
    assert counts(survey) == (1, 1)
    assert target_of(survey, world).ballots == 1


def test_unverified_resident_is_refused(client, world):
    survey = make_survey(world)
    client.login("resident")
    for response in (client.get(ballot_url(survey)), client.post(ballot_url(survey), full_answers(survey))):
        assert response.status_code == 403
        text = response.get_data(as_text=True)
        assert "not verified" in text
        assert 'href="/vote"' in text
    assert counts(survey) == (0, 0)


def test_resident_of_another_community_is_refused(client, world, make):
    survey = make_survey(world)
    verified_resident(make, world["other_community"], username="autumn.resident")
    client.login("autumn.resident")
    for response in (client.get(ballot_url(survey)), client.post(ballot_url(survey), full_answers(survey))):
        assert response.status_code == 403
        assert "not part of this survey" in response.get_data(as_text=True)
    assert counts(survey) == (0, 0)


@pytest.mark.parametrize("state, reason", [
    ("draft", "still being prepared"), ("closed", "has closed"), ("future", "opens on"),
])
def test_survey_not_taking_answers_is_refused_with_the_reason(client, world, voter, state, reason):
    survey = make_survey(world, state=state)
    for response in (client.get(ballot_url(survey)), client.post(ballot_url(survey), full_answers(survey))):
        assert response.status_code == 409
        assert reason in response.get_data(as_text=True)
    assert counts(survey) == (0, 0)


@pytest.mark.parametrize("locale, sentence", [
    ("en", "This survey opens on {date}."), ("zh_Hans", "该问卷将于{date}开始。"),
])
def test_a_scheduled_survey_names_its_opening_time_in_the_reader_s_zone_and_language(app, client, world, voter,
                                                                                      locale, sentence):
    survey = make_survey(world, state="future")
    code = codes_for(app, world, survey)[0]
    client.post("/language", {"locale": locale, "next": "/"})
    with app.test_request_context(), force_locale(locale):
        shown = sentence.format(date=format_datetime(survey.opens_at, "short"))
    assert survey.opens_at.strftime("%H:%M") not in shown  # local time, not UTC
    for response in (client.get(ballot_url(survey)), client.get(f"/vote?code={code}")):
        assert response.status_code == 409
        assert shown in soup(response).get_text(" ", strip=True)


def test_unknown_survey_is_not_found(client, world, voter):
    assert client.get("/surveys/999999/ballot").status_code == 404


def test_missing_required_answer_comes_back_beside_the_question_with_answers_kept(client, world, voter):
    survey = make_survey(world)
    answers = full_answers(survey, comment="Kept comment")
    missing = survey.questions[1]
    del answers[f"q{missing.id}"]
    response = client.post(ballot_url(survey), answers)
    assert response.status_code == 422
    html = soup(response)
    error = html.find(id=f"q{missing.id}-error")
    assert "Please answer this question." in error.get_text()
    assert html.find(id=f"q{missing.id}-group")["aria-describedby"] == f"q{missing.id}-error"
    first = survey.questions[0]
    assert html.find("input", attrs={"name": f"q{first.id}", "value": "satisfied"}).has_attr("checked")
    assert html.find("textarea").get_text() == "Kept comment"
    assert counts(survey) == (0, 0)
    assert target_of(survey, world).ballots == 0
    assert rollup_counts(survey) == {}


def test_out_of_range_value_is_refused(client, world, voter):
    survey = make_survey(world)
    question = survey.questions[0]
    response = client.post(ballot_url(survey), {**full_answers(survey), f"q{question.id}": "maybe"})
    assert response.status_code == 422
    assert "Choose one of the options." in soup(response).find(id=f"q{question.id}-error").get_text()
    assert counts(survey) == (0, 0)


def test_forged_question_is_refused(client, world, voter):
    survey = make_survey(world)
    response = client.post(ballot_url(survey), {**full_answers(survey), "q999999": "satisfied"})
    assert response.status_code == 422
    assert "does not match this survey" in response.get_data(as_text=True)
    assert counts(survey) == (0, 0)


def test_too_long_comment_is_refused(client, world, voter):
    survey = make_survey(world)
    response = client.post(ballot_url(survey), full_answers(survey, comment="x" * 2001))
    assert response.status_code == 422
    assert soup(response).find(id=f"q{survey.questions[-1].id}-error")
    assert counts(survey) == (0, 0)


def test_satisfaction_survey_shows_likert_ends_and_choices(client, world, voter):
    survey = make_survey(world, kind=SurveyKind.service_satisfaction, title="Service survey")
    page = client.get(ballot_url(survey))
    assert page.status_code == 200
    likert, choice = survey.questions
    labels = [label.get_text(strip=True) for label in soup(page).find(id=f"q{likert.id}-group").find_all("label")]
    assert labels[0].endswith("strongly disagree") and labels[-1].endswith("strongly agree") and len(labels) == 5
    assert "By bus" in soup(page).find(id=f"q{choice.id}-group").get_text()
    assert client.post(ballot_url(survey), {f"q{likert.id}": "4", f"q{choice.id}": "1"}).status_code == 303


def test_identified_survey_says_so_and_links_the_ballot(client, world, voter):
    # A democratic evaluation is always anonymous; a satisfaction survey may be identified.
    survey = make_survey(world, kind=SurveyKind.service_satisfaction, anonymity=Anonymity.identified)
    assert "not anonymous" in client.get(ballot_url(survey)).get_data(as_text=True)
    assert client.post(ballot_url(survey), full_answers(survey)).status_code == 303
    participation = db.session.scalar(select(Participation).where(Participation.survey_id == survey.id))
    # Stored as given, not sealed, and linked to who gave it.
    assert stored(survey) == (0, 1)
    assert db.session.get(Ballot, participation.ballot_id).survey_id == survey.id


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_ballot_pages_have_no_duplicate_ids(client, world, voter, locale):
    survey = make_survey(world)
    client.post("/language", {"locale": locale, "next": "/"})
    page = client.get(ballot_url(survey))
    assert page.status_code == 200
    assert soup(page).html["lang"] == ("zh-Hans" if locale == "zh_Hans" else "en")
    assert duplicate_ids(page) == []
    invalid = client.post(ballot_url(survey), {})
    assert invalid.status_code == 422
    assert duplicate_ids(invalid) == []
    assert duplicate_ids(client.get("/surveys/open")) == []
    assert duplicate_ids(client.get("/vote")) == []


# --- by invitation code -------------------------------------------------------------------

def test_vote_link_from_a_slip_keeps_the_code_out_of_the_address(app, client, world):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    entry = client.get(f"/vote?code={format_code(code)}")
    assert entry.status_code == 303
    location = entry.headers["Location"]
    assert location.endswith(f"/vote/{survey.id}") and code not in location
    page = client.get(location)
    assert page.status_code == 200
    assert duplicate_ids(page) == []
    html = soup(page)
    assert html.find("input", attrs={"name": "code", "type": "hidden"})["value"] == code
    assert world["member"].name in html.find(class_="ballot-subject").get_text()
    response = client.post(location, {**full_answers(survey), "code": code})
    assert response.status_code == 303 and response.headers["Location"].endswith("/vote/thanks")
    assert counts(survey) == (1, 1)
    participation = db.session.scalar(select(Participation).where(Participation.survey_id == survey.id))
    assert participation.resident_id is None and participation.invitation_id is not None
    assert target_of(survey, world).ballots == 1
    # The used code is gone from the session: the ballot page sends back to the code page.
    assert client.get(location).status_code == 303


def test_typed_code_leads_to_the_ballot(app, client, world):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    page = client.get("/vote")
    assert page.status_code == 200 and soup(page).find("input", attrs={"name": "code"})
    response = client.post("/vote", {"code": f" {code[:4].lower()} {code[4:]} "})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/vote/{survey.id}")


def test_vote_page_prefills_the_code_from_the_link(app, client, world):
    page = client.get("/vote?code=ABCD-EFGH")
    assert page.status_code == 422
    html = soup(page)
    assert html.find("input", attrs={"name": "code"})["value"] == "ABCD-EFGH"
    assert "not valid" in html.find(id="code-error").get_text()


def test_used_code_is_refused(app, client, world):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    assert client.post(f"/vote/{survey.id}", {**full_answers(survey), "code": code}).status_code == 303
    again = client.post(f"/vote/{survey.id}", {**full_answers(survey), "code": code})
    assert again.status_code == 409
    assert "already been used" in again.get_data(as_text=True)
    entry = client.post("/vote", {"code": code})
    assert entry.status_code == 409
    assert "already been used" in soup(entry).find(id="code-error").get_text()
    assert counts(survey) == (1, 1)


def test_unknown_code_is_refused_beside_the_field(app, client, world):
    survey = make_survey(world)
    codes_for(app, world, survey)
    for response in (client.post("/vote", {"code": "ABCD-EFGH"}),
                     client.post(f"/vote/{survey.id}", {**full_answers(survey), "code": "ABCDEFGH"})):
        assert response.status_code == 422
        assert "not valid" in soup(response).find(id="code-error").get_text()
    assert counts(survey) == (0, 0)


def test_code_of_another_survey_is_refused(app, client, world):
    survey = make_survey(world)
    other = make_survey(world, title="Another evaluation")
    [code] = codes_for(app, world, other)
    response = client.post(f"/vote/{survey.id}", {**full_answers(survey), "code": code})
    assert response.status_code == 422
    assert "another survey" in soup(response).find(id="code-error").get_text()
    assert counts(survey) == (0, 0) and counts(other) == (0, 0)


def test_code_for_a_closed_survey_is_refused_with_the_reason(app, client, world):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    transitions.close_survey(world["evaluator"], survey, utcnow())
    db.session.commit()
    entry = client.post("/vote", {"code": code})
    assert entry.status_code == 409
    assert "has closed" in entry.get_data(as_text=True)
    response = client.post(f"/vote/{survey.id}", {**full_answers(survey), "code": code})
    assert response.status_code == 409
    assert "has closed" in response.get_data(as_text=True)
    assert counts(survey) == (0, 0)


def test_invalid_ballot_by_code_keeps_the_code(app, client, world):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    response = client.post(f"/vote/{survey.id}", {"code": code})
    assert response.status_code == 422
    html = soup(response)
    assert html.find("input", attrs={"name": "code", "type": "hidden"})["value"] == code
    assert html.find(id=f"q{survey.questions[0].id}-error")
    assert counts(survey) == (0, 0)


# --- what a ballot costs ------------------------------------------------------------------

def statements_of(send) -> list[str]:
    """Return the statements one request sends, leaving out the BEGIN that SQLite's begin hook sends."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if not re.fullmatch(r"BEGIN( IMMEDIATE)?", statement.strip()):
            statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = send()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 303, response.get_data(as_text=True)
    return statements


def test_a_ballot_reads_the_voter_and_the_survey_s_row_then_writes(app, client, world, voter, make):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    answers, url, code_url = full_answers(survey), ballot_url(survey), f"/vote/{survey.id}"
    # The first ballot of a survey reads its locked questions and communities, once for the process.
    verified_resident(make, world["community"], username="first")
    first = Client(app.test_client())
    first.login("first")
    assert first.post(url, answers).status_code == 303
    anonymous = Client(app.test_client())
    for c in (client, anonymous):
        c.token()
    by_account = statements_of(lambda: client.post(url, answers))
    by_code = statements_of(lambda: anonymous.post(code_url, {**answers, "code": code}))
    for statements, voter_table in ((by_account, "users"), (by_code, "survey_invitations")):
        described = "\n".join(statements)
        # The server-side session is read first, and left as it was.
        assert statements[0].startswith("SELECT sessions.data FROM sessions"), described
        statements = statements[1:]
        # Two reads, then the participation, the turnout count and the sealed envelope: no ballot, answer or rollup.
        assert len(statements) == 5, described
        assert {f"FROM {voter_table}", "FROM surveys"} <= {f"FROM {s.split(' FROM ')[1].split()[0]}"
                                                          for s in statements[:2]}, described
        assert [s.split()[:3] for s in statements[2:]] == [
            ["INSERT", "INTO", "survey_participations"], ["UPDATE", "survey_targets", "SET"],
            ["INSERT", "INTO", "survey_envelopes"],
        ], described
    assert counts(survey) == (3, 3) and stored(survey) == (3, 0)


def test_a_survey_closed_after_its_first_ballots_refuses_the_next(client, world, voter, make):
    survey = make_survey(world)
    verified_resident(make, world["community"], username="early")
    early = Client(client.raw.application.test_client())
    early.login("early")
    assert early.post(ballot_url(survey), full_answers(survey)).status_code == 303
    transitions.close_survey(world["evaluator"], db.session.get(Survey, survey.id), utcnow())
    db.session.commit()
    response = client.post(ballot_url(survey), full_answers(survey))
    assert response.status_code == 409 and "has closed" in response.get_data(as_text=True)
    assert counts(survey) == (1, 1)


# --- races, limits, logs ------------------------------------------------------------------

def race(app, clients: list[Client], url: str, data: dict) -> list:
    """Post the same ballot from every client at the same moment; return the responses."""
    for c in clients:
        c.token()
    barrier = threading.Barrier(len(clients))

    def post(c: Client):
        with app.app_context():
            barrier.wait()
            return c.post(url, data)

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(post, clients))


def test_concurrent_submits_by_one_resident_store_one_ballot(app, world, make):
    survey = make_survey(world)
    verified_resident(make, world["community"], username="racer")
    clients = [Client(app.test_client()) for _ in range(RACERS)]
    for c in clients:
        c.login("racer")
    responses = race(app, clients, ballot_url(survey), full_answers(survey))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [409] * (RACERS - 1)
    assert all("already taken part" in r.get_data(as_text=True) for r in responses if r.status_code == 409)
    assert counts(survey) == (1, 1)
    assert target_of(survey, world).ballots == 1
    close_and_count(world, survey)
    assert stored(survey) == (0, 1)
    assert max(rollup_counts(survey).values()) == 1


def test_concurrent_submits_of_one_code_store_one_ballot(app, world):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    clients = [Client(app.test_client()) for _ in range(RACERS)]
    responses = race(app, clients, f"/vote/{survey.id}", {**full_answers(survey), "code": code})
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [409] * (RACERS - 1)
    assert all("already been used" in r.get_data(as_text=True) for r in responses if r.status_code == 409)
    assert counts(survey) == (1, 1)
    assert target_of(survey, world).ballots == 1


def test_ballot_submits_are_rate_limited_per_address(app, client, world, voter):
    survey = make_survey(world)
    app.config["BALLOT_LIMIT_PER_IP"] = "2 per minute"
    assert client.post(ballot_url(survey), {}).status_code == 422
    assert client.post("/vote", {"code": "ABCD-EFGH"}).status_code == 422
    assert client.post(ballot_url(survey), full_answers(survey)).status_code == 429
    assert counts(survey) == (0, 0)


def test_each_ballot_submit_and_code_tried_counts_once_and_pages_not_at_all(app, client, world, voter):
    survey = make_survey(world)
    app.config["BALLOT_LIMIT_PER_IP"] = "3 per minute"
    for page in (ballot_url(survey), "/surveys/open", "/vote", ballot_url(survey)):
        assert client.get(page).status_code == 200
    assert client.post(ballot_url(survey), {}).status_code == 422
    assert client.post(f"/vote/{survey.id}", {**full_answers(survey), "code": "ABCDEFGH"}).status_code == 422
    assert client.get("/vote?code=ABCD-EFGH").status_code == 422
    assert client.post(ballot_url(survey), full_answers(survey)).status_code == 429
    assert client.post("/vote", {"code": "ABCD-EFGH"}).status_code == 429
    assert client.get(ballot_url(survey)).status_code == 200
    assert counts(survey) == (0, 0)


def test_ballot_answers_are_never_logged(app, client, world, voter, caplog):
    survey = make_survey(world)
    [code] = codes_for(app, world, survey)
    caplog.set_level(logging.DEBUG)
    client.post(ballot_url(survey), {**full_answers(survey, comment=SECRET_COMMENT), "q999999": SECRET_COMMENT})
    assert client.post(ballot_url(survey), full_answers(survey, comment=SECRET_COMMENT)).status_code == 303
    client.logout()
    response = client.post(f"/vote/{survey.id}", {**full_answers(survey, comment=SECRET_COMMENT), "code": code})
    assert response.status_code == 303
    for record in caplog.records:
        logged = " ".join((record.getMessage(), str(record.args), record.exc_text or ""))
        assert SECRET_COMMENT not in logged and code not in logged
