"""What each action of the machine does to a case beyond its state, declared as a table keyed by action.

An effect checks what the declaration cannot (the assignee is a member, the original case is open),
changes the case's other columns, and says what the action's event records. No Flask here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Mapping

from flask_babel import lazy_gettext as _l

from accounts.models import Role, User
from errors import ValidationFailed
from extensions import db
from workflow.machine import Party, State
from workflow.models import Case, Feedback, FeedbackOutcome

if TYPE_CHECKING:
    from workflow.actions import ActionInput

#: Parties who may write on the internal timeline; residents only ever write in public.
STAFF = frozenset({Party.member, Party.secretary, Party.assignee})


@dataclass(frozen=True)
class Record:
    """What an action's event records besides who, when and the states."""

    note: str = ""
    detail: dict = field(default_factory=dict)
    #: None keeps the publicity the machine declares for the action.
    public: bool | None = None


Effect = Callable[[Case, "ActionInput", frozenset[Party], datetime], Record]


def _accept(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    case.responded_at = case.accepted_at = now
    case.resolve_due_at = now + timedelta(hours=case.category.resolve_hours(case.priority))
    return Record()


def _reject(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    case.responded_at = case.closed_at = now
    return Record(note=data.reason.strip())


def _merge(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    original = db.session.get(Case, data.duplicate_of_id)
    if original is None or original.id == case.id or original.organization_id != case.organization_id \
            or not original.state.is_open or original.state == State.merged:
        raise ValidationFailed({"duplicate_of": [_l("Give an open case of the same organization.")]})
    case.duplicate_of = original
    case.responded_at = case.responded_at or now
    case.closed_at = now
    return Record(note=data.reason.strip(), detail={"duplicate_of": original.id})


def _assign(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    assignee = db.session.get(User, data.assignee_id)
    member_org = assignee.organization_for(Role.member) if assignee else None
    if member_org is None or member_org.id != case.organization_id or not assignee.active:
        raise ValidationFailed({"assignee": [_l("Choose a member of this case's organization.")]})
    case.assignee = assignee
    return Record(note=data.note.strip(), detail={"assignee_id": assignee.id, "assignee_name": assignee.name})


def _start(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    return Record()


def _request_info(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    case.hold_started_at = now
    return Record(note=data.question.strip())


def _resume(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    # Time spent waiting for the resident does not count against the deadline.
    held = now - (case.hold_started_at or now)
    if case.resolve_due_at is not None:
        case.resolve_due_at += held
    case.hold_started_at = None
    return Record(note=data.note.strip(), detail={"held_seconds": int(held.total_seconds())})


def _resolve(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    case.resolved_at = now
    return Record(note=data.resolution.strip())


def _add_feedback(case: Case, data: ActionInput, outcome: FeedbackOutcome, now: datetime) -> Record:
    db.session.add(Feedback(
        case=case, round=case.round, solved=data.solved, satisfaction=data.satisfaction,
        comment=(data.comment or data.reason).strip(), at=now, outcome=outcome,
    ))
    return Record(note=(data.reason or data.comment).strip(),
                  detail={"solved": data.solved, "satisfaction": data.satisfaction.value})


def _confirm(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    if not data.confirms:
        raise ValidationFailed({"feedback": [_l("A problem that is not solved, or dissatisfaction, reopens the case.")]})
    case.closed_at = now
    return _add_feedback(case, data, FeedbackOutcome.confirmed, now)


def _reopen(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    if data.confirms:
        raise ValidationFailed({"feedback": [_l("You said the problem is solved and you are satisfied: confirm instead.")]})
    record = _add_feedback(case, data, FeedbackOutcome.reopened, now)
    case.round += 1
    case.reopen_count += 1
    case.resolved_at = None
    return record


def _auto_close(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    # Silence is recorded as no feedback, never as satisfaction.
    db.session.add(Feedback(case=case, round=case.round, outcome=FeedbackOutcome.no_feedback, at=now))
    case.closed_at = now
    return Record()


def _escalate(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    parent = case.organization.parent
    if parent is None:
        raise ValidationFailed({"reason": [_l("This organization has no higher organization to escalate to.")]})
    detail = {"from_organization_id": case.organization_id, "organization_id": parent.id,
              "organization_name": parent.name}
    case.organization = parent
    case.assignee = None
    case.accepted_at = case.responded_at = case.resolve_due_at = None
    case.submitted_at = now
    case.respond_due_at = now + timedelta(hours=case.category.respond_hours(case.priority))
    # The higher organization's clock starts afresh, supervision included.
    case.overdue = False
    case.supervised_at = None
    return Record(note=data.reason.strip(), detail=detail)


def _withdraw(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    case.closed_at = now
    return Record(note=data.reason.strip())


def _comment(case: Case, data: ActionInput, parties: frozenset[Party], now: datetime) -> Record:
    return Record(note=data.text.strip(), public=data.public or not (parties & STAFF))


#: One effect for every action of the machine (a test checks they match).
EFFECTS: Mapping[str, Effect] = {
    "accept": _accept,
    "reject": _reject,
    "merge": _merge,
    "assign": _assign,
    "start": _start,
    "request_info": _request_info,
    "resume": _resume,
    "resolve": _resolve,
    "confirm": _confirm,
    "reopen": _reopen,
    "auto_close": _auto_close,
    "escalate": _escalate,
    "withdraw": _withdraw,
    "comment": _comment,
}
