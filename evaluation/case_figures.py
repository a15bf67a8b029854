"""The case "three rates": figures per organization, secretary term and UTC month, precomputed offline.

refresh_case_figures scans cases and their events (from the command line and after each sweep);
pages only add up the stored rows with case_rates.
"""
from __future__ import annotations

import functools
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, and_, cast, delete, func, select, text

from accounts.models import SecretaryTerm
from errors import ValidationFailed
from evaluation.models import CaseFigure
from extensions import db
from workflow.machine import RESPONSE_ACTIONS, State
from workflow.models import Case, CaseEvent, Category, Feedback, FeedbackOutcome, Satisfaction

MAX_PERIOD_MONTHS = 36
#: The counted columns of a case-figure row, added up over months.
COUNT_FIELDS = ("submitted", "responded_in_time", "with_feedback", "solved", "satisfied", "basically_satisfied",
                "dissatisfied", "overdue", "reopened")
#: States in which a case is being worked on: the clock of "time to resolve" runs only in these.
WORKING_STATES = frozenset({State.accepted, State.assigned, State.in_progress})
#: Key of the PostgreSQL advisory lock that keeps two refreshes from rewriting the same rows at once.
REFRESH_LOCK_KEY = 0x4C58_4556  # "LXEV"


# --- months ------------------------------------------------------------------------------

