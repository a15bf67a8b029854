"""Secretary terms: who leads an organization when; ratings attach to the term."""
from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from accounts import audit
from accounts.models import Organization, Role, SecretaryTerm, User
from accounts.users import require_admin
from errors import Conflict, NotFound, ValidationFailed
from extensions import db


def terms_of(organization: Organization) -> list[SecretaryTerm]:
    """Return an organization's terms, the latest first."""
    return list(
        db.session.scalars(
            select(SecretaryTerm).where(SecretaryTerm.organization_id == organization.id).order_by(SecretaryTerm.start_date.desc())
        )
    )


def open_term(organization_id: int) -> SecretaryTerm | None:
    """Return the organization's term in force, if it has a secretary."""
    return db.session.scalar(
        select(SecretaryTerm).where(SecretaryTerm.organization_id == organization_id, SecretaryTerm.end_date.is_(None))
    )


def current_secretaries(organization_ids: list[int]) -> dict[int, SecretaryTerm]:
    """Return the open term of each given organization that has one."""
    if not organization_ids:
        return {}
    terms = db.session.scalars(
        select(SecretaryTerm)
        .where(SecretaryTerm.organization_id.in_(organization_ids), SecretaryTerm.end_date.is_(None))
        .options(joinedload(SecretaryTerm.user).lazyload(User.grants))
    )
    return {term.organization_id: term for term in terms}


def appoint_secretary(actor: User | None, organization: Organization, user: User, start_date: date) -> SecretaryTerm:
    """Open a secretary term; the current secretary's term ends the day before."""
    if actor is not None:
        require_admin(actor)
    member_org = user.organization_for(Role.member)
    if member_org is None or member_org.id != organization.id:
        raise ValidationFailed({"user": [_l("The secretary must be a member of this organization.")]})
    current = open_term(organization.id)
    if current is not None:
        if current.user_id == user.id:
            raise ValidationFailed({"user": [_l("This person is already the secretary.")]})
        if start_date <= current.start_date:
            raise ValidationFailed({"start_date": [_l("The new term must start after the current one began.")]})
        current.end_date = start_date - timedelta(days=1)
    term = SecretaryTerm(organization=organization, user=user, start_date=start_date)
    db.session.add(term)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(_l("Another secretary was appointed meanwhile. Reload and try again.")) from None
    if current is not None:
        _record_end(actor, current)
    audit.record(audit.AuditKind.term_opened, actor, organization_id=organization.id, subject_id=user.id,
                 details={"term_id": term.id, "start_date": start_date.isoformat()})
    return term


def _record_end(actor: User | None, term: SecretaryTerm) -> None:
    audit.record(audit.AuditKind.term_ended, actor, organization_id=term.organization_id, subject_id=term.user_id,
                 details={"term_id": term.id, "end_date": term.end_date.isoformat()})


def end_term(actor: User, term: SecretaryTerm, end_date: date) -> SecretaryTerm:
    """Close an open secretary term on the given day."""
    require_admin(actor)
    if term.end_date is not None:
        raise Conflict(_l("This term has ended already."))
    if end_date < term.start_date:
        raise ValidationFailed({"end_date": [_l("A term cannot end before it starts.")]})
    term.end_date = end_date
    db.session.flush()
    _record_end(actor, term)
    return term


def get_term(term_id: int) -> SecretaryTerm:
    """Return the term with this id."""
    term = db.session.get(SecretaryTerm, term_id)
    if term is None:
        raise NotFound(_l("There is no such term."))
    return term
