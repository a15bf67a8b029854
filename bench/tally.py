"""The tally at scale: a closed anonymous survey of 1,000 communities whose 1,000,000 envelopes are counted.

The survey is created, opened (which makes its key pair) and closed through the real services, asking
three closed questions and an optional free text that a tenth of the voters fill in. The ballots go in
as submit_ballot leaves them while a survey is open, with Core executemany in one transaction per batch:
an invitation (as generate_codes issues it), the participation, the target's ballot count and an
envelope sealed by surveys.sealing to the survey's public key. None of that is timed. What is timed is
surveys.tasks.run_tally, as the queue runs it: every community counted and committed in turn, then the
key destroyed. The run then checks that every envelope became one ballot and that the rollups are
exactly what was sealed.
"""
from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter

from flask import Flask
from sqlalchemy import event, func, insert, select

from accounts.models import Organization, OrgLevel, Role, User
from bench import evaluation
from db import utcnow
from extensions import db, writing
from surveys.ballots import ANSWERED
from surveys.builder import create_survey, delete_question, set_targets
from surveys.models import (
    Anonymity, Ballot, BallotAnswer, Envelope, Invitation, Participation, Rollup, Survey, SurveyKind,
)
from surveys.sealing import seal_answers
from surveys.tasks import run_tally
from surveys.transitions import close_survey, open_survey

#: Ballots counted by default: the target is these in under 2 minutes on SQLite.
BALLOTS = 1_000_000
#: Ballots sealed and written per transaction while setting up.
BATCH = 50_000
#: Of the voters, those who fill in the free-text question.
FREE_TEXT_SHARE = 0.1
COMMENTS = (
    "希望继续保持，多听听居民的意见。",
    "楼道的灯坏了很久，报了两次还没有修好，希望书记关心一下老旧小区的维修。",
    "好",
    "社区活动很多，但上班的人参加不了，能不能周末也安排一些？",
)
#: The template's questions kept (by position): the rating3 headline, the grade4 and one more rating3, and the
#: optional free text.
KEPT_POSITIONS = (1, 2, 3, 6)


@dataclass(frozen=True)
class SealedSurvey:
    """A closed survey whose envelopes wait for the tally, and what they hold."""

    survey_id: int
    communities: int
    envelopes: int
    answers: int
    #: The rollup counts the sealed answers imply, by (community, question, option).
    expected: Counter
    seal_s: float
    setup_s: float


def build(app: Flask, now: datetime, ballots: int) -> SealedSurvey:
    """Add a closed anonymous survey of the 1,000 bench communities holding `ballots` sealed envelopes."""
    started = time.perf_counter()
    rng = random.Random(2034)
    with app.app_context(), writing():
        survey, community_ids = _closed_survey(now, app.config["BALLOT_BOX_KEY"])
        survey_id, public_key, opened_at = survey.id, survey.ballot_public_key, survey.opened_at
        questions = [(q.id, q.option_values()) for q in sorted(survey.questions, key=lambda q: q.position)]
        days = [(opened_at + timedelta(days=n)).date() for n in range(7)]
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            db.session.connection().exec_driver_sql(f"PRAGMA cache_size = -{evaluation.SEED_CACHE_KIB}")
        # Every community has voters, some many more than others.
        per_community = Counter(community_ids) + Counter(rng.choices(
            community_ids, weights=[rng.lognormvariate(0, 0.6) for _ in community_ids], k=ballots - len(community_ids),
        ))
        next_invitation = (db.session.scalar(select(func.max(Invitation.id))) or 0) + 1
        free_text = {question_id for question_id, options in questions if not options}
        expected: Counter = Counter()
        answers = 0
        seal_s = 0.0
        batch: list[tuple[int, dict[int, str]]] = []
        for organization_id in community_ids:
            for _ in range(per_community[organization_id]):
                content = _answers(rng, questions)
                for question_id, value in content.items():
                    expected[organization_id, question_id, ANSWERED if question_id in free_text else value] += 1
                answers += len(content)
                batch.append((organization_id, content))
                if len(batch) == BATCH:
                    seal_s += _write(survey_id, public_key, batch, next_invitation, rng, days, opened_at)
                    next_invitation += len(batch)
                    batch = []
        if batch:
            seal_s += _write(survey_id, public_key, batch, next_invitation, rng, days, opened_at)
        evaluation.count_on_targets(survey_id, per_community)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # the enlarged cache goes with the seeding connection
        if db.engine.dialect.name == "sqlite":
            # The tally starts on a checkpointed database, as after days of ballots; outside any transaction.
            raw = db.engine.raw_connection()
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.close()
    return SealedSurvey(survey_id, len(community_ids), ballots, answers, expected, seal_s,
                        time.perf_counter() - started)


