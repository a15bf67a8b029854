"""Acting on a case: who stands how to it, taking an action, the resident's feedback, stale-case conflicts."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from accounts import audit
from accounts.models import Role, User
from accounts.terms import open_term
from errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from workflow import machine
from workflow.effects import EFFECTS
from workflow.history import append_event, events_since
from workflow.machine import ACTIONS, Field, Party, TransitionRefused
from workflow.models import Case, CaseEvent, Satisfaction

FIELD_MESSAGES = {
    Field.reason: _l("Give a reason."),
    Field.question: _l("Write the question for the resident."),
    Field.note: _l("Write your answer or a note."),
    Field.resolution: _l("Describe how the problem was solved."),
    Field.assignee: _l("Choose the member who will handle the case."),
    Field.duplicate_of: _l("Give the number of the case this one duplicates."),
    Field.feedback: _l("Say whether the problem was solved and how satisfied you are."),
    Field.text: _l("Write the comment."),
}


def parties_for(user: User | None, case: Case, holds_tracking_code: bool = False) -> frozenset[Party]:
    """Return how this person stands to the case; the tracking code stands for an account-less filer."""
    parties = set()
    if user is not None and user.is_authenticated:
        if case.resident_id == user.id:
            parties.add(Party.owner)
        member_org = user.organization_for(Role.member)
        if member_org is not None and member_org.id == case.organization_id:
            parties.add(Party.member)
            if case.assignee_id == user.id:
                parties.add(Party.assignee)
            term = open_term(case.organization_id)
            if term is not None and term.user_id == user.id:
                parties.add(Party.secretary)
    if holds_tracking_code and case.resident_id is None:
        parties.add(Party.owner)
    return frozenset(parties)


def can_view(user: User | None, case: Case) -> bool:
    """Tell whether the person may see the case with its internal notes (members, evaluators, admins)."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_admin:
        return True
    for role in (Role.member, Role.evaluator):
        organization = user.organization_for(role)
        if organization is not None and organization.contains(case.organization):
            return True
    return False


def get_case(case_id: int) -> Case:
    """Return the case or raise NotFound."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(_l("There is no such case."))
    return case


def assignable_members(case: Case) -> list[User]:
    """Return the active members of the case's organization, by name."""
    return list(db.session.scalars(
        select(User).where(User.active, User.grants.any(role=Role.member, organization_id=case.organization_id))
        .options(lazyload(User.grants)).order_by(User.name)
    ))


@dataclass(frozen=True)
class ActionInput:
    """What a person submitted with an action; unused fields stay empty."""

    reason: str = ""
    question: str = ""
    note: str = ""
    resolution: str = ""
    text: str = ""
    assignee_id: int | None = None
    duplicate_of_id: int | None = None
    solved: bool | None = None
    satisfaction: Satisfaction | None = None
    comment: str = ""
    public: bool = True

    @property
    def confirms(self) -> bool:
        """Tell whether the feedback confirms the solution: solved, and satisfied or basically satisfied."""
        return bool(self.solved) and self.satisfaction in (Satisfaction.satisfied, Satisfaction.basically_satisfied)

    def given(self) -> dict[str, object]:
        """Return the fields the machine checks, empty ones as "" or None."""
        feedback_given = self.solved is not None and self.satisfaction is not None
        return {
            Field.reason.value: self.reason.strip(),
            Field.question.value: self.question.strip(),
            Field.note.value: self.note.strip(),
            Field.resolution.value: self.resolution.strip(),
            Field.text.value: self.text.strip(),
            Field.assignee.value: self.assignee_id,
            Field.duplicate_of.value: self.duplicate_of_id,
            Field.feedback.value: True if feedback_given else None,
        }


class StaleCase(Conflict):
    """The case changed after the person loaded it; carries what changed."""

    def __init__(self, case: Case, changes: list[CaseEvent]) -> None:
        super().__init__(_l("This case was changed by someone else meanwhile. Check the update below, then try again."))
        self.case = case
        self.changes = changes


def take_action(
    case: Case,
    action_name: str,
    *,
    actor: User | None,
    parties: frozenset[Party],
    seen_version: int | None,
    data: ActionInput,
    now: datetime,
) -> CaseEvent:
    """Apply one workflow action: check it, change the case, append exactly one event."""
    action = ACTIONS.get(action_name)
    if action is None or not parties & action.parties:
        raise PermissionDenied(_l("You may not do this to this case."))
    # A comment changes nothing it could overwrite, so it needs no fresh version.
    if seen_version is not None and seen_version != case.version and action.target is not None:
        raise StaleCase(case, events_since(case, seen_version))
    from_state, assignee_before = case.state, case.assignee_id
    try:
        to_state = machine.check(action_name, from_state, parties, data.given())
    except TransitionRefused as refused:
        if refused.kind in ("party", "unknown"):
            raise PermissionDenied(_l("You may not do this to this case.")) from None
        if refused.kind == "state":
            raise InvalidTransition(
                _l("This cannot be done while the case is “%(state)s”.", state=_l(from_state.label))
            ) from None
        raise ValidationFailed({f.value: [FIELD_MESSAGES[f]] for f in refused.missing}) from None

    record = EFFECTS[action_name](case, data, parties, now)
    case.state = to_state
    changes_case = action.target is not None
    if changes_case:
        # Write the row even when nothing else changed (the same assignee again), so the version moves and guards it.
        flag_modified(case, "state")
    event = append_event(case, action_name, from_state, to_state, actor=actor, now=now, note=record.note,
                         public=action.public if record.public is None else record.public, detail=record.detail,
                         changes_case=changes_case)
    try:
        db.session.flush()
    except StaleDataError:
        # Someone else's transition committed between our read and our write.
        db.session.rollback()
        fresh = db.session.get(Case, case.id)
        raise StaleCase(fresh, events_since(fresh, seen_version if seen_version is not None else 0)) from None
    if action_name == "assign" and assignee_before not in (None, case.assignee_id):
        audit.record(audit.AuditKind.case_reassigned, actor, organization_id=case.organization_id, subject_id=case.id,
                     details={"from_assignee_id": assignee_before, "to_assignee_id": case.assignee_id})
    return event


def give_feedback(case: Case, *, actor: User | None, parties: frozenset[Party], seen_version: int | None,
                  solved: bool | None, satisfaction: Satisfaction | None, comment: str, now: datetime) -> CaseEvent:
    """Record the resident's feedback: solved and satisfied confirms, anything else reopens."""
    answer = ActionInput(solved=solved, satisfaction=satisfaction, comment=comment)
    if answer.confirms:
        return take_action(case, "confirm", actor=actor, parties=parties, seen_version=seen_version, data=answer,
                           now=now)
    # A reopen requires a reason: the resident's comment is it.
    return take_action(case, "reopen", actor=actor, parties=parties, seen_version=seen_version,
                       data=replace(answer, reason=comment), now=now)