def month_start(moment: date | datetime) -> date:
    """Return the first day of the (UTC) month of a date or naive UTC time."""
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    """Return the first day of the month `count` months after (or before) the given one."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class MonthRange:
    """Calendar months from `first` to `last` inclusive, each given by its first day (UTC months)."""

    first: date
    last: date

    def months(self) -> tuple[date, ...]:
        """Return the first day of every month in the range."""
        count = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1
        return tuple(add_months(self.first, i) for i in range(count))


def month_range(first: date, last: date) -> MonthRange:
    """Return the months from first to last (any day within them), or raise ValidationFailed."""
    first, last = month_start(first), month_start(last)
    if last < first:
        raise ValidationFailed({"period": [_l("The period must end after it starts.")]})
    if len(MonthRange(first, last).months()) > MAX_PERIOD_MONTHS:
        raise ValidationFailed({"period": [_l("Choose a period of at most %(n)d months.", n=MAX_PERIOD_MONTHS)]})
    return MonthRange(first, last)


# --- reading: the three rates ------------------------------------------------------------

@dataclass(frozen=True)
class CaseRates:
    """Case counts over some months with the three rates: response, resolution and satisfaction."""

    submitted: int = 0
    responded_in_time: int = 0
    with_feedback: int = 0
    solved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    dissatisfied: int = 0
    overdue: int = 0
    reopened: int = 0
    #: The case-figure rows' JSON lists of hours to resolve, joined by commas ("[1.5, 2.0],[],[3.0]"). Decoded
    #: only when asked for: the evaluation table adds up a thousand terms' rows and shows no median.
    resolve_hours_json: str = field(default="", repr=False)

    @functools.cached_property
    def resolve_hours(self) -> tuple[float, ...]:
        """The hours worked to resolve each resolved case, in no particular order."""
        return tuple(hours for row in json.loads(f"[{self.resolve_hours_json}]") for hours in row)

    @property
    def resolved(self) -> int:
        """How many cases were resolved (have a time to resolve)."""
        return len(self.resolve_hours)

    @property
    def median_resolve_hours(self) -> float | None:
        """The median of the hours to resolve, or None when no case was resolved."""
        return statistics.median(self.resolve_hours) if self.resolve_hours else None

    @property
    def response_rate(self) -> float | None:
        """Cases first answered within the limit / cases submitted."""
        return self.responded_in_time / self.submitted if self.submitted else None

    @property
    def resolution_rate(self) -> float | None:
        """Feedback saying "solved" / feedback given."""
        return self.solved / self.with_feedback if self.with_feedback else None

    @property
    def satisfaction_rate(self) -> float | None:
        """Feedback satisfied or basically satisfied / feedback given."""
        return (self.satisfied + self.basically_satisfied) / self.with_feedback if self.with_feedback else None


def case_rates(conditions: Iterable, *keys) -> dict[tuple, CaseRates]:
    """Return the rates of the case-figure rows meeting the conditions, added up per value of the key columns."""
    figures = CaseFigure.__table__.c
    width = len(keys)
    # Added up by the database, one row per key; the hours lists come along as text, joined, for CaseRates to
    # decode if the median is wanted. Without keys the database returns one row even when none matched, which
    # the row count tells apart.
    query = (
        select(*keys, func.count(), *(func.sum(figures[name]) for name in COUNT_FIELDS),
               func.aggregate_strings(cast(figures.resolve_hours, Text), ","))
        .where(*conditions)
    )
    if keys:
        query = query.group_by(*keys)
    rates = {}
    for row in db.session.execute(query).all():
        # The sums are in COUNT_FIELDS order, which is the order of CaseRates' fields.
        if row[width]:
            rates[tuple(row[:width])] = CaseRates(*row[width + 1:])
    return rates


# --- the refresh -------------------------------------------------------------------------

@dataclass(frozen=True)
class RefreshReport:
    months: int
    rows: int
    cases: int


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))
    resolve_hours: list[float] = field(default_factory=list)


def refresh_case_figures(now: datetime, months: Iterable[date] | None = None) -> RefreshReport:
    """Recompute the case figures of the given months (any day within them), or of every month with cases."""
    if db.session.get_bind().dialect.name == "postgresql":
        # Two sweeps at once would otherwise both delete a month and both insert its rows.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK_KEY})
    if months is None:
        db.session.execute(delete(CaseFigure))
        first, last = db.session.execute(select(func.min(Case.created_at), func.max(Case.created_at))).one()
        wanted = MonthRange(month_start(first), month_start(last)).months() if first is not None else ()
    else:
        wanted = tuple(sorted({month_start(m) for m in months}))
        if wanted:
            db.session.execute(delete(CaseFigure).where(CaseFigure.month.in_(wanted)))
    terms: dict[int, list[SecretaryTerm]] = defaultdict(list)
    for term in db.session.scalars(select(SecretaryTerm)):
        terms[term.organization_id].append(term)
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    rows = cases = 0
    for month in wanted:
        tallies, filed = _tally_month(month, terms, categories)
        cases += filed
        for (organization_id, term_id), tally in tallies.items():
            db.session.add(CaseFigure(organization_id=organization_id, term_id=term_id, month=month, **tally.counts,
                                      resolve_hours=[round(h, 2) for h in sorted(tally.resolve_hours)],
                                      computed_at=now))
            rows += 1
    db.session.flush()
    return RefreshReport(months=len(wanted), rows=rows, cases=cases)


def _term_on(terms: list[SecretaryTerm], day: date) -> int | None:
    open_then = [t for t in terms if t.start_date <= day and (t.end_date is None or day <= t.end_date)]
    return max(open_then, key=lambda t: t.start_date).id if open_then else None


def _tally_month(month: date, terms: Mapping[int, list[SecretaryTerm]],
                 categories: Mapping[int, Category]) -> tuple[dict[tuple[int, int | None], _Tally], int]:
    start = datetime.combine(month, datetime.min.time())
    in_month = and_(Case.created_at >= start, Case.created_at < datetime.combine(add_months(month, 1), start.time()))
    filed = db.session.execute(select(
        Case.id, Case.organization_id, Case.created_at, Case.respond_due_at, Case.category_id, Case.priority,
        Case.overdue, Case.state,
    ).where(in_month)).all()
    events: dict[int, list] = defaultdict(list)
    for row in db.session.execute(
        select(CaseEvent.case_id, CaseEvent.at, CaseEvent.action, CaseEvent.to_state, CaseEvent.detail)
        .join(Case, Case.id == CaseEvent.case_id).where(in_month, CaseEvent.action != "comment")
        .order_by(CaseEvent.case_id, CaseEvent.id)
    ):
        events[row.case_id].append(row)
    feedback: dict[int, list] = defaultdict(list)
    for row in db.session.execute(
        select(Feedback.case_id, Feedback.outcome, Feedback.solved, Feedback.satisfaction)
        .join(Case, Case.id == Feedback.case_id).where(in_month, Feedback.outcome != FeedbackOutcome.no_feedback)
    ):
        feedback[row.case_id].append(row)

    tallies: dict[tuple[int, int | None], _Tally] = defaultdict(_Tally)
    for case in filed:
        history = events[case.id]
        submit = next((e for e in history if e.action == "submit"), None)
        # Escalation moves a case up; its figures stay with the organization it was filed with.
        organization_id = (submit.detail or {}).get("organization_id", case.organization_id) if submit \
            else case.organization_id
        tally = tallies[organization_id, _term_on(terms.get(organization_id, []), case.created_at.date())]
        counts = tally.counts
        counts["submitted"] += 1
        counts["responded_in_time"] += _responded_in_time(case, history, categories)
        counts["overdue"] += case.overdue or any(e.action == "overdue" for e in history)
        for answer in feedback[case.id]:
            counts["with_feedback"] += 1
            counts["solved"] += bool(answer.solved)
            counts["satisfied"] += answer.satisfaction == Satisfaction.satisfied
            counts["basically_satisfied"] += answer.satisfaction == Satisfaction.basically_satisfied
            counts["dissatisfied"] += answer.satisfaction == Satisfaction.dissatisfied
            counts["reopened"] += answer.outcome == FeedbackOutcome.reopened
        hours = _working_hours_to_resolution(case.state, history)
        if hours is not None:
            tally.resolve_hours.append(hours)
    return tallies, len(filed)


def _responded_in_time(case, history: list, categories: Mapping[int, Category]) -> bool:
    """Tell whether the first accept, reject or merge came within the response limit of the filing."""
    response = next((e for e in history if e.action in RESPONSE_ACTIONS), None)
    if response is None:
        return False
    # Escalation can only follow an acceptance, so the first response is always the filing organization's.
    # Escalation resets respond_due_at for the new organization, so the original deadline is worked out again.
    if any(e.action == "escalate" for e in history):
        due = case.created_at + timedelta(hours=categories[case.category_id].respond_hours(case.priority))
    else:
        due = case.respond_due_at
    return response.at <= due


def _working_hours_to_resolution(state: State, history: list) -> float | None:
    """Return the hours worked (accepted, assigned, in progress) up to the last resolution, or None if unresolved.

    Time on hold (waiting for the resident), awaiting feedback, or awaiting a response after escalation
    does not count.
    """
    if state not in (State.resolved, State.closed):
        return None
    worked = timedelta()
    at_resolution = None
    current, since = None, None
    for event in history:
        if current in WORKING_STATES:
            worked += event.at - since
        current, since = event.to_state, event.at
        if event.action == "resolve":
            at_resolution = worked
    return at_resolution.total_seconds() / 3600 if at_resolution is not None else None


def refresh_recent_months(now: datetime) -> RefreshReport:
    """Recompute this month's and last month's figures; older months stay until `flask evaluation refresh`."""
    this_month = month_start(now)
    return refresh_case_figures(now, [add_months(this_month, -1), this_month])