def _closed_survey(now: datetime, box_key: bytes) -> tuple[Survey, list[int]]:
    """Create, open and close an anonymous evaluation of the bench communities: three closed questions, a free text."""
    evaluator = db.session.scalar(select(User).where(User.username == evaluation.EVALUATOR))
    community_ids = list(db.session.scalars(
        select(Organization.id).where(Organization.level == OrgLevel.community,
                                      Organization.name.startswith(evaluation.TOWNSHIP_NAME))
        .order_by(Organization.id)
    )) or evaluation.add_communities(evaluator.organization_for(Role.evaluator), now)
    opens_at = now - timedelta(days=14)
    survey = create_survey(
        evaluator, title="Bench tally of 1,000 communities", description="", kind=SurveyKind.democratic_evaluation,
        anonymity=Anonymity.anonymous, opens_at=opens_at, closes_at=opens_at + timedelta(days=7), min_group_size=5,
        owner_organization_id=None,
    )
    # Chosen before any is deleted: deleting renumbers the rest.
    for question in [q for q in survey.questions if q.position not in KEPT_POSITIONS]:
        delete_question(evaluator, question)
    set_targets(evaluator, survey, community_ids)
    open_survey(evaluator, survey, opens_at, box_key=box_key)
    close_survey(evaluator, survey, survey.closes_at)
    return survey, community_ids


def _answers(rng: random.Random, questions: list[tuple[int, tuple[str, ...]]]) -> dict[int, str]:
    """Draw one voter's answers: every closed question, the free text now and then."""
    content = {}
    for question_id, options in questions:
        if options:
            content[question_id] = rng.choice(options)
        elif rng.random() < FREE_TEXT_SHARE:
            content[question_id] = rng.choice(COMMENTS)
    return content


def _write(survey_id: int, public_key: bytes, batch: list[tuple[int, dict[int, str]]], first_invitation: int,
           rng: random.Random, days: list[date], opened_at: datetime) -> float:
    """Seal and write a batch of ballots as submit_ballot would have, in one transaction; return the sealing time."""
    started = time.perf_counter()
    envelopes = [{"survey_id": survey_id, "organization_id": organization_id, "id": uuid.uuid4(),
                  "sealed": seal_answers(public_key, survey_id, organization_id, content)}
                 for organization_id, content in batch]
    seal_s = time.perf_counter() - started
    # In key order, so that each batch fills the B-trees front to back; which code or envelope is whose stays random.
    envelopes.sort(key=lambda row: (row["organization_id"], row["id"].int))
    code_hashes = sorted(f"{rng.getrandbits(256):064x}" for _ in batch)
    invitations = [{"id": first_invitation + n, "survey_id": survey_id, "organization_id": organization_id,
                    "code_hash": code_hash, "created_at": opened_at}
                   for n, ((organization_id, _), code_hash) in enumerate(zip(batch, code_hashes))]
    db.session.execute(insert(Invitation.__table__), invitations)
    db.session.execute(insert(Participation.__table__), [
        {"survey_id": survey_id, "organization_id": row["organization_id"], "invitation_id": row["id"],
         "day": rng.choice(days)}
        for row in invitations
    ])
    db.session.execute(insert(Envelope.__table__), envelopes)
    db.session.commit()
    return seal_s


@dataclass
class TimeSpent:
    """Where the tally's time went: each kind of statement, and the commits (writing the WAL)."""

    statements: Counter
    commits: float = 0.0


@contextmanager
def time_spent() -> Iterator[TimeSpent]:
    """Add up the database's time inside, by statement kind ("INSERT survey_ballots") and in commits."""
    spent = TimeSpent(Counter())
    clock: dict[str, float] = {}

    def started(*_args) -> None:
        clock["started"] = time.perf_counter()

    def executed(_conn, _cursor, statement: str, *_args) -> None:
        spent.statements[_kind(statement)] += time.perf_counter() - clock.pop("started")

    def committed(*_args) -> None:
        spent.commits += time.perf_counter() - clock.pop("commit")

    listeners = [(db.engine, "before_cursor_execute", started), (db.engine, "after_cursor_execute", executed),
                 (db.session, "before_commit", lambda *_: clock.update(commit=time.perf_counter())),
                 (db.session, "after_commit", committed)]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield spent
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


def _kind(statement: str) -> str:
    words = statement.split()
    after = {"FROM", "INTO"} if words[0].upper() != "UPDATE" else {"UPDATE"}
    table = next((following for word, following in zip(words, words[1:]) if word.upper() in after), "")
    return f"{words[0].upper()} {table}".strip()


