"""Evaluation results per secretary term, read from rollups and precomputed case figures.

Pages read survey targets, rollups and case-figure rows only: O(secretaries) rows, never ballots or cases
(the free-text comments of the secretary page are the one read of ballot answers). Case figures are
computed offline in evaluation.case_figures; θ, m and the weights come from evaluation.settings.
"""
from __future__ import annotations

import enum
import math
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased

from accounts.models import Organization, OrgLevel, SecretaryTerm, User
from accounts.services import evaluator_scope, get_term
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from evaluation import statistics as stats
from evaluation.case_figures import CaseRates, MonthRange, add_months, case_rates, month_start
from evaluation.models import CaseFigure
from evaluation.settings import SettingsInForce, settings_for
from extensions import db
from surveys import services as survey_services
from surveys.models import (
    DONT_KNOW, OPTIONS, Ballot, BallotAnswer, Question, QuestionType, Rollup, Survey, SurveyKind, SurveyState,
    SurveyTarget,
)

#: Survey kinds whose results appear in the evaluation.
RESULT_KINDS = (SurveyKind.democratic_evaluation, SurveyKind.service_satisfaction)
#: Free-text answers are shown only from this many answers (and never below the survey's k).
COMMENT_MINIMUM = 10
#: Case figures default to this many calendar months, ending with the month the survey opened.
PERIOD_MONTHS = 3
SORTS = ("rank", "name", "satisfaction", "dissatisfied", "turnout", "composite")
#: The natural direction of each sort: best rank, A–Z, and the largest figures first.
DEFAULT_DESCENDING = {"rank": False, "name": False, "satisfaction": True, "dissatisfied": True, "turnout": True,
                      "composite": True}
SATISFIED, BASIC, DISSATISFIED = OPTIONS[QuestionType.rating3]
EXCELLENT, COMPETENT, BASICALLY_COMPETENT, INCOMPETENT = OPTIONS[QuestionType.grade4]


class Hidden(enum.Enum):
    """Why a community's figures are withheld."""

    #: Fewer valid answers than the survey's minimum group size k.
    FEW_ANSWERS = "few_answers"
    #: Enough answers, but hidden too so that a smaller hidden group cannot be worked out from the township total.
    REMAINDER = "remainder"


def survey_period(survey: Survey) -> MonthRange:
    """Return the case period that goes with a survey: the three months ending with the month it opened."""
    last = month_start(survey.opens_at)
    return MonthRange(add_months(last, 1 - PERIOD_MONTHS), last)


# --- survey results ----------------------------------------------------------------------

class Place(NamedTuple):
    """An organization as results name it."""

    id: int
    name: str


class Rating(NamedTuple):
    """The answers of k or more people to a 满意/基本满意/不满意 question, and what follows from them."""

    n: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int
    dont_know: int
    satisfaction_rate: float
    dissatisfied_share: float
    dissatisfied_interval: stats.Interval
    flag: stats.ReviewFlag

    @property
    def flagged(self) -> bool:
        """Tell whether more than θ are dissatisfied (the rule as practised)."""
        return self.flag != stats.ReviewFlag.NONE


class GradeCounts(NamedTuple):
    """The answers of k or more people to a 优秀/称职/基本称职/不称职 question, with its flags."""

    n: int
    excellent: int
    competent: int
    basically_competent: int
    incompetent: int
    flags: frozenset[stats.Grade4Flag]


def _rating(counts: Mapping[str, int], theta: Fraction) -> Rating:
    s, b, d = counts.get(SATISFIED, 0), counts.get(BASIC, 0), counts.get(DISSATISFIED, 0)
    n = s + b + d
    return Rating(
        n=n, satisfied=s, basically_satisfied=b, dissatisfied=d, dont_know=counts.get(DONT_KNOW, 0),
        satisfaction_rate=stats.satisfaction_rate(s, b, n), dissatisfied_share=d / n,
        dissatisfied_interval=stats.wilson_interval(d, n), flag=stats.review_flag(d, n, theta),
    )


def _valid_n(counts: Mapping[str, int]) -> int:
    return counts.get(SATISFIED, 0) + counts.get(BASIC, 0) + counts.get(DISSATISFIED, 0)


