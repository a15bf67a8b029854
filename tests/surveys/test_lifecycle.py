"""The lifecycle on the database: opening and its requirements, closing, scheduling, publishing."""
from __future__ import annotations

from datetime import date
from functools import partial

import pytest

from accounts.models import Role
from accounts.terms import end_term, open_term
from errors import Conflict, PermissionDenied, ValidationFailed
from extensions import db
from surveys import ballots, lifecycle, tally, transitions
from surveys.ballots import AlreadyParticipated, Voter
from surveys.labels import STATUS_LABELS
from surveys.lifecycle import Phase
from surveys.models import SurveyKind, SurveyState
from tests.conftest import BOX_KEY
from tests.surveys.conftest import DAY, HOUR, T0, count, messages, refusal, reloaded, stored_counts, target_of


def test_open_refuses_without_questions_or_targets_or_with_a_passed_closing_time(sv, world):
    evaluator = world["evaluator"]
    empty = sv.create()
    with pytest.raises(ValidationFailed) as refused:
        transitions.open_survey(evaluator, empty, T0, box_key=BOX_KEY)
    assert len(refused.value.errors[""]) == 2  # no question, no community

    no_targets = sv.draft(targets=[])
    with pytest.raises(ValidationFailed) as refused:
        transitions.open_survey(evaluator, no_targets, T0, box_key=BOX_KEY)
    assert len(refused.value.errors[""]) == 1 and "community" in messages(refused.value, "")

    no_questions = sv.draft(questions=())
    with pytest.raises(ValidationFailed) as refused:
        transitions.open_survey(evaluator, no_questions, T0, box_key=BOX_KEY)
    assert "question" in messages(refused.value, "")

    late = sv.draft(closes_at=T0 + DAY)
    for now in (T0 + DAY, T0 + 2 * DAY):
        with pytest.raises(ValidationFailed) as refused:
            transitions.open_survey(evaluator, late, now, box_key=BOX_KEY)
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
        transitions.open_survey(evaluator, survey, T0, box_key=BOX_KEY)
    assert "Winter" in messages(refused.value, "") and "Spring" not in messages(refused.value, "")
    assert reloaded(survey).state == SurveyState.draft

    # A secretary whose term has ended does not count either.
    winter_secretary = make.user((Role.member, winter), username="winter.secretary")
    term = make.term(winter, winter_secretary, start=date(2023, 1, 1))
    end_term(world["admin"], term, date(2024, 12, 31))
    db.session.commit()
    with pytest.raises(ValidationFailed):
        transitions.open_survey(evaluator, reloaded(survey), T0, box_key=BOX_KEY)

    # A general survey may ask a community without a secretary.
    general = sv.draft(targets=[winter])
    transitions.open_survey(evaluator, general, T0, box_key=BOX_KEY)
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
    transitions.open_survey(world["evaluator"], survey, T0 + HOUR, box_key=BOX_KEY)
    db.session.commit()

    survey = reloaded(survey)
    assert (survey.state, survey.opened_at, survey.opens_at) == (SurveyState.open, T0 + HOUR, T0 + HOUR)
    assert {t.organization_id: (t.term_id, t.eligible_residents) for t in survey.targets} == {
        spring.id: (world["term"].id, 2), summer.id: (world["summer_term"].id, 1),
    }

    # A successor appointed while the survey runs does not change whose survey it is, nor later verifications.
    successor = make.user((Role.member, spring), username="successor")
    new_term = make.term(spring, successor, start=date(2025, 6, 3))
    assert open_term(spring.id).id == new_term.id
    sv.resident(spring)
    survey = reloaded(survey)
    assert target_of(survey, spring).term_id == world["term"].id
    assert target_of(survey, spring).term.user_id == world["member"].id
    assert target_of(survey, spring).eligible_residents == 2


# --- transitions ---------------------------------------------------------------------------

def test_a_survey_goes_from_draft_to_open_to_closed_to_published(sv, world):
    evaluator = world["evaluator"]
    survey = sv.draft()
    assert lifecycle.effective_state(survey, T0) == SurveyState.draft
    transitions.open_survey(evaluator, survey, T0, box_key=BOX_KEY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.opened_at, survey.opens_at) == (SurveyState.open, T0, T0)
    assert lifecycle.phase(survey, T0) is Phase.open and refusal(survey, T0) is None

    transitions.close_survey(evaluator, survey, T0 + DAY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.closed_at, survey.closes_at) == (SurveyState.closed, T0 + DAY, T0 + DAY)
    assert lifecycle.phase(survey, T0 + DAY) is not Phase.open

    # Its results are published once the tally has counted them.
    with pytest.raises(Conflict) as refused:
        transitions.publish_survey(evaluator, survey, T0 + DAY)
    assert "being counted" in str(refused.value.message)
    survey = count(reloaded(survey), T0 + DAY)
    assert (survey.state, survey.counted_at, survey.sealed_private_key) == (SurveyState.closed, T0 + DAY, None)

    transitions.publish_survey(evaluator, survey, T0 + 2 * DAY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.published_at) == (SurveyState.published, T0 + 2 * DAY)
    assert lifecycle.effective_state(survey, T0 + 30 * DAY) == SurveyState.published


