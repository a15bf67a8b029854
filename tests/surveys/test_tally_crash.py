"""Crash safety: a tally killed at any point and run again makes every envelope exactly one ballot."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa

from config import BASE_DIR
from extensions import db
from surveys.models import Envelope, Participation, Survey
from surveys.tasks import TallyReport, run_tally
from tests.surveys.conftest import HOUR, T0, reloaded
from tests.surveys.test_tally import AFTER, Ballots, answers_of, check_counted, stored_ballots

#: Ballots per community; the kill lands inside a community or between two.
PER_COMMUNITY = 5
#: Kill points per kind, all reached by a first run: it sends 36 (PostgreSQL) to 41 (SQLite) statements, opens
#: 20 envelopes, and commits once per community then once more as it destroys the key.
KILL_POINTS = {"statement": range(1, 37), "envelope": range(1, 21), "commit": range(1, 6), "committed": range(1, 5)}
ATTEMPTS = 3


def tally_in_a_process(url: str, survey_id: int, *kill) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.surveys.tally_until_killed", url, str(survey_id), *map(str, kill)],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
    )


def cast_in_four_communities(sv, world, make) -> tuple[Survey, Ballots]:
    township = world["township"]
    communities = [world["community"], world["summer"], make.organization(parent=township, name="Winter"),
                   make.organization(parent=township, name="Harvest")]
    survey = sv.opened(targets=communities)
    given: Ballots = {c.id: Counter() for c in communities}
    # Spring and Summer have a resident each who votes with their account; everyone else has a code.
    voters = [(world["voter"], world["community"]), (world["summer_voter"], world["summer"])]
    for community in communities:
        by_account = sum(c is community for _, c in voters)
        voters += [(sv.by_code(survey, code), community)
                   for code in sv.codes(survey, community, PER_COMMUNITY - by_account)]
    for n, (voter, community) in enumerate(voters):
        answers = answers_of(survey, n)
        sv.vote(reloaded(survey), voter, {f"q{qid}": value for qid, value in answers.items()}, now=T0 + HOUR)
        given[community.id][frozenset(answers.items())] += 1
    return survey, given


@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_a_tally_killed_midway_finishes_when_run_again(app, sv, world, make, where):
    survey, given = cast_in_four_communities(sv, world, make)
    survey_id, url = survey.id, app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.commit()
    db.session.remove()  # nothing of the test holds a lock or a snapshot while the tally runs beside it
    rng = random.SystemRandom()

    kills = []
    for _ in range(ATTEMPTS):
        n = rng.choice(KILL_POINTS[where])
        run = tally_in_a_process(url, survey_id, where, n)
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL, run.stderr
        kills.append(n)
    assert kills, "the first run reaches every kill point drawn"

    report = run_tally(survey_id, AFTER)  # and once more, whatever the runs before it left

    survey = db.session.get(Survey, survey_id)
    assert survey.counted_at is not None, f"killed at {where} {kills}"
    check_counted(survey, given, survey.counted_at)
    participations = db.session.scalar(sa.select(sa.func.count()).select_from(Participation))
    assert sum(sum(answers.values()) for answers in stored_ballots(survey).values()) == participations == 4 * 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Envelope)) == 0
    assert report.ballots <= participations
    assert run_tally(survey_id, AFTER) == TallyReport(0, 0)


def test_a_tally_run_to_the_end_in_a_process_of_its_own_counts_everything(app, sv, world, make):
    survey, given = cast_in_four_communities(sv, world, make)
    survey_id = survey.id
    db.session.commit()
    db.session.remove()

    run = tally_in_a_process(app.config["SQLALCHEMY_DATABASE_URI"], survey_id)

    assert (run.returncode, run.stdout) == (0, "counted 20 ballot(s) in 4 community(ies)\n"), run.stderr
    survey = db.session.get(Survey, survey_id)
    check_counted(survey, given, survey.counted_at)
