"""The evaluation table: a survey's secretaries with their figures, rank, case rates and composite score.

Read from survey targets, rollups and precomputed case figures only: O(secretaries) rows, never ballots or cases.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import NamedTuple

from flask_babel import lazy_gettext as _l

from accounts.models import Organization, OrgLevel, User
from accounts.users import evaluator_scope
from errors import Conflict, PermissionDenied, ValidationFailed
from evaluation import scoring
from evaluation.case_figures import CaseRates, MonthRange, add_months, case_rates, month_start
from evaluation.models import CaseFigure
from evaluation.results import (
    BASIC, SATISFIED, GradeCounts, Hidden, Place, Rating, SurveyResults, Target, load_results, load_targets,
    rating_of, turnout, valid_answers,
)
from evaluation.settings import SettingsInForce
from surveys.lifecycle import effective_state
from surveys.models import Question, Survey, SurveyState

#: Case figures default to this many calendar months, ending with the month the survey opened.
PERIOD_MONTHS = 3
SORTS = ("rank", "name", "satisfaction", "dissatisfied", "turnout", "composite")
#: The natural direction of each sort: best rank, A–Z, and the largest figures first.
DEFAULT_DESCENDING = {"rank": False, "name": False, "satisfaction": True, "dissatisfied": True, "turnout": True,
                      "composite": True}


def survey_period(survey: Survey) -> MonthRange:
    """Return the case period that goes with a survey: the three months ending with the month it opened."""
    last = month_start(survey.opens_at)
    return MonthRange(add_months(last, 1 - PERIOD_MONTHS), last)


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
    composite: scoring.CompositeScore | None


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


def _case_rates_for(targets: list[Target], period: MonthRange) -> dict[int, CaseRates]:
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


def _composite(rating: Rating, cases: CaseRates | None, formula: scoring.CompositeFormula) -> scoring.CompositeScore:
    return formula.score({
        "survey_satisfaction": rating.satisfaction_rate,
        "response_rate": cases.response_rate if cases else None,
        "resolution_rate": cases.resolution_rate if cases else None,
        "case_satisfaction_rate": cases.satisfaction_rate if cases else None,
    })


def _rank(results: SurveyResults) -> tuple[dict[int, float], dict[int, int], float | None]:
    """Return each shown community's shrunk rate and rank, and the prior rate c."""
    favourable, valid = {}, {}
    for target in results.targets:
        if target.organization_id not in results.hidden:
            counts = results.headline_counts(target.organization_id)
            favourable[target.organization_id] = counts.get(SATISFIED, 0) + counts.get(BASIC, 0)
            valid[target.organization_id] = valid_answers(counts)
    total = sum(valid.values())
    if total == 0:
        return {}, {}, None
    prior = Fraction(sum(favourable.values()), total)
    m = results.settings.shrink_m
    prior_rate = float(prior)
    shrunk = {o: scoring.shrunk_rate(favourable[o], valid[o], prior_rate, m) for o in valid}
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


def _townships(in_scope: list[Target], scope: Organization | None) -> tuple[dict[int, Place], list[Place]]:
    """Return the parents of the targets by id, and the townships among them in the actor's area, by name."""
    parents: dict[int, Place] = {}
    townships = []
    for target in in_scope:
        if target.parent_id is not None and target.parent_id not in parents:
            parents[target.parent_id] = place = Place(target.parent_id, target.parent_name)
            in_area = scope is None or target.parent_path.startswith(scope.path)
            if target.parent_level == OrgLevel.township and in_area:
                townships.append(place)
    townships.sort(key=lambda place: (place.name.casefold(), place.id))
    return parents, townships


def _township_totals(results: SurveyResults, townships: list[Place], live: bool) -> list[TownshipTotal]:
    """Return the townships' totals; a rating only where the whole township has k valid answers."""
    by_township: dict[int, list[Target]] = defaultdict(list)
    for target in results.targets:
        by_township[target.parent_id].append(target)
    totals = []
    for township in townships:
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
            rating = rating_of(added, results.settings.theta)
        totals.append(TownshipTotal(township=township, communities=len(members), ballots=ballots, eligible=eligible,
                                    turnout=turnout(ballots, eligible), rating=rating))
    return totals


def evaluation_table(actor: User, survey: Survey, *, township_id: int | None = None, sort: str = "rank",
                     descending: bool | None = None, period: MonthRange | None = None,
                     live_participation: bool = False, now: datetime) -> EvaluationTable:
    """Return the table of secretaries in the actor's area for a closed survey, or its participation while open."""
    scope = evaluator_scope(actor)
    targets = load_targets(survey)
    in_scope = [t for t in targets if scope is None or t.path.startswith(scope.path)]
    # What results.get_result_survey asks the database, answered from the targets read anyway.
    if not in_scope and scope is not None:
        raise PermissionDenied(_l("This survey does not cover your area."))
    if sort not in SORTS:
        raise ValidationFailed({"sort": [_l("The table cannot be sorted that way.")]})
    state = effective_state(survey, now)
    if state == SurveyState.draft:
        raise Conflict(_l("This survey has not opened yet."))
    if state == SurveyState.open and not live_participation:
        raise Conflict(
            _l("Results are shown only once the survey has closed; participation can be followed meanwhile."))
    if state != SurveyState.open and survey.counted_at is None:
        raise Conflict(_l("The ballots are being counted; the results appear as soon as the count is done."))
    live = live_participation
    results = load_results(survey, with_counts=not live, targets=targets)
    parents, townships = _townships(in_scope, scope)
    if township_id is not None and township_id not in {place.id for place in townships}:
        raise ValidationFailed({"township": [_l("Choose one of the townships in this table.")]})
    shown = [t for t in in_scope if township_id is None or t.parent_id == township_id]
    shrunk, ranks, prior = ({}, {}, None) if live else _rank(results)
    period = period or survey_period(survey)
    rates = {} if live else _case_rates_for(shown, period)
    formula = scoring.CompositeFormula(results.settings.weights)
    rows = []
    for target in shown:
        organization_id = target.organization_id
        rating = None if live else results.rating(organization_id)
        cases = rates.get(organization_id)
        eligible = target.eligible_residents + target.codes_issued
        rows.append(EvaluationRow(
            organization=Place(organization_id, target.name), township=parents.get(target.parent_id),
            term_id=target.term_id, secretary_name=target.secretary_name, ballots=target.ballots,
            eligible=eligible, turnout=turnout(target.ballots, eligible),
            hidden=None if live else results.hidden.get(organization_id),
            rating=rating, grade4=None if live else results.grade_counts(organization_id),
            shrunk_rate=shrunk.get(organization_id), rank=ranks.get(organization_id), cases=cases,
            composite=_composite(rating, cases, formula) if rating is not None else None,
        ))
    totalled = [place for place in townships if township_id is None or place.id == township_id]
    if descending is None:
        descending = DEFAULT_DESCENDING[sort]
    return EvaluationTable(
        survey=survey, live=live, settings=results.settings, period=period, min_group_size=survey.min_group_size,
        headline=results.headline, prior_rate=prior, ranked=len(ranks), rows=tuple(_sort_rows(rows, sort, descending)),
        totals=tuple(_township_totals(results, totalled, live)), townships=tuple(townships), township_id=township_id,
        sort=sort, descending=descending,
    )
