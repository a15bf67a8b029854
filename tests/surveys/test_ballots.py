"""Ballots: who may answer, checking answers, what one ballot writes, and the rollups it counts."""
from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errors import PermissionDenied, ValidationFailed
from extensions import db
from surveys import ballots, sealing, tally
from surveys.ballots import AlreadyParticipated, Voter
from surveys.models import (
    DONT_KNOW, Anonymity, Ballot, Envelope, Participation, QuestionType, Rollup, Survey, SurveyTarget,
)
from tests.conftest import BOX_KEY
from tests.surveys.conftest import (
    DAY, GENERAL_QUESTIONS, HOUR, T0, answer_key, count, reloaded, stored_counts, target_of,
)
from tests.surveys.rollups import rebuild_rollups, rollup_counts


def check_answers(survey: Survey, answers: dict[str, str]) -> dict[int, str]:
    return ballots.check_answers(ballots.ballot_questions(survey.questions), answers)


def test_only_verified_residents_of_a_target_community_may_answer(sv, world):
    survey = sv.opened()
    assert ballots.target_for(survey, Voter(resident=world["voter"])).organization_id == world["community"].id
    assert ballots.target_for(survey, Voter(resident=world["summer_voter"])).organization_id == world["summer"].id
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
            ballots.submit_ballot(survey, Voter(resident=world[name]), sv.valid_answers(survey), T0 + HOUR)
        assert message in str(refused.value.message), name
    db.session.rollback()
    assert stored_counts() == before
    assert ballots.surveys_for_resident(world["voter"], T0 + HOUR) == [survey]
    assert ballots.surveys_for_resident(world["autumn_voter"], T0 + HOUR) == []
    assert ballots.surveys_for_resident(world["member"], T0 + HOUR) == []


def test_a_resident_answers_once(sv, world):
    survey = sv.opened()
    sv.vote(survey, world["voter"])
    assert ballots.has_participated(survey, Voter(resident=world["voter"]))
    assert not ballots.has_participated(survey, Voter(resident=world["summer_voter"]))
    before = stored_counts()
    with pytest.raises(AlreadyParticipated) as refused:
        ballots.submit_ballot(survey, Voter(resident=world["voter"]), sv.valid_answers(survey), T0 + DAY)
    assert refused.value.status == 409 and "already" in str(refused.value.message)
    db.session.rollback()
    assert stored_counts() == before
    # Another survey is another matter.
    sv.vote(sv.opened(title="Another"), world["voter"])


# --- answers ------------------------------------------------------------------------------

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
        ({answer_key(text): "x" * (ballots.MAX_TEXT_ANSWER + 1)}, {answer_key(text)}),
        ({answer_key(text): "a\x00b"}, {answer_key(text)}),                     # control characters
        ({answer_key(text): "\x1b[2J"}, {answer_key(text)}),
        ({answer_key(rating): "satisfied\x00"}, {answer_key(rating)}),
        ({answer_key(rating): "", answer_key(likert): "9"}, {answer_key(rating), answer_key(likert)}),
    ]
    for change, fields in cases:
        before = stored_counts()
        with pytest.raises(ValidationFailed) as refused:
            ballots.submit_ballot(survey, Voter(resident=world["voter"]), {**good, **change}, T0 + HOUR)
        assert set(refused.value.errors) == fields, change
        assert all(refused.value.errors[f] for f in fields)
        assert stored_counts() == before  # nothing flushed
        db.session.rollback()
        assert stored_counts() == before

    missing = {k: v for k, v in good.items() if k != answer_key(rating)}
    forged = [{**good, f"q{10**6}": "satisfied"}, {**good, answer_key(other.questions[0]): "satisfied"},
              {**good, "rating": "satisfied"}]
    with pytest.raises(ValidationFailed) as refused:
        ballots.submit_ballot(survey, Voter(resident=world["voter"]), missing, T0 + HOUR)
    assert set(refused.value.errors) == {answer_key(rating)}
    for answers in forged:
        with pytest.raises(ValidationFailed) as refused:
            ballots.submit_ballot(survey, Voter(resident=world["voter"]), answers, T0 + HOUR)
        assert set(refused.value.errors) == {""} and "does not match" in refused.value.message
    db.session.rollback()
    assert (stored_counts()["envelopes"], stored_counts()["participations"]) == (1, 1)  # the summer voter's
    assert not ballots.has_participated(survey, Voter(resident=world["voter"]))


