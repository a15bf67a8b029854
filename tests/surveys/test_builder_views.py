"""Evaluators' survey screens: building, locking, the lifecycle, scope, invitation codes and participation."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta

import pytest
import segno
from bs4 import BeautifulSoup
from flask import url_for
from sqlalchemy import func, select

import config
from accounts.models import RegisterEntry, Role
from db import utcnow
from extensions import db
from keys import decode_key
from surveys import ballots, builder, lifecycle, transitions
from surveys.codes import find_invitation, generate_codes, hash_code, normalize_code
from surveys.lifecycle import Phase
from surveys.models import (
    Anonymity, Ballot, Envelope, Invitation, Question, QuestionType, Survey, SurveyKind, SurveyState, SurveyTarget,
)
from surveys.tasks import run_tally
from tests.conftest import BOX_KEY, Client
from tests.helpers import duplicate_ids, soup

KEY = decode_key(config.TestConfig.CODE_KEY, "CODE_KEY")  # the key the views hash codes with in the tests
CODE_RE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}\b")
#: Shanghai is UTC+8 all year.
SHANGHAI = timedelta(hours=8)


def soup_of(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def htmx(target: str) -> dict:
    return {"HX-Request": "true", "HX-Target": target}


@pytest.fixture
def login(app):
    """Return a client signed in as the user name given, or an anonymous one for None."""
    def login(username: str | None) -> Client:
        client = Client(app.test_client())
        if username:
            client.login(username)
        return client
    return login


@pytest.fixture
def evaluator(login, world):
    return login("evaluator")


def create(world, *, kind=SurveyKind.general, actor="evaluator", owner=None, title="Street cleaning",
           targets=None, questions=2, k=5, opens_at=None, closes_at=None) -> Survey:
    """Create a draft through the service, with simple rating questions and the world's community as target."""
    now = utcnow()
    survey = builder.create_survey(
        world[actor], title=title, description="", kind=kind, anonymity=Anonymity.anonymous,
        opens_at=opens_at or now - timedelta(hours=1), closes_at=closes_at or now + timedelta(days=7),
        min_group_size=k, owner_organization_id=owner.id if owner is not None else None,
    )
    if kind != SurveyKind.democratic_evaluation:
        for n in range(questions):
            builder.add_question(world[actor], survey, qtype=QuestionType.rating3, text=f"Question {n + 1}?",
                                 required=True, allow_dont_know=False, choices=[])
    builder.set_targets(world[actor], survey, [t.id for t in (targets if targets is not None else
                                                             [world["community"]])])
    db.session.commit()
    return survey


def open_(world, survey: Survey, actor="evaluator") -> Survey:
    transitions.open_survey(world[actor], survey, utcnow(), box_key=BOX_KEY)
    db.session.commit()
    return survey


def question_texts(survey_id: int) -> list[str]:
    return list(db.session.scalars(select(Question.text).where(Question.survey_id == survey_id)
                                   .order_by(Question.position)))


def settings_data(**overrides) -> dict:
    data = {"title": "Satisfaction with the street office", "description": "", "kind": "general",
            "opens_at": "2030-05-01T09:00", "closes_at": "2030-05-15T18:00", "anonymity": "anonymous",
            "min_group_size": "5"}
    data.update(overrides)
    return data


def error_beside(response, field_id: str) -> str:
    """Return the error message shown beside a field, checking it is tied to the field."""
    page = soup(response)
    error = page.find(id=f"{field_id}-error")
    assert error is not None, f"no error beside {field_id}"
    assert f"{field_id}-error" in page.find(id=field_id)["aria-describedby"]
    return error.get_text(" ", strip=True)


# --- the list and creating ------------------------------------------------------------------

def test_index_lists_the_surveys_of_the_area_only(world, evaluator):
    mine = create(world, title="Ours")
    open_(world, mine)
    other_township = world["other_community"].parent
    create(world, actor="admin", owner=other_township, title="Theirs", targets=[world["other_community"]])

    response = evaluator.get("/surveys")

    assert response.status_code == 200
    page = soup(response)
    rows = {r.th.a.get_text(strip=True): r for r in page.select("tbody tr")}
    assert set(rows) == {"Ours"}
    assert "Open" in rows["Ours"].get_text()
    assert "0 of 0" in rows["Ours"].get_text()
    assert duplicate_ids(response) == []


