"""Cases, their append-only events, photos, feedback and categories with time limits."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organization, User, name_referrers
from db import enum_column, utcnow
from extensions import db
from workflow.machine import PAUSED_STATES, State


class Priority(enum.Enum):
    normal = "normal"
    urgent = "urgent"


class Satisfaction(enum.Enum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"


class FeedbackOutcome(enum.Enum):
    confirmed = "confirmed"
    reopened = "reopened"
    #: Closed by the sweep: counts as no feedback, never as satisfied.
    no_feedback = "no_feedback"


class Category(db.Model):
    """A kind of request, with its time limits per priority (hours)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    name_en: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(default=True)
    urgent_respond_hours: Mapped[int] = mapped_column(default=1)
    urgent_resolve_hours: Mapped[int] = mapped_column(default=24)
    normal_respond_hours: Mapped[int] = mapped_column(default=24)
    normal_resolve_hours: Mapped[int] = mapped_column(default=7 * 24)

    def respond_hours(self, priority: Priority) -> int:
        return self.urgent_respond_hours if priority == Priority.urgent else self.normal_respond_hours

    def resolve_hours(self, priority: Priority) -> int:
        return self.urgent_resolve_hours if priority == Priority.urgent else self.normal_resolve_hours

    def label(self, locale: str) -> str:
        return self.name if locale.startswith("zh") else self.name_en


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        # Serves the member's list: their organization, a state tab, newest first.
        Index("ix_cases_organization_state_submitted", "organization_id", "state", "submitted_at"),
        Index("ix_cases_state_due", "state", "respond_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Unguessable code residents without an account use to follow the case.
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.normal)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(80))
    contact_phone: Mapped[str] = mapped_column(String(20))
    #: The resident who filed it; None when filed without an account.
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    state: Mapped[State] = mapped_column(enum_column(State), default=State.submitted)
    version: Mapped[int] = mapped_column(default=1)

    #: When the current organization received it (filing, or escalation to it).
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The first response (accept, reject, merge) at the current organization.
    responded_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    respond_due_at: Mapped[datetime]
    #: Set on acceptance, pushed back by time spent waiting for the resident.
    resolve_due_at: Mapped[datetime | None]
    hold_started_at: Mapped[datetime | None]
    #: Marked by the sweep once a deadline has passed while the case was open.
    overdue: Mapped[bool] = mapped_column(default=False)
    #: Put on the parent organization's supervision list (督办) by the sweep.
    supervised_at: Mapped[datetime | None]
    #: Resolution round; a reopen starts the next one.
    round: Mapped[int] = mapped_column(default=1)
    reopen_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    category: Mapped[Category] = relationship(lazy="joined")
    organization: Mapped[Organization] = relationship(lazy="joined")
    resident: Mapped[User | None] = relationship(foreign_keys=[resident_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    duplicate_of: Mapped[Case | None] = relationship(remote_side=[id])
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")
    photos: Mapped[list[Photo]] = relationship(back_populates="case", order_by="Photo.id")
    feedback: Mapped[list[Feedback]] = relationship(back_populates="case", order_by="Feedback.round")

    __mapper_args__ = {"version_id_col": version}

    @property
    def due_at(self) -> datetime | None:
        """Return the deadline that applies now: respond, then resolve; none once resolved."""
        if self.state == State.submitted:
            return self.respond_due_at
        if self.state in (State.accepted, State.assigned, State.in_progress, State.on_hold):
            return self.resolve_due_at
        return None

    def is_late(self, now: datetime) -> bool:
        """Tell whether the deadline in force has passed (the clock stops while on hold)."""
        due = self.due_at
        if due is None:
            return False
        clock = self.hold_started_at if self.state in PAUSED_STATES and self.hold_started_at else now
        return clock > due


name_referrers(_l("cases"), Case.__table__)


class CaseEvent(db.Model):
    """One step in a case's history. Rows are only ever inserted."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: None for the sweep and for residents filing without an account.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[State | None] = mapped_column(enum_column(State, "from_state"))
    to_state: Mapped[State] = mapped_column(enum_column(State, "to_state"))
    note: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(default=True)
    #: Structured details: assignee, organizations of an escalation, merged-into case.
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The case's version once this event happened, so a stale form can be told what changed since.
    case_version: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


@event.listens_for(CaseEvent, "before_update")
@event.listens_for(CaseEvent, "before_delete")
def _refuse_event_change(_mapper, _connection, target: CaseEvent) -> None:
    raise RuntimeError(f"case events are append-only; refused to change event {target.id}")


class Photo(db.Model):
    __tablename__ = "case_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: Random file name under the upload folder, never the uploaded name.
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="photos")


class Feedback(db.Model):
    """The resident's answer to "was your problem solved?" for one resolution round."""

    __tablename__ = "case_feedback"
    __table_args__ = (
        UniqueConstraint("case_id", "round"),
        CheckConstraint(
            "(outcome = 'no_feedback') = (satisfaction IS NULL AND solved IS NULL)", name="answered_unless_none"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    round: Mapped[int]
    outcome: Mapped[FeedbackOutcome] = mapped_column(enum_column(FeedbackOutcome))
    solved: Mapped[bool | None]
    satisfaction: Mapped[Satisfaction | None] = mapped_column(enum_column(Satisfaction))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="feedback")