def test_transitions_out_of_order_are_refused(sv, world):
    evaluator = world["evaluator"]
    draft = sv.draft()
    with pytest.raises(Conflict):
        transitions.close_survey(evaluator, draft, T0)
    with pytest.raises(Conflict):
        transitions.publish_survey(evaluator, draft, T0)
    assert reloaded(draft).state == SurveyState.draft

    survey = sv.opened()
    with pytest.raises(Conflict):
        transitions.publish_survey(evaluator, survey, T0 + DAY)  # still open
    with pytest.raises(Conflict):
        transitions.open_survey(evaluator, survey, T0 + DAY, box_key=BOX_KEY)
    assert reloaded(survey).state == SurveyState.open

    transitions.close_survey(evaluator, reloaded(survey), T0 + DAY)
    db.session.commit()
    for attempt in (transitions.close_survey, partial(transitions.open_survey, box_key=BOX_KEY)):
        with pytest.raises(Conflict):
            attempt(evaluator, reloaded(survey), T0 + 2 * DAY)
    transitions.publish_survey(evaluator, count(survey, T0 + 2 * DAY), T0 + 2 * DAY)
    db.session.commit()
    for attempt in (transitions.close_survey, partial(transitions.open_survey, box_key=BOX_KEY),
                    transitions.publish_survey):
        with pytest.raises(Conflict):
            attempt(evaluator, reloaded(survey), T0 + 3 * DAY)
    assert reloaded(survey).state == SurveyState.published


def test_an_open_survey_past_its_closing_time_is_closed_and_refuses_ballots(sv, world):
    survey = sv.opened(closes_at=T0 + DAY)
    assert lifecycle.effective_state(survey, T0 + DAY - HOUR) == SurveyState.open
    after = T0 + DAY
    assert survey.state == SurveyState.open
    assert lifecycle.effective_state(survey, after) == SurveyState.closed
    assert lifecycle.phase(survey, after) is not Phase.open
    assert "closed" in str(refusal(survey, after).message)
    before = stored_counts()
    with pytest.raises(Conflict) as refused:
        ballots.submit_ballot(survey, Voter(resident=world["voter"]), sv.valid_answers(survey), after)
    assert "closed" in str(refused.value.message)
    assert ballots.surveys_for_resident(world["voter"], after) == []
    db.session.rollback()
    assert stored_counts() == before

    # Publishing it needs no closing by hand: the periodic tally counts it and records the closing at its time.
    assert tally.needs_counting(after) == [survey.id]
    survey = count(survey, after)
    assert (survey.state, survey.closed_at, survey.closes_at, survey.counted_at) == (
        SurveyState.closed, T0 + DAY, T0 + DAY, after)
    assert tally.needs_counting(after) == []
    transitions.publish_survey(world["evaluator"], survey, after + DAY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.closed_at, survey.closes_at, survey.published_at) == (
        SurveyState.published, T0 + DAY, T0 + DAY, after + DAY)


def test_closing_by_hand_moves_the_closing_time_forward_only(sv, world):
    survey = sv.opened(closes_at=T0 + DAY)
    transitions.close_survey(world["evaluator"], survey, T0 + 3 * DAY)  # the end had passed already
    db.session.commit()
    assert (reloaded(survey).closed_at, reloaded(survey).closes_at) == (T0 + DAY, T0 + DAY)


def test_a_scheduled_survey_refuses_until_its_opening_time(sv, world):
    opens = T0 + 2 * DAY
    survey = sv.draft(opens_at=opens, closes_at=opens + 7 * DAY)
    transitions.open_survey(world["evaluator"], survey, T0, immediately=False, box_key=BOX_KEY)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.opens_at, survey.opened_at) == (SurveyState.open, opens, T0)
    assert survey.is_locked
    reason = refusal(survey, T0 + HOUR)
    # The page shows the time in the reader's time zone and locale (test_ballot_views), so the refusal carries it.
    assert "opens on" in str(reason.message) and reason.date == opens
    assert lifecycle.phase(survey, T0 + HOUR) is not Phase.open
    assert ballots.surveys_for_resident(world["voter"], T0 + HOUR) == []
    with pytest.raises(Conflict) as refused:
        ballots.submit_ballot(survey, Voter(resident=world["voter"]), sv.valid_answers(survey), opens - HOUR)
    assert "opens on" in str(refused.value.message)
    db.session.rollback()
    assert (stored_counts()["envelopes"], stored_counts()["participations"]) == (0, 0)

    assert lifecycle.phase(reloaded(survey), opens) is Phase.open
    assert ballots.surveys_for_resident(world["voter"], opens) == [reloaded(survey)]
    sv.vote(reloaded(survey), world["voter"], now=opens)
    assert (stored_counts()["envelopes"], stored_counts()["participations"]) == (1, 1)