def _grades(counts: Mapping[str, int], k: int, theta: Fraction) -> GradeCounts | None:
    e, c, b, i = (counts.get(EXCELLENT, 0), counts.get(COMPETENT, 0), counts.get(BASICALLY_COMPETENT, 0),
                  counts.get(INCOMPETENT, 0))
    n = e + c + b + i
    if n < k:
        return None
    return GradeCounts(n=n, excellent=e, competent=c, basically_competent=b, incompetent=i,
                       flags=stats.grade4_flags(e, c, b, i, theta))


def _first_question(survey: Survey, qtype: QuestionType) -> Question | None:
    return next((q for q in sorted(survey.questions, key=lambda q: q.position) if q.type == qtype), None)


@dataclass
class _SurveyResults:
    """A survey's headline counts for every target, and which targets and township totals may be shown."""

    survey: Survey
    settings: SettingsInForce
    headline: Question | None
    grade4: Question | None
    targets: list[_Target]
    #: {question id: {community id: {option: count}}}
    counts: dict[int, dict[int, dict[str, int]]]
    hidden: dict[int, Hidden]
    #: Townships whose total has k or more valid answers, so is shown beside its communities.
    shown_totals: set[int]

    def __post_init__(self) -> None:
        # Looked up once: the table asks for each of a thousand communities' counts several times.
        self._headline_counts = self.counts.get(self.headline.id, {}) if self.headline else {}
        self._grade4_counts = self.counts.get(self.grade4.id, {}) if self.grade4 else {}
        self._min_group_size = self.survey.min_group_size

    def headline_counts(self, organization_id: int) -> dict[str, int]:
        return self._headline_counts.get(organization_id, {})

    def rating(self, organization_id: int) -> Rating | None:
        if self.headline is None or organization_id in self.hidden:
            return None
        return _rating(self.headline_counts(organization_id), self.settings.theta)

    def grade_counts(self, organization_id: int) -> GradeCounts | None:
        if self.grade4 is None or organization_id in self.hidden:
            return None
        return _grades(self._grade4_counts.get(organization_id, {}), self._min_group_size, self.settings.theta)


class _Target(NamedTuple):
    """A survey target with its organization, the organization's parent and the secretary of the target's term."""

    organization_id: int
    term_id: int | None
    eligible_residents: int
    codes_issued: int
    ballots: int
    name: str
    parent_id: int | None
    path: str
    parent_name: str | None
    parent_level: OrgLevel | None
    parent_path: str | None
    secretary_name: str | None


def _load_targets(survey: Survey) -> list[_Target]:
    """Return the survey's targets with their organization, its parent and the secretary of the target's term."""
    parent = aliased(Organization)
    # Plain tuples rather than ORM objects or result rows: the table reads each target's fields several times,
    # and a tuple's fields are the quickest to read.
    return [_Target._make(row) for row in db.session.execute(
        select(SurveyTarget.organization_id, SurveyTarget.term_id, SurveyTarget.eligible_residents,
               SurveyTarget.codes_issued, SurveyTarget.ballots, Organization.name, Organization.parent_id,
               Organization.path, parent.name.label("parent_name"), parent.level.label("parent_level"),
               parent.path.label("parent_path"), User.name.label("secretary_name"))
        .join(Organization, Organization.id == SurveyTarget.organization_id)
        .outerjoin(parent, parent.id == Organization.parent_id)
        .outerjoin(SecretaryTerm, SecretaryTerm.id == SurveyTarget.term_id)
        .outerjoin(User, User.id == SecretaryTerm.user_id)
        .where(SurveyTarget.survey_id == survey.id)
    )]


def _load_results(survey: Survey, *, with_counts: bool = True, targets: list | None = None) -> _SurveyResults:
    if targets is None:
        targets = _load_targets(survey)
    headline = _first_question(survey, QuestionType.rating3)
    grade4 = _first_question(survey, QuestionType.grade4)
    question_ids = [q.id for q in (headline, grade4) if q is not None]
    counts: dict[int, dict[int, dict[str, int]]] = {question_id: defaultdict(dict) for question_id in question_ids}
    if with_counts and question_ids:
        # The table's columns, not the mapped class's: a row per option of every community, without the ORM's
        # per-row work.
        rollups = Rollup.__table__.c
        for organization_id, question_id, option, count in db.session.execute(
            select(rollups.organization_id, rollups.question_id, rollups.option, rollups.count)
            .where(rollups.survey_id == survey.id, rollups.question_id.in_(question_ids))
        ).all():
            counts[question_id][organization_id][option] = count
    results = _SurveyResults(survey=survey, settings=settings_for(survey), headline=headline, grade4=grade4,
                             targets=targets, counts=counts, hidden={}, shown_totals=set())
    if with_counts and headline is not None:
        results.hidden, results.shown_totals = _suppress(results)
    return results


