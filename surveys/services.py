"""Building, opening and closing surveys; invitation codes; ballots exactly once, with rollups."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Mapping, NamedTuple

from flask_babel import format_datetime, lazy_gettext as _l
from sqlalchemy import Insert, Update, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import Organization, OrgLevel, Role, RoleGrant, SecretaryTerm, User
from accounts.services import evaluator_scope
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from surveys.models import (
    Anonymity, Ballot, BallotAnswer, Invitation, Participation, Question, QuestionType, Rollup, Survey,
    SurveyKind, SurveyState, SurveyTarget,
)
from surveys.signals import survey_published

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
MAX_CODES_PER_BATCH = 2000
MAX_TEXT_ANSWER = 2000
#: What a free-text answer counts under in the rollups.
ANSWERED = "answered"

#: The democratic evaluation's ready questions: (key, type, text, required, don't-know offered).
DEMOCRATIC_TEMPLATE = (
    (QuestionType.rating3, _l("Overall, how satisfied are you with your community's Party secretary?"), True, True),
    (QuestionType.grade4, _l("How do you rate the secretary's performance this year?"), True, False),
    (QuestionType.rating3, _l("How satisfied are you with how the secretary serves residents?"), True, True),
    (QuestionType.rating3, _l("How satisfied are you with the secretary's leading of study and learning?"), True, True),
    (QuestionType.rating3, _l("How satisfied are you with the secretary's new ideas and innovation?"), True, True),
    (QuestionType.free_text, _l("Anything else you want to tell the organization department? (optional)"), False, False),
)


class AlreadyParticipated(Conflict):
    """The resident or code has already given a ballot in this survey."""


# --- access --------------------------------------------------------------------------------

def manage_scope(actor: User) -> Organization | None:
    """Return the subtree whose surveys the actor manages; None for everything (admin)."""
    return evaluator_scope(actor)


def get_survey(survey_id: int) -> Survey:
    survey = db.session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(_l("There is no such survey."))
    return survey


def get_managed_survey(actor: User, survey_id: int) -> Survey:
    """Return a survey the actor may manage, or raise 404/403."""
    survey = get_survey(survey_id)
    scope = manage_scope(actor)
    if scope is not None and not scope.contains(survey.owner_organization):
        raise PermissionDenied(_l("This survey belongs to another area."))
    return survey


def managed_surveys(actor: User) -> list[Survey]:
    scope = manage_scope(actor)
    query = select(Survey).join(Organization, Survey.owner_organization_id == Organization.id)
    if scope is not None:
        query = query.where(Organization.path.startswith(scope.path))
    return list(db.session.scalars(query.order_by(Survey.opens_at.desc(), Survey.id.desc())))


# --- lifecycle -----------------------------------------------------------------------------

def effective_state(survey: Survey, now: datetime) -> SurveyState:
    """Return the state as of now: an open survey past its closing time is closed."""
    if survey.state == SurveyState.open and now >= survey.closes_at:
        return SurveyState.closed
    return survey.state


def is_accepting(survey: Survey, now: datetime) -> bool:
    return effective_state(survey, now) == SurveyState.open and survey.opens_at <= now


def refusal_reason(survey: Survey, now: datetime) -> str | None:
    """Return why the survey takes no ballot now, or None when it does."""
    state = effective_state(survey, now)
    if state == SurveyState.draft:
        return _l("This survey is still being prepared and takes no answers yet.")
    if state in (SurveyState.closed, SurveyState.published):
        return _l("This survey has closed; answers are no longer accepted.")
    if now < survey.opens_at:
        return _l("This survey opens on %(date)s.", date=format_datetime(survey.opens_at, "short"))
    return None


def _require_draft(survey: Survey) -> None:
    if survey.is_locked:
        raise Conflict(_l("This survey has opened: its questions, communities and minimum group size are locked."))


def _check_settings(title: str, opens_at: datetime, closes_at: datetime, min_group_size: int) -> None:
    errors = {}
    if not title.strip():
        errors["title"] = [_l("Give the survey a title.")]
    if closes_at <= opens_at:
        errors["closes_at"] = [_l("The survey must close after it opens.")]
    if min_group_size < 3:
        errors["min_group_size"] = [_l("The minimum group size is at least 3, to protect anonymity.")]
    if errors:
        raise ValidationFailed(errors)


def create_survey(
    actor: User, *, title: str, description: str, kind: SurveyKind, anonymity: Anonymity, opens_at: datetime,
    closes_at: datetime, min_group_size: int, owner_organization_id: int | None,
) -> Survey:
    """Create a draft survey in the actor's area; a democratic evaluation gets its ready questions."""
    scope = manage_scope(actor)
    owner = scope if scope is not None else db.session.get(Organization, owner_organization_id or 0)
    if owner is None:
        raise ValidationFailed({"owner": [_l("Choose the organization that runs the survey.")]})
    _check_settings(title, opens_at, closes_at, min_group_size)
    survey = Survey(
        title=title.strip(), description=description.strip(), kind=kind, anonymity=anonymity, opens_at=opens_at,
        closes_at=closes_at, min_group_size=min_group_size, owner_organization=owner, created_by_id=actor.id,
    )
    db.session.add(survey)
    if kind == SurveyKind.democratic_evaluation:
        for position, (qtype, text, required, dont_know) in enumerate(DEMOCRATIC_TEMPLATE, start=1):
            survey.questions.append(Question(position=position, type=qtype, text=str(text), required=required,
                                             allow_dont_know=dont_know, choices=[]))
    db.session.flush()
    return survey


