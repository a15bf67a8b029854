"""The secretary report: one term's results across surveys, the latest answers and comments, and its case figures.

The free-text comments are the one read of ballot answers: their texts only, never their ballot or day.
"""
from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import SecretaryTerm, User
from accounts.terms import get_term
from accounts.users import evaluator_scope
from errors import PermissionDenied
from evaluation import scoring
from evaluation.case_figures import CaseRates, case_rates
from evaluation.models import CaseFigure
from evaluation.results import (
    RESULT_KINDS, GradeCounts, Hidden, Place, Rating, has_results, load_results, turnout,
)
from evaluation.settings import SettingsInForce
from extensions import db
from surveys.ballots import ANSWERED
from surveys.models import DONT_KNOW, Ballot, BallotAnswer, Question, QuestionType, Rollup, Survey, SurveyTarget

#: Free-text answers are shown only from this many answers (and never below the survey's k).
COMMENT_MINIMUM = 10

@dataclass(frozen=True)
class Trend:
    """The change in satisfaction rate since the previous shown result of the same term."""

    previous_survey: Survey
    #: This satisfaction rate minus the previous one.
    difference: float
    #: Newcombe's 95% interval for the difference.
    interval: scoring.Interval
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
            answered = given.get(ANSWERED, 0)
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
    interval = scoring.newcombe_difference_interval(before.satisfied + before.basically_satisfied, before.n,
                                                  rating.satisfied + rating.basically_satisfied, rating.n)
    return Trend(previous_survey=previous.survey, difference=rating.satisfaction_rate - before.satisfaction_rate,
                 interval=interval, is_real_change=scoring.is_real_change(interval))


def secretary_report(actor: User, term_id: int, now: datetime) -> SecretaryReport:
    """Return a secretary term's results across surveys, the latest breakdown and its case figures."""
    scope = evaluator_scope(actor)
    term = get_term(term_id)
    if scope is not None and not scope.contains(term.organization):
        raise PermissionDenied(_l("This secretary is outside your area."))
    pairs = db.session.execute(
        select(SurveyTarget, Survey).join(Survey, Survey.id == SurveyTarget.survey_id)
        .where(SurveyTarget.term_id == term.id, Survey.kind.in_(RESULT_KINDS), has_results(now))
        .order_by(Survey.opens_at, Survey.id)
    ).all()
    history: list[SurveyResult] = []
    previous: SurveyResult | None = None
    for target, survey in pairs:
        # The whole survey's results, so that what is hidden here is what the table hides.
        results = load_results(survey)
        rating = results.rating(target.organization_id)
        eligible = target.eligible_residents + target.codes_issued
        result = SurveyResult(
            survey=survey, settings=results.settings, ballots=target.ballots, eligible=eligible,
            turnout=turnout(target.ballots, eligible), hidden=results.hidden.get(target.organization_id),
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
