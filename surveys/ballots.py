"""Ballots, exactly once: who may answer, checking the answers, and taking a ballot.

A ballot is taken with Core statements built once per dialect, in the caller's transaction: its
participation and the turnout count, then for an anonymous survey a sealed envelope that only the
tally opens (surveys/tally.py), for an identified one the ballot, its answers and rollup counts.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Mapping, NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import Insert, Update, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import Role, User
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from inputs import CONTROL_CHARACTERS_IN_LINES, NOT_ALLOWED
from surveys import lifecycle, sealing
from surveys.codes import CodeInvitation
from surveys.models import (
    Anonymity, Ballot, BallotAnswer, Envelope, Participation, Question, QuestionType, Rollup, Survey, SurveyState,
    SurveyTarget,
)

MAX_TEXT_ANSWER = 2000
#: What a free-text answer counts under in the rollups.
ANSWERED = "answered"


class AlreadyParticipated(Conflict):
    """The resident or code has already given a ballot in this survey."""


@dataclass(frozen=True)
class Voter:
    """Who is answering: a logged-in resident or the holder of an invitation code."""

    resident: User | None = None
    invitation: CodeInvitation | None = None


class BallotSurvey(NamedTuple):
    """The columns of a survey that decide whether it takes a ballot now and how the ballot is stored."""

    id: int
    state: SurveyState
    anonymity: Anonymity
    opens_at: datetime
    closes_at: datetime
    created_at: datetime


class StoredBallot(NamedTuple):
    """What a ballot was stored as: an envelope (anonymous surveys) or a ballot row, by its random id."""

    id: uuid.UUID
    survey_id: int
    organization_id: int
    sealed: bool


@dataclass(frozen=True)
class BallotQuestion:
    """What an answer to a question is checked against."""

    id: int
    free_text: bool
    required: bool
    options: frozenset[str]


@dataclass(frozen=True)
class LockedSurvey:
    """An open survey's questions (by answer key, in order) and communities, which no longer change."""

    questions: dict[str, BallotQuestion]
    community_ids: frozenset[int]
    #: Anonymous surveys: the public key their ballots are sealed to.
    public_key: bytes | None


_surveys, _targets = Survey.__table__, SurveyTarget.__table__
_participations, _envelopes, _ballots, _answers, _rollups = (
    Participation.__table__, Envelope.__table__, Ballot.__table__, BallotAnswer.__table__, Rollup.__table__,
)
_BALLOT_SURVEY = select(
    _surveys.c.id, _surveys.c.state, _surveys.c.anonymity, _surveys.c.opens_at, _surveys.c.closes_at,
    _surveys.c.created_at,
).where(_surveys.c.id == bindparam("survey_id"))


def ballot_survey(survey_id: int) -> BallotSurvey:
    """Return what a ballot needs of a survey, in one row, or raise 404."""
    row = db.session.execute(_BALLOT_SURVEY, {"survey_id": survey_id}).one_or_none()
    if row is None:
        raise NotFound(_l("There is no such survey."))
    return BallotSurvey(*row)


def _voter_community(voter: Voter) -> int:
    """Return the id of the community the voter answers for, or refuse a resident who may not vote."""
    if voter.invitation is not None:
        return voter.invitation.organization_id
    resident = voter.resident
    community = resident.organization_for(Role.resident) if resident else None
    if community is None:
        raise PermissionDenied(_l("Only residents of the surveyed communities may answer."))
    if not resident.is_verified:
        raise PermissionDenied(_l("Your account is not verified against the community register yet, so you cannot vote with it. Ask your community office, or use an invitation code."))
    return community.id


def _not_a_target() -> PermissionDenied:
    return PermissionDenied(_l("Your community is not part of this survey."))


def _already() -> AlreadyParticipated:
    return AlreadyParticipated(_l("You have already taken part in this survey. Thank you!"))


def target_for(survey: Survey, voter: Voter) -> SurveyTarget:
    """Return the community the voter answers for, or refuse."""
    organization_id = _voter_community(voter)
    target = next((t for t in survey.targets if t.organization_id == organization_id), None)
    if target is None:
        raise _not_a_target()
    return target


def has_participated(survey: Survey, voter: Voter) -> bool:
    """Tell whether this resident or code has given a ballot in the survey."""
    column, value = (Participation.invitation_id, voter.invitation.id) if voter.invitation \
        else (Participation.resident_id, voter.resident.id)
    return db.session.scalar(select(Participation.id).where(Participation.survey_id == survey.id, column == value)) \
        is not None