def test_don_t_know_counts_where_offered_and_optional_questions_may_stay_empty(sv, world):
    survey = sv.opened()
    rating, grade, likert, choice, text = survey.questions
    answers = {answer_key(rating): DONT_KNOW, answer_key(grade): "", answer_key(likert): "5", answer_key(text): "  "}
    assert check_answers(survey, answers) == {rating.id: DONT_KNOW, likert.id: "5"}
    sv.vote(survey, world["voter"], answers)
    assert (rollup_counts(survey), stored_counts()["envelopes"]) == ({}, 1)  # sealed until the tally
    survey = count(survey)
    assert rollup_counts(survey) == {
        (world["community"].id, rating.id, DONT_KNOW): 1, (world["community"].id, likert.id, "5"): 1,
    }
    [ballot] = db.session.scalars(sa.select(Ballot)).all()
    assert {(a.question_id, a.value, a.text) for a in ballot.answers} == {(rating.id, DONT_KNOW, None),
                                                                          (likert.id, "5", None)}
    long_enough = {**answers, answer_key(text): "好" * ballots.MAX_TEXT_ANSWER}
    assert check_answers(survey, long_enough)[text.id] == "好" * ballots.MAX_TEXT_ANSWER
    on_lines = {**answers, answer_key(text): "First,\r\n\tthen"}
    assert check_answers(survey, on_lines)[text.id] == "First,\r\n\tthen"

    plain = sv.opened(title="Without don't know", questions=[(QuestionType.rating3, False, False, [])])
    with pytest.raises(ValidationFailed) as refused:
        check_answers(plain, {answer_key(plain.questions[0]): DONT_KNOW})
    assert set(refused.value.errors) == {answer_key(plain.questions[0])}
    assert check_answers(plain, {answer_key(plain.questions[0]): "dissatisfied"})


def test_a_ballot_writes_its_participation_turnout_and_envelope_and_the_tally_its_ballot_and_rollups(sv, world):
    survey = sv.opened()
    rating, grade, likert, choice, text = survey.questions
    spring = world["community"].id
    before = stored_counts()
    answers = {answer_key(rating): "basically_satisfied", answer_key(grade): "excellent", answer_key(likert): "4",
               answer_key(choice): "2", answer_key(text): "  The bins are full on Mondays.  "}
    ballot = sv.vote(survey, world["voter"], answers, now=T0 + 3 * HOUR)
    db.session.expire_all()

    # While the survey is open: who took part and the turnout, and the answers only sealed.
    after = stored_counts()
    assert {k: after[k] - before[k] for k in after} == {
        "envelopes": 1, "ballots": 0, "answers": 0, "participations": 1, "rollup_rows": 0, "rollup_votes": 0,
        "target_ballots": 1, "invitations": 0,
    }
    participation = db.session.scalars(sa.select(Participation)).one()
    assert (participation.survey_id, participation.resident_id, participation.invitation_id) == (
        survey.id, world["voter"].id, None)
    assert (participation.organization_id, participation.day, participation.ballot_id) == (
        spring, date(2025, 6, 2), None)  # anonymous: no link to the ballot
    envelope = db.session.scalars(sa.select(Envelope)).one()
    assert (envelope.id, envelope.survey_id, envelope.organization_id, ballot.sealed) == (
        ballot.id, survey.id, spring, True)
    given = {rating.id: "basically_satisfied", grade.id: "excellent", likert.id: "4", choice.id: "2",
             text.id: "The bins are full on Mondays."}
    assert b"Mondays" not in envelope.sealed
    assert sealing.open_envelope(tally.opener_for(survey, BOX_KEY), survey.id, spring, envelope.sealed) == given
    assert rollup_counts(survey) == {}
    assert (target_of(survey, world["community"]).ballots, target_of(survey, world["summer"]).ballots) == (1, 0)

    # A second ballot on the same options: a second envelope, counted in the turnout at once.
    sv.vote(survey, sv.resident(world["community"]), answers)
    assert stored_counts()["envelopes"] == before["envelopes"] + 2
    assert target_of(reloaded(survey), world["community"]).ballots == 2

    # The tally makes each envelope a ballot with the answers given, and the rollups add them up in the same rows.
    survey = count(survey)
    after = stored_counts()
    assert {k: after[k] - before[k] for k in after} == {
        "envelopes": 0, "ballots": 2, "answers": 10, "participations": 2, "rollup_rows": 5, "rollup_votes": 10,
        "target_ballots": 2, "invitations": 0,
    }
    for ballot in db.session.scalars(sa.select(Ballot)):
        assert (ballot.survey_id, ballot.organization_id) == (survey.id, spring)
        assert {(a.question_id, a.value, a.text) for a in ballot.answers} == {
            (rating.id, "basically_satisfied", None), (grade.id, "excellent", None), (likert.id, "4", None),
            (choice.id, "2", None), (text.id, None, "The bins are full on Mondays."),
        }
    assert rollup_counts(survey) == {
        (spring, rating.id, "basically_satisfied"): 2, (spring, grade.id, "excellent"): 2,
        (spring, likert.id, "4"): 2, (spring, choice.id, "2"): 2, (spring, text.id, ballots.ANSWERED): 2,
    }
    assert {p.ballot_id for p in db.session.scalars(sa.select(Participation))} == {None}
    assert (target_of(survey, world["community"]).ballots, target_of(survey, world["summer"]).ballots) == (2, 0)


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
    rollups = rollup_counts(survey)
    ballots.submit_ballot(survey, voter, sv.valid_answers(survey), T0 + HOUR)
    assert stored_counts() != before  # it was all written ...
    db.session.rollback()
    assert stored_counts() == before  # ... and none of it stayed
    assert rollup_counts(survey) == rollups
    assert target_of(survey, world["community"]).ballots == 0
    assert not ballots.has_participated(survey, voter)
    sv.vote(survey, voter)  # the voter may still answer
    assert stored_counts()["envelopes"] == before["envelopes"] + 1