@pytest.mark.parametrize("closed", [T0, T0 + 2 * DAY])
def test_a_scheduled_survey_can_be_closed_before_or_as_it_opens(sv, world, closed):
    opens = T0 + 2 * DAY
    survey = sv.draft(opens_at=opens, closes_at=opens + 7 * DAY)
    transitions.open_survey(world["evaluator"], survey, T0, immediately=False, box_key=BOX_KEY)
    db.session.commit()
    transitions.close_survey(world["evaluator"], survey, closed)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.state, survey.closed_at, survey.opens_at) == (SurveyState.closed, closed, opens)
    assert survey.closes_at > survey.opens_at
    assert "closed" in str(refusal(survey, opens + HOUR).message)
    transitions.publish_survey(world["evaluator"], count(survey, opens + HOUR), opens + HOUR)
    db.session.commit()
    assert reloaded(survey).state == SurveyState.published


def test_scheduling_with_an_opening_time_already_past_opens_now(sv, world):
    survey = sv.draft(opens_at=T0 - DAY)
    transitions.open_survey(world["evaluator"], survey, T0, immediately=False, box_key=BOX_KEY)
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
        transitions.close_survey(world["evaluator"], survey, T0 + HOUR)
    db.session.commit()
    if state == SurveyState.published:
        transitions.publish_survey(world["evaluator"], count(survey, T0 + HOUR), T0 + HOUR)
    db.session.commit()
    survey = reloaded(survey)
    before = stored_counts()
    voters = [Voter(resident=world["voter"])] + ([sv.by_code(survey, code)] if code else [])
    for voter in voters:
        with pytest.raises(Conflict) as refused:
            ballots.submit_ballot(survey, voter, sv.valid_answers(survey), T0 + 2 * HOUR)
        assert str(refused.value.message) == str(refusal(survey, T0 + 2 * HOUR).message)
        assert not isinstance(refused.value, AlreadyParticipated)
    db.session.rollback()
    assert stored_counts() == before


# --- the declaration -----------------------------------------------------------------------

class Timed:
    """A survey's stored state and times, without a database."""

    def __init__(self, state: SurveyState, opens_at=T0, closes_at=T0 + DAY) -> None:
        self.state, self.opens_at, self.closes_at = state, opens_at, closes_at


@pytest.mark.parametrize("state, now, expected", [
    (SurveyState.draft, T0 + 2 * DAY, Phase.draft),
    (SurveyState.open, T0 - HOUR, Phase.scheduled),
    (SurveyState.open, T0, Phase.open),
    (SurveyState.open, T0 + DAY - HOUR, Phase.open),
    (SurveyState.open, T0 + DAY, Phase.ended),
    (SurveyState.closed, T0 - HOUR, Phase.closed),
    (SurveyState.published, T0 + HOUR, Phase.published),
])
def test_the_phase_is_the_stored_state_moved_on_by_the_clock(state, now, expected):
    assert lifecycle.phase(Timed(state), now) is expected
    assert lifecycle.effective_state(Timed(state), now) == lifecycle.STATE_OF[expected]
    assert expected.status in STATUS_LABELS


def test_check_refuses_in_the_declared_words_and_names_the_opening_time():
    scheduled = Timed(SurveyState.open, opens_at=T0 + DAY, closes_at=T0 + 2 * DAY)
    with pytest.raises(lifecycle.Refused) as refused:
        lifecycle.check("answer", scheduled, T0, lifecycle.VOTER)
    assert "%(date)s" in str(refused.value.message) and refused.value.date == T0 + DAY
    with pytest.raises(lifecycle.Refused) as refused:
        lifecycle.check("issue_codes", Timed(SurveyState.draft), T0, lifecycle.MANAGER)
    assert "Open or schedule" in str(refused.value.message) and refused.value.date is None
    with pytest.raises(PermissionDenied):
        lifecycle.check("close", scheduled, T0, lifecycle.VOTER)
    assert lifecycle.check("close", scheduled, T0, lifecycle.MANAGER).target is Phase.closed


def test_a_manager_may_do_what_each_phase_allows():
    def allowed(state, now):
        return lifecycle.allowed(Timed(state), now, lifecycle.MANAGER)

    editing = {"edit_questions", "edit_rules", "edit_details", "delete", "open", "schedule"}
    assert allowed(SurveyState.draft, T0) == editing
    assert allowed(SurveyState.open, T0 - HOUR) == {"edit_details", "issue_codes", "close"}
    assert allowed(SurveyState.open, T0) == {"edit_details", "issue_codes", "close"}
    assert allowed(SurveyState.open, T0 + DAY) == {"close", "publish"}
    assert allowed(SurveyState.closed, T0) == {"publish"}
    assert allowed(SurveyState.published, T0) == set()
    assert lifecycle.allowed(Timed(SurveyState.open), T0, lifecycle.VOTER) == {"answer"}


def test_every_transition_taken_by_hand_says_why_it_is_refused_in_every_other_phase():
    for transition in lifecycle.TRANSITIONS.values():
        if transition.parties == lifecycle.CLOCK:
            assert transition.at and transition.target is not None
            continue
        assert set(transition.refusals) == set(Phase) - transition.sources, transition.name
        assert all(str(r.message) for r in transition.refusals.values()), transition.name