def check_can_answer(survey: Survey, voter: Voter, now: datetime) -> None:
    """Refuse, as submit_ballot would, before a ballot that could not be accepted is shown."""
    lifecycle.check("answer", survey, now, lifecycle.VOTER)
    target_for(survey, voter)
    if has_participated(survey, voter):
        raise _already()


def surveys_for_resident(resident: User, now: datetime) -> list[Survey]:
    """Return the surveys open now to the resident's community."""
    community = resident.organization_for(Role.resident)
    if community is None:
        return []
    surveys = db.session.scalars(select(Survey).join(SurveyTarget).where(
        SurveyTarget.organization_id == community.id, Survey.state == SurveyState.open,
        Survey.opens_at <= now, Survey.closes_at > now,
    ).order_by(Survey.closes_at))
    return list(surveys)


def ballot_questions(questions: Iterable[Question]) -> dict[str, BallotQuestion]:
    """Return what each question's answer is checked against, by the answer's form key."""
    return {
        f"q{q.id}": BallotQuestion(q.id, q.type == QuestionType.free_text, q.required, frozenset(q.option_values()))
        for q in questions
    }


@lru_cache(maxsize=64)
def _locked_survey(survey_id: int, created_at: datetime) -> LockedSurvey:
    """Read an open survey's questions and communities once per process.

    They are locked once the survey opens, so every later ballot can be checked against this
    copy. The creation time in the key keeps a survey id that a restored database reuses apart.
    """
    questions = db.session.scalars(select(Question).where(Question.survey_id == survey_id).order_by(Question.position))
    communities = db.session.scalars(select(_targets.c.organization_id).where(_targets.c.survey_id == survey_id))
    public_key = db.session.scalar(select(_surveys.c.ballot_public_key).where(_surveys.c.id == survey_id))
    return LockedSurvey(ballot_questions(questions), frozenset(communities), public_key)


def check_answers(questions: dict[str, BallotQuestion], answers: Mapping[str, str]) -> dict[int, str]:
    """Return the answers by question id, or raise ValidationFailed naming each problem beside its question."""
    if any(key not in questions for key in answers):
        raise ValidationFailed(_l("The form does not match this survey. Reload the page and answer again."))
    errors: dict[str, list] = {}
    cleaned = {}
    for key, question in questions.items():
        value = (answers.get(key) or "").strip()
        if not value:
            if question.required:
                errors[key] = [_l("Please answer this question.")]
            continue
        if question.free_text:
            if len(value) > MAX_TEXT_ANSWER:
                errors[key] = [_l("Please keep to %(n)d characters.", n=MAX_TEXT_ANSWER)]
            elif CONTROL_CHARACTERS_IN_LINES.search(value):
                errors[key] = [NOT_ALLOWED]
        elif value not in question.options:
            errors[key] = [_l("Choose one of the options.")]
        cleaned[question.id] = value
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@dataclass(frozen=True)
class _BallotStatements:
    """The statements of a ballot, built once per database dialect; values come as parameters."""

    #: Adds the participation unless the voter has one; returns its id only when it was added.
    participation: Insert
    envelope: Insert
    ballot: Insert
    answer: Insert
    rollup: Insert
    link_ballot: Update
    count_ballot: Update


@cache
def _ballot_statements(dialect: str) -> _BallotStatements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return _BallotStatements(
        participation=insert(_participations).on_conflict_do_nothing().returning(_participations.c.id),
        envelope=insert(_envelopes),
        ballot=insert(_ballots),
        answer=insert(_answers),
        rollup=insert(_rollups).on_conflict_do_update(
            index_elements=["survey_id", "organization_id", "question_id", "option"],
            set_={"count": _rollups.c.count + 1},
        ),
        link_ballot=update(_participations).where(_participations.c.id == bindparam("participation"))
        .values(ballot_id=bindparam("ballot")),
        count_ballot=update(_targets).where(
            _targets.c.survey_id == bindparam("survey"), _targets.c.organization_id == bindparam("organization"),
            _targets.c.counted.is_(False),
        ).values(ballots=_targets.c.ballots + 1),
    )


class PreparedBallot(NamedTuple):
    """A checked ballot, ready to store: ids, the cleaned answers and, for an anonymous survey, its envelope."""

    survey_id: int
    organization_id: int
    anonymity: Anonymity
    resident_id: int | None
    invitation_id: int | None
    answers: dict[int, str]
    free_text: frozenset[int]
    envelope: bytes | None