def _suppress(results: _SurveyResults) -> tuple[dict[int, Hidden], set[int]]:
    """Hide communities under k, and beside each township total shown, enough more that none can be inferred.

    Decided over the whole survey, whoever looks and whatever the filter, so that no view differs from another
    by a hidden community.
    """
    k = results.survey.min_group_size
    counts = {t.organization_id: results.headline_counts(t.organization_id) for t in results.targets}
    valid = {o: _valid_n(given) for o, given in counts.items()}
    # Don't-know answers count here: a total minus the shown communities must not reveal a few people's answers.
    answered = {o: sum(given.values()) for o, given in counts.items()}
    hidden = {o: Hidden.FEW_ANSWERS for o, n in valid.items() if n < k}
    by_township: dict[int, list[int]] = defaultdict(list)
    for target in results.targets:
        if target.parent_id is not None:
            by_township[target.parent_id].append(target.organization_id)
    shown_totals = set()
    for township_id, members in by_township.items():
        if sum(valid[o] for o in members) < k:
            continue
        shown_totals.add(township_id)
        remainder = sum(answered[o] for o in members if o in hidden)
        if 0 < remainder < k:
            visible = sorted((valid[o], o) for o in members if o not in hidden)
            if visible:
                hidden[visible[0][1]] = Hidden.REMAINDER
    return hidden, shown_totals


def _scope_condition(scope: Organization | None):
    """Return the SQL for "the survey has a target in the scope"."""
    if scope is None:
        return True
    return exists(select(SurveyTarget.survey_id).join(Organization, Organization.id == SurveyTarget.organization_id)
                  .where(SurveyTarget.survey_id == Survey.id, Organization.path.startswith(scope.path)))


def _check_survey_in_scope(survey: Survey, scope: Organization | None) -> None:
    if scope is not None and not db.session.scalar(select(_scope_condition(scope)).where(Survey.id == survey.id)):
        raise PermissionDenied(_l("This survey does not cover your area."))


def get_result_survey(actor: User, survey_id: int) -> Survey:
    """Return a survey with a community in the actor's area, or raise NotFound / PermissionDenied."""
    scope = evaluator_scope(actor)
    survey = db.session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(_l("There is no such survey."))
    _check_survey_in_scope(survey, scope)
    return survey


def _has_results(now: datetime):
    return or_(Survey.state.in_([SurveyState.closed, SurveyState.published]),
               and_(Survey.state == SurveyState.open, Survey.closes_at <= now))


def surveys_with_results(actor: User, now: datetime) -> list[Survey]:
    """Return the closed or published evaluations and satisfaction surveys of the actor's area, newest first."""
    scope = evaluator_scope(actor)
    return list(db.session.scalars(
        select(Survey).where(Survey.kind.in_(RESULT_KINDS), _has_results(now), _scope_condition(scope))
        .order_by(Survey.closes_at.desc(), Survey.id.desc())
    ))


def surveys_in_progress(actor: User, now: datetime) -> list[Survey]:
    """Return the evaluations and satisfaction surveys of the actor's area open now (participation only)."""
    scope = evaluator_scope(actor)
    return list(db.session.scalars(
        select(Survey).where(Survey.kind.in_(RESULT_KINDS), Survey.state == SurveyState.open, Survey.closes_at > now,
                             _scope_condition(scope))
        .order_by(Survey.closes_at, Survey.id)
    ))


# --- the evaluation table ----------------------------------------------------------------