def update_survey(
    actor: User, survey: Survey, *, title: str, description: str, anonymity: Anonymity, opens_at: datetime,
    closes_at: datetime, min_group_size: int, now: datetime,
) -> Survey:
    """Change a survey's settings; once open only the title, description and closing time may change."""
    if effective_state(survey, now) in (SurveyState.closed, SurveyState.published):
        raise Conflict(_l("A closed survey cannot be changed."))
    if survey.is_locked and (
        anonymity != survey.anonymity or min_group_size != survey.min_group_size or opens_at != survey.opens_at
    ):
        raise Conflict(_l("This survey has opened: its anonymity, opening time and minimum group size are locked."))
    _check_settings(title, opens_at, closes_at, min_group_size)
    if survey.is_locked and closes_at <= now:
        raise ValidationFailed({"closes_at": [_l("To close the survey now, use “Close now”.")]})
    survey.title, survey.description = title.strip(), description.strip()
    survey.anonymity, survey.opens_at, survey.closes_at = anonymity, opens_at, closes_at
    survey.min_group_size = min_group_size
    db.session.flush()
    return survey


def _check_question(qtype: QuestionType, text: str, choices: list[str]) -> list[str]:
    errors = {}
    if not text.strip():
        errors["text"] = [_l("Write the question.")]
    cleaned = [c.strip() for c in choices if c.strip()]
    if qtype == QuestionType.single_choice and len(cleaned) < 2:
        errors["choices"] = [_l("Give at least two choices, one per line.")]
    if len(cleaned) > 20:
        errors["choices"] = [_l("Give at most 20 choices.")]
    if errors:
        raise ValidationFailed(errors)
    return cleaned if qtype == QuestionType.single_choice else []


def add_question(actor: User, survey: Survey, *, qtype: QuestionType, text: str, required: bool,
                 allow_dont_know: bool, choices: list[str]) -> Question:
    """Add a question at the end of a draft survey."""
    _require_draft(survey)
    cleaned = _check_question(qtype, text, choices)
    position = max((q.position for q in survey.questions), default=0) + 1
    question = Question(survey=survey, position=position, type=qtype, text=text.strip(), required=required,
                        allow_dont_know=allow_dont_know and qtype == QuestionType.rating3, choices=cleaned)
    db.session.add(question)
    db.session.flush()
    return question


def update_question(actor: User, question: Question, *, qtype: QuestionType, text: str, required: bool,
                    allow_dont_know: bool, choices: list[str]) -> Question:
    _require_draft(question.survey)
    question.choices = _check_question(qtype, text, choices)
    question.type, question.text, question.required = qtype, text.strip(), required
    question.allow_dont_know = allow_dont_know and qtype == QuestionType.rating3
    db.session.flush()
    return question


def get_question(survey: Survey, question_id: int) -> Question:
    question = db.session.get(Question, question_id)
    if question is None or question.survey_id != survey.id:
        raise NotFound(_l("There is no such question in this survey."))
    return question


def delete_question(actor: User, question: Question) -> None:
    survey = question.survey
    _require_draft(survey)
    survey.questions.remove(question)
    db.session.flush()
    _renumber(survey)


def move_question(actor: User, question: Question, offset: int) -> None:
    """Move a question up (-1) or down (+1) in its survey."""
    survey = question.survey
    _require_draft(survey)
    order = list(survey.questions)
    index = order.index(question)
    target = index + offset
    if not 0 <= target < len(order):
        return
    order[index], order[target] = order[target], order[index]
    _renumber(survey, order)


