"""The tally: at close every envelope becomes exactly one ballot, the survey's key goes, and results wait for it."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest
import sqlalchemy as sa

from db import utcnow
from errors import Conflict
from extensions import db
from surveys import sealing, transitions
from surveys.ballots import ANSWERED, Voter, ballot_survey, submit_ballot
from surveys.models import (
    Ballot, BallotAnswer, Envelope, Participation, QuestionType, Rollup, Survey, SurveyState, SurveyTarget,
)
from surveys.tasks import TallyReport, run_tally, tally_closed_surveys
from tests.conftest import BOX_KEY, Client
from tests.surveys.conftest import DAY, HOUR, T0, reloaded, stored_counts, target_of
from tests.surveys.rollups import rollup_counts

#: After the closing time of a survey opened at T0.
AFTER = T0 + 8 * DAY

Ballots = dict[int, Counter]  # community id → how many ballots gave each set of answers


def answers_of(survey: Survey, n: int) -> dict[int, str]:
    """Return the n-th test ballot's answers by question id: required ones always, optional ones now and then."""
    rating, grade, likert, choice, comment = survey.questions
    answers = {rating.id: rating.option_values()[n % 4], likert.id: likert.option_values()[n % 5]}
    if n % 2:
        answers[grade.id] = grade.option_values()[n % 4]
    if n % 3 == 0:
        answers[choice.id] = choice.option_values()[n % 3]
    if n % 2 == 0:
        answers[comment.id] = f"Comment {n}: 街道很干净。"
    return answers


def cast(sv, world, survey: Survey, spring: int = 7, summer: int = 5, now: datetime = T0 + HOUR) -> Ballots:
    """Vote in Spring (by code and by account) and Summer; return what was given, per community."""
    spring_, summer_ = world["community"], world["summer"]
    voters = [(sv.by_code(survey, code), spring_) for code in sv.codes(survey, spring_, spring - 2)]
    voters += [(world["voter"], spring_), (sv.resident(spring_), spring_)]
    voters += [(sv.by_code(survey, code), summer_) for code in sv.codes(survey, summer_, summer - 1)]
    voters += [(world["summer_voter"], summer_)]
    given: Ballots = {spring_.id: Counter(), summer_.id: Counter()}
    for n, (voter, community) in enumerate(voters):
        answers = answers_of(survey, n)
        sv.vote(reloaded(survey), voter, {f"q{qid}": value for qid, value in answers.items()}, now=now)
        given[community.id][frozenset(answers.items())] += 1
    return given


def stored_ballots(survey: Survey) -> Ballots:
    """Return the survey's ballots as stored, per community."""
    ballots: dict = {}
    rows = db.session.execute(
        sa.select(Ballot.id, Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value, BallotAnswer.text)
        .outerjoin(BallotAnswer, BallotAnswer.ballot_id == Ballot.id).where(Ballot.survey_id == survey.id)
    )
    for ballot_id, community, question_id, value, text in rows:
        answers = ballots.setdefault((community, ballot_id), {})
        if question_id is not None:
            answers[question_id] = text if value is None else value
    stored: Ballots = {}
    for (community, _id), answers in ballots.items():
        stored.setdefault(community, Counter())[frozenset(answers.items())] += 1
    return stored


def implied_rollups(survey: Survey, ballots: Ballots) -> dict[tuple[int, int, str], int]:
    """Return the rollup counts the ballots imply."""
    free_text = {q.id for q in survey.questions if q.type == QuestionType.free_text}
    counts: Counter = Counter()
    for community, answer_sets in ballots.items():
        for answers, n in answer_sets.items():
            for question_id, value in answers:
                counts[community, question_id, ANSWERED if question_id in free_text else value] += n
    return dict(counts)


def envelopes(survey: Survey, community=None) -> int:
    query = sa.select(sa.func.count()).select_from(Envelope).where(Envelope.survey_id == survey.id)
    if community is not None:
        query = query.where(Envelope.organization_id == community.id)
    return db.session.scalar(query)


def snapshot() -> dict[str, list]:
    """Return every row the tally writes or changes, in a fixed order."""
    def rows(*columns):
        return [tuple(row) for row in db.session.execute(sa.select(*columns).order_by(*columns))]
    return {
        "ballots": rows(*Ballot.__table__.c), "answers": rows(*BallotAnswer.__table__.c),
        "rollups": rows(*Rollup.__table__.c), "envelopes": rows(*Envelope.__table__.c),
        "targets": rows(*SurveyTarget.__table__.c), "participations": rows(*Participation.__table__.c),
        "surveys": rows(Survey.id, Survey.state, Survey.closed_at, Survey.counted_at, Survey.sealed_private_key),
    }


