"""Survey services on the database: builder and locking, lifecycle, codes, ballots exactly once, anonymity, rollups."""
from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from datetime import date, datetime

import flask_babel
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import extensions
from accounts import services as accounts_services
from accounts.models import Role, User
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from surveys import services
from surveys.models import (
    DONT_KNOW, Anonymity, Ballot, BallotAnswer, Invitation, Participation, Question, QuestionType, Rollup, Survey,
    SurveyKind, SurveyState, SurveyTarget,
)
from surveys.services import AlreadyParticipated, Voter
from tests.surveys.conftest import DAY, HOUR, T0, answer_key, stored_counts


def reloaded(survey: Survey) -> Survey:
    """Return the survey as the database holds it, after ending the session's transaction."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Survey, survey.id)


def positions(survey: Survey) -> list[tuple[int, int]]:
    """Return (position, question id) as stored, in order."""
    return [tuple(row) for row in db.session.execute(
        sa.select(Question.position, Question.id).where(Question.survey_id == survey.id).order_by(Question.position)
    )]


def target_of(survey: Survey, community) -> SurveyTarget:
    return db.session.get(SurveyTarget, (survey.id, community.id))


def messages(error: ValidationFailed, field: str) -> str:
    return " ".join(str(m) for m in error.errors.get(field, []))


# --- builder: settings ---------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"min_group_size": 2}, "min_group_size"),
    ({"min_group_size": 0}, "min_group_size"),
    ({"closes_at": T0}, "closes_at"),
    ({"closes_at": T0 - HOUR}, "closes_at"),
    ({"title": "   "}, "title"),
])
def test_create_and_update_refuse_bad_settings(sv, world, change, field):
    settings_ = {"title": "Street cleaning", "description": "", "kind": SurveyKind.general,
                 "anonymity": Anonymity.anonymous, "opens_at": T0, "closes_at": T0 + DAY, "min_group_size": 5}
    with pytest.raises(ValidationFailed) as refused:
        services.create_survey(world["evaluator"], owner_organization_id=None, **{**settings_, **change})
    assert set(refused.value.errors) == {field}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0

    survey = sv.create()
    update = {k: v for k, v in settings_.items() if k != "kind"}
    with pytest.raises(ValidationFailed) as refused:
        services.update_survey(world["evaluator"], survey, **{**update, **change}, now=T0)
    assert set(refused.value.errors) == {field}
    survey = reloaded(survey)
    assert (survey.title, survey.min_group_size, survey.closes_at) == ("Street cleaning", 5, T0 + 7 * DAY)


def test_k_of_three_is_accepted_and_the_database_refuses_less(sv):
    assert sv.create(k=3).min_group_size == 3
    assert Survey.__table__.c.min_group_size.default.arg == 5
    survey = sv.create()
    survey.min_group_size = 2
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()


def test_a_survey_belongs_to_the_evaluator_s_area_and_only_evaluators_and_admins_create(sv, world):
    survey = sv.create()
    assert survey.state == SurveyState.draft
    assert survey.owner_organization_id == world["township"].id
    assert survey.created_by_id == world["evaluator"].id
    assert survey.questions == [] and survey.targets == []
    with pytest.raises(ValidationFailed):  # an admin names the organization that runs it
        services.create_survey(world["admin"], title="T", description="", kind=SurveyKind.general,
                               anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5,
                               owner_organization_id=None)
    owned = services.create_survey(world["admin"], title="T", description="", kind=SurveyKind.general,
                                   anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5,
                                   owner_organization_id=world["district"].id)
    assert owned.owner_organization_id == world["district"].id
    for name in ("resident", "member"):
        with pytest.raises(PermissionDenied):
            services.create_survey(world[name], title="T", description="", kind=SurveyKind.general,
                                   anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5,
                                   owner_organization_id=None)


def test_evaluators_manage_only_surveys_of_their_area(sv, world, make):
    survey = sv.create()
    assert services.get_managed_survey(world["evaluator"], survey.id) is survey
    assert services.get_managed_survey(world["admin"], survey.id) is survey
    assert services.managed_surveys(world["evaluator"]) == [survey]
    outsider = make.user((Role.evaluator, world["other_community"].parent), username="outsider")
    with pytest.raises(PermissionDenied):
        services.get_managed_survey(outsider, survey.id)
    assert services.managed_surveys(outsider) == []
    with pytest.raises(NotFound):
        services.get_managed_survey(world["evaluator"], survey.id + 1000)


def test_a_democratic_evaluation_gets_the_six_template_questions(sv):
    survey = sv.create(kind=SurveyKind.democratic_evaluation)
    rows = [(q.position, q.type, q.required, q.allow_dont_know) for q in reloaded(survey).questions]
    assert rows == [
        (1, QuestionType.rating3, True, True),    # overall, with don't know
        (2, QuestionType.grade4, True, False),
        (3, QuestionType.rating3, True, True),    # service
        (4, QuestionType.rating3, True, True),    # learning
        (5, QuestionType.rating3, True, True),    # innovation
        (6, QuestionType.free_text, False, False),  # the optional comment
    ]
    questions = reloaded(survey).questions
    topics = ("Overall", "performance", "serves residents", "learning", "innovation", "optional")
    assert all(topic in q.text for topic, q in zip(topics, questions))
    assert questions[0].option_values() == ("satisfied", "basically_satisfied", "dissatisfied", DONT_KNOW)
    assert questions[1].option_values() == ("excellent", "competent", "basically_competent", "incompetent")
    assert questions[5].option_values() == ()
    assert sv.create(kind=SurveyKind.service_satisfaction).questions == []


# --- builder: questions --------------------------------------------------------------------

@pytest.mark.parametrize("choices", [[], ["Bus"], ["Bus", "  ", ""]])
def test_single_choice_needs_two_choices(sv, world, choices):
    survey = sv.create()
    with pytest.raises(ValidationFailed) as refused:
        services.add_question(world["evaluator"], survey, qtype=QuestionType.single_choice, text="How?",
                              required=True, allow_dont_know=False, choices=choices)
    assert set(refused.value.errors) == {"choices"}
    assert positions(reloaded(survey)) == []


def test_question_text_is_required_and_choices_are_cleaned(sv, world):
    survey = sv.create()
    with pytest.raises(ValidationFailed) as refused:
        services.add_question(world["evaluator"], survey, qtype=QuestionType.rating3, text="  ", required=True,
                              allow_dont_know=False, choices=[])
    assert set(refused.value.errors) == {"text"}
    question = services.add_question(world["evaluator"], survey, qtype=QuestionType.single_choice, text=" How? ",
                                     required=True, allow_dont_know=True, choices=[" Bus ", "", "Bike"])
    assert (question.text, question.choices, question.allow_dont_know) == ("How?", ["Bus", "Bike"], False)
    assert question.option_values() == ("0", "1")
    rating = services.add_question(world["evaluator"], survey, qtype=QuestionType.rating3, text="Happy?",
                                   required=True, allow_dont_know=False, choices=["stray"])
    assert rating.choices == [] and rating.option_values() == ("satisfied", "basically_satisfied", "dissatisfied")
    with pytest.raises(ValidationFailed):
        services.update_question(world["evaluator"], question, qtype=QuestionType.single_choice, text="How?",
                                 required=True, allow_dont_know=False, choices=["Bus"])


def test_adding_deleting_moving_and_reordering_keep_positions_one_to_n(sv, world):
    evaluator = world["evaluator"]
    survey = sv.create()
    sv.add_questions(survey)
    ids = [q.id for q in reloaded(survey).questions]
    assert positions(survey) == list(zip(range(1, 6), ids))

    def check(expected_ids):
        survey_ = reloaded(survey)
        assert positions(survey_) == list(zip(range(1, len(expected_ids) + 1), expected_ids))
        assert [q.id for q in survey_.questions] == expected_ids
        return survey_

    services.delete_question(evaluator, services.get_question(survey, ids[1]))
    db.session.commit()
    ids.pop(1)
    survey = check(ids)

    services.move_question(evaluator, services.get_question(survey, ids[0]), +1)
    db.session.commit()
    ids[0], ids[1] = ids[1], ids[0]
    survey = check(ids)
    services.move_question(evaluator, services.get_question(survey, ids[-1]), -1)
    db.session.commit()
    ids[-1], ids[-2] = ids[-2], ids[-1]
    survey = check(ids)
    services.move_question(evaluator, services.get_question(survey, ids[0]), -1)  # already first
    services.move_question(evaluator, services.get_question(survey, ids[-1]), +1)  # already last
    db.session.commit()
    survey = check(ids)

    ids = ids[::-1]
    services.reorder_questions(evaluator, survey, ids)
    db.session.commit()
    survey = check(ids)
    for wrong in (ids[:-1], ids + ids[:1], ids[:-1] + ids[:1], ids[:-1] + [10**6]):
        with pytest.raises(ValidationFailed):
            services.reorder_questions(evaluator, survey, wrong)
        survey = check(ids)

    added = services.add_question(evaluator, survey, qtype=QuestionType.free_text, text="More?", required=False,
                                  allow_dont_know=False, choices=[])
    db.session.commit()
    survey = check(ids + [added.id])

    other = sv.create()
    sv.add_questions(other)
    with pytest.raises(NotFound):
        services.get_question(survey, reloaded(other).questions[0].id)


def test_targets_are_communities_of_the_survey_s_area(sv, world):
    evaluator = world["evaluator"]
    survey = sv.create()
    for wrong in ([world["other_community"].id], [world["township"].id], [world["community"].id, 10**6]):
        with pytest.raises(ValidationFailed) as refused:
            services.set_targets(evaluator, survey, wrong)
        assert set(refused.value.errors) == {"targets"}
        assert reloaded(survey).targets == []
    services.set_targets(evaluator, survey, [world["community"].id, world["summer"].id])
    db.session.commit()
    assert [t.organization_id for t in reloaded(survey).targets] == sorted([world["community"].id, world["summer"].id])
    services.set_targets(evaluator, reloaded(survey), [world["summer"].id])
    db.session.commit()
    assert [t.organization_id for t in reloaded(survey).targets] == [world["summer"].id]


# --- builder: locking ----------------------------------------------------------------------

def test_after_opening_questions_targets_k_anonymity_and_opening_time_are_locked(sv, world):
    evaluator = world["evaluator"]
    survey = sv.opened()
    question = survey.questions[0]
    locked = [
        lambda: services.add_question(evaluator, survey, qtype=QuestionType.rating3, text="New?", required=True,
                                      allow_dont_know=False, choices=[]),
        lambda: services.update_question(evaluator, question, qtype=QuestionType.rating3, text="Changed?",
                                         required=True, allow_dont_know=False, choices=[]),
        lambda: services.delete_question(evaluator, question),
        lambda: services.move_question(evaluator, question, +1),
        lambda: services.reorder_questions(evaluator, survey, [q.id for q in survey.questions][::-1]),
        lambda: services.set_targets(evaluator, survey, [world["community"].id]),
        lambda: services.open_survey(evaluator, survey, T0 + HOUR),
        lambda: services.delete_survey(evaluator, survey),
    ]
    settings_ = {"title": survey.title, "description": "", "anonymity": survey.anonymity,
                 "opens_at": survey.opens_at, "closes_at": survey.closes_at, "min_group_size": survey.min_group_size}
    for change in ({"min_group_size": 7}, {"anonymity": Anonymity.identified}, {"opens_at": T0 + HOUR}):
        locked.append(lambda change=change: services.update_survey(evaluator, survey, **{**settings_, **change}, now=T0 + HOUR))
    before = (positions(survey), [(t.organization_id, t.term_id) for t in survey.targets])
    for attempt in locked:
        with pytest.raises(Conflict):
            attempt()
        survey = reloaded(survey)
        question = survey.questions[0]
        assert (positions(survey), [(t.organization_id, t.term_id) for t in survey.targets]) == before
        assert (survey.min_group_size, survey.anonymity, survey.opens_at) == (5, Anonymity.anonymous, T0)

    services.update_survey(evaluator, survey, **{**settings_, "title": "Cleaner streets", "description": "Tell us.",
                                                 "closes_at": T0 + 10 * DAY}, now=T0 + HOUR)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.title, survey.description, survey.closes_at) == ("Cleaner streets", "Tell us.", T0 + 10 * DAY)
    assert survey.state == SurveyState.open


def test_a_draft_can_be_changed_and_deleted(sv, world):
    survey = sv.draft()
    services.update_survey(world["evaluator"], survey, title="Other", description="", anonymity=Anonymity.identified,
                           opens_at=T0 + DAY, closes_at=T0 + 2 * DAY, min_group_size=3, now=T0)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.anonymity, survey.opens_at, survey.min_group_size) == (Anonymity.identified, T0 + DAY, 3)
    services.delete_survey(world["evaluator"], survey)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyTarget)) == 0


# --- opening -------------------------------------------------------------------------------

def test_open_refuses_without_questions_or_targets_or_with_a_passed_closing_time(sv, world):
    evaluator = world["evaluator"]
    empty = sv.create()
    with pytest.raises(ValidationFailed) as refused:
        services.open_survey(evaluator, empty, T0)
    assert len(refused.value.errors[""]) == 2  # no question, no community

    no_targets = sv.draft(targets=[])
    with pytest.raises(ValidationFailed) as refused:
        services.open_survey(evaluator, no_targets, T0)
    assert len(refused.value.errors[""]) == 1 and "community" in messages(refused.value, "")

    no_questions = sv.draft(questions=())
    with pytest.raises(ValidationFailed) as refused:
        services.open_survey(evaluator, no_questions, T0)
    assert "question" in messages(refused.value, "")

    late = sv.draft(closes_at=T0 + DAY)
    for now in (T0 + DAY, T0 + 2 * DAY):
        with pytest.raises(ValidationFailed) as refused:
            services.open_survey(evaluator, late, now)
        assert "closing time" in messages(refused.value, "")
    for survey in (empty, no_targets, no_questions, late):
        survey = reloaded(survey)
        assert (survey.state, survey.opened_at) == (SurveyState.draft, None)
        assert all(t.term_id is None and t.eligible_residents == 0 for t in survey.targets)


def test_a_democratic_evaluation_needs_a_secretary_in_every_community(sv, world, make):
    evaluator = world["evaluator"]
    winter = make.organization(parent=world["township"], name="Winter")
    survey = sv.draft(kind=SurveyKind.democratic_evaluation, targets=[world["community"], winter])
    with pytest.raises(ValidationFailed) as refused:
        services.open_survey(evaluator, survey, T0)
    assert "Winter" in messages(refused.value, "") and "Spring" not in messages(refused.value, "")
    assert reloaded(survey).state == SurveyState.draft

    # A secretary whose term has ended does not count either.
    winter_secretary = make.user((Role.member, winter), username="winter.secretary")
    term = make.term(winter, winter_secretary, start=date(2023, 1, 1))
    accounts_services.end_term(world["admin"], term, date(2024, 12, 31))
    db.session.commit()
    with pytest.raises(ValidationFailed):
        services.open_survey(evaluator, reloaded(survey), T0)

    # A general survey may ask a community without a secretary.
    general = sv.draft(targets=[winter])
    services.open_survey(evaluator, general, T0)
    db.session.commit()
    assert reloaded(general).targets[0].term_id is None


def test_open_records_each_community_s_term_and_its_verified_active_residents(sv, world, make):
    spring, summer = world["community"], world["summer"]
    sv.resident(spring)                      # verified: counted, with "voter"
    sv.resident(spring, verified=False)      # not verified, like world["resident"]
    sv.resident(spring, active=False)        # verified but deactivated
    sv.resident(world["other_community"])    # verified, of a community not asked
    make.user((Role.member, spring), username="spring.member")  # works there, lives elsewhere
    survey = sv.draft(kind=SurveyKind.democratic_evaluation)
    services.open_survey(world["evaluator"], survey, T0 + HOUR)
    db.session.commit()

    survey = reloaded(survey)
    assert (survey.state, survey.opened_at, survey.opens_at) == (SurveyState.open, T0 + HOUR, T0 + HOUR)
    assert {t.organization_id: (t.term_id, t.eligible_residents) for t in survey.targets} == {
        spring.id: (world["term"].id, 2), summer.id: (world["summer_term"].id, 1),
    }

    # A successor appointed while the survey runs does not change whose survey it is, nor later verifications.
    successor = make.user((Role.member, spring), username="successor")
    new_term = make.term(spring, successor, start=date(2025, 6, 3))
    assert accounts_services.open_term(spring.id).id == new_term.id
    sv.resident(spring)
    survey = reloaded(survey)
    assert target_of(survey, spring).term_id == world["term"].id
    assert target_of(survey, spring).term.user_id == world["member"].id
    assert target_of(survey, spring).eligible_residents == 2


# --- lifecycle -----------------------------------------------------------------------------

def test_a_survey_goes_from_draft_to_open_to_closed_to_published(sv, world):
    evaluator = world["evaluator"]
    survey = sv.draft()
    assert services.effective_state(survey, T0) == SurveyState.draft
    services.open_survey(evaluator, survey, T0)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.opened_at, survey.opens_at) == (SurveyState.open, T0, T0)
    assert services.is_accepting(survey, T0) and services.refusal_reason(survey, T0) is None

    services.close_survey(evaluator, survey, T0 + DAY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.closed_at, survey.closes_at) == (SurveyState.closed, T0 + DAY, T0 + DAY)
    assert not services.is_accepting(survey, T0 + DAY)

    services.publish_survey(evaluator, survey, T0 + 2 * DAY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.published_at) == (SurveyState.published, T0 + 2 * DAY)
    assert services.effective_state(survey, T0 + 30 * DAY) == SurveyState.published


def test_transitions_out_of_order_are_refused(sv, world):
    evaluator = world["evaluator"]
    draft = sv.draft()
    with pytest.raises(Conflict):
        services.close_survey(evaluator, draft, T0)
    with pytest.raises(Conflict):
        services.publish_survey(evaluator, draft, T0)
    assert reloaded(draft).state == SurveyState.draft

    survey = sv.opened()
    with pytest.raises(Conflict):
        services.publish_survey(evaluator, survey, T0 + DAY)  # still open
    with pytest.raises(Conflict):
        services.open_survey(evaluator, survey, T0 + DAY)
    assert reloaded(survey).state == SurveyState.open

    services.close_survey(evaluator, reloaded(survey), T0 + DAY)
    db.session.commit()
    for attempt in (services.close_survey, services.open_survey):
        with pytest.raises(Conflict):
            attempt(evaluator, reloaded(survey), T0 + 2 * DAY)
    services.publish_survey(evaluator, reloaded(survey), T0 + 2 * DAY)
    db.session.commit()
    for attempt in (services.close_survey, services.open_survey, services.publish_survey):
        with pytest.raises(Conflict):
            attempt(evaluator, reloaded(survey), T0 + 3 * DAY)
    assert reloaded(survey).state == SurveyState.published


def test_an_open_survey_past_its_closing_time_is_closed_and_refuses_ballots(sv, world):
    survey = sv.opened(closes_at=T0 + DAY)
    assert services.effective_state(survey, T0 + DAY - HOUR) == SurveyState.open
    after = T0 + DAY
    assert survey.state == SurveyState.open
    assert services.effective_state(survey, after) == SurveyState.closed
    assert not services.is_accepting(survey, after)
    assert "closed" in str(services.refusal_reason(survey, after))
    before = stored_counts()
    with pytest.raises(Conflict) as refused:
        services.submit_ballot(survey, Voter(resident=world["voter"]), sv.valid_answers(survey), after)
    assert "closed" in str(refused.value.message)
    assert services.surveys_for_resident(world["voter"], after) == []
    db.session.rollback()
    assert stored_counts() == before

    # Publishing it needs no closing by hand; the closing time stays as set.
    services.publish_survey(world["evaluator"], survey, after + DAY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.closed_at, survey.closes_at, survey.published_at) == (
        SurveyState.published, T0 + DAY, T0 + DAY, after + DAY)


def test_closing_by_hand_moves_the_closing_time_forward_only(sv, world):
    survey = sv.opened(closes_at=T0 + DAY)
    services.close_survey(world["evaluator"], survey, T0 + 3 * DAY)  # the end had passed already
    db.session.commit()
    assert (reloaded(survey).closed_at, reloaded(survey).closes_at) == (T0 + DAY, T0 + DAY)


def test_a_scheduled_survey_refuses_until_its_opening_time(sv, world):
    opens = T0 + 2 * DAY
    survey = sv.draft(opens_at=opens, closes_at=opens + 7 * DAY)
    services.open_survey(world["evaluator"], survey, T0, immediately=False)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.opens_at, survey.opened_at) == (SurveyState.open, opens, T0)
    assert survey.is_locked
    reason = services.refusal_reason(survey, T0 + HOUR)
    # Shown in the reader's time zone and locale, not as raw UTC.
    assert "opens on" in str(reason) and flask_babel.format_datetime(opens, "short") in str(reason)
    assert not services.is_accepting(survey, T0 + HOUR)
    assert services.surveys_for_resident(world["voter"], T0 + HOUR) == []
    with pytest.raises(Conflict) as refused:
        services.submit_ballot(survey, Voter(resident=world["voter"]), sv.valid_answers(survey), opens - HOUR)
    assert "opens on" in str(refused.value.message)
    db.session.rollback()
    assert stored_counts()["ballots"] == 0

    assert services.is_accepting(reloaded(survey), opens)
    assert services.surveys_for_resident(world["voter"], opens) == [reloaded(survey)]
    sv.vote(reloaded(survey), world["voter"], now=opens)
    assert stored_counts()["ballots"] == 1


@pytest.mark.parametrize("closed", [T0, T0 + 2 * DAY])
def test_a_scheduled_survey_can_be_closed_before_or_as_it_opens(sv, world, closed):
    opens = T0 + 2 * DAY
    survey = sv.draft(opens_at=opens, closes_at=opens + 7 * DAY)
    services.open_survey(world["evaluator"], survey, T0, immediately=False)
    db.session.commit()
    services.close_survey(world["evaluator"], survey, closed)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.closed_at, survey.opens_at) == (SurveyState.closed, closed, opens)
    assert survey.closes_at > survey.opens_at
    assert "closed" in str(services.refusal_reason(survey, opens + HOUR))
    services.publish_survey(world["evaluator"], survey, opens + HOUR)
    db.session.commit()
    assert reloaded(survey).state == SurveyState.published


def test_scheduling_with_an_opening_time_already_past_opens_now(sv, world):
    survey = sv.draft(opens_at=T0 - DAY)
    services.open_survey(world["evaluator"], survey, T0, immediately=False)
    db.session.commit()
    assert reloaded(survey).opens_at == T0


@pytest.mark.parametrize("state", [SurveyState.draft, SurveyState.closed, SurveyState.published])
def test_draft_closed_and_published_surveys_refuse_ballots_and_store_nothing(sv, world, state):
    survey = sv.draft() if state == SurveyState.draft else sv.opened()
    if state == SurveyState.draft:
        # A draft's communities may still change, so no code can be issued for it yet.
        with pytest.raises(Conflict):
            sv.codes(survey, world["community"])
        db.session.rollback()
        survey = reloaded(survey)
    code = None if state == SurveyState.draft else sv.codes(survey, world["community"])[0]
    if state != SurveyState.draft:
        services.close_survey(world["evaluator"], survey, T0 + HOUR)
    if state == SurveyState.published:
        services.publish_survey(world["evaluator"], survey, T0 + HOUR)
    db.session.commit()
    survey = reloaded(survey)
    before = stored_counts()
    voters = [Voter(resident=world["voter"])] + ([sv.by_code(survey, code)] if code else [])
    for voter in voters:
        with pytest.raises(Conflict) as refused:
            services.submit_ballot(survey, voter, sv.valid_answers(survey), T0 + 2 * HOUR)
        assert str(refused.value.message) == str(services.refusal_reason(survey, T0 + 2 * HOUR))
        assert not isinstance(refused.value, AlreadyParticipated)
    db.session.rollback()
    assert stored_counts() == before


# --- invitation codes ----------------------------------------------------------------------

def test_codes_are_distinct_short_and_unambiguous(sv, world):
    assert not set("0O1IL") & set(services.CODE_ALPHABET)
    survey = sv.opened()
    codes = sv.codes(survey, world["community"], 200)
    assert len(codes) == len(set(codes)) == 200
    assert all(len(c) == 8 and set(c) <= set(services.CODE_ALPHABET) for c in codes)
    assert services.format_code("K7QPM2XA") == "K7QP-M2XA"
    assert services.normalize_code(" k7qp-m2xa ") == "K7QPM2XA"


def test_a_chance_repeat_within_a_batch_still_gives_distinct_codes(sv, world, monkeypatch):
    survey = sv.opened()
    letters = iter("K7QPM2XA" "K7QPM2XA" "K7QPM2XB")
    with monkeypatch.context() as patch:
        patch.setattr(services.secrets, "choice", lambda alphabet: next(letters))
        codes = sv.codes(survey, world["community"], 2)
    assert sorted(codes) == ["K7QPM2XA", "K7QPM2XB"]
    assert target_of(survey, world["community"]).codes_issued == 2


def test_only_keyed_hashes_of_codes_are_stored(sv, world, app):
    survey = sv.opened()
    codes = sv.codes(survey, world["community"], 20)
    hashes = set(db.session.scalars(sa.select(Invitation.code_hash).where(Invitation.survey_id == survey.id)))
    assert hashes == {services.hash_code(c, sv.key) for c in codes}
    assert all(len(h) == 64 for h in hashes)
    assert not hashes & {hashlib.sha256(c.encode()).hexdigest() for c in codes}  # keyed, not a bare hash
    assert services.hash_code(codes[0], b"another key") != services.hash_code(codes[0], sv.key)

    # No column of any table holds a code, in any spelling.
    spellings = {s for c in codes for s in (c, c.lower(), services.format_code(c), services.format_code(c).lower())}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    text = str(value)
                    assert not any(s in text for s in spellings), f"a code appears in {table.name}"


def test_find_invitation_accepts_lower_case_and_dashes_and_refuses_others(sv, world):
    survey = sv.opened()
    other = sv.opened(title="Another")
    code = sv.codes(survey, world["summer"])[0]
    foreign = sv.codes(other, world["community"])[0]
    for spelling in (code, code.lower(), services.format_code(code), services.format_code(code).lower(),
                     f" {code[:4]} {code[4:]} "):
        invitation = services.find_invitation(survey, spelling, sv.key)
        assert (invitation.survey_id, invitation.organization_id) == (survey.id, world["summer"].id)
    for wrong, message in ((foreign, "another survey"), ("ABCD-EFGH", "not valid"), ("", "not valid"),
                           (code[:7], "not valid"), (code + "A", "not valid")):
        with pytest.raises(ValidationFailed) as refused:
            services.find_invitation(survey, wrong, sv.key)
        assert message in messages(refused.value, "code"), wrong
    with pytest.raises(ValidationFailed):
        services.find_invitation(survey, code, b"another key")


def test_a_code_gives_exactly_one_ballot_for_its_community(sv, world):
    survey = sv.opened()
    code = sv.codes(survey, world["summer"])[0]
    ballot = sv.vote(survey, sv.by_code(survey, code))
    assert ballot.organization_id == world["summer"].id
    participation = db.session.scalars(sa.select(Participation)).one()
    assert (participation.invitation_id, participation.resident_id) == (sv.by_code(survey, code).invitation.id, None)
    before = stored_counts()
    for spelling in (code, services.format_code(code).lower()):
        with pytest.raises(AlreadyParticipated):
            services.submit_ballot(survey, sv.by_code(survey, spelling), sv.valid_answers(survey), T0 + 2 * HOUR)
        db.session.rollback()
    assert stored_counts() == before
    assert services.has_participated(survey, sv.by_code(survey, code))
    # The code's holder and a resident of the same community are separate voters.
    sv.vote(survey, world["summer_voter"])
    assert stored_counts()["ballots"] == 2


def test_codes_issued_are_counted_on_their_target(sv, world):
    survey = sv.opened()
    sv.codes(survey, world["community"], 5)
    sv.codes(reloaded(survey), world["community"], 3)
    survey = reloaded(survey)
    assert (target_of(survey, world["community"]).codes_issued, target_of(survey, world["summer"]).codes_issued) == (8, 0)
    summary = {p.target.organization_id: p for p in services.participation_summary(survey)}
    assert summary[world["community"].id].eligible == 8 + 1  # the codes and "voter", the one verified resident
    assert summary[world["summer"].id].eligible == 1
    sv.vote(survey, world["voter"])
    summary = {p.target.organization_id: p for p in services.participation_summary(reloaded(survey))}
    assert (summary[world["community"].id].ballots, summary[world["community"].id].turnout) == (1, 1 / 9)
    assert summary[world["summer"].id].turnout == 0


def test_codes_are_refused_for_a_closed_survey_another_community_or_a_silly_count(sv, world):
    survey = sv.opened(closes_at=T0 + DAY)
    for wrong, field in (({"organization_id": world["other_community"].id}, "organization"),
                         ({"count": 0}, "count"), ({"count": services.MAX_CODES_PER_BATCH + 1}, "count")):
        arguments = {"organization_id": world["community"].id, "count": 1, **wrong}
        with pytest.raises(ValidationFailed) as refused:
            services.generate_codes(world["evaluator"], survey, key=sv.key, now=T0, **arguments)
        assert set(refused.value.errors) == {field}
    with pytest.raises(Conflict):  # closed by its time
        services.generate_codes(world["evaluator"], survey, world["community"].id, 1, sv.key, T0 + DAY)
    services.close_survey(world["evaluator"], survey, T0 + HOUR)
    db.session.commit()
    with pytest.raises(Conflict):
        services.generate_codes(world["evaluator"], reloaded(survey), world["community"].id, 1, sv.key, T0 + HOUR)
    db.session.rollback()
    assert stored_counts()["invitations"] == 0
    assert target_of(survey, world["community"]).codes_issued == 0


# --- ballots: who may answer ---------------------------------------------------------------

def test_only_verified_residents_of_a_target_community_may_answer(sv, world):
    survey = sv.opened()
    assert services.target_for(survey, Voter(resident=world["voter"])).organization_id == world["community"].id
    assert services.target_for(survey, Voter(resident=world["summer_voter"])).organization_id == world["summer"].id
    refusals = {
        "resident": "not verified",          # of Spring, but not matched to the register
        "autumn_voter": "not part of this survey",
        "member": "Only residents",
        "evaluator": "Only residents",
        "admin": "Only residents",
    }
    before = stored_counts()
    for name, message in refusals.items():
        with pytest.raises(PermissionDenied) as refused:
            services.submit_ballot(survey, Voter(resident=world[name]), sv.valid_answers(survey), T0 + HOUR)
        assert message in str(refused.value.message), name
    db.session.rollback()
    assert stored_counts() == before
    assert services.surveys_for_resident(world["voter"], T0 + HOUR) == [survey]
    assert services.surveys_for_resident(world["autumn_voter"], T0 + HOUR) == []
    assert services.surveys_for_resident(world["member"], T0 + HOUR) == []


def test_a_resident_answers_once(sv, world):
    survey = sv.opened()
    sv.vote(survey, world["voter"])
    assert services.has_participated(survey, Voter(resident=world["voter"]))
    assert not services.has_participated(survey, Voter(resident=world["summer_voter"]))
    before = stored_counts()
    with pytest.raises(AlreadyParticipated) as refused:
        services.submit_ballot(survey, Voter(resident=world["voter"]), sv.valid_answers(survey), T0 + DAY)
    assert refused.value.status == 409 and "already" in str(refused.value.message)
    db.session.rollback()
    assert stored_counts() == before
    # Another survey is another matter.
    sv.vote(sv.opened(title="Another"), world["voter"])


# --- ballots: answers ----------------------------------------------------------------------

def test_bad_answers_are_refused_beside_their_question_and_nothing_is_stored(sv, world):
    survey = sv.opened()
    other = sv.opened(title="Another")
    sv.vote(survey, world["summer_voter"])  # something stored already, to see it unchanged
    rating, grade, likert, choice, text = survey.questions
    good = sv.valid_answers(survey)
    cases = [
        ({answer_key(rating): ""}, {answer_key(rating)}),                         # required, empty
        ({answer_key(likert): "   "}, {answer_key(likert)}),                      # required, blank
        ({answer_key(rating): "very"}, {answer_key(rating)}),                     # not an option
        ({answer_key(likert): "6"}, {answer_key(likert)}),
        ({answer_key(likert): "0"}, {answer_key(likert)}),
        ({answer_key(grade): DONT_KNOW}, {answer_key(grade)}),                    # don't know not offered
        ({answer_key(grade): "satisfied"}, {answer_key(grade)}),                  # another type's option
        ({answer_key(choice): "3"}, {answer_key(choice)}),                        # three choices: 0..2
        ({answer_key(choice): "-1"}, {answer_key(choice)}),
        ({answer_key(choice): "Bus"}, {answer_key(choice)}),
        ({answer_key(text): "x" * (services.MAX_TEXT_ANSWER + 1)}, {answer_key(text)}),
        ({answer_key(rating): "", answer_key(likert): "9"}, {answer_key(rating), answer_key(likert)}),
    ]
    for change, fields in cases:
        before = stored_counts()
        with pytest.raises(ValidationFailed) as refused:
            services.submit_ballot(survey, Voter(resident=world["voter"]), {**good, **change}, T0 + HOUR)
        assert set(refused.value.errors) == fields, change
        assert all(refused.value.errors[f] for f in fields)
        assert stored_counts() == before  # nothing flushed
        db.session.rollback()
        assert stored_counts() == before

    missing = {k: v for k, v in good.items() if k != answer_key(rating)}
    forged = [{**good, f"q{10**6}": "satisfied"}, {**good, answer_key(other.questions[0]): "satisfied"},
              {**good, "rating": "satisfied"}]
    with pytest.raises(ValidationFailed) as refused:
        services.submit_ballot(survey, Voter(resident=world["voter"]), missing, T0 + HOUR)
    assert set(refused.value.errors) == {answer_key(rating)}
    for answers in forged:
        with pytest.raises(ValidationFailed) as refused:
            services.submit_ballot(survey, Voter(resident=world["voter"]), answers, T0 + HOUR)
        assert set(refused.value.errors) == {""} and "does not match" in refused.value.message
    db.session.rollback()
    assert stored_counts()["ballots"] == 1
    assert not services.has_participated(survey, Voter(resident=world["voter"]))


def test_don_t_know_counts_where_offered_and_optional_questions_may_stay_empty(sv, world):
    survey = sv.opened()
    rating, grade, likert, choice, text = survey.questions
    answers = {answer_key(rating): DONT_KNOW, answer_key(grade): "", answer_key(likert): "5", answer_key(text): "  "}
    assert services.check_answers(survey, answers) == {rating.id: DONT_KNOW, likert.id: "5"}
    sv.vote(survey, world["voter"], answers)
    assert services.rollup_counts(survey) == {
        (world["community"].id, rating.id, DONT_KNOW): 1, (world["community"].id, likert.id, "5"): 1,
    }
    [ballot] = db.session.scalars(sa.select(Ballot)).all()
    assert {(a.question_id, a.value, a.text) for a in ballot.answers} == {(rating.id, DONT_KNOW, None),
                                                                          (likert.id, "5", None)}
    long_enough = {**answers, answer_key(text): "好" * services.MAX_TEXT_ANSWER}
    assert services.check_answers(survey, long_enough)[text.id] == "好" * services.MAX_TEXT_ANSWER

    plain = sv.opened(title="Without don't know", questions=[(QuestionType.rating3, False, False, [])])
    with pytest.raises(ValidationFailed) as refused:
        services.check_answers(plain, {answer_key(plain.questions[0]): DONT_KNOW})
    assert set(refused.value.errors) == {answer_key(plain.questions[0])}
    assert services.check_answers(plain, {answer_key(plain.questions[0]): "dissatisfied"})


def test_a_ballot_writes_one_participation_one_ballot_its_rollups_and_the_turnout(sv, world):
    survey = sv.opened()
    rating, grade, likert, choice, text = survey.questions
    before = stored_counts()
    answers = {answer_key(rating): "basically_satisfied", answer_key(grade): "excellent", answer_key(likert): "4",
               answer_key(choice): "2", answer_key(text): "  The bins are full on Mondays.  "}
    ballot = sv.vote(survey, world["voter"], answers, now=T0 + 3 * HOUR)
    db.session.expire_all()

    after = stored_counts()
    assert {k: after[k] - before[k] for k in after} == {
        "ballots": 1, "answers": 5, "participations": 1, "rollup_rows": 5, "rollup_votes": 5, "target_ballots": 1,
        "invitations": 0,
    }
    participation = db.session.scalars(sa.select(Participation)).one()
    assert (participation.survey_id, participation.resident_id, participation.invitation_id) == (
        survey.id, world["voter"].id, None)
    assert (participation.organization_id, participation.day, participation.ballot_id) == (
        world["community"].id, date(2025, 6, 2), None)  # anonymous: no link to the ballot
    ballot = db.session.get(Ballot, ballot.id)
    assert (ballot.survey_id, ballot.organization_id, ballot.day) == (survey.id, world["community"].id, date(2025, 6, 2))
    assert {(a.question_id, a.value, a.text) for a in ballot.answers} == {
        (rating.id, "basically_satisfied", None), (grade.id, "excellent", None), (likert.id, "4", None),
        (choice.id, "2", None), (text.id, None, "The bins are full on Mondays."),
    }
    spring = world["community"].id
    assert services.rollup_counts(survey) == {
        (spring, rating.id, "basically_satisfied"): 1, (spring, grade.id, "excellent"): 1,
        (spring, likert.id, "4"): 1, (spring, choice.id, "2"): 1, (spring, text.id, services.ANSWERED): 1,
    }
    assert (target_of(survey, world["community"]).ballots, target_of(survey, world["summer"]).ballots) == (1, 0)

    # A second ballot on the same options adds to the same rows.
    sv.vote(survey, sv.resident(world["community"]), answers)
    assert set(services.rollup_counts(survey).values()) == {2}
    assert target_of(reloaded(survey), world["community"]).ballots == 2


def test_an_identified_survey_links_the_participation_to_its_ballot(sv, world):
    survey = sv.opened(anonymity=Anonymity.identified)
    ballot = sv.vote(survey, world["voter"])
    assert db.session.scalars(sa.select(Participation)).one().ballot_id == ballot.id


@pytest.mark.parametrize("by_code", [False, True])
def test_a_ballot_is_one_transaction_and_rolling_back_leaves_nothing(sv, world, by_code):
    survey = sv.opened()
    voter = sv.by_code(survey, sv.codes(survey, world["community"])[0]) if by_code else Voter(resident=world["voter"])
    sv.vote(survey, world["summer_voter"])
    before = stored_counts()
    rollups = services.rollup_counts(survey)
    services.submit_ballot(survey, voter, sv.valid_answers(survey), T0 + HOUR)
    assert stored_counts() != before  # it was all written ...
    db.session.rollback()
    assert stored_counts() == before  # ... and none of it stayed
    assert services.rollup_counts(survey) == rollups
    assert target_of(survey, world["community"]).ballots == 0
    assert not services.has_participated(survey, voter)
    sv.vote(survey, voter)  # the voter may still answer
    assert stored_counts()["ballots"] == before["ballots"] + 1


# --- concurrency ---------------------------------------------------------------------------

RACERS = 16


def race(app, submit) -> Counter:
    """Run submit() in RACERS threads at once, each as a request would, and count the outcomes."""
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        outcome = "not run"
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                with extensions.writing():
                    try:
                        submit()
                        db.session.commit()
                        outcome = "stored"
                    except (AlreadyParticipated, Conflict) as error:
                        db.session.rollback()
                        outcome = type(error).__name__
            except Exception as error:  # anything else is a failure, reported by name
                outcome = f"{type(error).__name__}: {error}"
            finally:
                db.session.remove()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return Counter(outcomes)


@pytest.fixture(params=["checked first", "unchecked"])
def precheck(request, monkeypatch):
    """Run the race as is, and with the "has taken part" check blind so that the unique constraint decides."""
    if request.param == "unchecked":
        monkeypatch.setattr(services, "has_participated", lambda survey, voter: False)
    return request.param


def test_sixteen_concurrent_ballots_of_one_resident_store_one(sv, world, app, precheck):
    survey = sv.opened()
    survey_id, voter_id, community_id = survey.id, world["voter"].id, world["community"].id
    db.session.remove()

    def submit():
        survey_ = db.session.get(Survey, survey_id)
        voter = Voter(resident=db.session.get(User, voter_id))
        answers = {answer_key(q): (q.option_values() or ("Clean streets.",))[-1] for q in survey_.questions}
        services.submit_ballot(survey_, voter, answers, T0 + HOUR)

    assert race(app, submit) == {"stored": 1, "AlreadyParticipated": RACERS - 1}
    check_one_ballot_stored(survey_id, community_id)


def test_sixteen_concurrent_ballots_with_one_code_store_one(sv, world, app, precheck):
    survey = sv.opened()
    code = sv.codes(survey, world["summer"])[0]
    survey_id, key, community_id = survey.id, sv.key, world["summer"].id
    db.session.remove()

    def submit():
        survey_ = db.session.get(Survey, survey_id)
        voter = Voter(invitation=services.find_invitation(survey_, services.format_code(code).lower(), key))
        answers = {answer_key(q): (q.option_values() or ("Clean streets.",))[-1] for q in survey_.questions}
        services.submit_ballot(survey_, voter, answers, T0 + HOUR)

    assert race(app, submit) == {"stored": 1, "AlreadyParticipated": RACERS - 1}
    check_one_ballot_stored(survey_id, community_id)


def check_one_ballot_stored(survey_id: int, community_id: int) -> None:
    survey = db.session.get(Survey, survey_id)
    counts = stored_counts()
    assert (counts["ballots"], counts["participations"], counts["target_ballots"]) == (1, 1, 1)
    assert counts["answers"] == counts["rollup_votes"] == len(survey.questions)
    assert set(services.rollup_counts(survey).values()) == {1}
    assert db.session.get(SurveyTarget, (survey_id, community_id)).ballots == 1


def test_concurrent_ballots_of_different_voters_all_count(sv, world, app):
    survey = sv.opened()
    codes = sv.codes(survey, world["community"], RACERS)
    survey_id, key, spring = survey.id, sv.key, world["community"].id
    db.session.remove()
    pending = list(codes)
    lock = threading.Lock()

    def submit():
        with lock:
            code = pending.pop()
        survey_ = db.session.get(Survey, survey_id)
        voter = Voter(invitation=services.find_invitation(survey_, code, key))
        services.submit_ballot(survey_, voter, {answer_key(survey_.questions[0]): "satisfied",
                                                answer_key(survey_.questions[2]): "3"}, T0 + HOUR)

    assert race(app, submit) == {"stored": RACERS}
    survey = db.session.get(Survey, survey_id)
    assert services.rollup_counts(survey) == {(spring, survey.questions[0].id, "satisfied"): RACERS,
                                              (spring, survey.questions[2].id, "3"): RACERS}
    assert db.session.get(SurveyTarget, (survey_id, spring)).ballots == RACERS


# --- anonymity of the schema ---------------------------------------------------------------

BALLOT_COLUMNS = {
    "survey_ballots": {"id", "survey_id", "organization_id", "day"},
    "survey_ballot_answers": {"ballot_id", "question_id", "value", "text"},
}
BALLOT_REFERENCES = {
    "survey_ballots": {("survey_id",): "surveys", ("organization_id",): "organizations"},
    "survey_ballot_answers": {("ballot_id",): "survey_ballots", ("question_id",): "survey_questions"},
}
#: The only columns anywhere that may point at a ballot: its answers, and an identified survey's participation.
BALLOT_REFERRERS = {("survey_ballot_answers", "ballot_id"), ("survey_participations", "ballot_id")}


def test_the_database_schema_of_ballots_holds_nothing_that_identifies_a_voter(app):
    inspector = sa.inspect(db.engine)
    for table, allowed in BALLOT_COLUMNS.items():
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        assert set(columns) == allowed, f"{table} has columns beyond the allow-list"
        references = {tuple(fk["constrained_columns"]): fk["referred_table"] for fk in inspector.get_foreign_keys(table)}
        assert references == BALLOT_REFERENCES[table], f"{table} refers to something beyond the allow-list"
    columns = {c["name"]: c for c in inspector.get_columns("survey_ballots")}
    assert inspector.get_pk_constraint("survey_ballots")["constrained_columns"] == ["id"]
    assert not isinstance(columns["id"]["type"], sa.Integer)  # no sequence to order ballots by
    assert columns["id"]["default"] is None  # no serial or identity behind it
    assert not columns["id"].get("identity")
    assert isinstance(columns["day"]["type"], sa.Date) and not isinstance(columns["day"]["type"], sa.DateTime)
    assert str(columns["day"]["type"]) == "DATE"
    referrers = {(table, column) for table in inspector.get_table_names() for fk in inspector.get_foreign_keys(table)
                 if fk["referred_table"] == "survey_ballots" for column in fk["constrained_columns"]}
    assert referrers == BALLOT_REFERRERS


def test_the_models_of_ballots_hold_nothing_that_identifies_a_voter():
    for model in (Ballot, BallotAnswer):
        table = model.__table__
        assert {c.name for c in table.columns} == BALLOT_COLUMNS[table.name]
        assert {tuple(c.name for c in fk.columns): fk.referred_table.name for fk in table.foreign_key_constraints} == \
            BALLOT_REFERENCES[table.name]
        assert not any(c.server_default is not None for c in table.columns)
    assert isinstance(Ballot.__table__.c.id.type, sa.Uuid) and not Ballot.__table__.c.id.autoincrement is True
    assert type(Ballot.__table__.c.day.type) is sa.Date
    referrers = {(table.name, c.name) for table in db.metadata.sorted_tables for c in table.columns
                 if any(fk.column.table.name == "survey_ballots" for fk in c.foreign_keys)}
    assert referrers == BALLOT_REFERRERS


def test_ballot_ids_are_random_and_ballots_know_only_the_day(sv, world):
    survey = sv.opened()
    for code in sv.codes(survey, world["community"], 6):
        sv.vote(reloaded(survey), sv.by_code(reloaded(survey), code), now=T0 + 5 * HOUR)
    with db.engine.connect() as connection:
        rows = connection.execute(sa.select(Ballot.__table__)).mappings().all()
    assert len(rows) == 6
    ids = [uuid.UUID(str(row["id"])) for row in rows]
    assert len(set(ids)) == 6
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    for row in rows:
        assert not any(isinstance(value, datetime) for value in row.values())
        assert type(row["day"]) is date and row["day"] == date(2025, 6, 2)
    with db.engine.connect() as connection:
        answers = connection.execute(sa.select(BallotAnswer.__table__)).mappings().all()
    assert answers and not any(isinstance(v, (datetime, date)) for row in answers for v in row.values())


# --- rollups -------------------------------------------------------------------------------

ANSWER_CHOICES = {
    QuestionType.rating3: ("satisfied", "basically_satisfied", "dissatisfied", DONT_KNOW),
    QuestionType.grade4: ("excellent", "competent", "basically_competent", "incompetent"),
    QuestionType.likert5: ("1", "2", "3", "4", "5"),
    QuestionType.single_choice: ("0", "1", "2"),
    QuestionType.free_text: ("Fine.", "More buses, please.", "好"),
}


@st.composite
def ballots(draw, questions):
    """Draw (community index, by code, answers) with an answer to each required question and maybe the others."""
    answers = {}
    for key, qtype, required in questions:
        if required or draw(st.booleans()):
            answers[key] = draw(st.sampled_from(ANSWER_CHOICES[qtype]))
    return draw(st.integers(0, 1)), draw(st.booleans()), answers


def reset(survey: Survey) -> None:
    """Remove a survey's ballots, participations, codes and counts, to start an example afresh."""
    survey_id = survey.id
    db.session.execute(sa.delete(Rollup).where(Rollup.survey_id == survey_id))
    db.session.execute(sa.delete(BallotAnswer).where(BallotAnswer.ballot_id.in_(
        sa.select(Ballot.id).where(Ballot.survey_id == survey_id))))
    db.session.execute(sa.delete(Participation).where(Participation.survey_id == survey_id))
    db.session.execute(sa.delete(Ballot).where(Ballot.survey_id == survey_id))
    db.session.execute(sa.delete(Invitation).where(Invitation.survey_id == survey_id))
    db.session.execute(sa.update(SurveyTarget).where(SurveyTarget.survey_id == survey_id).values(
        ballots=0, codes_issued=0))
    db.session.commit()
    db.session.expire_all()