def test_index_shows_participation_so_far(world, evaluator):
    survey = open_(world, create(world))
    generate_codes(world["evaluator"], survey, world["community"].id, 4, KEY, utcnow())
    db.session.commit()
    code = generate_codes(world["evaluator"], survey, world["community"].id, 1, KEY, utcnow())[0]
    invitation = find_invitation(survey, code, KEY)
    ballots.submit_ballot(survey, ballots.Voter(invitation=invitation), {f"q{q.id}": "satisfied"
                                                                         for q in survey.questions}, utcnow())
    db.session.commit()

    text = soup(evaluator.get("/surveys")).select_one("tbody tr").get_text(" ", strip=True)

    assert "1 of 5" in text and "20%" in text


def test_create_a_democratic_evaluation_with_local_times(world, evaluator):
    response = evaluator.post("/surveys/new", settings_data(kind="democratic_evaluation", title="2030 evaluation"))

    assert response.status_code == 303
    survey = db.session.scalar(select(Survey).where(Survey.title == "2030 evaluation"))
    assert response.headers["Location"].endswith(f"/surveys/{survey.id}")
    assert survey.kind == SurveyKind.democratic_evaluation
    assert survey.owner_organization_id == world["township"].id
    assert len(survey.questions) == len(builder.DEMOCRATIC_TEMPLATE) == 6
    assert [q.type for q in survey.questions][:2] == [QuestionType.rating3, QuestionType.grade4]
    # Typed in Shanghai time, stored in naive UTC, shown again in Shanghai time.
    assert survey.opens_at == datetime(2030, 5, 1, 9, 0) - SHANGHAI
    assert survey.closes_at == datetime(2030, 5, 15, 18, 0) - SHANGHAI
    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    assert page.find(id="opens_at")["value"] == "2030-05-01T09:00"
    assert page.find(id="closes_at")["value"] == "2030-05-15T18:00"
    assert len(page.select("#questions ol.questions > li")) == 6


def test_new_survey_page(world, evaluator):
    response = evaluator.get("/surveys/new")

    assert response.status_code == 200
    page = soup(response)
    assert page.find(id="min_group_size")["value"] == "5"
    assert page.find(id="owner") is None  # an evaluator's survey belongs to their area
    assert "Township" in page.get_text()
    assert {i["value"] for i in page.select("input[name=kind]")} == {k.value for k in SurveyKind}
    assert duplicate_ids(response) == []


@pytest.mark.parametrize("overrides, field, message", [
    ({"min_group_size": "2"}, "min_group_size", "at least 3"),
    ({"closes_at": "2030-05-01T08:00"}, "closes_at", "close after it opens"),
    ({"title": ""}, "title", ""),
    ({"title": "   "}, "title", ""),
    ({"opens_at": "tomorrow"}, "opens_at", ""),
])
def test_create_refuses_bad_settings_beside_the_field(world, evaluator, overrides, field, message):
    response = evaluator.post("/surveys/new", settings_data(**overrides))

    assert response.status_code == 422
    assert message in error_beside(response, field)
    assert db.session.scalar(select(Survey.id)) is None
    assert duplicate_ids(response) == []


def test_admin_chooses_the_owner_among_non_community_organizations(world, login):
    admin = login("admin")
    page = soup(admin.get("/surveys/new"))
    options = {o.get_text(strip=True) for o in page.select("#owner option")}
    assert options == {"District", "Township", "Other township"}

    other_township = world["other_community"].parent
    response = admin.post("/surveys/new", settings_data(owner=str(other_township.id)))

    assert response.status_code == 303
    assert db.session.scalar(select(Survey.owner_organization_id)) == other_township.id


# --- questions -------------------------------------------------------------------------------

QUESTION = {"qtype": "single_choice", "text": "Which day suits you?", "required": "y", "choices": "Monday\nFriday\n"}