def count(app: Flask, sealed: SealedSurvey, command: str) -> dict:
    """Time run_tally on the sealed survey, check what it wrote and return the figures."""
    with app.app_context(), writing(), time_spent() as spent:
        started = time.perf_counter()
        report = run_tally(sealed.survey_id, utcnow())
        seconds = time.perf_counter() - started
        db.session.remove()
    rows = check(app, sealed)
    if (report.communities, report.ballots) != (sealed.communities, sealed.envelopes):
        raise SystemExit(f"The tally counted {report.ballots} ballots in {report.communities} communities, "
                         f"not {sealed.envelopes} in {sealed.communities}.")
    database_s = sum(spent.statements.values()) + spent.commits
    return {
        "ballots": sealed.envelopes, "communities": sealed.communities, "seconds": round(seconds, 1),
        "ballots_per_s": round(sealed.envelopes / seconds), "rows": rows,
        # The rest is Python: opening the envelopes (NaCl), shuffling, building the rows, SQLAlchemy's part.
        "time_s": {"statements": {kind: round(s, 2) for kind, s in spent.statements.most_common(6)},
                   "commits": round(spent.commits, 1), "outside_the_database": round(seconds - database_s, 1)},
        "seal_s": round(sealed.seal_s, 1), "setup_s": round(sealed.setup_s, 1), "command": command,
    }


def check(app: Flask, sealed: SealedSurvey) -> dict[str, int]:
    """Stop unless every envelope became one ballot and the rollups are what was sealed; return the row counts."""
    survey_id = sealed.survey_id

    def rows_of(table, *where) -> int:
        return db.session.scalar(select(func.count()).select_from(table).where(*where))

    with app.app_context():
        survey = db.session.get(Survey, survey_id)
        rows = {
            "participations": rows_of(Participation, Participation.survey_id == survey_id),
            "envelopes_left": rows_of(Envelope, Envelope.survey_id == survey_id),
            "ballots": rows_of(Ballot, Ballot.survey_id == survey_id),
            "answers": db.session.scalar(select(func.count()).select_from(BallotAnswer).join(Ballot)
                                         .where(Ballot.survey_id == survey_id)),
            "rollups": rows_of(Rollup, Rollup.survey_id == survey_id),
        }
        rollups = Counter({(r.organization_id, r.question_id, r.option): r.count
                           for r in db.session.scalars(select(Rollup).where(Rollup.survey_id == survey_id))})
        ballots_per_target = dict(db.session.execute(
            select(Ballot.organization_id, func.count()).where(Ballot.survey_id == survey_id)
            .group_by(Ballot.organization_id)
        ).all())
        targets = {t.organization_id: (t.ballots, t.counted) for t in survey.targets}
        problems = []
        if survey.counted_at is None or survey.sealed_private_key is not None:
            problems.append("the survey is not marked counted, or its key is left")
        if rows["envelopes_left"] or rows["ballots"] != sealed.envelopes or rows["participations"] != sealed.envelopes:
            problems.append("envelopes, ballots and participations are not one per ballot cast")
        if rows["answers"] != sealed.answers or rollups != sealed.expected:
            problems.append("the answers or rollups differ from what was sealed")
        if any(target != (ballots_per_target.get(o, 0), True) for o, target in targets.items()):
            problems.append("a target's ballot count differs from its ballots, or it is not counted")
        db.session.remove()
    if problems:
        raise SystemExit(f"The bench tally is wrong: {'; '.join(problems)}.")
    return rows


def summary(results: dict) -> str:
    """Return the lines that report the tally benchmark."""
    rows = ", ".join(f"{count:,} {name}" for name, count in sorted(results["rows"].items(), key=itemgetter(0)))
    spent = results["time_s"]
    statements = "; ".join(f"{kind} {s:.1f} s" for kind, s in spent["statements"].items())
    return "\n".join([
        "",
        f"tally of {results['ballots']:,} sealed ballots in {results['communities']:,} communities "
        "(surveys.tasks.run_tally):",
        f"  {results['seconds']:.1f} s, {results['ballots_per_s']:,} ballots/s (target: 1,000,000 in under 120 s)",
        f"  after it: {rows}",
        f"  time in commits {spent['commits']:.1f} s; outside the database (opening envelopes, building rows) "
        f"{spent['outside_the_database']:.1f} s; in statements: {statements}",
        f"  setup, not timed: {results['setup_s']:.0f} s, of which sealing {results['seal_s']:.0f} s",
        f"  command: {results['command']}",
    ])