def test_rollups_rebuilt_from_the_ballots_equal_those_counted_as_they_came(sv, world):
    communities = [world["community"], world["summer"]]
    residents = {0: [world["voter"]] + [sv.resident(communities[0]) for _ in range(3)],
                 1: [world["summer_voter"]] + [sv.resident(communities[1]) for _ in range(3)]}
    survey = sv.opened()
    survey_id = survey.id
    questions = [(answer_key(q), q.type, q.required) for q in survey.questions]
    question_ids = {answer_key(q): q.id for q in survey.questions}
    free = {answer_key(q) for q in survey.questions if q.type == QuestionType.free_text}

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(ballots(questions), max_size=14))
    def check(drawn):
        survey_ = db.session.get(Survey, survey_id)
        reset(survey_)
        survey_ = db.session.get(Survey, survey_id)
        unused = {i: list(people) for i, people in residents.items()}
        # Each resident answers once; the rest answer with codes, issued in one batch per community.
        plan = [(index, None if by_code or not unused[index] else unused[index].pop(), answers)
                for index, by_code, answers in drawn]
        wanted = Counter(index for index, resident, _ in plan if resident is None)
        codes = {index: sv.codes(survey_, communities[index], n) for index, n in wanted.items()}
        expected: Counter = Counter()
        per_community: Counter = Counter()
        for index, resident, answers in plan:
            community = communities[index]
            voter = Voter(resident=resident) if resident else sv.by_code(survey_, codes[index].pop())
            sv.vote(survey_, voter, answers)
            per_community[community.id] += 1
            for key, value in answers.items():
                expected[(community.id, question_ids[key], services.ANSWERED if key in free else value)] += 1

        counted = services.rollup_counts(survey_)
        assert counted == dict(expected)
        services.rebuild_rollups(survey_)
        db.session.commit()
        assert services.rollup_counts(survey_) == counted
        ballots_by_community = dict(db.session.execute(
            sa.select(Ballot.organization_id, sa.func.count()).where(Ballot.survey_id == survey_id)
            .group_by(Ballot.organization_id)).all())
        for community in communities:
            target = db.session.get(SurveyTarget, (survey_id, community.id))
            assert target.ballots == per_community[community.id] == ballots_by_community.get(community.id, 0)

    check()



def test_rebuilding_works_while_the_session_holds_rollups(sv, world):
    survey = sv.opened()
    sv.vote(survey, world["voter"])
    held = list(db.session.scalars(sa.select(Rollup)))  # as a results page would have them
    counted = services.rollup_counts(survey)
    services.rebuild_rollups(survey)
    db.session.commit()
    assert services.rollup_counts(survey) == counted and len(held) == len(counted) == 5
