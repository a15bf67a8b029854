"""The case lists: whose cases a person sees, filters, tabs, sorts, pages, and the supervision list."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import case as sql_case, func, or_, select
from sqlalchemy.orm import lazyload, selectinload

from accounts.models import Organization, Role, User
from accounts.terms import open_term
from errors import PermissionDenied
from extensions import db
from workflow.machine import OPEN_STATES, PAUSED_STATES, State
from workflow.models import Case, CaseEvent, Priority

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
    return sql_case(
        (Case.state == State.submitted, Case.respond_due_at),
        (Case.state.in_([State.accepted, State.assigned, State.in_progress, State.on_hold]), Case.resolve_due_at),
        else_=None,
    )


def late_expression(now: datetime):
    """Return the SQL for "its deadline has passed", matching Case.is_late (a paused clock stops it)."""
    due = due_expression()
    return Case.state.not_in(PAUSED_STATES) & (due < now) | (
        Case.state.in_(PAUSED_STATES) & (Case.hold_started_at > due)
    )


def _within(scope: Organization):
    return Case.organization_id.in_(select(Organization.id).where(Organization.path.startswith(scope.path)))


def list_cases(user: User, filters: CaseFilters, now: datetime) -> CasePage:
    """Return one page of the cases the user may see, with the count of each tab."""
    scope = case_scope(user)
    conditions = []
    if scope is not None:
        conditions.append(_within(scope))
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
        conditions.append(_search(filters.q))

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
        conditions.append(Case.state.in_(OPEN_STATES))
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


def _search(q: str):
    """Return the condition for a search: words in the text, a tracking code, or a case number."""
    needle = q.strip().lower()
    code = "".join(ch for ch in q.upper() if ch.isalnum())
    # autoescape: a % or _ typed by the user is searched for, not a wildcard.
    matches = [func.lower(column).contains(needle, autoescape=True)
               for column in (Case.title, Case.description, Case.address)] + [Case.tracking_code == code]
    number = q.strip().lstrip("#")
    if number.isdecimal() and len(number) <= 9:
        matches.append(Case.id == int(number))
    return or_(*matches)


def filed_by(user: User) -> list[Case]:
    """Return the cases this person filed, newest first."""
    return list(db.session.scalars(
        select(Case).where(Case.resident_id == user.id).order_by(Case.created_at.desc(), Case.id.desc())
    ))


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
        Case.state.in_(OPEN_STATES),
        or_(late_expression(now), Case.overdue, Case.supervised_at.is_not(None), Case.id.in_(escalated)),
    )
    if scope is not None:
        query = query.where(_within(scope))
    return list(db.session.scalars(query.order_by(due_expression().is_(None), due_expression(), Case.id)
                                   .options(selectinload(Case.assignee)).limit(500)))
