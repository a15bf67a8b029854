"""Survey results per target community: rollup counts, ratings, and what is withheld under k.

Pages read survey targets and rollups only: O(communities) rows, never ballots. θ comes from evaluation.settings.
"""
from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from accounts.models import Organization, OrgLevel, SecretaryTerm, User
from accounts.users import evaluator_scope
from errors import NotFound, PermissionDenied
from evaluation import scoring
from evaluation.settings import SettingsInForce, settings_for
from extensions import db
from surveys.models import (
    DONT_KNOW, OPTIONS, Question, QuestionType, Rollup, Survey, SurveyKind, SurveyState, SurveyTarget,
)

#: Survey kinds whose results appear in the evaluation.
RESULT_KINDS = (SurveyKind.democratic_evaluation, SurveyKind.service_satisfaction)
SATISFIED, BASIC, DISSATISFIED = OPTIONS[QuestionType.rating3]
EXCELLENT, COMPETENT, BASICALLY_COMPETENT, INCOMPETENT = OPTIONS[QuestionType.grade4]


class Hidden(enum.Enum):
    """Why a community's figures are withheld."""

    #: Fewer valid answers than the survey's minimum group size k.
    FEW_ANSWERS = "few_answers"
    #: Enough answers, but hidden too so that a smaller hidden group cannot be worked out from the township total.
    REMAINDER = "remainder"


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
    dissatisfied_interval: scoring.Interval
    flag: scoring.ReviewFlag

    @property
    def flagged(self) -> bool:
        """Tell whether more than θ are dissatisfied (the rule as practised)."""
        return self.flag != scoring.ReviewFlag.NONE


class GradeCounts(NamedTuple):
    """The answers of k or more people to a 优秀/称职/基本称职/不称职 question, with its flags."""

    n: int
    excellent: int
    competent: int
    basically_competent: int
    incompetent: int
    flags: frozenset[scoring.Grade4Flag]


def rating_of(counts: Mapping[str, int], theta: Fraction) -> Rating:
    """Return the rating of the 满意/基本满意/不满意 counts by option."""
    s, b, d = counts.get(SATISFIED, 0), counts.get(BASIC, 0), counts.get(DISSATISFIED, 0)
    n = s + b + d
    return Rating(
        n=n, satisfied=s, basically_satisfied=b, dissatisfied=d, dont_know=counts.get(DONT_KNOW, 0),
        satisfaction_rate=scoring.satisfaction_rate(s, b, n), dissatisfied_share=d / n,
        dissatisfied_interval=scoring.wilson_interval(d, n), flag=scoring.review_flag(d, n, theta),
    )


def valid_answers(counts: Mapping[str, int]) -> int:
    """Return how many of the counts are valid answers (don't-know excluded)."""
    return counts.get(SATISFIED, 0) + counts.get(BASIC, 0) + counts.get(DISSATISFIED, 0)


def _grades(counts: Mapping[str, int], k: int, theta: Fraction) -> GradeCounts | None:
    e, c, b, i = (counts.get(EXCELLENT, 0), counts.get(COMPETENT, 0), counts.get(BASICALLY_COMPETENT, 0),
                  counts.get(INCOMPETENT, 0))
    n = e + c + b + i
    if n < k:
        return None
    return GradeCounts(n=n, excellent=e, competent=c, basically_competent=b, incompetent=i,
                       flags=scoring.grade4_flags(e, c, b, i, theta))


def _first_question(survey: Survey, qtype: QuestionType) -> Question | None:
    return next((q for q in sorted(survey.questions, key=lambda q: q.position) if q.type == qtype), None)


@dataclass
class SurveyResults:
    """A survey's headline counts for every target, and which targets and township totals may be shown."""

    survey: Survey
    settings: SettingsInForce
    headline: Question | None
    grade4: Question | None
    targets: list[Target]
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
        """Return a community's counts by option of the headline question, whether shown or not."""
        return self._headline_counts.get(organization_id, {})

    def rating(self, organization_id: int) -> Rating | None:
        """Return a community's rating, or None when withheld or the survey has no headline question."""
        if self.headline is None or organization_id in self.hidden:
            return None
        return rating_of(self.headline_counts(organization_id), self.settings.theta)

    def grade_counts(self, organization_id: int) -> GradeCounts | None:
        """Return a community's grade answers, or None when withheld, under k or not asked."""
        if self.grade4 is None or organization_id in self.hidden:
            return None
        return _grades(self._grade4_counts.get(organization_id, {}), self._min_group_size, self.settings.theta)


class Target(NamedTuple):
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


def load_targets(survey: Survey) -> list[Target]:
    """Return the survey's targets with their organization, its parent and the secretary of the target's term."""
    parent = aliased(Organization)
    # Plain tuples rather than ORM objects or result rows: the table reads each target's fields several times,
    # and a tuple's fields are the quickest to read.
    return [Target._make(row) for row in db.session.execute(
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


def load_results(survey: Survey, *, with_counts: bool = True, targets: list[Target] | None = None) -> SurveyResults:
    """Return the survey's headline and grade counts per target, with what is withheld (counts only if asked)."""
    if targets is None:
        targets = load_targets(survey)
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
    results = SurveyResults(survey=survey, settings=settings_for(survey), headline=headline, grade4=grade4,
                            targets=targets, counts=counts, hidden={}, shown_totals=set())
    if with_counts and headline is not None:
        results.hidden, results.shown_totals = _suppress(results)
    return results


def _suppress(results: SurveyResults) -> tuple[dict[int, Hidden], set[int]]:
    """Hide communities under k, and beside each township total shown, enough more that none can be inferred.

    Decided over the whole survey, whoever looks and whatever the filter, so that no view differs from another
    by a hidden community.
    """
    k = results.survey.min_group_size
    counts = {t.organization_id: results.headline_counts(t.organization_id) for t in results.targets}
    valid = {o: valid_answers(given) for o, given in counts.items()}
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


def has_results(now: datetime):
    """Return the SQL for "the survey has closed and its ballots are counted" (the tally writes them at close)."""
    return and_(Survey.counted_at.is_not(None), Survey.counted_at <= now)


def surveys_with_results(actor: User, now: datetime) -> list[Survey]:
    """Return the closed or published evaluations and satisfaction surveys of the actor's area, newest first."""
    scope = evaluator_scope(actor)
    return list(db.session.scalars(
        select(Survey).where(Survey.kind.in_(RESULT_KINDS), has_results(now), _scope_condition(scope))
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


def turnout(ballots: int, eligible: int) -> float | None:
    """Return the share of the eligible who cast a ballot, or None when nobody was eligible."""
    return ballots / eligible if eligible else None