def test_add_a_question_without_javascript(world, evaluator):
    survey = create(world)

    response = evaluator.post(f"/surveys/{survey.id}/questions", QUESTION)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/surveys/{survey.id}")
    question = db.session.scalar(select(Question).where(Question.survey_id == survey.id, Question.position == 3))
    assert (question.type, question.text, question.choices, question.required) == (
        QuestionType.single_choice, "Which day suits you?", ["Monday", "Friday"], True)


def test_add_a_question_with_htmx_answers_the_questions_fragment(world, evaluator):
    survey = create(world)

    response = evaluator.post(f"/surveys/{survey.id}/questions",
                              {"qtype": "free_text", "text": "Anything else?"}, headers=htmx("questions"))

    assert response.status_code == 200
    root = soup(response).find()
    assert root.name == "section" and root["id"] == "questions"
    assert "Anything else?" in root.get_text()
    assert not soup(response).find("html")
    question = db.session.scalar(select(Question).where(Question.survey_id == survey.id, Question.position == 3))
    assert question.required is False  # an unticked box


@pytest.mark.parametrize("headers", [{}, htmx("questions")])
@pytest.mark.parametrize("data, field", [
    ({"qtype": "rating3", "text": ""}, "new-question-text"),
    ({"qtype": "single_choice", "text": "Pick one", "choices": "Only one"}, "new-question-choices"),
])
def test_a_bad_question_comes_back_with_the_message_beside_it(world, evaluator, headers, data, field):
    survey = create(world)

    response = evaluator.post(f"/surveys/{survey.id}/questions", data, headers=headers)

    assert response.status_code == 422
    assert error_beside(response, field)
    assert len(question_texts(survey.id)) == 2
    assert (soup(response).find().get("id") == "questions") == bool(headers)


@pytest.mark.parametrize("headers", [{}, htmx("questions")])
def test_edit_a_question(world, evaluator, headers):
    survey = create(world)
    question = survey.questions[0]

    response = evaluator.post(f"/surveys/{survey.id}/questions/{question.id}",
                              {"qtype": "rating3", "text": "How clean is your street?", "required": "y",
                               "allow_dont_know": "y"}, headers=headers)

    assert response.status_code == (200 if headers else 303)
    db.session.refresh(question)
    assert (question.text, question.allow_dont_know) == ("How clean is your street?", True)


def test_a_bad_edit_shows_the_message_in_that_question_form(world, evaluator):
    survey = create(world)
    question = survey.questions[1]

    response = evaluator.post(f"/surveys/{survey.id}/questions/{question.id}", {"qtype": "rating3", "text": ""},
                              headers=htmx("questions"))

    assert response.status_code == 422
    assert error_beside(response, f"q{question.id}-text")
    assert soup(response).find(id=f"q{question.id}-text").find_parent("details").has_attr("open")
    assert question_texts(survey.id) == ["Question 1?", "Question 2?"]


@pytest.mark.parametrize("headers", [{}, htmx("questions")])
def test_delete_a_question(world, evaluator, headers):
    survey = create(world, questions=3)
    second = survey.questions[1]

    response = evaluator.post(f"/surveys/{survey.id}/questions/{second.id}/delete", headers=headers)

    assert response.status_code == (200 if headers else 303)
    assert question_texts(survey.id) == ["Question 1?", "Question 3?"]
    positions = db.session.scalars(select(Question.position).where(Question.survey_id == survey.id)
                                   .order_by(Question.position))
    assert list(positions) == [1, 2]


