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
from surveys import ballots
from surveys.ballots import AlreadyParticipated, Voter
from surveys.models import (
    DONT_KNOW, Anonymity, Ballot, BallotAnswer, Invitation, Participation, QuestionType, Rollup, Survey, SurveyTarget,
)
from tests.surveys.conftest import DAY, HOUR, T0, answer_key, reloaded, stored_counts, target_of
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
    assert stored_counts()["ballots"] == 1
    assert not ballots.has_participated(survey, Voter(resident=world["voter"]))


def test_don_t_know_counts_where_offered_and_optional_questions_may_stay_empty(sv, world):
    survey = sv.opened()
    rating, grade, likert, choice, text = survey.questions
    answers = {answer_key(rating): DONT_KNOW, answer_key(grade): "", answer_key(likert): "5", answer_key(text): "  "}
    assert check_answers(survey, answers) == {rating.id: DONT_KNOW, likert.id: "5"}
    sv.vote(survey, world["voter"], answers)
    assert rollup_counts(survey) == {
        (world["community"].id, rating.id, DONT_KNOW): 1, (world["community"].id, likert.id, "5"): 1,
    }
    [ballot] = db.session.scalars(sa.select(Ballot)).all()
    assert {(a.question_id, a.value, a.text) for a in ballot.answers} == {(rating.id, DONT_KNOW, None),
                                                                          (likert.id, "5", None)}
    long_enough = {**answers, answer_key(text): "好" * ballots.MAX_TEXT_ANSWER}
    assert check_answers(survey, long_enough)[text.id] == "好" * ballots.MAX_TEXT_ANSWER

    plain = sv.opened(title="Without don't know", questions=[(QuestionType.rating3, False, False, [])])
    with pytest.raises(ValidationFailed) as refused:
        check_answers(plain, {answer_key(plain.questions[0]): DONT_KNOW})
    assert set(refused.value.errors) == {answer_key(plain.questions[0])}
    assert check_answers(plain, {answer_key(plain.questions[0]): "dissatisfied"})


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
    assert rollup_counts(survey) == {
        (spring, rating.id, "basically_satisfied"): 1, (spring, grade.id, "excellent"): 1,
        (spring, likert.id, "4"): 1, (spring, choice.id, "2"): 1, (spring, text.id, ballots.ANSWERED): 1,
    }
    assert (target_of(survey, world["community"]).ballots, target_of(survey, world["summer"]).ballots) == (1, 0)

    # A second ballot on the same options adds to the same rows.
    sv.vote(survey, sv.resident(world["community"]), answers)
    assert set(rollup_counts(survey).values()) == {2}
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
    rollups = rollup_counts(survey)
    ballots.submit_ballot(survey, voter, sv.valid_answers(survey), T0 + HOUR)
    assert stored_counts() != before  # it was all written ...
    db.session.rollback()
    assert stored_counts() == before  # ... and none of it stayed
    assert rollup_counts(survey) == rollups
    assert target_of(survey, world["community"]).ballots == 0
    assert not ballots.has_participated(survey, voter)
    sv.vote(survey, voter)  # the voter may still answer
    assert stored_counts()["ballots"] == before["ballots"] + 1



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
    @given(st.lists(ballot_draws(questions), max_size=14))
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
                expected[(community.id, question_ids[key], ballots.ANSWERED if key in free else value)] += 1

        counted = rollup_counts(survey_)
        assert counted == dict(expected)
        rebuild_rollups(survey_)
        db.session.commit()
        assert rollup_counts(survey_) == counted
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
    counted = rollup_counts(survey)
    rebuild_rollups(survey)
    db.session.commit()
    assert rollup_counts(survey) == counted and len(held) == len(counted) == 5