class EvaluationRow(NamedTuple):
    """One target community of a survey: its secretary's figures, or why they are withheld."""

    organization: Place
    township: Place | None
    term_id: int | None
    secretary_name: str | None
    ballots: int
    #: Verified residents when the survey opened plus invitation codes issued.
    eligible: int
    turnout: float | None
    #: Why the survey figures are withheld; None when they are shown (participation and cases always are).
    hidden: Hidden | None
    rating: Rating | None
    grade4: GradeCounts | None
    #: (S + B + m·c) / (N + m), what the rank is by.
    shrunk_rate: float | None
    #: 1 is best; equal shrunk rates share a rank. Over the whole survey, not only the rows shown.
    rank: int | None
    cases: CaseRates | None
    composite: stats.CompositeScore | None


class TownshipTotal(NamedTuple):
    """A township's communities added up; the rating is withheld under k valid answers."""

    township: Place
    communities: int
    ballots: int
    eligible: int
    turnout: float | None
    rating: Rating | None


@dataclass(frozen=True)
class EvaluationTable:
    """What the evaluation table shows for one survey, in the order asked for."""

    survey: Survey
    #: Participation only (ballots, eligible, turnout), as while the survey is open.
    live: bool
    settings: SettingsInForce
    #: The months whose case figures are shown.
    period: MonthRange
    min_group_size: int
    #: The 满意/基本满意/不满意 question the rows report (the survey's first); None if it has none.
    headline: Question | None
    #: c: the satisfaction rate over all shown communities of the survey, which the ranking shrinks toward.
    prior_rate: float | None
    #: How many communities of the whole survey have a rank.
    ranked: int
    rows: tuple[EvaluationRow, ...]
    #: The totals of the townships in the actor's area (only the chosen one when filtering).
    totals: tuple[TownshipTotal, ...]
    #: The townships in the actor's area that the survey covers, for the filter.
    townships: tuple[Place, ...]
    township_id: int | None
    sort: str
    descending: bool


def _turnout(ballots: int, eligible: int) -> float | None:
    return ballots / eligible if eligible else None


def _case_rates_for(targets: list, period: MonthRange) -> dict[int, CaseRates]:
    """Return the case rates over the period of each target's term (its organization's, when vacant)."""
    # The table's columns, not the mapped class's: the rows come back without the ORM's per-row work.
    figures = CaseFigure.__table__.c
    in_period = (figures.month >= period.first, figures.month <= period.last)
    term_ids = [t.term_id for t in targets if t.term_id is not None]
    vacant = [t.organization_id for t in targets if t.term_id is None]
    by_term = case_rates((figures.term_id.in_(term_ids), *in_period), figures.term_id) if term_ids else {}
    by_organization = case_rates((figures.organization_id.in_(vacant), *in_period), figures.organization_id) \
        if vacant else {}
    return {
        t.organization_id: (by_term.get((t.term_id,)) if t.term_id is not None
                            else by_organization.get((t.organization_id,))) or CaseRates()
        for t in targets
    }


def _composite(rating: Rating, cases: CaseRates | None, formula: stats.CompositeFormula) -> stats.CompositeScore:
    return formula.score({
        "survey_satisfaction": rating.satisfaction_rate,
        "response_rate": cases.response_rate if cases else None,
        "resolution_rate": cases.resolution_rate if cases else None,
        "case_satisfaction_rate": cases.satisfaction_rate if cases else None,
    })


def _rank(results: _SurveyResults) -> tuple[dict[int, float], dict[int, int], float | None]:
    """Return each shown community's shrunk rate and rank, and the prior rate c."""
    favourable, valid = {}, {}
    for target in results.targets:
        if target.organization_id not in results.hidden:
            counts = results.headline_counts(target.organization_id)
            favourable[target.organization_id] = counts.get(SATISFIED, 0) + counts.get(BASIC, 0)
            valid[target.organization_id] = _valid_n(counts)
    total = sum(valid.values())
    if total == 0:
        return {}, {}, None
    prior = Fraction(sum(favourable.values()), total)
    m = results.settings.shrink_m
    prior_rate = float(prior)
    shrunk = {o: stats.shrunk_rate(favourable[o], valid[o], prior_rate, m) for o in valid}
    # Ties are decided on exact fractions, so equal rates share a rank rather than differ in the last bit. Only
    # rates that (nearly) tie as floats can be equal, so only theirs are worked out exactly.
    by_rate = sorted(valid, key=shrunk.__getitem__)
    close = {o for a, b in zip(by_rate, by_rate[1:]) if math.isclose(shrunk[a], shrunk[b], rel_tol=1e-9)
             for o in (a, b)}
    exact = {o: (favourable[o] + m * prior) / (valid[o] + m) for o in close}
    ordered = sorted(valid, key=lambda o: (shrunk[o], exact.get(o, 0)), reverse=True)
    ranks: dict[int, int] = {}
    for place, organization_id in enumerate(ordered, start=1):
        before = ordered[place - 2] if place > 1 else None
        tied = before in exact and organization_id in exact and exact[before] == exact[organization_id]
        ranks[organization_id] = ranks[before] if tied else place
    return shrunk, ranks, prior_rate


