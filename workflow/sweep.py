"""The time-limit sweep: overdue marks, the parent's supervision list, closing resolved cases without feedback."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from accounts import audit
from extensions import db
from workflow.actions import ActionInput, take_action
from workflow.history import append_event
from workflow.machine import PAUSED_STATES, Party, State
from workflow.models import Case
from workflow.queries import late_expression


@dataclass(frozen=True)
class TimeLimits:
    """Settings of the sweep."""

    #: Hours past a deadline before an overdue case goes to the parent's supervision list.
    escalation_grace_hours: int = 24
    #: Days a resolved case waits for feedback before it closes without.
    auto_close_days: int = 7


@dataclass
class SweepReport:
    marked_overdue: int = 0
    supervised: int = 0
    auto_closed: int = 0


def _locked(query, dialect: str):
    # Two sweeps at once on PostgreSQL each take the rows the other has not locked.
    return query.with_for_update(skip_locked=True, of=Case) if dialect == "postgresql" else query


def sweep(now: datetime, limits: TimeLimits) -> SweepReport:
    """Mark overdue cases, put long-overdue ones under supervision, close resolved ones without feedback."""
    report = SweepReport()
    dialect = db.session.get_bind().dialect.name
    grace = timedelta(hours=limits.escalation_grace_hours)
    for case in db.session.scalars(_locked(
        select(Case).where(late_expression(now), or_(~Case.overdue, Case.supervised_at.is_(None))).order_by(Case.id),
        dialect,
    )):
        if not case.overdue:
            case.overdue = True
            report.marked_overdue += 1
            append_event(case, "overdue", case.state, case.state, actor=None, now=now, public=False)
        due = case.due_at
        # A case waiting for the resident is late only by the time that passed before its clock stopped.
        clock = case.hold_started_at if case.state in PAUSED_STATES and case.hold_started_at else now
        parent = case.organization.parent
        if case.supervised_at is None and due is not None and clock - due > grace and parent is not None:
            case.supervised_at = now
            report.supervised += 1
            append_event(case, "supervise", case.state, case.state, actor=None, now=now, public=False,
                         detail={"organization_id": parent.id, "organization_name": parent.name})
            audit.record(audit.AuditKind.case_supervised, None, organization_id=parent.id, subject_id=case.id,
                         details={"from_organization_id": case.organization_id})
    cutoff = now - timedelta(days=limits.auto_close_days)
    for case in db.session.scalars(_locked(
        select(Case).where(Case.state == State.resolved, Case.resolved_at <= cutoff).order_by(Case.id), dialect
    )):
        take_action(case, "auto_close", actor=None, parties=frozenset({Party.system}), seen_version=None,
                    data=ActionInput(), now=now)
        report.auto_closed += 1
    db.session.flush()
    return report
