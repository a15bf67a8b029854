"""The evaluation table at scale: 1,000 secretaries rated by 10,000, then 1,000,000 ballots.

The structure (townships, communities, the survey, its targets, opening, closing and the tally's last step)
goes through the real services or, for the secretaries, Core rows like the ones they write. The ballots go in
with bulk Core inserts in one transaction per size, writing what surveys.ballots.submit_ballot and then the
tally leave for each ballot: its invitation (as generate_codes issues it), the participation and the target's
ballot count; the ballot without a date, its answers and the rollup counts, so that the rollups are exactly
what the ballots imply. The table measured reads those, never envelopes, so none are sealed here.
"""
from __future__ import annotations

import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

from flask import Flask
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from accounts.auth import password_hasher
from accounts.models import Organization, OrgLevel, Role, RoleGrant, SecretaryTerm, User
from accounts.organizations import create_organization
from db import utcnow
from demo.people import DEMO_PASSWORD
from evaluation.models import CaseFigure
from evaluation.results import get_result_survey
from evaluation.table import evaluation_table, survey_period
from extensions import db, writing
from surveys.builder import create_survey, delete_question, set_targets
from surveys.models import (
    DONT_KNOW, OPTIONS, Anonymity, Ballot, BallotAnswer, Invitation, Participation, QuestionType, Rollup, Survey,
    SurveyKind, SurveyTarget,
)
from surveys.tally import finish
from surveys.transitions import close_survey, open_survey

TOWNSHIPS = 20
#: The bench townships' names begin with it, and their communities' too.
TOWNSHIP_NAME = "评议街道"
COMMUNITIES = 1_000
#: The ballots cast in total at each measured size.
SIZES = (10_000, 1_000_000)
#: Ballots per executemany; their answers, participations and invitations go in the same batches.
BATCH = 50_000
#: The district's evaluator, whose scope covers every community.
EVALUATOR = "eval.district"
#: Service calls timed in process at each size, after two unrecorded ones.
SERVICE_RUNS = 20
#: A larger page cache for the seeding connection only: random UUID keys touch pages all over the B-trees.
SEED_CACHE_KIB = 256 * 1024
RATING3 = OPTIONS[QuestionType.rating3]
GRADE4 = OPTIONS[QuestionType.grade4]
DONT_KNOW_SHARE = 0.05


class Profile(NamedTuple):
    """How one community's voters answer, and how many of all ballots they cast (a relative weight)."""

    organization_id: int
    weight: float
    #: Weights of satisfied, basically satisfied, dissatisfied, don't know.
    rating: tuple[float, float, float, float]
    #: Weights of excellent, competent, basically competent, incompetent.
    grades: tuple[float, float, float, float]


@dataclass(frozen=True)
class Inserted:
    """What growing the ballots to a size wrote, and how long it took."""

    ballots: int
    answers: int
    #: Every row written: invitations, participations, ballots, answers, rollups (targets are updated).
    rows: int
    #: Time inside the ballots' and answers' executemany calls.
    ballot_answer_s: float
    #: Everything: building the rows, every statement and the commit.
    total_s: float

    @property
    def ballot_answer_rate(self) -> float:
        return (self.ballots + self.answers) / self.ballot_answer_s

    @property
    def overall_rate(self) -> float:
        return self.rows / self.total_s