def reorder_questions(actor: User, survey: Survey, question_ids: list[int]) -> None:
    """Put the survey's questions in the given order (all of them, each once)."""
    _require_draft(survey)
    by_id = {q.id: q for q in survey.questions}
    if sorted(question_ids) != sorted(by_id):
        raise ValidationFailed(_l("The new order must list every question of the survey once."))
    _renumber(survey, [by_id[i] for i in question_ids])


def _renumber(survey: Survey, order: list[Question] | None = None) -> None:
    order = order if order is not None else sorted(survey.questions, key=lambda q: q.position)
    # Two passes so the unique (survey, position) never sees a duplicate midway.
    for index, question in enumerate(order, start=1):
        question.position = -index
    db.session.flush()
    for index, question in enumerate(order, start=1):
        question.position = index
    db.session.flush()
    db.session.expire(survey, ["questions"])


def set_targets(actor: User, survey: Survey, organization_ids: list[int]) -> None:
    """Choose the communities the survey asks; they must lie in the survey's area."""
    _require_draft(survey)
    owner = survey.owner_organization
    communities = list(db.session.scalars(select(Organization).where(
        Organization.id.in_(organization_ids), Organization.level == OrgLevel.community,
        Organization.path.startswith(owner.path),
    ))) if organization_ids else []
    if len(communities) != len(set(organization_ids)):
        raise ValidationFailed({"targets": [_l("Choose communities within the survey's area.")]})
    wanted = {c.id for c in communities}
    survey.targets = [t for t in survey.targets if t.organization_id in wanted] + [
        SurveyTarget(organization_id=c.id) for c in communities
        if c.id not in {t.organization_id for t in survey.targets}
    ]
    # Codes already printed for a community taken off the survey would only be refused later.
    db.session.execute(delete(Invitation).where(
        Invitation.survey_id == survey.id, Invitation.organization_id.not_in(wanted or {0})
    ))
    db.session.flush()


def open_survey(actor: User, survey: Survey, now: datetime, immediately: bool = True) -> Survey:
    """Lock a draft and open it, now or at its opening time; record each community's secretary and voters."""
    _require_draft(survey)
    problems = []
    if not survey.questions:
        problems.append(_l("Add at least one question."))
    if not survey.targets:
        problems.append(_l("Choose at least one community."))
    if survey.closes_at <= now:
        problems.append(_l("The closing time has passed; set a later one."))
    today = now.date()
    # The term in force on the opening day, which a backdated opening may place before a successor's.
    terms = {t.organization_id: t for t in db.session.scalars(select(SecretaryTerm).where(
        SecretaryTerm.organization_id.in_([t.organization_id for t in survey.targets]),
        SecretaryTerm.start_date <= today,
        or_(SecretaryTerm.end_date.is_(None), SecretaryTerm.end_date >= today),
    ))}
    if survey.kind == SurveyKind.democratic_evaluation:
        vacant = [t.organization.name for t in survey.targets if t.organization_id not in terms]
        if vacant:
            problems.append(_l("These communities have no secretary to evaluate: %(names)s.", names="、".join(vacant)))
    if problems:
        raise ValidationFailed({"": problems})
    eligible = dict(db.session.execute(
        select(RoleGrant.organization_id, func.count()).join(User, User.id == RoleGrant.user_id).where(
            RoleGrant.role == Role.resident, RoleGrant.organization_id.in_([t.organization_id for t in survey.targets]),
            User.register_entry_id.is_not(None), User.active,
        ).group_by(RoleGrant.organization_id)
    ).all())
    for target in survey.targets:
        term = terms.get(target.organization_id)
        target.term_id = term.id if term else None
        target.eligible_residents = eligible.get(target.organization_id, 0)
    survey.state = SurveyState.open
    survey.opened_at = now
    if immediately or survey.opens_at < now:
        # Whole minutes, as the settings form shows and sends them back.
        survey.opens_at = now.replace(second=0, microsecond=0)
    db.session.flush()
    return survey


def close_survey(actor: User, survey: Survey, now: datetime) -> Survey:
    """Stop taking answers now, or record that the closing time has passed."""
    if survey.state != SurveyState.open:
        raise Conflict(_l("Only an open survey can be closed."))
    survey.state = SurveyState.closed
    survey.closed_at = min(now, survey.closes_at)
    # Closed before it opened, a scheduled survey keeps its times, which must stay in order.
    if survey.closed_at > survey.opens_at:
        survey.closes_at = survey.closed_at
    db.session.flush()
    return survey


