"""Filing cases, taking workflow actions, feedback, the sweep and the case lists."""
from __future__ import annotations

import io
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import lazyload, selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from accounts.models import Organization, Role, User
from accounts.services import normalize_phone, open_term, PHONE_RE
from errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from workflow import machine
from workflow.machine import ACTIONS, Field, Party, State, TransitionRefused
from workflow.models import Case, CaseEvent, Category, Feedback, FeedbackOutcome, Photo, Priority, Satisfaction

TRACKING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
TRACKING_LENGTH = 10
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

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


@dataclass(frozen=True)
class TimeLimits:
    """Settings of the sweep."""

    #: Hours past a deadline before an overdue case goes to the parent's supervision list.
    escalation_grace_hours: int = 24
    #: Days a resolved case waits for feedback before it closes without.
    auto_close_days: int = 7


# --- who stands how to a case ----------------------------------------------------------

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


def sees_internal(user: User | None, case: Case) -> bool:
    return can_view(user, case)


def get_case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(_l("There is no such case."))
    return case


def get_visible_case(user: User | None, case_id: int) -> Case:
    """Return the case if the person may open it: its filer, staff above it, or an admin."""
    case = get_case(case_id)
    if not (can_view(user, case) or (user is not None and user.is_authenticated and case.resident_id == user.id)):
        raise PermissionDenied(_l("You may not see this case."))
    return case


def find_by_tracking_code(code: str) -> Case:
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    case = db.session.scalar(select(Case).where(Case.tracking_code == normalized)) if normalized else None
    if case is None:
        raise NotFound(_l("No request has this tracking code. Check it and try again."))
    return case


# --- filing -----------------------------------------------------------------------------

def active_categories() -> list[Category]:
    return list(db.session.scalars(select(Category).where(Category.active).order_by(Category.id)))


def _new_tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


def check_photo(upload: Upload) -> tuple[bytes, str]:
    """Return the photo re-encoded without metadata and its type, or raise ValidationFailed."""
    if len(upload.data) > MAX_PHOTO_BYTES:
        raise ValidationFailed({"photos": [_l("“%(name)s” is larger than 5 MB.", name=upload.filename)]})
    try:
        with Image.open(io.BytesIO(upload.data)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(upload.data))
        image_format = image.format
        if image_format not in PHOTO_FORMATS:
            raise UnidentifiedImageError
        # Re-encoding drops EXIF, which often carries the place a photo was taken.
        clean = Image.new(image.mode, image.size)
        clean.paste(image)
        out = io.BytesIO()
        clean.save(out, format=image_format)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed(
            {"photos": [_l("“%(name)s” is not a JPEG, PNG or WebP image.", name=upload.filename)]}
        ) from None
    return out.getvalue(), PHOTO_FORMATS[image_format]


def file_case(
    resident: User | None,
    *,
    category_id: int,
    priority: Priority,
    title: str,
    description: str,
    address: str,
    contact_name: str,
    contact_phone: str,
    organization_id: int | None,
    photos: list[Upload],
    upload_dir: Path,
    now: datetime,
) -> Case:
    """File a service request with its photos; residents with an account default to their community."""
    errors: dict[str, list] = {}
    category = db.session.get(Category, category_id) if category_id else None
    if category is None or not category.active:
        errors["category"] = [_l("Choose one of the listed categories.")]
    if not description.strip():
        errors["description"] = [_l("Describe the problem.")]
    phone = normalize_phone(contact_phone)
    if not PHONE_RE.match(phone):
        errors["contact_phone"] = [_l("Enter a phone number we can call back.")]
    if resident is not None and organization_id is None:
        community = resident.organization_for(Role.resident)
        organization_id = community.id if community else None
    organization = db.session.get(Organization, organization_id) if organization_id else None
    if organization is None:
        errors["organization"] = [_l("Choose the community where the problem is.")]
    if len(photos) > MAX_PHOTOS:
        errors["photos"] = [_l("Attach at most %(n)d photos.", n=MAX_PHOTOS)]
    if errors:
        raise ValidationFailed(errors)
    cleaned = [check_photo(upload) for upload in photos]

    case = Case(
        tracking_code=_new_tracking_code(),
        category=category,
        priority=priority,
        title=title.strip(),
        description=description.strip(),
        address=address.strip(),
        contact_name=contact_name.strip(),
        contact_phone=phone,
        resident_id=resident.id if resident else None,
        organization=organization,
        state=State.submitted,
        submitted_at=now,
        respond_due_at=now + timedelta(hours=category.respond_hours(priority)),
        created_at=now,
    )
    db.session.add(case)
    db.session.flush()
    upload_dir.mkdir(parents=True, exist_ok=True)
    for data, content_type in cleaned:
        stored_name = secrets.token_hex(16)
        (upload_dir / stored_name).write_bytes(data)
        db.session.add(Photo(case=case, stored_name=stored_name, content_type=content_type, size=len(data)))
    _append_event(case, "submit", None, State.submitted, actor=resident, now=now,
                  detail={"organization_id": organization.id})
    db.session.flush()
    return case