@dataclass
class ScaleEvaluation:
    """A closed democratic evaluation of COMMUNITIES secretaries whose ballots can be grown to a size."""

    survey_id: int
    #: When the survey opened: the time its codes were issued.
    opened_at: datetime
    headline_id: int
    grade4_id: int
    days: list[date]
    profiles: list[Profile]
    ballots: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(2032))

    @property
    def table_path(self) -> str:
        return f"/evaluation/surveys/{self.survey_id}"

    @classmethod
    def create(cls, app: Flask, now: datetime) -> ScaleEvaluation:
        """Add the townships, communities and secretaries, and an evaluation of them closed a week ago."""
        rng = random.Random(2033)
        with app.app_context(), writing():
            evaluator = db.session.scalar(select(User).where(User.username == EVALUATOR))
            district = evaluator.organization_for(Role.evaluator)
            community_ids = add_communities(district, now)
            opens_at = now - timedelta(days=14)
            survey = _closed_evaluation(evaluator, community_ids, opens_at, app.config["BALLOT_BOX_KEY"])
            _add_case_figures(rng, survey, now)
            db.session.commit()
            by_type = {q.type: q.id for q in survey.questions}
            days = [(opens_at + timedelta(days=n)).date() for n in range(7)]
            profiles = [_profile(rng, organization_id) for organization_id in community_ids]
            evaluation = cls(survey.id, survey.opened_at, by_type[QuestionType.rating3],
                             by_type[QuestionType.grade4], days, profiles)
            db.session.remove()
        return evaluation

    def grow_to(self, app: Flask, total: int) -> Inserted:
        """Cast ballots until the survey has `total`, in one transaction, as submit_ballot and the tally would have."""
        started = time.perf_counter()
        ballot_answer_s = 0.0
        added = total - self.ballots
        per_community = self._spread(added)
        rollups: Counter[tuple[int, int, str]] = Counter()
        rows = answers = 0
        with app.app_context(), writing():
            if db.engine.dialect.name == "sqlite":
                db.session.connection().exec_driver_sql(f"PRAGMA cache_size = -{SEED_CACHE_KIB}")
            next_invitation = (db.session.scalar(select(func.max(Invitation.id))) or 0) + 1
            for batch in self._batches(per_community):
                invitations, participations, ballots, ballot_answers = [], [], [], []
                # In key order, so that each batch fills the randomly keyed B-trees front to back; which
                # ballot gets which id stays random.
                ballot_ids = sorted((uuid.uuid4() for _ in batch), key=attrgetter("int"))
                code_hashes = sorted(f"{self.rng.getrandbits(256):064x}" for _ in batch)
                for (organization_id, rating, grade, day), ballot_id, code_hash in zip(batch, ballot_ids, code_hashes):
                    invitations.append({"id": next_invitation, "survey_id": self.survey_id,
                                        "organization_id": organization_id, "code_hash": code_hash,
                                        "created_at": self.opened_at})
                    participations.append({"survey_id": self.survey_id, "organization_id": organization_id,
                                           "invitation_id": next_invitation, "day": day})
                    ballots.append({"id": ballot_id, "survey_id": self.survey_id, "organization_id": organization_id})
                    ballot_answers.extend(
                        {"ballot_id": ballot_id, "question_id": question_id, "value": value}
                        for question_id, value in sorted(((self.headline_id, rating), (self.grade4_id, grade)))
                    )
                    rollups[organization_id, self.headline_id, rating] += 1
                    rollups[organization_id, self.grade4_id, grade] += 1
                    next_invitation += 1
                db.session.execute(insert(Invitation.__table__), invitations)
                db.session.execute(insert(Participation.__table__), participations)
                ballot_started = time.perf_counter()
                db.session.execute(insert(Ballot.__table__), ballots)
                db.session.execute(insert(BallotAnswer.__table__), ballot_answers)
                ballot_answer_s += time.perf_counter() - ballot_started
                rows += len(invitations) + len(participations) + len(ballots) + len(ballot_answers)
                answers += len(ballot_answers)
            rows += _add_to_rollups(self.survey_id, rollups)
            count_on_targets(self.survey_id, per_community)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()  # the enlarged cache goes with the seeding connection
        self.ballots = total
        return Inserted(added, answers, rows, ballot_answer_s, time.perf_counter() - started)

    def _spread(self, count: int) -> Counter[int]:
        """Return how many of `count` new ballots each community casts, by its weight."""
        ids = [p.organization_id for p in self.profiles]
        return Counter(self.rng.choices(ids, weights=[p.weight for p in self.profiles], k=count))

    def _batches(self, per_community: Counter[int]):
        """Yield lists of (community, rating, grade, day) of at most BATCH ballots, answers drawn per community."""
        batch = []
        for profile in self.profiles:
            count = per_community[profile.organization_id]
            ratings = self.rng.choices(RATING3 + (DONT_KNOW,), weights=profile.rating, k=count)
            grades = self.rng.choices(GRADE4, weights=profile.grades, k=count)
            days = self.rng.choices(self.days, k=count)
            for rating, grade, day in zip(ratings, grades, days):
                batch.append((profile.organization_id, rating, grade, day))
                if len(batch) == BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch


def _profile(rng: random.Random, organization_id: int) -> Profile:
    # Mostly content, a tail of dissatisfied communities (some past θ = 1/3), and uneven turnout.
    dissatisfied = rng.betavariate(2, 10)
    satisfied = (1 - dissatisfied) * rng.uniform(0.4, 0.8)
    basic = 1 - dissatisfied - satisfied
    rating = tuple(share * (1 - DONT_KNOW_SHARE) for share in (satisfied, basic, dissatisfied)) + (DONT_KNOW_SHARE,)
    grades = (satisfied * 0.7, satisfied * 0.3 + basic * 0.8, basic * 0.2 + dissatisfied * 0.5, dissatisfied * 0.5)
    return Profile(organization_id, rng.lognormvariate(0, 0.6), rating, grades)