def publish_survey(actor: User, survey: Survey, now: datetime) -> Survey:
    """Publish a closed survey's results with the evaluation settings in force."""
    if effective_state(survey, now) != SurveyState.closed:
        raise Conflict(_l("Only a closed survey can be published."))
    if survey.state == SurveyState.open:
        close_survey(actor, survey, now)
    survey.state = SurveyState.published
    survey.published_at = now
    # Evaluation records the θ, m and weights of today with the results, whatever the settings become.
    survey_published.send(survey, now=now)
    db.session.flush()
    return survey


def delete_survey(actor: User, survey: Survey) -> None:
    _require_draft(survey)
    db.session.delete(survey)
    db.session.flush()


# --- invitation codes ----------------------------------------------------------------------

def normalize_code(raw: str) -> str:
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def hash_code(code: str, key: bytes) -> str:
    """Return the keyed hash under which a code is stored."""
    return hmac.new(key, normalize_code(code).encode(), hashlib.sha256).hexdigest()


def generate_codes(actor: User, survey: Survey, organization_id: int, count: int, key: bytes,
                   now: datetime) -> list[str]:
    """Create one-use codes for a target community; return them in plain text, which is never stored."""
    if effective_state(survey, now) in (SurveyState.closed, SurveyState.published):
        raise Conflict(_l("Codes cannot be issued for a closed survey."))
    if survey.state == SurveyState.draft:
        # A draft's communities may still change, which would strand codes already printed.
        raise Conflict(_l("Open or schedule the survey before issuing codes: its communities are fixed then."))
    target = next((t for t in survey.targets if t.organization_id == organization_id), None)
    if target is None:
        raise ValidationFailed({"organization": [_l("Choose one of the survey's communities.")]})
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise ValidationFailed({"count": [_l("Issue between 1 and %(n)d codes at a time.", n=MAX_CODES_PER_BATCH)]})
    # A set, so that a chance repeat within the batch cannot break the unique hash (and give one code twice).
    unique: set[str] = set()
    while len(unique) < count:
        unique.add("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
    codes = list(unique)
    db.session.add_all(Invitation(survey_id=survey.id, organization_id=organization_id, code_hash=hash_code(c, key))
                       for c in codes)
    target.codes_issued += count
    db.session.flush()
    return codes


class CodeInvitation(NamedTuple):
    """An invitation code's row, as a ballot needs it."""

    id: int
    survey_id: int
    organization_id: int


_invitations = Invitation.__table__
_INVITATION_BY_HASH = select(
    _invitations.c.id, _invitations.c.survey_id, _invitations.c.organization_id, _invitations.c.code_hash
).where(_invitations.c.code_hash == bindparam("digest"))


def invitation_for_code(code: str, key: bytes) -> CodeInvitation:
    """Return the invitation of this code, whatever its survey, or refuse clearly."""
    digest = hash_code(code, key)
    row = db.session.execute(_INVITATION_BY_HASH, {"digest": digest}).one_or_none()
    # The lookup is by keyed hash, so timing says nothing about how much of a code was right.
    if row is None or not hmac.compare_digest(row.code_hash, digest):
        raise ValidationFailed({"code": [_l("This code is not valid. Check it against your slip.")]})
    return CodeInvitation(row.id, row.survey_id, row.organization_id)


def find_invitation(survey: Survey | BallotSurvey, code: str, key: bytes) -> CodeInvitation:
    """Return the survey's invitation for this code, or refuse clearly."""
    invitation = invitation_for_code(code, key)
    if invitation.survey_id != survey.id:
        raise ValidationFailed({"code": [_l("This code belongs to another survey.")]})
    return invitation


# --- ballots -------------------------------------------------------------------------------

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
    """What a ballot was stored as: all a ballot row holds."""

    id: uuid.UUID
    survey_id: int
    organization_id: int
    day: date


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


_surveys, _targets = Survey.__table__, SurveyTarget.__table__
_participations, _ballots, _answers, _rollups = (
    Participation.__table__, Ballot.__table__, BallotAnswer.__table__, Rollup.__table__,
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


def target_for(survey: Survey, voter: Voter) -> SurveyTarget:
    """Return the community the voter answers for, or refuse."""
    organization_id = _voter_community(voter)
    target = next((t for t in survey.targets if t.organization_id == organization_id), None)
    if target is None:
        raise _not_a_target()
    return target


def has_participated(survey: Survey, voter: Voter) -> bool:
    column, value = (Participation.invitation_id, voter.invitation.id) if voter.invitation \
        else (Participation.resident_id, voter.resident.id)
    return db.session.scalar(select(Participation.id).where(Participation.survey_id == survey.id, column == value)) \
        is not None


def _ballot_questions(questions: Iterable[Question]) -> dict[str, BallotQuestion]:
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
    return LockedSurvey(_ballot_questions(questions), frozenset(communities))


def check_answers(survey: Survey, answers: Mapping[str, str]) -> dict[int, str]:
    """Return the answers by question id, or raise ValidationFailed naming each problem beside its question."""
    return _check_answers(_ballot_questions(survey.questions), answers)


def _check_answers(questions: dict[str, BallotQuestion], answers: Mapping[str, str]) -> dict[int, str]:
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
        ).values(ballots=_targets.c.ballots + 1),
    )