def check_counted(survey: Survey, given: Ballots, now: datetime) -> None:
    """Check that the survey's envelopes are ballots with the answers given, its key gone, its rollups right."""
    survey = reloaded(survey)
    assert stored_ballots(survey) == given
    assert rollup_counts(survey) == implied_rollups(survey, given)
    assert envelopes(survey) == 0
    assert survey.sealed_private_key is None and survey.counted_at == now
    assert all(t.counted for t in survey.targets)
    assert {t.organization_id: t.ballots for t in survey.targets} == \
        {community: sum(answers.values()) for community, answers in given.items()}


def test_the_tally_makes_each_envelope_one_ballot_with_the_answers_given(sv, world):
    survey = sv.opened()
    given = cast(sv, world, survey)
    before = stored_counts()
    assert (envelopes(survey), before["ballots"], before["answers"], before["rollup_rows"]) == (12, 0, 0, 0)
    assert reloaded(survey).sealed_private_key is not None

    assert run_tally(survey.id, AFTER) == TallyReport(communities=2, ballots=12)

    check_counted(survey, given, AFTER)
    survey = reloaded(survey)
    # The clock had closed it: recorded at its closing time.
    assert (survey.state, survey.closed_at) == (SurveyState.closed, T0 + 7 * DAY)
    assert stored_counts()["participations"] == 12


def test_a_second_tally_changes_nothing(sv, world):
    survey = sv.opened()
    cast(sv, world, survey)
    run_tally(survey.id, AFTER)
    counted = snapshot()
    assert run_tally(survey.id, AFTER + DAY) == TallyReport(0, 0)
    assert snapshot() == counted


@pytest.mark.parametrize("state", ["draft", "scheduled", "open"])
def test_the_tally_refuses_a_survey_that_still_takes_answers(sv, world, state):
    if state == "draft":
        survey = sv.draft()
    elif state == "scheduled":
        survey = sv.draft(opens_at=T0 + DAY)
        transitions.open_survey(world["evaluator"], survey, T0, immediately=False, box_key=BOX_KEY)
        db.session.commit()
    else:
        survey = sv.opened()
        sv.vote(reloaded(survey), world["voter"])
    before = snapshot()
    with pytest.raises(Conflict, match="once the survey has closed") as refused:
        run_tally(survey.id, T0 + 2 * HOUR)
    assert refused.value.status == 409
    db.session.rollback()
    assert snapshot() == before
    assert envelopes(survey) == (1 if state == "open" else 0)


def evaluator_client(app) -> Client:
    client = Client(app.test_client())
    client.login("evaluator")
    return client


def test_closing_by_hand_counts_the_ballots_through_the_queue(app, sv, world):
    now = utcnow()
    survey = sv.opened(now=now, opens_at=now - HOUR, closes_at=now + 7 * DAY)
    given = cast(sv, world, survey, spring=5, summer=3, now=now)
    assert envelopes(survey) == 8

    response = evaluator_client(app).post(f"/surveys/{survey.id}/close")

    assert response.status_code == 303
    survey = reloaded(survey)
    assert survey.state == SurveyState.closed and now <= survey.counted_at <= utcnow()
    check_counted(survey, given, survey.counted_at)


def test_surveys_past_their_closing_time_are_counted_by_the_periodic_task(sv, world):
    ended = sv.opened(title="Ended")
    given = cast(sv, world, ended, spring=4, summer=2)
    now = utcnow()
    running = sv.opened(title="Running", now=now, opens_at=now - HOUR, closes_at=now + 7 * DAY)
    sv.vote(reloaded(running), world["voter"], now=now)
    draft = sv.draft(title="Draft")
    untouched = snapshot()

    tally_closed_surveys()

    ended = reloaded(ended)
    check_counted(ended, given, ended.counted_at)
    assert (ended.state, ended.closed_at) == (SurveyState.closed, T0 + 7 * DAY)
    assert now <= ended.counted_at <= utcnow()
    for survey in (reloaded(running), reloaded(draft)):
        assert survey.counted_at is None
        assert [row for row in snapshot()["surveys"] if row[0] == survey.id] == \
            [row for row in untouched["surveys"] if row[0] == survey.id]
    assert envelopes(running) == 1 and reloaded(running).sealed_private_key is not None