def _sort_rows(rows: list[EvaluationRow], sort: str, descending: bool) -> list[EvaluationRow]:
    keys = {
        "rank": lambda r: r.rank,
        "name": lambda r: r.organization.name.casefold(),
        "satisfaction": lambda r: r.rating.satisfaction_rate if r.rating else None,
        "dissatisfied": lambda r: r.rating.dissatisfied_share if r.rating else None,
        "turnout": lambda r: r.turnout,
        "composite": lambda r: r.composite.score if r.composite else None,
    }
    key = keys[sort]
    by_name = sorted(rows, key=lambda r: (r.organization.name.casefold(), r.organization.id))
    # Rows without the figure (hidden, no data) go last whichever the direction; ties keep name order.
    with_value = sorted((r for r in by_name if key(r) is not None), key=key, reverse=descending)
    return with_value + [r for r in by_name if key(r) is None]


def evaluation_table(actor: User, survey: Survey, *, township_id: int | None = None, sort: str = "rank",
                     descending: bool | None = None, period: MonthRange | None = None,
                     live_participation: bool = False, now: datetime) -> EvaluationTable:
    """Return the table of secretaries in the actor's area for a closed survey, or its participation while open."""
    scope = evaluator_scope(actor)
    targets = _load_targets(survey)
    in_scope = [t for t in targets if scope is None or t.path.startswith(scope.path)]
    # What _check_survey_in_scope asks the database, answered from the targets read anyway.
    if not in_scope and scope is not None:
        raise PermissionDenied(_l("This survey does not cover your area."))
    if sort not in SORTS:
        raise ValidationFailed({"sort": [_l("The table cannot be sorted that way.")]})
    state = survey_services.effective_state(survey, now)
    if state == SurveyState.draft:
        raise Conflict(_l("This survey has not opened yet."))
    if state == SurveyState.open and not live_participation:
        raise Conflict(_l("Results are shown only once the survey has closed; participation can be followed meanwhile."))
    live = live_participation
    results = _load_results(survey, with_counts=not live, targets=targets)
    parents: dict[int, Place] = {}
    scoped_townships = []
    for target in in_scope:
        if target.parent_id is not None and target.parent_id not in parents:
            parents[target.parent_id] = place = Place(target.parent_id, target.parent_name)
            in_area = scope is None or target.parent_path.startswith(scope.path)
            if target.parent_level == OrgLevel.township and in_area:
                scoped_townships.append(place)
    scoped_townships.sort(key=lambda place: (place.name.casefold(), place.id))
    if township_id is not None and township_id not in {place.id for place in scoped_townships}:
        raise ValidationFailed({"township": [_l("Choose one of the townships in this table.")]})
    shown = [t for t in in_scope if township_id is None or t.parent_id == township_id]
    shrunk, ranks, prior = ({}, {}, None) if live else _rank(results)
    period = period or survey_period(survey)
    rates = {} if live else _case_rates_for(shown, period)
    formula = stats.CompositeFormula(results.settings.weights)
    rows = []
    for target in shown:
        organization_id = target.organization_id
        rating = None if live else results.rating(organization_id)
        cases = rates.get(organization_id)
        eligible = target.eligible_residents + target.codes_issued
        rows.append(EvaluationRow(
            organization=Place(organization_id, target.name), township=parents.get(target.parent_id),
            term_id=target.term_id, secretary_name=target.secretary_name, ballots=target.ballots,
            eligible=eligible, turnout=_turnout(target.ballots, eligible),
            hidden=None if live else results.hidden.get(organization_id),
            rating=rating, grade4=None if live else results.grade_counts(organization_id),
            shrunk_rate=shrunk.get(organization_id), rank=ranks.get(organization_id), cases=cases,
            composite=_composite(rating, cases, formula) if rating is not None else None,
        ))
    by_township: dict[int, list] = defaultdict(list)
    for target in results.targets:
        by_township[target.parent_id].append(target)
    totals = []
    for township in scoped_townships:
        if township_id is not None and township.id != township_id:
            continue
        # From every community of the township, whether in the actor's area or the filter: one total for everyone.
        members = by_township[township.id]
        ballots = sum(t.ballots for t in members)
        eligible = sum(t.eligible_residents + t.codes_issued for t in members)
        rating = None
        if not live and township.id in results.shown_totals:
            added: dict[str, int] = defaultdict(int)
            for member in members:
                for option, count in results.headline_counts(member.organization_id).items():
                    added[option] += count
            rating = _rating(added, results.settings.theta)
        totals.append(TownshipTotal(township=township, communities=len(members), ballots=ballots, eligible=eligible,
                                    turnout=_turnout(ballots, eligible), rating=rating))
    if descending is None:
        descending = DEFAULT_DESCENDING[sort]
    return EvaluationTable(
        survey=survey, live=live, settings=results.settings, period=period, min_group_size=survey.min_group_size,
        headline=results.headline, prior_rate=prior, ranked=len(ranks), rows=tuple(_sort_rows(rows, sort, descending)),
        totals=tuple(totals), townships=tuple(scoped_townships), township_id=township_id, sort=sort,
        descending=descending,
    )