def submit_ballot(survey: Survey | BallotSurvey, voter: Voter, answers: Mapping[str, str],
                  now: datetime) -> StoredBallot:
    """Store one ballot, its participation and its rollup counts in one transaction, exactly once.

    Everything is checked before the first write; the participation's unique constraints then
    decide who was first, so a second or concurrent ballot of the same voter stores nothing.
    """
    reason = refusal_reason(survey, now)
    if reason:
        raise Conflict(reason)
    locked = _locked_survey(survey.id, survey.created_at)
    organization_id = _voter_community(voter)
    if organization_id not in locked.community_ids:
        raise _not_a_target()
    cleaned = _check_answers(locked.questions, answers)
    connection = db.session.connection()
    statements = _ballot_statements(connection.dialect.name)
    day = now.date()
    participation_id = connection.execute(statements.participation, {
        "survey_id": survey.id, "organization_id": organization_id, "day": day,
        "resident_id": voter.resident.id if voter.invitation is None else None,
        "invitation_id": voter.invitation.id if voter.invitation else None,
    }).scalar()
    if participation_id is None:
        # This account or code has taken part already, maybe a moment ago in a concurrent request.
        raise AlreadyParticipated(_l("You have already taken part in this survey. Thank you!"))
    ballot_id = uuid.uuid4()
    connection.execute(statements.ballot, {
        "id": ballot_id, "survey_id": survey.id, "organization_id": organization_id, "day": day,
    })
    if cleaned:
        free_text = {q.id for q in locked.questions.values() if q.free_text}
        connection.execute(statements.answer, [
            {"ballot_id": ballot_id, "question_id": qid, "value": None if qid in free_text else value,
             "text": value if qid in free_text else None}
            for qid, value in cleaned.items()
        ])
        # Always in question order, so that concurrent ballots lock rollup rows in the same order.
        connection.execute(statements.rollup, [
            {"survey_id": survey.id, "organization_id": organization_id, "question_id": qid,
             "option": ANSWERED if qid in free_text else value, "count": 1}
            for qid, value in cleaned.items()
        ])
    if survey.anonymity == Anonymity.identified:
        connection.execute(statements.link_ballot, {"participation": participation_id, "ballot": ballot_id})
    connection.execute(statements.count_ballot, {"survey": survey.id, "organization": organization_id})
    return StoredBallot(ballot_id, survey.id, organization_id, day)


def rebuild_rollups(survey: Survey) -> None:
    """Recount a survey's rollups from its ballots (for checking; results never need it)."""
    # An ORM delete, so that rollups already loaded in the session go too and the new rows do not clash with them.
    db.session.execute(delete(Rollup).where(Rollup.survey_id == survey.id))
    question_types = {q.id: q.type for q in survey.questions}
    rows = db.session.execute(
        select(Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value, func.count())
        .join(BallotAnswer, BallotAnswer.ballot_id == Ballot.id).where(Ballot.survey_id == survey.id)
        .group_by(Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value)
    ).all()
    for organization_id, question_id, value, count in rows:
        option = ANSWERED if question_types[question_id] == QuestionType.free_text else value
        db.session.add(Rollup(survey_id=survey.id, organization_id=organization_id, question_id=question_id,
                              option=option, count=count))
    db.session.flush()


def rollup_counts(survey: Survey) -> dict[tuple[int, int, str], int]:
    """Return {(community id, question id, option): count} for a survey."""
    return {
        (r.organization_id, r.question_id, r.option): r.count
        for r in db.session.scalars(select(Rollup).where(Rollup.survey_id == survey.id))
    }


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
