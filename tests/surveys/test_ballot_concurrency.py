"""Ballots exactly once under concurrency: sixteen at once, one participation and one envelope per voter."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

import extensions
from accounts.models import User
from errors import Conflict
from extensions import db
from surveys import ballots
from surveys.ballots import AlreadyParticipated, Voter
from surveys.codes import find_invitation, format_code
from surveys.models import BallotAnswer, Envelope, Survey, SurveyTarget
from surveys.tasks import run_tally
from tests.surveys.conftest import DAY, HOUR, T0, answer_key, stored_counts
from tests.surveys.rollups import rollup_counts


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
        monkeypatch.setattr(ballots, "has_participated", lambda survey, voter: False)
    return request.param


def test_sixteen_concurrent_ballots_of_one_resident_store_one(sv, world, app, precheck):
    survey = sv.opened()
    survey_id, voter_id, community_id = survey.id, world["voter"].id, world["community"].id
    db.session.remove()

    def submit():
        survey_ = db.session.get(Survey, survey_id)
        voter = Voter(resident=db.session.get(User, voter_id))
        answers = {answer_key(q): (q.option_values() or ("Clean streets.",))[-1] for q in survey_.questions}
        ballots.submit_ballot(survey_, voter, answers, T0 + HOUR)

    assert race(app, submit) == {"stored": 1, "AlreadyParticipated": RACERS - 1}
    check_one_ballot_stored(survey_id, community_id)


def test_sixteen_concurrent_ballots_with_one_code_store_one(sv, world, app, precheck):
    survey = sv.opened()
    code = sv.codes(survey, world["summer"])[0]
    survey_id, key, community_id = survey.id, sv.key, world["summer"].id
    db.session.remove()

    def submit():
        survey_ = db.session.get(Survey, survey_id)
        voter = Voter(invitation=find_invitation(survey_, format_code(code).lower(), key))
        answers = {answer_key(q): (q.option_values() or ("Clean streets.",))[-1] for q in survey_.questions}
        ballots.submit_ballot(survey_, voter, answers, T0 + HOUR)

    assert race(app, submit) == {"stored": 1, "AlreadyParticipated": RACERS - 1}
    check_one_ballot_stored(survey_id, community_id)


def envelopes() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Envelope))


def counted(survey_id: int) -> Survey:
    """Run the tally after the survey's closing time, as the queue would, and return the survey."""
    run_tally(survey_id, T0 + 8 * DAY)
    db.session.expire_all()
    return db.session.get(Survey, survey_id)


def check_one_ballot_stored(survey_id: int, community_id: int) -> None:
    survey = db.session.get(Survey, survey_id)
    # While open: one participation, one turnout count, one sealed envelope; nothing readable.
    counts = stored_counts()
    assert (envelopes(), counts["participations"], counts["target_ballots"]) == (1, 1, 1)
    assert (counts["ballots"], counts["answers"], counts["rollup_rows"]) == (0, 0, 0)
    assert db.session.get(SurveyTarget, (survey_id, community_id)).ballots == 1
    # The tally makes the one envelope one ballot, with the answers given.
    survey = counted(survey_id)
    counts = stored_counts()
    assert (envelopes(), counts["ballots"], counts["participations"], counts["target_ballots"]) == (0, 1, 1, 1)
    assert counts["answers"] == counts["rollup_votes"] == len(survey.questions)
    assert set(rollup_counts(survey).values()) == {1}
    given = {q.id: (q.option_values() or ("Clean streets.",))[-1] for q in survey.questions}
    stored = db.session.execute(sa.select(BallotAnswer.question_id, BallotAnswer.value, BallotAnswer.text)).all()
    assert {question_id: value or text for question_id, value, text in stored} == given


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
        voter = Voter(invitation=find_invitation(survey_, code, key))
        ballots.submit_ballot(survey_, voter, {answer_key(survey_.questions[0]): "satisfied",
                                               answer_key(survey_.questions[2]): "3"}, T0 + HOUR)

    assert race(app, submit) == {"stored": RACERS}
    assert envelopes() == RACERS and stored_counts()["participations"] == RACERS
    assert db.session.get(SurveyTarget, (survey_id, spring)).ballots == RACERS
    assert rollup_counts(db.session.get(Survey, survey_id)) == {}  # nothing readable before the count
    survey = counted(survey_id)
    assert rollup_counts(survey) == {(spring, survey.questions[0].id, "satisfied"): RACERS,
                                     (spring, survey.questions[2].id, "3"): RACERS}
    assert (envelopes(), stored_counts()["ballots"]) == (0, RACERS)
    assert db.session.get(SurveyTarget, (survey_id, spring)).ballots == RACERS
