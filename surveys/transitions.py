"""Opening, closing, publishing and deleting surveys, as surveys/lifecycle.py declares them."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from accounts import audit
from accounts.models import Role, RoleGrant, SecretaryTerm, User
from db import utcnow
from errors import Conflict, ValidationFailed
from extensions import db
from surveys.builder import check_manager
from surveys.lifecycle import STATE_OF, Phase, Requirement, phase
from surveys import sealing
from surveys.models import Anonymity, Survey, SurveyKind
from surveys.signals import survey_published


def _terms_in_force(survey: Survey, today) -> dict[int, SecretaryTerm]:
    """Return each asked community's secretary term in force on the day, by community id."""
    return {t.organization_id: t for t in db.session.scalars(select(SecretaryTerm).where(
        SecretaryTerm.organization_id.in_([t.organization_id for t in survey.targets]),
        SecretaryTerm.start_date <= today,
        or_(SecretaryTerm.end_date.is_(None), SecretaryTerm.end_date >= today),
    ))}


def _problems(requirements: tuple[Requirement, ...], survey: Survey, now: datetime,
              terms: dict[int, SecretaryTerm]) -> list:
    """Return what to do about each requirement the survey does not meet, in the declared order."""
    vacant = [t.organization.name for t in survey.targets if t.organization_id not in terms] \
        if survey.kind == SurveyKind.democratic_evaluation else []
    unmet = {
        Requirement.questions: None if survey.questions else _l("Add at least one question."),
        Requirement.communities: None if survey.targets else _l("Choose at least one community."),
        Requirement.closing_ahead:
            None if survey.closes_at > now else _l("The closing time has passed; set a later one."),
        Requirement.secretaries:
            _l("These communities have no secretary to evaluate: %(names)s.", names="、".join(vacant)) if vacant
            else None,
    }
    return [unmet[r] for r in requirements if unmet[r] is not None]


def open_survey(actor: User, survey: Survey, now: datetime, immediately: bool = True, *, box_key: bytes) -> Survey:
    """Lock a draft and open it, now or at its opening time; record each community's secretary and voters.

    An anonymous survey gets its key pair: ballots are sealed to the public key, and the private
    key is kept sealed by the ballot-box key until the tally.
    """
    transition = check_manager("open" if immediately else "schedule", actor, survey, now)
    # The term in force on the opening day, which a backdated opening may place before a successor's.
    terms = _terms_in_force(survey, now.date())
    problems = _problems(transition.requires, survey, now, terms)
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
    if survey.anonymity == Anonymity.anonymous:
        survey.ballot_public_key, survey.sealed_private_key = sealing.new_survey_keys(box_key, survey.id)
    survey.state = STATE_OF[transition.target]
    survey.opened_at = now
    if immediately or survey.opens_at < now:
        # Whole minutes, as the settings form shows and sends them back.
        survey.opens_at = now.replace(second=0, microsecond=0)
    db.session.flush()
    _record(audit.AuditKind.survey_opened, actor, survey, scheduled_for=None if immediately
            else survey.opens_at.isoformat())
    return survey


def _record(kind: audit.AuditKind, actor: User, survey: Survey, **details) -> None:
    audit.record(kind, actor, organization_id=survey.owner_organization_id, subject_id=survey.id,
                 details={"title": survey.title, **{k: v for k, v in details.items() if v is not None}})


def record_closing(survey: Survey, now: datetime) -> None:
    """Record that the survey stopped taking answers: now, or at its closing time if that came first."""
    survey.state = STATE_OF[Phase.closed]
    survey.closed_at = min(now, survey.closes_at)
    # Closed before it opened, a scheduled survey keeps its times, which must stay in order.
    if survey.closed_at > survey.opens_at:
        survey.closes_at = survey.closed_at


def close_survey(actor: User, survey: Survey, now: datetime) -> Survey:
    """Stop taking answers now, or record that the closing time has passed."""
    check_manager("close", actor, survey, now)
    record_closing(survey, now)
    db.session.flush()
    _record(audit.AuditKind.survey_closed, actor, survey)
    return survey


def publish_survey(actor: User, survey: Survey, now: datetime) -> Survey:
    """Publish a closed survey's results with the evaluation settings in force."""
    transition = check_manager("publish", actor, survey, now)
    if survey.counted_at is None:
        raise Conflict(_l("The ballots are still being counted; publish the results once the count is done."))
    if phase(survey, now) is Phase.ended:
        # The clock closed it; record that first, at its closing time.
        record_closing(survey, now)
    survey.state = STATE_OF[transition.target]
    survey.published_at = now
    # Evaluation records the θ, m and weights of today with the results, whatever the settings become.
    survey_published.send(survey, now=now)
    db.session.flush()
    _record(audit.AuditKind.survey_published, actor, survey)
    return survey


def delete_survey(actor: User, survey: Survey) -> None:
    """Delete a draft survey with its questions and communities."""
    check_manager("delete", actor, survey, utcnow())
    db.session.delete(survey)
    db.session.flush()