# --- the secretary page ------------------------------------------------------------------

@dataclass(frozen=True)
class Trend:
    """The change in satisfaction rate since the previous shown result of the same term."""

    previous_survey: Survey
    #: This satisfaction rate minus the previous one.
    difference: float
    #: Newcombe's 95% interval for the difference.
    interval: stats.Interval
    #: Whether the interval excludes 0: only then is it called a change.
    is_real_change: bool


@dataclass(frozen=True)
class SurveyResult:
    """One survey's result for one secretary term."""

    survey: Survey
    settings: SettingsInForce
    ballots: int
    eligible: int
    turnout: float | None
    hidden: Hidden | None
    rating: Rating | None
    grade4: GradeCounts | None
    trend: Trend | None


@dataclass(frozen=True)
class OptionCount:
    value: str
    #: The choice's text for single-choice questions; None where the page names the option itself.
    label: str | None
    count: int
    share: float


@dataclass(frozen=True)
class QuestionBreakdown:
    """The answers to one question of the latest survey; counts are withheld under k answers."""

    question: Question
    hidden: bool
    #: Valid answers (don't-know excluded); None when hidden.
    answered: int | None
    options: tuple[OptionCount, ...]
    #: Rating questions offering 不了解 only.
    dont_know: int | None
    #: Free text only, from COMMENT_MINIMUM answers, in random order, without dates.
    comments: tuple[str, ...]


@dataclass(frozen=True)
class MonthCases:
    month: date
    cases: CaseRates


@dataclass(frozen=True)
class SecretaryReport:
    """Everything the secretary page shows for one term."""

    term: SecretaryTerm
    organization: Place
    township: Place | None
    secretary_name: str
    #: Oldest first: every closed or published evaluation of this term.
    history: tuple[SurveyResult, ...]
    latest: SurveyResult | None
    #: The latest survey's questions, in order; empty when its result is withheld.
    questions: tuple[QuestionBreakdown, ...]
    case_months: tuple[MonthCases, ...]
    case_total: CaseRates