def photo_path(photo: Photo, upload_dir: Path) -> Path:
    return upload_dir / photo.stored_name


# --- actions ----------------------------------------------------------------------------

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

    def given(self) -> dict[str, object]:
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
    from_state = case.state
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

    note, public, detail = _apply_effects(case, action_name, data, parties, now)
    case.state = to_state
    if ACTIONS[action_name].target is not None:
        # Write the row even when nothing else changed (the same assignee again), so the version moves and guards it.
        flag_modified(case, "state")
    event = _append_event(case, action_name, from_state, to_state, actor=actor, now=now, note=note,
                          public=public, detail=detail)
    try:
        db.session.flush()
    except StaleDataError:
        # Someone else's transition committed between our read and our write.
        db.session.rollback()
        fresh = db.session.get(Case, case.id)
        raise StaleCase(fresh, events_since(fresh, seen_version if seen_version is not None else 0)) from None
    return event


def _apply_effects(case: Case, action_name: str, data: ActionInput, parties, now: datetime):
    """Change the case's other columns for the action; return the event's note, publicity and detail."""
    action = ACTIONS[action_name]
    detail: dict = {}
    note = ""
    public = action.public
    if action_name == "accept":
        case.responded_at = case.accepted_at = now
        case.resolve_due_at = now + timedelta(hours=case.category.resolve_hours(case.priority))
    elif action_name == "reject":
        case.responded_at = case.closed_at = now
        note = data.reason.strip()
    elif action_name == "merge":
        original = db.session.get(Case, data.duplicate_of_id)
        if original is None or original.id == case.id or original.organization_id != case.organization_id \
                or not original.state.is_open or original.state == State.merged:
            raise ValidationFailed({"duplicate_of": [_l("Give an open case of the same organization.")]})
        case.duplicate_of = original
        case.responded_at = case.responded_at or now
        case.closed_at = now
        detail = {"duplicate_of": original.id}
        note = data.reason.strip()
    elif action_name == "assign":
        assignee = db.session.get(User, data.assignee_id)
        member_org = assignee.organization_for(Role.member) if assignee else None
        if member_org is None or member_org.id != case.organization_id or not assignee.active:
            raise ValidationFailed({"assignee": [_l("Choose a member of this case's organization.")]})
        case.assignee = assignee
        detail = {"assignee_id": assignee.id, "assignee_name": assignee.name}
        note = data.note.strip()
    elif action_name == "request_info":
        case.hold_started_at = now
        note = data.question.strip()
    elif action_name == "resume":
        # Time spent waiting for the resident does not count against the deadline.
        held = now - (case.hold_started_at or now)
        if case.resolve_due_at is not None:
            case.resolve_due_at += held
        case.hold_started_at = None
        note = data.note.strip()
        detail = {"held_seconds": int(held.total_seconds())}
    elif action_name == "resolve":
        case.resolved_at = now
        note = data.resolution.strip()
    elif action_name in ("confirm", "reopen"):
        note, detail = _record_feedback(case, action_name, data, now)
    elif action_name == "auto_close":
        db.session.add(Feedback(case=case, round=case.round, outcome=FeedbackOutcome.no_feedback, at=now))
        case.closed_at = now
    elif action_name == "escalate":
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
        note = data.reason.strip()
    elif action_name == "withdraw":
        case.closed_at = now
        note = data.reason.strip()
    elif action_name == "comment":
        note = data.text.strip()
        # Residents only ever write on the public timeline.
        public = data.public or not (parties & {Party.member, Party.secretary, Party.assignee})
    return note, public, detail