def prepare_ballot(survey: Survey | BallotSurvey, voter: Voter, answers: Mapping[str, str],
                   now: datetime) -> PreparedBallot:
    """Check a ballot and seal it, reading only: nothing here needs SQLite's write lock."""
    lifecycle.check("answer", survey, now, lifecycle.VOTER)
    locked = _locked_survey(survey.id, survey.created_at)
    organization_id = _voter_community(voter)
    if organization_id not in locked.community_ids:
        raise _not_a_target()
    cleaned = check_answers(locked.questions, answers)
    # A survey opened before ballots were sealed has no key: its ballots go straight in, as they did then.
    sealed = locked.public_key is not None and survey.anonymity == Anonymity.anonymous
    return PreparedBallot(
        survey.id, organization_id, survey.anonymity,
        resident_id=voter.resident.id if voter.invitation is None else None,
        invitation_id=voter.invitation.id if voter.invitation else None,
        answers=cleaned, free_text=frozenset(q.id for q in locked.questions.values() if q.free_text),
        envelope=sealing.seal_answers(locked.public_key, survey.id, organization_id, cleaned) if sealed else None,
    )


def store_ballot(ballot: PreparedBallot, now: datetime) -> StoredBallot:
    """Write a prepared ballot in the caller's transaction, exactly once.

    The participation's unique constraints decide who was first, so a second or concurrent ballot
    of the same voter stores nothing; the guarded count refuses a ballot once the tally has run.
    """
    connection = db.session.connection()
    statements = _ballot_statements(connection.dialect.name)
    survey_id, organization_id = ballot.survey_id, ballot.organization_id
    participation_id = connection.execute(statements.participation, {
        "survey_id": survey_id, "organization_id": organization_id, "day": now.date(),
        "resident_id": ballot.resident_id, "invitation_id": ballot.invitation_id,
    }).scalar()
    if participation_id is None:
        # This account or code has taken part already, maybe a moment ago in a concurrent request.
        raise _already()
    # Refused once the tally has finished, which waits for this row while a ballot holds it.
    if not connection.execute(statements.count_ballot, {"survey": survey_id, "organization": organization_id}).rowcount:
        raise Conflict(_l("This survey has closed; answers are no longer accepted."))
    if ballot.envelope is not None:
        envelope_id = uuid.uuid4()
        connection.execute(statements.envelope, {
            "survey_id": survey_id, "organization_id": organization_id, "id": envelope_id, "sealed": ballot.envelope,
        })
        return StoredBallot(envelope_id, survey_id, organization_id, sealed=True)
    ballot_id = uuid.uuid4()
    write_ballot(connection, statements, survey_id, organization_id, ballot_id, ballot.answers, ballot.free_text)
    if ballot.anonymity == Anonymity.identified:
        connection.execute(statements.link_ballot, {"participation": participation_id, "ballot": ballot_id})
    return StoredBallot(ballot_id, survey_id, organization_id, sealed=False)


def submit_ballot(survey: Survey | BallotSurvey, voter: Voter, answers: Mapping[str, str],
                  now: datetime) -> StoredBallot:
    """Check, seal and store one ballot in the caller's transaction, exactly once."""
    return store_ballot(prepare_ballot(survey, voter, answers, now), now)


def write_ballot(connection, statements: _BallotStatements, survey_id: int, organization_id: int,
                 ballot_id: uuid.UUID, answers: Mapping[int, str], free_text: frozenset[int]) -> None:
    """Write a ballot, its answers and its rollup counts."""
    connection.execute(statements.ballot, {"id": ballot_id, "survey_id": survey_id, "organization_id": organization_id})
    if not answers:
        return
    connection.execute(statements.answer, [
        {"ballot_id": ballot_id, "question_id": qid, "value": None if qid in free_text else value,
         "text": value if qid in free_text else None}
        for qid, value in answers.items()
    ])
    # Always in question order, so that concurrent ballots lock rollup rows in the same order.
    connection.execute(statements.rollup, [
        {"survey_id": survey_id, "organization_id": organization_id, "question_id": qid,
         "option": ANSWERED if qid in free_text else value, "count": 1}
        for qid, value in sorted(answers.items())
    ])


@dataclass(frozen=True)
class TargetParticipation:
    target: SurveyTarget
    eligible: int
    ballots: int

    @property
    def turnout(self) -> float | None:
        return self.ballots / self.eligible if self.eligible else None


def participation_summary(survey: Survey) -> list[TargetParticipation]:
    """Return how many took part per community against those who could (verified residents and codes issued)."""
    return [TargetParticipation(t, t.eligible_residents + t.codes_issued, t.ballots) for t in survey.targets]