@pytest.mark.parametrize("headers", [{}, htmx("questions")])
def test_reorder_questions_with_move_buttons(world, evaluator, headers):
    survey = create(world, questions=3)
    first, _, third = survey.questions

    response = evaluator.post(f"/surveys/{survey.id}/questions/{first.id}/move", {"direction": "down"},
                              headers=headers)
    assert response.status_code == (200 if headers else 303)
    assert question_texts(survey.id) == ["Question 2?", "Question 1?", "Question 3?"]
    if headers:
        root = soup(response).find()
        assert root["id"] == "questions"
        assert [li.p.get_text(strip=True) for li in root.select("ol.questions > li")] == [
            "Question 2?", "Question 1?", "Question 3?"]
    else:
        assert response.headers["Location"].endswith(f"/surveys/{survey.id}")

    evaluator.post(f"/surveys/{survey.id}/questions/{third.id}/move", {"direction": "up"}, headers=headers)
    assert question_texts(survey.id) == ["Question 2?", "Question 3?", "Question 1?"]
    # Moving the first one up changes nothing.
    evaluator.post(f"/surveys/{survey.id}/questions/{survey.questions[0].id}/move", {"direction": "up"})
    assert question_texts(survey.id) == ["Question 2?", "Question 3?", "Question 1?"]


def test_move_buttons_are_plain_forms_with_htmx_on_top(world, evaluator):
    survey = create(world, questions=3)

    page = soup(evaluator.get(f"/surveys/{survey.id}"))

    items = page.select("#questions ol.questions > li")
    buttons = [[b["value"] for b in li.select("button[name=direction]")] for li in items]
    assert buttons == [["down"], ["up", "down"], ["up"]]
    form = items[1].select_one("button[value=up]").find_parent("form")
    assert form["method"] == "post" and form["action"] == form["hx-post"]
    assert form["hx-target"] == "#questions"


def test_a_question_of_another_survey_is_not_found(world, evaluator):
    survey, other = create(world), create(world, title="Other")

    response = evaluator.post(f"/surveys/{survey.id}/questions/{other.questions[0].id}/delete")

    assert response.status_code == 404
    assert len(question_texts(other.id)) == 2


# --- targets and settings --------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, htmx("targets")])
def test_choose_communities_within_the_area(world, evaluator, make, headers):
    survey = create(world, targets=[])
    winter = make.organization(parent=world["township"], name="Winter")

    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    fieldset = page.select_one("#targets fieldset")
    assert {i["value"] for i in fieldset.select("input[type=checkbox]")} == {
        str(world["community"].id), str(winter.id)}
    assert fieldset.legend

    response = evaluator.post(f"/surveys/{survey.id}/targets", {"targets": [world["community"].id, winter.id]},
                              headers=headers)

    assert response.status_code == (200 if headers else 303)
    if headers:
        assert soup(response).find()["id"] == "targets"
    targets = db.session.scalars(select(SurveyTarget.organization_id).where(SurveyTarget.survey_id == survey.id))
    assert set(targets) == {world["community"].id, winter.id}


@pytest.mark.parametrize("outside", ["other_community", "township"])
def test_communities_outside_the_area_are_refused(world, evaluator, outside):
    survey = create(world, targets=[])

    response = evaluator.post(f"/surveys/{survey.id}/targets", {"targets": [world[outside].id]},
                              headers=htmx("targets"))

    assert response.status_code == 422
    page = soup(response)
    assert "within the survey's area" in page.find(id="targets-error").get_text()
    assert page.find("fieldset")["aria-describedby"] == "targets-error"
    assert db.session.scalar(select(SurveyTarget.organization_id).where(SurveyTarget.survey_id == survey.id)) is None


def test_edit_settings_of_a_draft(world, evaluator):
    survey = create(world)

    response = evaluator.post(f"/surveys/{survey.id}/settings",
                              settings_data(title="Renamed", min_group_size="7", anonymity="identified"))

    assert response.status_code == 303
    db.session.refresh(survey)
    assert (survey.title, survey.min_group_size, survey.anonymity) == ("Renamed", 7, Anonymity.identified)
    assert survey.opens_at == datetime(2030, 5, 1, 1, 0)


@pytest.mark.parametrize("headers", [{}, htmx("survey")])
def test_bad_settings_of_a_draft_come_back_beside_the_fields(world, evaluator, headers):
    survey = create(world)

    response = evaluator.post(f"/surveys/{survey.id}/settings", settings_data(min_group_size="2"), headers=headers)

    assert response.status_code == 422
    assert "at least 3" in error_beside(response, "min_group_size")
    assert (soup(response).find().get("id") == "survey") == bool(headers)
    db.session.refresh(survey)
    assert survey.min_group_size == 5