def _record_feedback(case: Case, action_name: str, data: ActionInput, now: datetime):
    happy = data.solved and data.satisfaction in (Satisfaction.satisfied, Satisfaction.basically_satisfied)
    if action_name == "confirm" and not happy:
        raise ValidationFailed({"feedback": [_l("A problem that is not solved, or dissatisfaction, reopens the case.")]})
    if action_name == "reopen" and happy:
        raise ValidationFailed({"feedback": [_l("You said the problem is solved and you are satisfied: confirm instead.")]})
    db.session.add(Feedback(
        case=case, round=case.round, solved=data.solved, satisfaction=data.satisfaction,
        comment=(data.comment or data.reason).strip(), at=now,
        outcome=FeedbackOutcome.confirmed if action_name == "confirm" else FeedbackOutcome.reopened,
    ))
    if action_name == "confirm":
        case.closed_at = now
    else:
        case.round += 1
        case.reopen_count += 1
        case.resolved_at = None
    detail = {"solved": data.solved, "satisfaction": data.satisfaction.value}
    return (data.reason or data.comment).strip(), detail


def give_feedback(case: Case, *, actor: User | None, parties, seen_version: int | None, solved: bool | None,
                  satisfaction: Satisfaction | None, comment: str, now: datetime) -> CaseEvent:
    """Record the resident's feedback: solved and satisfied confirms, anything else reopens."""
    happy = solved and satisfaction in (Satisfaction.satisfied, Satisfaction.basically_satisfied)
    data = ActionInput(solved=solved, satisfaction=satisfaction, comment=comment,
                       reason="" if happy else comment)
    return take_action(case, "confirm" if happy else "reopen", actor=actor, parties=parties,
                       seen_version=seen_version, data=data, now=now)


def _append_event(case: Case, action: str, from_state: State | None, to_state: State, *, actor: User | None,
                  now: datetime, note: str = "", public: bool = True, detail: dict | None = None) -> CaseEvent:
    # The version this event leaves the case at; a transition bumps it on flush.
    version = case.version + (0 if action in ("submit", "comment") else 1)
    event = CaseEvent(case=case, at=now, actor_id=actor.id if actor else None, action=action,
                      from_state=from_state, to_state=to_state, note=note, public=public,
                      detail=detail or {}, case_version=version)
    db.session.add(event)
    return event


def events_since(case: Case, version: int) -> list[CaseEvent]:
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


def assignable_members(case: Case) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.active, User.grants.any(role=Role.member, organization_id=case.organization_id))
        .options(lazyload(User.grants)).order_by(User.name)
    ))


# --- the sweep --------------------------------------------------------------------------

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
            _append_event(case, "overdue", case.state, case.state, actor=None, now=now, public=False)
        due = case.due_at
        # A case waiting for the resident is late only by the time that passed before its clock stopped.
        clock = case.hold_started_at if case.state == State.on_hold and case.hold_started_at else now
        parent = case.organization.parent
        if case.supervised_at is None and due is not None and clock - due > grace and parent is not None:
            case.supervised_at = now
            report.supervised += 1
            _append_event(case, "supervise", case.state, case.state, actor=None, now=now, public=False,
                          detail={"organization_id": parent.id, "organization_name": parent.name})
    cutoff = now - timedelta(days=limits.auto_close_days)
    for case in db.session.scalars(_locked(
        select(Case).where(Case.state == State.resolved, Case.resolved_at <= cutoff).order_by(Case.id), dialect
    )):
        take_action(case, "auto_close", actor=None, parties=frozenset({Party.system}), seen_version=None,
                    data=ActionInput(), now=now)
        report.auto_closed += 1
    db.session.flush()
    return report


# --- lists ------------------------------------------------------------------------------

SORTS = ("newest", "oldest", "due", "priority")
TABS = ("open", "all") + tuple(s.value for s in State)


@dataclass(frozen=True)
class CaseFilters:
    tab: str = "open"
    category_id: int | None = None
    priority: Priority | None = None
    overdue: bool = False
    mine: bool = False
    organization_id: int | None = None
    q: str = ""
    sort: str = "newest"
    page: int = 1
    per_page: int = 20


@dataclass(frozen=True)
class CasePage:
    cases: list[Case]
    total: int
    counts: dict[str, int]
    filters: CaseFilters

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.filters.per_page))


def case_scope(user: User) -> Organization | None:
    """Return the subtree whose cases the user may list; None for everything (admin)."""
    if user.is_admin:
        return None
    for role in (Role.member, Role.evaluator):
        organization = user.organization_for(role)
        if organization is not None:
            return organization
    raise PermissionDenied(_l("Only members, evaluators and administrators see the case list."))