def _breakdown(survey: Survey, organization_id: int) -> tuple[QuestionBreakdown, ...]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for question_id, option, count in db.session.execute(
        select(Rollup.question_id, Rollup.option, Rollup.count)
        .where(Rollup.survey_id == survey.id, Rollup.organization_id == organization_id)
    ):
        counts[question_id][option] = count
    k = survey.min_group_size
    breakdowns = []
    for question in sorted(survey.questions, key=lambda q: q.position):
        given = counts.get(question.id, {})
        if question.type == QuestionType.free_text:
            answered = given.get(survey_services.ANSWERED, 0)
            comments = _comments(survey, organization_id, question) if answered >= max(COMMENT_MINIMUM, k) else ()
            breakdowns.append(QuestionBreakdown(question=question, hidden=answered < k,
                                                answered=answered if answered >= k else None, options=(),
                                                dont_know=None, comments=comments))
            continue
        values = [v for v in question.option_values() if v != DONT_KNOW]
        answered = sum(given.get(v, 0) for v in values)
        if answered < k:
            breakdowns.append(QuestionBreakdown(question=question, hidden=True, answered=None, options=(),
                                                dont_know=None, comments=()))
            continue
        labels = question.choices if question.type == QuestionType.single_choice else None
        options = tuple(OptionCount(value=v, label=labels[int(v)] if labels else None, count=given.get(v, 0),
                                    share=given.get(v, 0) / answered) for v in values)
        dont_know = given.get(DONT_KNOW, 0) if question.allow_dont_know else None
        breakdowns.append(QuestionBreakdown(question=question, hidden=False, answered=answered, options=options,
                                            dont_know=dont_know, comments=()))
    return tuple(breakdowns)


def _comments(survey: Survey, organization_id: int, question: Question) -> tuple[str, ...]:
    # The one read of ballot answers: the texts only, never their ballot or day.
    texts = list(db.session.scalars(
        select(BallotAnswer.text).join(Ballot, Ballot.id == BallotAnswer.ballot_id).where(
            Ballot.survey_id == survey.id, Ballot.organization_id == organization_id,
            BallotAnswer.question_id == question.id, BallotAnswer.text.is_not(None),
        )
    ))
    # Shuffled so that the order says nothing about who wrote when.
    secrets.SystemRandom().shuffle(texts)
    return tuple(texts)


def _trend(previous: SurveyResult | None, rating: Rating) -> Trend | None:
    if previous is None:
        return None
    before = previous.rating
    interval = stats.newcombe_difference_interval(before.satisfied + before.basically_satisfied, before.n,
                                                  rating.satisfied + rating.basically_satisfied, rating.n)
    return Trend(previous_survey=previous.survey, difference=rating.satisfaction_rate - before.satisfaction_rate,
                 interval=interval, is_real_change=stats.is_real_change(interval))


def secretary_report(actor: User, term_id: int, now: datetime) -> SecretaryReport:
    """Return a secretary term's results across surveys, the latest breakdown and its case figures."""
    scope = evaluator_scope(actor)
    term = get_term(term_id)
    if scope is not None and not scope.contains(term.organization):
        raise PermissionDenied(_l("This secretary is outside your area."))
    pairs = db.session.execute(
        select(SurveyTarget, Survey).join(Survey, Survey.id == SurveyTarget.survey_id)
        .where(SurveyTarget.term_id == term.id, Survey.kind.in_(RESULT_KINDS), _has_results(now))
        .order_by(Survey.opens_at, Survey.id)
    ).all()
    history: list[SurveyResult] = []
    previous: SurveyResult | None = None
    for target, survey in pairs:
        # The whole survey's results, so that what is hidden here is what the table hides.
        results = _load_results(survey)
        rating = results.rating(target.organization_id)
        eligible = target.eligible_residents + target.codes_issued
        result = SurveyResult(
            survey=survey, settings=results.settings, ballots=target.ballots, eligible=eligible,
            turnout=_turnout(target.ballots, eligible), hidden=results.hidden.get(target.organization_id),
            rating=rating, grade4=results.grade_counts(target.organization_id),
            trend=_trend(previous, rating) if rating is not None else None,
        )
        history.append(result)
        if rating is not None:
            previous = result
    latest = history[-1] if history else None
    questions = _breakdown(latest.survey, term.organization_id) if latest and latest.hidden is None else ()
    by_month = case_rates((CaseFigure.term_id == term.id,), CaseFigure.month)
    township = term.organization.parent
    return SecretaryReport(
        term=term, organization=Place(term.organization.id, term.organization.name),
        township=Place(township.id, township.name) if township is not None else None,
        secretary_name=term.user.name, history=tuple(history), latest=latest, questions=questions,
        case_months=tuple(MonthCases(month, rates) for (month,), rates in sorted(by_month.items())),
        case_total=case_rates((CaseFigure.term_id == term.id,)).get((), CaseRates()),
    )
