"""The tally: at close, each community's envelopes become ballots in random order, then the survey's key goes.

Per community: open every envelope, shuffle, write ballots and answers in the shuffled order with
random UUIDs and no date, add the rollup counts, delete the envelopes — all in one transaction, which
may hold several whole communities. A community is counted whole or not at all, so a tally stopped
anywhere is finished by running it again; when no envelope is left, the survey's private key is
destroyed and it is counted. The caller commits (surveys/tasks.py). No Flask here.
"""
from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Insert, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from errors import Conflict
from extensions import db
from surveys import lifecycle, sealing
from surveys.ballots import ANSWERED
from surveys.lifecycle import Phase
from surveys.models import (
    Anonymity, Ballot, BallotAnswer, Envelope, Question, QuestionType, Rollup, Survey, SurveyState, SurveyTarget,
)

_envelopes, _ballots, _answers = Envelope.__table__, Ballot.__table__, BallotAnswer.__table__
_rollups = Rollup.__table__
#: Communities are committed together up to about this many ballots: each commit rewrites the pages it touched.
BALLOTS_PER_COMMIT = 10_000
#: Below this many envelopes per thread, a second thread costs more than it saves.
OPENED_PER_THREAD = 32


@cache
def _add_counts(dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_rollups)
    return statement.on_conflict_do_update(
        index_elements=["survey_id", "organization_id", "question_id", "option"],
        set_={"count": _rollups.c.count + statement.excluded.count},
    )


def check_countable(survey: Survey, now: datetime) -> None:
    """Refuse to count a survey that still takes answers."""
    if lifecycle.phase(survey, now) in (Phase.draft, Phase.scheduled, Phase.open):
        raise Conflict(_l("The ballots are counted once the survey has closed."))


def communities_to_count(survey: Survey) -> list[int]:
    """Return the communities of the survey that still have envelopes, in order."""
    return list(db.session.scalars(
        select(_envelopes.c.organization_id).where(_envelopes.c.survey_id == survey.id).distinct()
        .order_by(_envelopes.c.organization_id)
    ))


def opener_for(survey: Survey, box_key: bytes):
    """Return what opens the survey's envelopes."""
    return sealing.open_private_key(box_key, survey.id, survey.sealed_private_key)


def _open_all(opener, survey_id: int, organization_id: int, rows: list, pool: ThreadPoolExecutor | None) -> list:
    """Open a community's envelopes, on two threads when given a pool (libsodium lets go of the GIL)."""
    def open_part(part: list) -> list:
        return [sealing.open_envelope(opener, survey_id, organization_id, sealed) for _id, sealed in part]

    if pool is None or len(rows) < 2 * OPENED_PER_THREAD:
        return open_part(rows)
    half = len(rows) // 2
    first, second = pool.map(open_part, (rows[:half], rows[half:]))
    return first + second


def free_text_questions(survey: Survey) -> frozenset[int]:
    """Return the ids of the survey's free-text questions, whose answers are text and count as answered."""
    return frozenset(db.session.scalars(
        select(Question.id).where(Question.survey_id == survey.id, Question.type == QuestionType.free_text)
    ))


def count_community(survey: Survey, organization_id: int, opener, rng: random.Random, free_text: frozenset[int],
                    pool: ThreadPoolExecutor | None = None) -> int:
    """Turn one community's envelopes into ballots in random order, with their rollup counts; return how many."""
    connection = db.session.connection()
    envelopes = select(_envelopes.c.id, _envelopes.c.sealed).where(
        _envelopes.c.survey_id == survey.id, _envelopes.c.organization_id == organization_id,
    )
    if connection.dialect.name == "postgresql":
        envelopes = envelopes.with_for_update()
    rows = connection.execute(envelopes).all()
    if not rows:
        return 0
    contents = _open_all(opener, survey.id, organization_id, rows, pool)
    rng.shuffle(contents)
    ballots, answers, counts = [], [], Counter()
    for content in contents:
        ballot_id = uuid.uuid4()
        ballots.append({"id": ballot_id, "survey_id": survey.id, "organization_id": organization_id})
        for question_id, value in content.items():
            text = question_id in free_text
            answers.append({"ballot_id": ballot_id, "question_id": question_id,
                            "value": None if text else value, "text": value if text else None})
            counts[question_id, ANSWERED if text else value] += 1
    connection.execute(_ballots.insert(), ballots)
    if answers:
        connection.execute(_answers.insert(), answers)
        connection.execute(_add_counts(connection.dialect.name), [
            {"survey_id": survey.id, "organization_id": organization_id, "question_id": question_id,
             "option": option, "count": n}
            for (question_id, option), n in sorted(counts.items())
        ])
    connection.execute(delete(_envelopes).where(
        _envelopes.c.survey_id == survey.id, _envelopes.c.organization_id == organization_id,
        _envelopes.c.id.in_([row.id for row in rows]),
    ))
    return len(rows)


def finish(survey: Survey, now: datetime) -> bool:
    """Destroy the survey's private key and mark it counted, once no envelope is left; tell whether it was."""
    # From here a ballot still on its way is refused; one that got its community's row first is counted
    # in the next round, as this waits for it and then finds its envelope.
    db.session.execute(update(SurveyTarget).where(SurveyTarget.survey_id == survey.id).values(counted=True))
    left = db.session.scalar(select(func.count()).select_from(_envelopes).where(_envelopes.c.survey_id == survey.id))
    if left:
        return False
    survey.sealed_private_key = None
    survey.counted_at = now
    db.session.flush()
    return True


def count_survey(survey: Survey, box_key: bytes, now: datetime, rng: random.Random,
                 commit: Callable[[], None] = lambda: None) -> tuple[int, int]:
    """Count every community and finish; return (communities, ballots).

    `commit` (the task's) is called after whole communities, once some BALLOTS_PER_COMMIT are written, so a
    community is still counted whole or not at all. Envelopes taken while the count ran (a ballot half-way
    at close) are counted by the next round.
    """
    opener = opener_for(survey, box_key) if is_sealed(survey) else None
    free_text = free_text_questions(survey)
    communities = ballots = uncommitted = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        while not finish(survey, now):
            for organization_id in communities_to_count(survey):
                counted = count_community(survey, organization_id, opener, rng, free_text, pool)
                communities, ballots, uncommitted = communities + 1, ballots + counted, uncommitted + counted
                if uncommitted >= BALLOTS_PER_COMMIT:
                    commit()
                    uncommitted = 0
    commit()
    return communities, ballots


def needs_counting(now: datetime) -> list[int]:
    """Return the surveys that have stopped taking answers but are not counted yet."""
    return list(db.session.scalars(
        select(Survey.id).where(
            Survey.counted_at.is_(None), Survey.opened_at.is_not(None),
            or_(Survey.closes_at <= now, Survey.state == SurveyState.closed),
        ).order_by(Survey.id)
    ))


def is_sealed(survey: Survey) -> bool:
    return survey.anonymity == Anonymity.anonymous and survey.sealed_private_key is not None