# --- lifecycle -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, htmx("survey")])
def test_open_now_locks_the_survey(world, evaluator, headers):
    survey = create(world)

    response = evaluator.post(f"/surveys/{survey.id}/open", {"when": "now"}, headers=headers)

    assert response.status_code == (200 if headers else 303)
    db.session.refresh(survey)
    assert survey.state == SurveyState.open
    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    assert "read-only" in page.get_text()
    assert not page.select("#questions form, #targets form")
    assert page.find(id="settings-heading").find_parent("section").find("form") is None
    assert page.find(id="codes-count")


def test_an_open_survey_refuses_changes_with_409(world, evaluator):
    survey = open_(world, create(world))
    question = survey.questions[0]
    base = f"/surveys/{survey.id}"

    assert evaluator.post(f"{base}/questions/{question.id}", {"qtype": "rating3", "text": "Changed?"}).status_code \
        == 409
    assert evaluator.post(f"{base}/questions", {"qtype": "rating3", "text": "New?"}).status_code == 409
    assert evaluator.post(f"{base}/questions/{question.id}/delete").status_code == 409
    assert evaluator.post(f"{base}/questions/{question.id}/move", {"direction": "down"}).status_code == 409
    assert evaluator.post(f"{base}/targets", {"targets": []}).status_code == 409
    assert evaluator.post(f"{base}/open", {"when": "now"}).status_code == 409
    assert evaluator.post(f"{base}/delete").status_code == 409
    response = evaluator.post(f"{base}/settings", settings_data(min_group_size="9"), headers=htmx("survey"))
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#flashes"
    assert "locked" in response.get_data(as_text=True)
    db.session.refresh(survey)
    assert (survey.min_group_size, question_texts(survey.id)) == (5, ["Question 1?", "Question 2?"])
    assert len(survey.targets) == 1


@pytest.mark.parametrize("headers", [{}, htmx("survey")])
def test_open_refuses_without_questions_or_communities(world, evaluator, headers):
    survey = create(world, questions=0, targets=[])

    response = evaluator.post(f"/surveys/{survey.id}/open", {"when": "now"}, headers=headers)

    assert response.status_code == 422
    errors = soup(response).find(id="open-errors").get_text()
    assert "Add at least one question" in errors and "Choose at least one community" in errors
    db.session.refresh(survey)
    assert survey.state == SurveyState.draft


def test_a_democratic_evaluation_refuses_to_open_with_a_community_without_secretary(world, evaluator, make):
    vacant = make.organization(parent=world["township"], name="Vacant")
    survey = create(world, kind=SurveyKind.democratic_evaluation, targets=[world["community"], vacant])
    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    assert "no secretary" in page.find("label", attrs={"for": f"target-{vacant.id}"}).get_text()

    response = evaluator.post(f"/surveys/{survey.id}/open", {"when": "now"})

    assert response.status_code == 422
    assert "Vacant" in soup(response).find(id="open-errors").get_text()
    db.session.refresh(survey)
    assert survey.state == SurveyState.draft


def test_schedule_for_the_opening_time(world, evaluator):
    opens_at = utcnow().replace(microsecond=0) + timedelta(days=2)
    survey = create(world, opens_at=opens_at, closes_at=opens_at + timedelta(days=7))

    response = evaluator.post(f"/surveys/{survey.id}/open", {"when": "scheduled"})

    assert response.status_code == 303
    db.session.refresh(survey)
    assert (survey.state, survey.opens_at) == (SurveyState.open, opens_at)
    assert lifecycle.phase(survey, utcnow()) is not Phase.open
    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    assert "Scheduled" in page.find("hgroup").get_text()
    assert page.find(id="codes-count")  # codes can be printed before the opening


def publish_form(page: BeautifulSoup):
    return page.find("form", action=re.compile(r"/surveys/\d+/publish$"))