# --- rollups -------------------------------------------------------------------------------

ANSWER_CHOICES = {
    QuestionType.rating3: ("satisfied", "basically_satisfied", "dissatisfied", DONT_KNOW),
    QuestionType.grade4: ("excellent", "competent", "basically_competent", "incompetent"),
    QuestionType.likert5: ("1", "2", "3", "4", "5"),
    QuestionType.single_choice: ("0", "1", "2"),
    QuestionType.free_text: ("Fine.", "More buses, please.", "好"),
}


@st.composite
def ballot_draws(draw, questions):
    """Draw (community index, by code, answers by question position) answering each required question, maybe others."""
    answers = {}
    for position, qtype, required in questions:
        if required or draw(st.booleans()):
            answers[position] = draw(st.sampled_from(ANSWER_CHOICES[qtype]))
    return draw(st.integers(0, 1)), draw(st.booleans()), answers


def test_rollups_the_tally_counts_equal_the_answers_given_and_those_rebuilt_from_its_ballots(sv, world):
    communities = [world["community"], world["summer"]]
    residents = {0: [world["voter"]] + [sv.resident(communities[0]) for _ in range(3)],
                 1: [world["summer_voter"]] + [sv.resident(communities[1]) for _ in range(3)]}
    questions = [(position, qtype, required) for position, (qtype, required, _, _) in enumerate(GENERAL_QUESTIONS)]
    examples = iter(range(10**6))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(ballot_draws(questions), max_size=14))
    def check(drawn):
        # A survey per example: the tally closes it for good.
        survey = sv.opened(title=f"Example {next(examples)}")
        keys = [answer_key(q) for q in survey.questions]
        question_ids = [q.id for q in survey.questions]
        free = {p for p, (qtype, *_) in enumerate(GENERAL_QUESTIONS) if qtype == QuestionType.free_text}
        unused = {i: list(people) for i, people in residents.items()}
        # Each resident answers once; the rest answer with codes, issued in one batch per community.
        plan = [(index, None if by_code or not unused[index] else unused[index].pop(), answers)
                for index, by_code, answers in drawn]
        wanted = Counter(index for index, resident, _ in plan if resident is None)
        codes = {index: sv.codes(survey, communities[index], n) for index, n in wanted.items()}
        expected: Counter = Counter()
        per_community: Counter = Counter()
        for index, resident, answers in plan:
            community = communities[index]
            voter = Voter(resident=resident) if resident else sv.by_code(survey, codes[index].pop())
            sv.vote(survey, voter, {keys[p]: value for p, value in answers.items()})
            per_community[community.id] += 1
            for p, value in answers.items():
                expected[(community.id, question_ids[p], ballots.ANSWERED if p in free else value)] += 1
        sealed = dict(db.session.execute(
            sa.select(Envelope.organization_id, sa.func.count()).where(Envelope.survey_id == survey.id)
            .group_by(Envelope.organization_id)).all())
        assert (sealed, rollup_counts(survey)) == ({c: n for c, n in per_community.items() if n}, {})

        survey = count(survey)
        counted = rollup_counts(survey)
        assert counted == dict(expected)
        rebuild_rollups(survey)
        db.session.commit()
        assert rollup_counts(survey) == counted
        ballots_by_community = dict(db.session.execute(
            sa.select(Ballot.organization_id, sa.func.count()).where(Ballot.survey_id == survey.id)
            .group_by(Ballot.organization_id)).all())
        for community in communities:
            target = db.session.get(SurveyTarget, (survey.id, community.id))
            assert target.ballots == per_community[community.id] == ballots_by_community.get(community.id, 0)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Envelope)
                                 .where(Envelope.survey_id == survey.id)) == 0

    check()



def test_rebuilding_works_while_the_session_holds_rollups(sv, world):
    survey = sv.opened()
    sv.vote(survey, world["voter"])
    survey = count(survey)
    held = list(db.session.scalars(sa.select(Rollup)))  # as a results page would have them
    counted = rollup_counts(survey)
    rebuild_rollups(survey)
    db.session.commit()
    assert rollup_counts(survey) == counted and len(held) == len(counted) == 5
