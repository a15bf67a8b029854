"""A case's history: appending its events, reading them back."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.models import User
from extensions import db
from workflow.machine import State
from workflow.models import Case, CaseEvent


def append_event(case: Case, action: str, from_state: State | None, to_state: State, *, actor: User | None,
                 now: datetime, note: str = "", public: bool = True, detail: dict | None = None,
                 changes_case: bool = True) -> CaseEvent:
    """Append one event to the case's history, with the version the case is left at."""
    # A step that changes the case's row bumps its version on flush; the event records the version after it.
    version = case.version + (1 if changes_case else 0)
    event = CaseEvent(case=case, at=now, actor_id=actor.id if actor else None, action=action,
                      from_state=from_state, to_state=to_state, note=note, public=public,
                      detail=detail or {}, case_version=version)
    db.session.add(event)
    return event


def events_since(case: Case, version: int) -> list[CaseEvent]:
    """Return the case's events that left it at a version after this one, oldest first."""
    return list(db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.case_version > version).order_by(CaseEvent.id)
    ))


def timeline(case: Case, internal: bool) -> list[CaseEvent]:
    """Return the case's events, only the public ones unless the viewer may see internal notes."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).options(
        selectinload(CaseEvent.actor).lazyload(User.grants)
    )
    if not internal:
        query = query.where(CaseEvent.public)
    return list(db.session.scalars(query.order_by(CaseEvent.id)))