def test_close_then_publish(world, evaluator):
    survey = open_(world, create(world))
    code, = generate_codes(world["evaluator"], survey, world["community"].id, 1, KEY, utcnow())
    ballots.submit_ballot(survey, ballots.Voter(invitation=find_invitation(survey, code, KEY)),
                          {f"q{q.id}": "dissatisfied" for q in survey.questions}, utcnow())
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Envelope)) == 1

    response = evaluator.post(f"/surveys/{survey.id}/close", headers=htmx("survey"))
    assert response.status_code == 200
    assert soup(response).find()["id"] == "survey"
    # The tally ran once the closing was committed (the tests run queued tasks at once): the envelope is a ballot.
    assert publish_form(soup(response)) is not None
    db.session.refresh(survey)
    assert survey.state == SurveyState.closed
    assert survey.counted_at is not None and survey.sealed_private_key is None
    assert db.session.scalar(select(func.count()).select_from(Envelope)) == 0
    assert db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.survey_id == survey.id)) == 1
    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    assert page.find(id="codes-count") is None
    assert evaluator.post(f"/surveys/{survey.id}/close").status_code == 409

    response = evaluator.post(f"/surveys/{survey.id}/publish")
    assert response.status_code == 303
    db.session.refresh(survey)
    assert survey.state == SurveyState.published
    assert evaluator.post(f"/surveys/{survey.id}/publish").status_code == 409


def test_publish_refuses_an_open_survey(world, evaluator):
    survey = open_(world, create(world))

    assert evaluator.post(f"/surveys/{survey.id}/publish").status_code == 409


def test_a_closed_survey_is_published_only_once_counted(world, evaluator):
    survey = open_(world, create(world))
    transitions.close_survey(world["evaluator"], survey, utcnow())  # closed, and the tally not run yet
    db.session.commit()

    page = soup(evaluator.get(f"/surveys/{survey.id}"))
    assert "being counted" in page.find(id="survey").get_text() and publish_form(page) is None
    response = evaluator.post(f"/surveys/{survey.id}/publish")
    assert response.status_code == 409 and "still being counted" in response.get_data(as_text=True)
    db.session.refresh(survey)
    assert survey.state == SurveyState.closed

    run_tally(survey.id, utcnow())
    assert publish_form(soup(evaluator.get(f"/surveys/{survey.id}"))) is not None
    assert evaluator.post(f"/surveys/{survey.id}/publish").status_code == 303


def test_delete_a_draft(world, evaluator):
    survey_id = create(world).id

    response = evaluator.post(f"/surveys/{survey_id}/delete")

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/surveys")
    assert db.session.scalar(select(Survey.id)) is None
    assert evaluator.get(f"/surveys/{survey_id}").status_code == 404


# --- who may manage --------------------------------------------------------------------------

@pytest.fixture
def other_evaluator(world, make, login):
    make.user((Role.evaluator, world["other_community"].parent), username="other.evaluator")
    return login("other.evaluator")


def test_an_evaluator_of_another_township_gets_403(world, other_evaluator):
    survey = open_(world, create(world))
    draft = create(world, title="Draft")
    question = draft.questions[0]

    assert other_evaluator.get(f"/surveys/{survey.id}").status_code == 403
    assert other_evaluator.post(f"/surveys/{survey.id}/codes",
                                {"organization": world["community"].id, "count": "5"}).status_code == 403
    assert other_evaluator.post(f"/surveys/{survey.id}/close").status_code == 403
    assert other_evaluator.post(f"/surveys/{draft.id}/settings", settings_data()).status_code == 403
    assert other_evaluator.post(f"/surveys/{draft.id}/questions/{question.id}",
                                {"qtype": "rating3", "text": "Theirs?"}).status_code == 403
    assert other_evaluator.post(f"/surveys/{draft.id}/open", {"when": "now"}).status_code == 403
    assert other_evaluator.post(f"/surveys/{draft.id}/delete").status_code == 403
    assert db.session.scalar(select(Invitation.id)) is None
    db.session.refresh(draft)
    assert draft.state == SurveyState.draft and draft.questions[0].text == "Question 1?"


def test_an_admin_manages_every_area(world, login):
    survey = create(world)

    assert login("admin").get(f"/surveys/{survey.id}").status_code == 200