def test_the_tally_command_counts_a_closed_survey_and_explains_a_refusal(app, sv, world):
    runner = app.test_cli_runner()
    survey = sv.opened()
    given = cast(sv, world, survey, spring=4, summer=2)

    result = runner.invoke(args=["surveys", "tally", str(survey.id)])

    assert result.exit_code == 0, result.output
    assert result.output == f"Survey {survey.id} counted: 6 ballot(s) in 2 community(ies).\n"
    check_counted(survey, given, reloaded(survey).counted_at)
    again = runner.invoke(args=["surveys", "tally", str(survey.id)])
    assert again.exit_code == 0 and again.output.startswith(f"Survey {survey.id} was counted already, at ")

    unknown = runner.invoke(args=["surveys", "tally", "999999"])
    assert unknown.exit_code == 1 and "There is no such survey." in unknown.output
    now = utcnow()
    running = sv.opened(title="Running", now=now, opens_at=now - HOUR, closes_at=now + 7 * DAY)
    refused = runner.invoke(args=["surveys", "tally", str(running.id)])
    assert refused.exit_code == 1 and "The ballots are counted once the survey has closed." in refused.output
    assert "Traceback" not in unknown.output + refused.output
    assert reloaded(running).counted_at is None


def test_an_envelope_moved_to_another_community_does_not_open(sv, world):
    survey = sv.opened()
    spring, summer = world["community"], world["summer"]
    for voter in (*sv.codes(survey, spring, 2), *sv.codes(survey, summer, 2)):
        sv.vote(reloaded(survey), sv.by_code(reloaded(survey), voter))
    moved = db.session.scalars(sa.select(Envelope.id).where(Envelope.organization_id == spring.id)).first()
    db.session.execute(sa.update(Envelope).where(Envelope.id == moved).values(organization_id=summer.id))
    db.session.commit()

    with pytest.raises(sealing.BrokenSeal, match="another survey or community"):
        run_tally(survey.id, AFTER)

    db.session.rollback()
    # Nothing of the transaction it fell in is kept (Spring was counted in the same one): every envelope waits.
    assert (envelopes(survey, spring), envelopes(survey, summer)) == (1, 3)
    assert stored_counts()["ballots"] == 0
    survey = reloaded(survey)
    assert survey.counted_at is None and survey.sealed_private_key is not None


def test_a_ballot_arriving_after_the_count_is_refused(sv, world):
    survey = sv.opened()
    sv.vote(reloaded(survey), world["voter"])
    # What a ballot request read of the survey a moment before it closed and was counted.
    read_while_open = ballot_survey(survey.id)
    assert read_while_open.state == SurveyState.open
    run_tally(survey.id, AFTER)
    assert target_of(survey, world["summer"]).counted
    before = snapshot()

    with pytest.raises(Conflict, match="has closed") as refused:
        submit_ballot(read_while_open, Voter(resident=world["summer_voter"]), sv.valid_answers(survey), T0 + HOUR)

    assert refused.value.status == 409
    db.session.rollback()
    assert snapshot() == before


def test_results_are_published_only_once_counted(app, sv, world):
    survey = sv.opened()
    cast(sv, world, survey, spring=3, summer=2)
    transitions.close_survey(world["evaluator"], survey, T0 + DAY)
    db.session.commit()
    evaluator = evaluator_client(app)

    with pytest.raises(Conflict, match="still being counted"):
        transitions.publish_survey(world["evaluator"], reloaded(survey), T0 + 2 * DAY)
    db.session.rollback()
    refused = evaluator.post(f"/surveys/{survey.id}/publish")
    assert refused.status_code == 409 and "still being counted" in refused.get_data(as_text=True)
    assert reloaded(survey).state == SurveyState.closed

    run_tally(survey.id, T0 + 2 * DAY)
    response = evaluator.post(f"/surveys/{survey.id}/publish")

    assert response.status_code == 303
    survey = reloaded(survey)
    assert survey.state == SurveyState.published and survey.published_at is not None
    assert survey.counted_at == T0 + 2 * DAY


def test_an_envelope_that_does_not_open_holds_back_only_its_survey_and_the_command_says_what_to_check(app, sv,
                                                                                                       world):
    broken, whole = sv.opened(title="Broken"), sv.opened(title="Whole")
    spring = world["community"]
    for survey in (broken, whole):
        for code in sv.codes(survey, spring, 2):
            sv.vote(reloaded(survey), sv.by_code(reloaded(survey), code))
    tampered = db.session.scalars(sa.select(Envelope).where(Envelope.survey_id == broken.id)).first()
    tampered.sealed = tampered.sealed[:-1] + bytes([tampered.sealed[-1] ^ 1])
    db.session.commit()

    tally_closed_surveys()

    assert reloaded(whole).counted_at is not None and envelopes(whole) == 0
    assert reloaded(broken).counted_at is None and envelopes(broken) == 2
    result = app.test_cli_runner().invoke(args=["surveys", "tally", str(broken.id)])
    assert result.exit_code != 0 and "does not open" in result.output and "BALLOT_KEY" in result.output
    assert envelopes(broken) == 2
