"""Democratic evaluations with results, built through the survey services, and how the evaluation's tests read them."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from accounts.models import Role
from evaluation.models import COMPONENTS
from evaluation.table import evaluation_table
from extensions import db
from surveys.ballots import Voter, submit_ballot
from surveys.builder import create_survey, set_targets
from surveys.codes import find_invitation, generate_codes
from surveys.models import Anonymity, QuestionType, Rollup, Survey, SurveyKind, SurveyTarget
from surveys.tally import needs_counting
from surveys.tasks import run_tally
from surveys.transitions import close_survey, open_survey, publish_survey
from tests.conftest import BOX_KEY

T0 = datetime(2025, 6, 2, 9, 0)
DAY = timedelta(days=1)
#: A time well after every test survey has closed.
LATER = T0 + 60 * DAY
EQUAL = dict.fromkeys(COMPONENTS, 0.25)


def table(actor, survey, **kwargs):
    return evaluation_table(actor, survey, now=LATER, **kwargs)


def row_of(result, community):
    return next(r for r in result.rows if r.organization.id == community.id)


def count(survey_id: int, now: datetime) -> None:
    """Run the tally of a survey that has stopped taking answers, shuffling reproducibly."""
    run_tally(survey_id, now, random.Random(survey_id))


def count_due(now: datetime) -> None:
    """Count every survey past its closing time, as the periodic task does, on a fixed clock."""
    for survey_id in needs_counting(now):
        count(survey_id, now)


class Evaluations:
    """Build democratic evaluations through the survey services; fill their rollups directly for large N."""

    def __init__(self, world, make, app) -> None:
        self.world = world
        self.make = make
        self.key = app.config["CODE_HASH_KEY"]

    def community(self, name: str, township=None):
        """Create a community of the township (the world's by default) with a secretary; return it and its term."""
        organization = self.make.organization(parent=township or self.world["township"], name=name)
        secretary = self.make.user((Role.member, organization), name=f"Secretary of {name}")
        return organization, self.make.term(organization, secretary)

    def survey(self, communities, *, k: int = 5, opens_at: datetime = T0, title: str = "Evaluation",
               actor=None) -> Survey:
        """Open a democratic evaluation of the communities' secretaries at opens_at, for a week."""
        actor = actor or self.world["evaluator"]
        survey = create_survey(
            actor, title=title, description="", kind=SurveyKind.democratic_evaluation,
            anonymity=Anonymity.anonymous, opens_at=opens_at, closes_at=opens_at + 7 * DAY, min_group_size=k,
            owner_organization_id=self.world["district"].id,
        )
        set_targets(actor, survey, [c.id for c in communities])
        open_survey(actor, survey, opens_at, box_key=BOX_KEY)
        db.session.commit()
        return survey

    def answers(self, survey: Survey, community, s: int, b: int, d: int, dont_know: int = 0,
                grades: tuple[int, int, int, int] | None = None, eligible: int = 0) -> None:
        """Record rollup counts as if that many ballots had answered the headline (and grade4) question."""
        headline = next(q for q in survey.questions if q.type == QuestionType.rating3)
        counts = {(headline.id, "satisfied"): s, (headline.id, "basically_satisfied"): b,
                  (headline.id, "dissatisfied"): d, (headline.id, "dont_know"): dont_know}
        if grades is not None:
            grade4 = next(q for q in survey.questions if q.type == QuestionType.grade4)
            for option, count in zip(("excellent", "competent", "basically_competent", "incompetent"), grades):
                counts[grade4.id, option] = count
        db.session.add_all(Rollup(survey_id=survey.id, organization_id=community.id, question_id=qid, option=option,
                                  count=count) for (qid, option), count in counts.items() if count)
        target = db.session.get(SurveyTarget, (survey.id, community.id))
        target.ballots = s + b + d + dont_know
        target.eligible_residents = eligible
        db.session.commit()

    def close(self, survey: Survey, publish: bool = False) -> Survey:
        """Close the survey at its closing time and count it, as the queue does; publish it if asked."""
        close_survey(self.world["admin"], survey, survey.closes_at)
        db.session.commit()
        count(survey.id, survey.closes_at)
        if publish:
            publish_survey(self.world["admin"], survey, survey.closes_at + DAY)
        db.session.commit()
        return survey

    def three_results(self, community) -> tuple[Survey, Survey, Survey]:
        """Close three evaluations of one term: 80% published, then 3 answers (under k), then 65% with grades."""
        first = self.survey([community], title="2024", opens_at=T0 - 365 * DAY)
        self.answers(first, community, 60, 20, 20)
        self.close(first, publish=True)
        tiny = self.survey([community], title="Tiny", opens_at=T0 - 180 * DAY)
        self.answers(tiny, community, 2, 0, 1)
        self.close(tiny)
        second = self.survey([community], title="2025", opens_at=T0)
        self.answers(second, community, 45, 20, 35, grades=(40, 30, 20, 10))
        self.close(second)
        return first, tiny, second

    def three_communities(self, sizes=(12, 3, 20)):
        """Spring, Summer and Winter of the township with the given numbers of valid answers; k = 5."""
        spring = self.world["community"]
        summer, _ = self.community("Summer")
        winter, _ = self.community("Winter")
        survey = self.survey([spring, summer, winter])
        for community, n in zip((spring, summer, winter), sizes):
            self.answers(survey, community, n - n // 3, 0, n // 3)
        self.close(survey)
        return survey, spring, summer, winter

    def ballot(self, survey: Survey, community, rating: str = "satisfied", comment: str = "",
               now: datetime = T0 + DAY) -> None:
        """Cast one real ballot with an invitation code."""
        code, = generate_codes(self.world["evaluator"], survey, community.id, 1, self.key, now)
        voter = Voter(invitation=find_invitation(survey, code, self.key))
        answers = {}
        for question in survey.questions:
            if question.type == QuestionType.free_text:
                answers[f"q{question.id}"] = comment
            elif question.type == QuestionType.rating3:
                answers[f"q{question.id}"] = rating
            else:
                answers[f"q{question.id}"] = question.option_values()[0]
        submit_ballot(survey, voter, answers, now)
        db.session.commit()