def add_communities(district: Organization, now: datetime) -> list[int]:
    """Add the townships and communities through the service, and a secretary with an open term for each."""
    communities = []
    for t in range(1, TOWNSHIPS + 1):
        township = create_organization(None, name=f"{TOWNSHIP_NAME}{t:02d}", level=OrgLevel.township,
                                       parent_id=district.id)
        for c in range(1, COMMUNITIES // TOWNSHIPS + 1):
            communities.append(create_organization(
                None, name=f"{TOWNSHIP_NAME}{t:02d}第{c:02d}社区", level=OrgLevel.community, parent_id=township.id,
            ).id)
    # The rows create_user and appoint_secretary write, without an Argon2 hash per secretary.
    password_hash = password_hasher().hash(DEMO_PASSWORD)
    users = User.__table__
    user_ids = db.session.execute(insert(users).returning(users.c.id, sort_by_parameter_order=True), [
        {"username": f"bench.sec{n:04d}", "name": f"书记{n:04d}", "phone": None, "password_hash": password_hash,
         "active": True, "locale": None, "register_entry_id": None, "session_version": 1, "created_at": now,
         "last_login_at": None}
        for n in range(len(communities))
    ]).scalars().all()
    db.session.execute(insert(RoleGrant.__table__), [
        {"user_id": user_id, "role": Role.member, "organization_id": community}
        for user_id, community in zip(user_ids, communities)
    ])
    db.session.execute(insert(SecretaryTerm.__table__), [
        {"organization_id": community, "user_id": user_id, "start_date": date(2024, 1, 1), "end_date": None}
        for user_id, community in zip(user_ids, communities)
    ])
    return communities


def _closed_evaluation(evaluator: User, community_ids: list[int], opens_at: datetime, box_key: bytes) -> Survey:
    """Create, open, close and count a democratic evaluation asking only its rating3 headline and grade4 question."""
    survey = create_survey(
        evaluator, title="Bench evaluation of 1,000 secretaries", description="",
        kind=SurveyKind.democratic_evaluation, anonymity=Anonymity.anonymous, opens_at=opens_at,
        closes_at=opens_at + timedelta(days=7), min_group_size=5, owner_organization_id=None,
    )
    # The table reads these two; the template's other questions would only add rows it never reads.
    kept = {QuestionType.rating3: None, QuestionType.grade4: None}
    for question in sorted(survey.questions, key=lambda q: q.position):
        if question.type in kept and kept[question.type] is None:
            kept[question.type] = question
        else:
            delete_question(evaluator, question)
    set_targets(evaluator, survey, community_ids)
    open_survey(evaluator, survey, opens_at, box_key=box_key)
    close_survey(evaluator, survey, survey.closes_at)
    finish(survey, survey.closes_at)  # as the tally leaves it, with no envelope: the ballots go in later
    return survey


def _add_case_figures(rng: random.Random, survey: Survey, now: datetime) -> None:
    """Add each term's case figures for the survey's period, as refresh_case_figures would leave them."""
    figures = []
    for target in survey.targets:
        for month in survey_period(survey).months():
            submitted = rng.randint(0, 30)
            with_feedback = rng.randint(0, submitted)
            satisfied = rng.randint(0, with_feedback)
            basic = rng.randint(0, with_feedback - satisfied)
            resolved = rng.randint(with_feedback, submitted)
            figures.append({
                "organization_id": target.organization_id, "term_id": target.term_id, "month": month,
                "submitted": submitted, "responded_in_time": rng.randint(submitted // 2, submitted),
                "with_feedback": with_feedback, "solved": rng.randint(with_feedback // 2, with_feedback),
                "satisfied": satisfied, "basically_satisfied": basic,
                "dissatisfied": with_feedback - satisfied - basic, "overdue": rng.randint(0, submitted // 5),
                "reopened": rng.randint(0, with_feedback // 5),
                "resolve_hours": [round(rng.uniform(2, 150), 1) for _ in range(resolved)], "computed_at": now,
            })
    db.session.execute(insert(CaseFigure.__table__), figures)


def _add_to_rollups(survey_id: int, counts: Counter[tuple[int, int, str]]) -> int:
    """Add the counts to the rollups as submit_ballot's upsert does, one row per option; return the rows."""
    dialect = db.session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Rollup.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["survey_id", "organization_id", "question_id", "option"],
        set_={"count": Rollup.__table__.c.count + statement.excluded.count},
    )
    db.session.execute(statement, [
        {"survey_id": survey_id, "organization_id": organization_id, "question_id": question_id, "option": option,
         "count": count}
        for (organization_id, question_id, option), count in counts.items()
    ])
    return len(counts)


def count_on_targets(survey_id: int, per_community: Counter[int]) -> None:
    """Add each community's new ballots to its target, and as many codes issued (each ballot used one)."""
    table = SurveyTarget.__table__
    db.session.execute(
        update(table).where(table.c.survey_id == survey_id, table.c.organization_id == bindparam("community"))
        .values(ballots=table.c.ballots + bindparam("added"), codes_issued=table.c.codes_issued + bindparam("added")),
        [{"community": community, "added": added} for community, added in per_community.items()],
    )


def check_consistency(app: Flask, evaluation: ScaleEvaluation) -> None:
    """Stop unless the rollups, target counts and participations are what the ballots imply (reads every ballot)."""
    with app.app_context():
        survey = db.session.get(Survey, evaluation.survey_id)
        from_ballots = {
            (organization_id, question_id, value): count
            for organization_id, question_id, value, count in db.session.execute(
                select(Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value, func.count())
                .join(BallotAnswer, BallotAnswer.ballot_id == Ballot.id).where(Ballot.survey_id == survey.id)
                .group_by(Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value)
            )
        }
        ballots = dict(db.session.execute(
            select(Ballot.organization_id, func.count()).where(Ballot.survey_id == survey.id)
            .group_by(Ballot.organization_id)
        ).all())
        participations = db.session.scalar(
            select(func.count()).select_from(Participation).where(Participation.survey_id == survey.id))
        targets = {t.organization_id: (t.ballots, t.codes_issued) for t in survey.targets}
        rollups = {(r.organization_id, r.question_id, r.option): r.count
                   for r in db.session.scalars(select(Rollup).where(Rollup.survey_id == survey.id))}
        problems = []
        if rollups != from_ballots:
            problems.append("the rollups differ from the ballots")
        if any(counts != (ballots.get(o, 0),) * 2 for o, counts in targets.items()):
            problems.append("the targets' ballot or code counts differ from the ballots")
        if participations != evaluation.ballots or sum(ballots.values()) != evaluation.ballots:
            problems.append("participations or ballots are not one per ballot cast")
        db.session.remove()
    if problems:
        raise SystemExit(f"The bench evaluation is inconsistent: {'; '.join(problems)}.")


def time_table(app: Flask, evaluation: ScaleEvaluation, runs: int = SERVICE_RUNS) -> list[float]:
    """Return the seconds of evaluation_table for the whole survey, in process, each in a fresh session as a request."""
    with app.app_context():
        evaluator_id = db.session.scalar(select(User.id).where(User.username == EVALUATOR))
        db.session.remove()
        times = []
        for n in range(runs + 2):
            started = time.perf_counter()
            actor = db.session.get(User, evaluator_id)
            survey = get_result_survey(actor, evaluation.survey_id)
            table = evaluation_table(actor, survey, now=utcnow())
            elapsed = time.perf_counter() - started
            db.session.remove()
            if n >= 2:
                times.append(elapsed)
        if len(table.rows) != COMMUNITIES:
            raise SystemExit(f"The evaluation table has {len(table.rows)} rows, not {COMMUNITIES}.")
    return times


def percentiles_ms(times: list[float]) -> tuple[float, float]:
    """Return the p50 and p95 of times in seconds, in milliseconds."""
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times) * 1000, cuts[18] * 1000


def has_route(app: Flask, path: str) -> bool:
    """Tell whether the app serves GET on this path (the table page may not be built yet)."""
    try:
        app.url_map.bind("localhost").match(path, method="GET")
    except (NotFound, MethodNotAllowed):
        return False
    except RequestRedirect:
        return True
    return True


def summary(results: dict) -> str:
    """Return the lines that report the evaluation benchmark."""
    lines = ["", f"evaluation table, {COMMUNITIES} secretaries, as {EVALUATOR}:"]
    for size in SIZES:
        row = results[str(size)]
        page = (f"page p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms ({row['sql_statements']} SQL)"
                if row.get("p50_ms") is not None else "page: no route yet")
        lines.append(f"  {size:>9,} ballots: {page}; service p50 {row['service_p50_ms']:.1f} ms, "
                     f"p95 {row['service_p95_ms']:.1f} ms; inserted {row['ballot_answer_rows_per_s']:,.0f} "
                     f"ballot+answer rows/s ({row['rows_per_s']:,.0f} rows/s overall)")
    ratio = results["ratio"]
    lines.append(f"  time at {SIZES[-1]:,} / time at {SIZES[0]:,} (p50, {results['ratio_of']}): {ratio:.2f} "
                 f"(target ≤ 2; p50 target < 100 ms)")
    return "\n".join(lines)