def due_expression():
    """Return the SQL for the deadline in force, matching Case.due_at."""
    from sqlalchemy import case as sql_case

    return sql_case(
        (Case.state == State.submitted, Case.respond_due_at),
        (Case.state.in_([State.accepted, State.assigned, State.in_progress, State.on_hold]), Case.resolve_due_at),
        else_=None,
    )


def late_expression(now: datetime):
    """Return the SQL for "its deadline has passed", matching Case.is_late (on hold stops the clock)."""
    due = due_expression()
    return (Case.state != State.on_hold) & (due < now) | (
        (Case.state == State.on_hold) & (Case.hold_started_at > due)
    )


def list_cases(user: User, filters: CaseFilters, now: datetime) -> CasePage:
    """Return one page of the cases the user may see, with the count of each tab."""
    scope = case_scope(user)
    conditions = []
    if scope is not None:
        conditions.append(Case.organization_id.in_(
            select(Organization.id).where(Organization.path.startswith(scope.path))
        ))
    if filters.organization_id:
        conditions.append(Case.organization_id == filters.organization_id)
    if filters.category_id:
        conditions.append(Case.category_id == filters.category_id)
    if filters.priority is not None:
        conditions.append(Case.priority == filters.priority)
    if filters.overdue:
        conditions.append(late_expression(now))
    if filters.mine:
        conditions.append(Case.assignee_id == user.id)
    if filters.q.strip():
        needle = filters.q.strip().lower()
        code = "".join(ch for ch in filters.q.upper() if ch.isalnum())
        # autoescape: a % or _ typed by the user is searched for, not a wildcard.
        matches = [func.lower(column).contains(needle, autoescape=True)
                   for column in (Case.title, Case.description, Case.address)] + [Case.tracking_code == code]
        if filters.q.strip().lstrip("#").isdecimal() and len(filters.q.strip().lstrip("#")) <= 9:
            matches.append(Case.id == int(filters.q.strip().lstrip("#")))
        conditions.append(or_(*matches))

    # Grouped in the index's order (organization, state), SQLite counts without sorting every case.
    counts: dict[State, int] = defaultdict(int)
    for state, count in db.session.execute(
        select(Case.state, func.count()).where(*conditions).group_by(Case.organization_id, Case.state)
    ):
        counts[state] += count
    by_tab = {state.value: counts.get(state, 0) for state in State}
    by_tab["open"] = sum(n for state, n in counts.items() if state.is_open)
    by_tab["all"] = sum(counts.values())

    if filters.tab == "open":
        conditions.append(Case.state.in_(machine.OPEN_STATES))
    elif filters.tab != "all":
        conditions.append(Case.state == State(filters.tab))
    order = {
        "newest": [Case.submitted_at.desc(), Case.id.desc()],
        "oldest": [Case.submitted_at, Case.id],
        "due": [due_expression().is_(None), due_expression(), Case.id],
        "priority": [(Case.priority == Priority.urgent).desc(), due_expression().is_(None), due_expression(), Case.id],
    }[filters.sort]
    cases = list(db.session.scalars(
        select(Case).where(*conditions).order_by(*order).options(
            # Lazy: the page has the categories and organizations in the session already.
            lazyload(Case.category), lazyload(Case.organization), selectinload(Case.assignee).lazyload(User.grants),
        )
        .limit(filters.per_page).offset((filters.page - 1) * filters.per_page)
    ))
    return CasePage(cases=cases, total=by_tab[filters.tab], counts=by_tab, filters=filters)


def supervision_list(user: User, now: datetime) -> list[Case]:
    """Return the open cases in the user's area that are late, supervised or were escalated."""
    if user.is_admin:
        scope = None
    else:
        scope = user.organization_for(Role.evaluator)
        term_org = None
        member_org = user.organization_for(Role.member)
        if member_org is not None:
            term = open_term(member_org.id)
            term_org = member_org if term is not None and term.user_id == user.id else None
        scope = scope or term_org
        if scope is None:
            raise PermissionDenied(_l("The supervision list is for secretaries, evaluators and administrators."))
    escalated = select(CaseEvent.case_id).where(CaseEvent.action == "escalate")
    query = select(Case).where(
        Case.state.in_(machine.OPEN_STATES),
        or_(late_expression(now), Case.overdue, Case.supervised_at.is_not(None), Case.id.in_(escalated)),
    )
    if scope is not None:
        query = query.where(Case.organization_id.in_(
            select(Organization.id).where(Organization.path.startswith(scope.path))
        ))
    return list(db.session.scalars(query.order_by(due_expression().is_(None), due_expression(), Case.id)
                                   .options(selectinload(Case.assignee)).limit(500)))