@pytest.mark.parametrize("username", ["resident", "member"])
def test_residents_and_members_get_403(world, login, username):
    survey = create(world)
    client = login(username)

    assert client.get("/surveys").status_code == 403
    assert client.get("/surveys/new").status_code == 403
    assert client.get(f"/surveys/{survey.id}").status_code == 403
    assert client.post(f"/surveys/{survey.id}/open", {"when": "now"}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(world, login):
    survey = create(world)
    client = login(None)

    for response in (client.get("/surveys"), client.get(f"/surveys/{survey.id}"),
                     client.post(f"/surveys/{survey.id}/open", {"when": "now"})):
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_an_unknown_survey_is_not_found(world, evaluator):
    assert evaluator.get("/surveys/999").status_code == 404


# --- invitation codes ------------------------------------------------------------------------

@pytest.mark.parametrize("count", ["0", "2001"])
def test_code_counts_out_of_range_are_refused(world, evaluator, count):
    survey = open_(world, create(world))

    response = evaluator.post(f"/surveys/{survey.id}/codes", {"organization": world["community"].id, "count": count})

    assert response.status_code == 422
    assert "between 1 and 2000" in error_beside(response, "codes-count")
    assert db.session.scalar(select(Invitation.id)) is None


def test_ten_codes_make_a_sheet_shown_once_and_only_hashes_are_stored(world, evaluator, app):
    survey = open_(world, create(world))

    response = evaluator.post(f"/surveys/{survey.id}/codes", {"organization": world["community"].id, "count": "10"})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = soup(response)
    assert page.find("link", href="/static/css/print.css")
    assert "cannot be shown again" in page.get_text()
    slips = page.select("li.slip")
    assert len(slips) == 10
    codes = [slip.select_one(".slip-code").get_text(strip=True) for slip in slips]
    assert len(set(codes)) == 10 and all(CODE_RE.fullmatch(c) for c in codes)
    with app.test_request_context():
        urls = [url_for("ballots.vote", _anchor=code, _external=True) for code in codes]
    assert urls[0].endswith(f"/vote#{codes[0]}")
    for slip, url in zip(slips, urls):
        assert "Spring" in slip.get_text() and "Street cleaning" in slip.get_text()
        # The QR code is the ballot page's address with the code as its fragment.
        assert str(slip.find("svg")) == str(soup_of(segno.make(url, error="m").svg_inline(scale=3)).find("svg"))
    download = page.find("a", download=True)
    assert download["download"] == f"codes-{survey.id}-{world['community'].id}.svg"
    assert download["href"].startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(download["href"].split(",", 1)[1]).decode()
    assert svg.startswith("<svg") and all(code in svg for code in codes)
    assert not page.find(style=True) and not page.find("script")
    assert duplicate_ids(response) == []

    invitations = db.session.scalars(select(Invitation).where(Invitation.survey_id == survey.id)).all()
    assert len(invitations) == 10
    stored = " ".join(str(value) for row in db.session.execute(select(Invitation.__table__)) for value in row)
    for code in codes:
        assert code not in stored and normalize_code(code) not in stored
    assert {i.code_hash for i in invitations} == {hash_code(c, KEY) for c in codes}
    target = db.session.get(SurveyTarget, (survey.id, world["community"].id))
    assert target.codes_issued == 10
    # A printed code opens a ballot: it is the one stored.
    assert find_invitation(survey, codes[3], KEY).organization_id == world["community"].id


def test_codes_for_a_community_outside_the_survey_are_refused(world, evaluator):
    survey = open_(world, create(world))

    response = evaluator.post(f"/surveys/{survey.id}/codes",
                              {"organization": world["other_community"].id, "count": "3"})

    assert response.status_code == 422
    assert error_beside(response, "codes-organization")
    assert db.session.scalar(select(Invitation.id)) is None


def test_no_codes_for_a_closed_survey(world, evaluator):
    survey = open_(world, create(world))
    transitions.close_survey(world["evaluator"], survey, utcnow())
    db.session.commit()

    response = evaluator.post(f"/surveys/{survey.id}/codes", {"organization": world["community"].id, "count": "3"})

    assert response.status_code == 409
    assert db.session.scalar(select(Invitation.id)) is None


# --- participation ---------------------------------------------------------------------------

def test_participation_per_community_without_answers(world, evaluator, make):
    winter = make.organization(parent=world["township"], name="Winter")
    entry = RegisterEntry(community_id=world["community"].id, name="Resident", phone="13800000001")
    db.session.add(entry)
    db.session.flush()
    resident = world["resident"]
    resident.register_entry_id = entry.id
    db.session.commit()
    survey = create(world, targets=[world["community"], winter])
    builder.add_question(world["evaluator"], survey, qtype=QuestionType.free_text, text="Remarks?", required=False,
                         allow_dont_know=False, choices=[])
    open_(world, survey)
    codes = generate_codes(world["evaluator"], survey, world["community"].id, 3, KEY, utcnow())
    generate_codes(world["evaluator"], survey, winter.id, 2, KEY, utcnow())
    db.session.commit()
    answers = {f"q{q.id}": "Secret remark" if q.type == QuestionType.free_text else "dissatisfied"
               for q in survey.questions}
    ballots.submit_ballot(survey, ballots.Voter(resident=resident), answers, utcnow())
    ballots.submit_ballot(survey, ballots.Voter(invitation=find_invitation(survey, codes[0], KEY)),
                          answers, utcnow())
    db.session.commit()

    response = evaluator.get(f"/surveys/{survey.id}")

    table = soup(response).find(id="participation-heading").find_parent("section").table
    rows = {tr.th.get_text(strip=True): [td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for tr in table.tbody.find_all("tr")}
    # Spring: 1 verified resident when it opened + 3 codes; Winter: 2 codes.
    assert rows["Spring"][0] == "2" and rows["Spring"][1].startswith("4") and rows["Spring"][2] == "50%"
    assert rows["Winter"][:3] == ["0", "2 (0 residents, 2 codes)", "0%"]
    # Counts only: neither answers nor any tally of them.
    assert "Secret remark" not in response.get_data(as_text=True)
    assert "Results" not in soup(response).get_text()


# --- pages -----------------------------------------------------------------------------------

def test_no_duplicate_ids_and_no_inline_style_on_builder_pages(world, evaluator, make):
    make.organization(parent=world["township"], name="Winter")
    draft = create(world, kind=SurveyKind.democratic_evaluation, title="Draft")
    single = create(world, title="Choices")
    builder.add_question(world["evaluator"], single, qtype=QuestionType.single_choice, text="Which?",
                         required=False, allow_dont_know=False, choices=["A", "B"])
    db.session.commit()
    opened = open_(world, create(world, title="Opened"))
    closed = open_(world, create(world, title="Closed"))
    transitions.close_survey(world["evaluator"], closed, utcnow())
    db.session.commit()
    responses = [evaluator.get(url) for url in (
        "/surveys", "/surveys/new", f"/surveys/{draft.id}", f"/surveys/{single.id}", f"/surveys/{opened.id}",
        f"/surveys/{closed.id}",
    )] + [
        evaluator.post("/surveys/new", settings_data(title="")),
        evaluator.post(f"/surveys/{draft.id}/questions", {"qtype": "rating3", "text": ""}),
        evaluator.post(f"/surveys/{draft.id}/questions/{draft.questions[0].id}", {"qtype": "x", "text": ""}),
        evaluator.post(f"/surveys/{opened.id}/codes", {"organization": world["community"].id, "count": "0"}),
    ]
    for response in responses:
        assert response.status_code in (200, 422), response.request.path
        assert duplicate_ids(response) == [], response.request.path
        page = soup(response)
        assert not page.find(style=True) and not page.select("script:not([src])")
        for field in page.select("input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, "
                                 "textarea"):
            assert page.find("label", attrs={"for": field["id"]}), (response.request.path, field["id"])


def test_pages_follow_the_chosen_language(world, evaluator):
    survey = create(world)
    evaluator.post("/language", {"locale": "zh_Hans", "next": "/surveys"})

    response = evaluator.get(f"/surveys/{survey.id}")

    assert response.status_code == 200
    assert soup(response).html["lang"] == "zh-Hans"
    assert duplicate_ids(response) == []
