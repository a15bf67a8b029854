"""Survey fixtures: a fixed clock, a second community in the evaluator's township, verified residents."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from accounts.models import RegisterEntry, Role
from errors import ValidationFailed
from extensions import db
from surveys import builder, lifecycle, transitions
from surveys.ballots import Voter, submit_ballot
from surveys.codes import find_invitation, generate_codes
from surveys.models import (
    Anonymity, Ballot, BallotAnswer, Envelope, Invitation, Participation, Question, QuestionType, Rollup, Survey,
    SurveyKind, SurveyTarget,
)
from surveys.tasks import run_tally
from tests.conftest import BOX_KEY

#: A fixed "now"; surveys open at T0 and close a week later unless a test says otherwise.
T0 = datetime(2025, 6, 2, 9, 0)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

#: The questions of a general test survey: (type, required, don't know offered, choices).
GENERAL_QUESTIONS = (
    (QuestionType.rating3, True, True, []),
    (QuestionType.grade4, False, False, []),
    (QuestionType.likert5, True, False, []),
    (QuestionType.single_choice, False, False, ["Bus", "Bike", "Walk"]),
    (QuestionType.free_text, False, False, []),
)


def answer_key(question) -> str:
    return f"q{question.id}"


def reloaded(survey: Survey) -> Survey:
    """Return the survey as the database holds it, after ending the session's transaction."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Survey, survey.id)


def positions(survey: Survey) -> list[tuple[int, int]]:
    """Return (position, question id) as stored, in order."""
    return [tuple(row) for row in db.session.execute(
        sa.select(Question.position, Question.id).where(Question.survey_id == survey.id).order_by(Question.position)
    )]


def target_of(survey: Survey, community) -> SurveyTarget:
    return db.session.get(SurveyTarget, (survey.id, community.id))


def messages(error: ValidationFailed, field: str) -> str:
    return " ".join(str(m) for m in error.errors.get(field, []))


def refusal(survey, now: datetime) -> lifecycle.Refused | None:
    """Return why the survey takes no ballot now, or None when it takes one."""
    try:
        lifecycle.check("answer", survey, now, lifecycle.VOTER)
    except lifecycle.Refused as refused:
        return refused
    return None


def stored_counts() -> dict[str, int]:
    """Return how many envelopes, ballots, answers, participations and rollup votes the database holds, all surveys."""
    count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    return {
        "envelopes": count(Envelope),
        "ballots": count(Ballot),
        "answers": count(BallotAnswer),
        "participations": count(Participation),
        "rollup_rows": count(Rollup),
        "rollup_votes": db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Rollup.count), 0))),
        "target_ballots": db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(SurveyTarget.ballots), 0))),
        "invitations": count(Invitation),
    }


def count(survey: Survey, now: datetime | None = None) -> Survey:
    """Run the tally of a survey that takes no more answers, as the queue would (by default at its closing time).

    The shuffle is seeded, so that a failing test fails the same way again; return the survey reloaded.
    """
    run_tally(survey.id, now or survey.closes_at, random.Random(survey.id))
    return reloaded(survey)


class Surveys:
    """Build surveys and voters through the real services, committing like a view does."""

    def __init__(self, world, make, app) -> None:
        self.world = world
        self.make = make
        self.key = app.config["CODE_HASH_KEY"]
        self._phones = 0

    def resident(self, community, *, verified: bool = True, username: str | None = None, active: bool = True):
        """Create a resident of the community, matched to a register entry when verified."""
        self._phones += 1
        phone, name = f"1390000{self._phones:04d}", f"Resident {self._phones}"
        if verified:
            db.session.add(RegisterEntry(community_id=community.id, name=name, phone=phone, household="1-101"))
            db.session.commit()
        user = self.make.user((Role.resident, community), username=username, name=name, phone=phone)
        assert user.is_verified == verified
        if not active:
            user.active = False
            db.session.commit()
        return user

    def create(self, *, kind: SurveyKind = SurveyKind.general, actor=None, title: str = "Street cleaning",
               anonymity: Anonymity = Anonymity.anonymous, opens_at: datetime = T0,
               closes_at: datetime = T0 + 7 * DAY, k: int = 5) -> Survey:
        survey = builder.create_survey(
            actor or self.world["evaluator"], title=title, description="", kind=kind, anonymity=anonymity,
            opens_at=opens_at, closes_at=closes_at, min_group_size=k, owner_organization_id=None,
        )
        db.session.commit()
        return survey

    def add_questions(self, survey: Survey, questions=GENERAL_QUESTIONS) -> None:
        for qtype, required, dont_know, choices in questions:
            builder.add_question(self.world["evaluator"], survey, qtype=qtype, text=f"A {qtype.value} question",
                                 required=required, allow_dont_know=dont_know, choices=choices)
        db.session.commit()

    def draft(self, *, targets=None, questions=GENERAL_QUESTIONS, **settings) -> Survey:
        """Create a draft with questions and targets (Spring and Summer unless given)."""
        survey = self.create(**settings)
        if settings.get("kind") != SurveyKind.democratic_evaluation:
            self.add_questions(survey, questions)
        targets = targets if targets is not None else [self.world["community"], self.world["summer"]]
        builder.set_targets(self.world["evaluator"], survey, [t.id for t in targets])
        db.session.commit()
        return survey

    def opened(self, *, now: datetime = T0, **settings) -> Survey:
        survey = self.draft(**settings)
        transitions.open_survey(self.world["evaluator"], survey, now, box_key=BOX_KEY)
        db.session.commit()
        return survey

    def codes(self, survey: Survey, community, count: int = 1, now: datetime = T0) -> list[str]:
        codes = generate_codes(self.world["evaluator"], survey, community.id, count, self.key, now)
        db.session.commit()
        return codes

    def by_code(self, survey: Survey, code: str) -> Voter:
        return Voter(invitation=find_invitation(survey, code, self.key))

    def valid_answers(self, survey: Survey) -> dict[str, str]:
        """Return an answer to every question: the first option, or some text."""
        return {answer_key(q): (q.option_values() or ("Fine, thanks.",))[0] for q in survey.questions}

    def vote(self, survey: Survey, voter, answers: dict[str, str] | None = None, now: datetime = T0 + HOUR):
        if not isinstance(voter, Voter):
            voter = Voter(resident=voter)
        ballot = submit_ballot(survey, voter, self.valid_answers(survey) if answers is None else answers, now)
        db.session.commit()
        return ballot


@pytest.fixture
def sv(world, make, app):
    """The world plus Summer, a second community of the township with its secretary, and verified voters."""
    summer = make.organization(parent=world["township"], name="Summer")
    summer_secretary = make.user((Role.member, summer), username="summer.secretary")
    world["summer"] = summer
    world["summer_secretary"] = summer_secretary
    world["summer_term"] = make.term(summer, summer_secretary, start=date(2024, 3, 1))
    surveys = Surveys(world, make, app)
    world["voter"] = surveys.resident(world["community"], username="voter")
    world["summer_voter"] = surveys.resident(summer, username="summer.voter")
    world["autumn_voter"] = surveys.resident(world["other_community"], username="autumn.voter")
    return surveys
