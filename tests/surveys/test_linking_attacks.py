"""Linking attacks: a reader of the whole database tries to tie ballots to the voters who cast them, and fails.

Thirty residents of one community vote through the app, by account and by invitation code in a mixed order, each
with a unique marker as their comment. The adversary reads every table, system columns included, before the close,
after the tally and after VACUUM. They know who took part and in which order, and, having watched the database while
votes came in, which envelope each participation wrote. Each attack below is one thing such a reader would try; it
returns its guesses as (participation id, marker) pairs, scored against the truth that only the test knows.
"""
from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from db import utcnow
from extensions import db
from surveys import sealing, tally, transitions
from surveys.ballots import ANSWERED
from surveys.models import Anonymity, Envelope, Participation, QuestionType, Survey
from surveys.tasks import run_tally
from tests.conftest import Client
from tests.surveys.conftest import DAY, HOUR

VOTERS = 30
#: The most correct pairs an attack may name. The number of correct pairs of a uniformly random matching of 30
#: ballots to 30 voters (the fixed points of a random permutation) is almost exactly Poisson(1): one on average,
#: and 5 or more with probability 1 − e⁻¹(1 + 1 + 1/2 + 1/6 + 1/24) ≈ 0.37%. So 5 or more is a link, not luck.
#: Several attacks pair ballots in orders that are random and independent of one another (ballot ids, envelope
#: against ballot ids, PostgreSQL's storage order), about five per run on both databases, so one of them passes 4
#: by luck about once in fifty runs. An attack that does is therefore tried again on a fresh election: a real link
#: names far more than 4 every time, luck twice in a row about once in 2,500 runs.
CHANCE = 4
QUESTIONS = (
    (QuestionType.likert5, True, False, []),
    (QuestionType.single_choice, True, False, ["Bus", "Bike", "Walk"]),
    (QuestionType.free_text, True, False, []),
)
BALLOT_TABLES = ("survey_ballots", "survey_ballot_answers", "survey_envelopes")

Guesses = list[tuple[int, str]]


def ballot_key(value) -> str:
    """Return a ballot or envelope id as one text, however the database returns it (SQLite: 32 hex digits)."""
    return str(uuid.UUID(str(value)))


@dataclass(frozen=True)
class Seen:
    """What a reader watching the database saw one ballot write: its participation and its envelope."""

    participation_id: int
    envelope_id: str
    envelope_size: int


@dataclass(frozen=True)
class Reader:
    """The adversary: a connection to the database, and what they saw while the survey was open."""

    connection: Connection
    survey_id: int
    marker_question: int
    seen: list[Seen]

    @property
    def postgresql(self) -> bool:
        return self.connection.dialect.name == "postgresql"

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.connection.execute(sa.text(sql), {"survey": self.survey_id,
                                                                                "marker": self.marker_question})]

    def participations(self) -> list[int]:
        """Return who took part, in the order they did."""
        return [p for p, in self.rows("SELECT id FROM survey_participations WHERE survey_id = :survey ORDER BY id")]

    def markers(self) -> dict[str, str]:
        """Return each ballot's marker by ballot id, as anyone reading the answers can."""
        return {ballot_key(b): text for b, text in self.rows(
            "SELECT ballot_id, text FROM survey_ballot_answers WHERE question_id = :marker")}

    def answers(self) -> dict[str, dict[int, str]]:
        """Return every ballot's answers by ballot id."""
        answers: dict[str, dict[int, str]] = {}
        for ballot, question, value, text in self.rows(
                "SELECT ballot_id, question_id, value, text FROM survey_ballot_answers"):
            answers.setdefault(ballot_key(ballot), {})[question] = text if value is None else value
        return answers

    def has_rowid(self, table: str) -> bool:
        if self.postgresql:
            return False
        try:
            self.connection.execute(sa.text(f"SELECT rowid FROM {table} LIMIT 1"))
        except sa.exc.OperationalError:
            return False
        return True

    def temporal_columns(self, table: str) -> list[str]:
        return [c["name"] for c in sa.inspect(self.connection).get_columns(table)
                if isinstance(c["type"], (sa.Date, sa.DateTime, sa.Time))]


def in_order(reader: Reader, ballots: list[str]) -> Guesses:
    """Guess that the ballots, in the order given, are those of the participations in the order they came."""
    markers = reader.markers()
    return [(p, markers[b]) for p, b in zip(reader.participations(), ballots) if b in markers]


# --- the attacks --------------------------------------------------------------------------

def same_transaction(reader: Reader) -> Guesses:
    """PostgreSQL: a ballot or an answer written in the participation's transaction has the same xmin."""
    if not reader.postgresql:
        return []
    markers = reader.markers()
    guesses = {p: markers[ballot_key(b)] for p, b in reader.rows(
        "SELECT p.id, b.id FROM survey_participations p JOIN survey_ballots b ON b.xmin::text = p.xmin::text "
        "WHERE p.survey_id = :survey AND b.survey_id = :survey")}
    guesses.update(reader.rows(
        "SELECT p.id, a.text FROM survey_participations p JOIN survey_ballot_answers a ON a.xmin::text = p.xmin::text "
        "WHERE p.survey_id = :survey AND a.question_id = :marker"))
    return list(guesses.items())


def rollups_name_the_last_voter(reader: Reader) -> Guesses:
    """PostgreSQL: a rollup row's xmin is the transaction that last counted it, naming who chose that option."""
    if not reader.postgresql:
        return []
    chosen: dict[int, set[tuple[int, str]]] = {}
    for participation, question, option in reader.rows(
            "SELECT p.id, r.question_id, r.option FROM survey_rollups r JOIN survey_participations p "
            "ON p.xmin::text = r.xmin::text WHERE r.survey_id = :survey AND p.survey_id = :survey"):
        chosen.setdefault(participation, set()).add((question, option))
    answers, markers = reader.answers(), reader.markers()
    guesses = []
    for participation, options in chosen.items():
        fitting = sorted(b for b, a in answers.items()
                         if all(a.get(q) is not None if o == ANSWERED else a.get(q) == o for q, o in options))
        if fitting:
            guesses.append((participation, markers[fitting[0]]))
    return guesses


def storage_order_of_ballots(reader: Reader) -> Guesses:
    """Ballots in storage order (PostgreSQL ctid, SQLite rowid) follow the order they were written."""
    if reader.postgresql:
        return in_order(reader, [ballot_key(b) for b, in reader.rows(
            "SELECT id FROM survey_ballots WHERE survey_id = :survey ORDER BY ctid")])
    if not reader.has_rowid("survey_ballots"):
        return []
    return in_order(reader, [ballot_key(b) for b, in reader.rows(
        "SELECT id FROM survey_ballots WHERE survey_id = :survey ORDER BY rowid")])


def storage_order_of_answers(reader: Reader) -> Guesses:
    """The markers in storage order (PostgreSQL ctid, SQLite rowid) follow the order they were written."""
    order = "ctid" if reader.postgresql else "rowid" if reader.has_rowid("survey_ballot_answers") else None
    if order is None:
        return []
    markers = [text for text, in reader.rows(
        f"SELECT text FROM survey_ballot_answers WHERE question_id = :marker ORDER BY {order}")]
    return list(zip(reader.participations(), markers))


def scan_order_of_ballots(reader: Reader) -> Guesses:
    """A table scan without ORDER BY returns ballots in page order."""
    return in_order(reader, [ballot_key(b) for b, in reader.rows(
        "SELECT id FROM survey_ballots WHERE survey_id = :survey")])


def scan_order_of_answers(reader: Reader) -> Guesses:
    """A table scan without ORDER BY returns the markers in page order."""
    markers = [text for text, in reader.rows("SELECT text FROM survey_ballot_answers WHERE question_id = :marker")]
    return list(zip(reader.participations(), markers))


def ballot_id_order(reader: Reader) -> Guesses:
    """Ballot ids that grow with time (a sequence, UUIDv1 or v7) sort like the participations."""
    return in_order(reader, [ballot_key(b) for b, in reader.rows(
        "SELECT id FROM survey_ballots WHERE survey_id = :survey ORDER BY id")])


def dates_and_times(reader: Reader) -> Guesses:
    """Any date or time kept with a ballot or an answer orders the ballots like the participations."""
    guesses: Guesses = []
    for table, ballot in (("survey_ballots", "id"), ("survey_ballot_answers", "ballot_id")):
        for column in reader.temporal_columns(table):
            ordered = reader.rows(f"SELECT {ballot} FROM {table} ORDER BY {column}")
            ballots = list(dict.fromkeys(ballot_key(b) for b, in ordered))
            guesses += in_order(reader, ballots)
    return list(dict(guesses).items())


def envelope_id_kept(reader: Reader) -> Guesses:
    """A ballot that keeps its envelope's id is its participation's, as watched."""
    markers = reader.markers()
    return [(s.participation_id, markers[s.envelope_id]) for s in reader.seen if s.envelope_id in markers]


def envelope_id_order(reader: Reader) -> Guesses:
    """Ballot ids derived from envelope ids, or written in envelope order with growing ids, sort like them."""
    markers = reader.markers()
    watched = sorted(reader.seen, key=lambda s: s.envelope_id)
    return [(s.participation_id, markers[b]) for s, b in zip(watched, sorted(markers))]


def envelope_size(reader: Reader) -> Guesses:
    """An envelope as long as its answers gives away the ballot: the k-th longest envelope, the k-th longest ballot.

    Only envelopes whose size no other envelope shares are guessed: equal sizes say nothing.
    """
    answers, markers = reader.answers(), reader.markers()
    sizes = [s.envelope_size for s in reader.seen]
    watched = sorted(reader.seen, key=lambda s: s.envelope_size)
    ballots = sorted(answers, key=lambda b: sum(len(v.encode()) for v in answers[b].values()))
    return [(s.participation_id, markers[b]) for s, b in zip(watched, ballots) if sizes.count(s.envelope_size) == 1]


ATTACKS: list[Callable[[Reader], Guesses]] = [
    same_transaction, rollups_name_the_last_voter, storage_order_of_ballots, storage_order_of_answers,
    scan_order_of_ballots, scan_order_of_answers, ballot_id_order, dates_and_times, envelope_id_kept,
    envelope_id_order, envelope_size,
]
#: Attacks that guess for every ballot once there are ballots, whatever the database: they must not come back empty.
ALWAYS_GUESS = {scan_order_of_ballots, scan_order_of_answers, ballot_id_order, envelope_id_order}


# --- the election and the reader ----------------------------------------------------------

@dataclass(frozen=True)
class Election:
    survey_id: int
    marker_question: int
    #: Participation id → the marker its voter gave: what the attacks try to find.
    truth: dict[int, str]
    seen: list[Seen]


def _watch() -> tuple[set[int], dict[str, int]]:
    participations = set(db.session.scalars(sa.select(Participation.id)))
    envelopes = {str(i): len(s) for i, s in db.session.execute(sa.select(Envelope.id, Envelope.sealed))}
    return participations, envelopes


def cast_thirty(app, sv, world, anonymity: Anonymity = Anonymity.anonymous) -> Election:
    """Cast thirty ballots through the app in Spring, by account and by code in a random order, each with a marker."""
    rng = random.Random(30)
    now = utcnow()
    community = world["community"]
    survey = sv.opened(now=now, opens_at=now - HOUR, closes_at=now + 7 * DAY, targets=[community],
                       questions=QUESTIONS, anonymity=anonymity)
    likert, choice, comment = survey.questions
    voters = [("code", code) for code in sv.codes(survey, community, VOTERS // 2, now=now)]
    voters += [("account", sv.resident(community).username) for _ in range(VOTERS - VOTERS // 2)]
    rng.shuffle(voters)
    # Markers of different lengths (all within one padding block), handed out at random.
    extra = list(range(2, 2 + VOTERS))
    rng.shuffle(extra)
    truth, seen = {}, []
    for n, ((kind, who), length) in enumerate(zip(voters, extra)):
        marker = f"marker-{survey.id}-{n:02d}-" + "z" * length
        answers = {f"q{likert.id}": str(rng.randint(1, 5)), f"q{choice.id}": str(rng.randrange(3)),
                   f"q{comment.id}": marker}
        client = Client(app.test_client())
        participations, envelopes = _watch()
        if kind == "account":
            client.login(who)
            response = client.post(f"/surveys/{survey.id}/ballot", answers)
        else:
            response = client.post(f"/vote/{survey.id}", {**answers, "code": who})
        assert response.status_code == 303, response.get_data(as_text=True)
        now_participations, now_envelopes = _watch()
        [participation] = now_participations - participations
        truth[participation] = marker
        for envelope in set(now_envelopes) - set(envelopes):
            seen.append(Seen(participation, ballot_key(envelope), now_envelopes[envelope]))
    assert {kind for kind, _ in voters} == {"code", "account"}
    return Election(survey.id, comment.id, truth, seen)


@pytest.fixture
def election(app, sv, world) -> Election:
    return cast_thirty(app, sv, world)


def linked(election: Election, each: Callable[[Reader], Guesses]) -> tuple[int, int]:
    """Return how many voters the attack names rightly, and how many it names."""
    db.session.remove()
    with db.engine.connect() as connection:
        guesses = each(Reader(connection, election.survey_id, election.marker_question, election.seen))
    return sum(election.truth.get(p) == marker for p, marker in guesses), len(guesses)


def attack(election: Election, stage: str) -> list[str]:
    """Run every attack as a reader of the database; return those that name more voters than chance would."""
    db.session.remove()
    with db.engine.connect() as connection:
        reader = Reader(connection, election.survey_id, election.marker_question, election.seen)
        for table in BALLOT_TABLES:
            assert not reader.has_rowid(table), f"{stage}: {table} has a rowid"
        beyond_chance = []
        for each in ATTACKS:
            guesses = each(reader)
            assert len({p for p, _ in guesses}) == len(guesses), f"{each.__name__} guessed twice for someone"
            right = sum(election.truth.get(p) == marker for p, marker in guesses)
            if right > CHANCE:
                beyond_chance.append(f"{stage}: {each.__name__} linked {right} of {len(guesses)} ballots to voters")
            if stage != "before close" and each in ALWAYS_GUESS:
                assert len(guesses) == VOTERS, f"{stage}: {each.__name__} did not try"
    return beyond_chance


def readable(connection: Connection) -> list[bytes]:
    """Return every value of every table (and on PostgreSQL its statistics) as bytes, as a dump would."""
    tables = [f'"{t}"' for t in sa.inspect(connection).get_table_names()]
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE")
        tables.append("pg_stats")
    values = []
    for table in tables:
        for row in connection.exec_driver_sql(f"SELECT * FROM {table}"):
            values += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row]
    return values


def sqlite_files(connection: Connection) -> list[Path]:
    database = Path(connection.engine.url.database)
    return [p for p in (database, database.with_name(database.name + "-wal")) if p.exists()]


def vacuum(full: bool = False) -> None:
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM FULL" if full else "VACUUM")
        return
    raw = db.engine.raw_connection()  # pysqlite in autocommit: VACUUM runs outside any transaction
    try:
        raw.driver_connection.execute("VACUUM")
    finally:
        raw.close()


# --- the test ------------------------------------------------------------------------------

def test_no_reader_of_the_database_can_link_a_ballot_to_its_voter(app, sv, election, world):
    found = examine(app, election)
    if found:
        # Beyond chance once may be luck (see CHANCE); a link shows again on a fresh election.
        assert examine(app, cast_thirty(app, sv, world)) == [], found


def examine(app, election: Election) -> list[str]:
    """Attack the election before close, after the tally and after VACUUM; return the attacks beyond chance."""
    markers = set(election.truth.values())
    assert len(markers) == VOTERS and len(election.seen) == VOTERS

    # While open nothing of any answer can be read: no ballot, no answer, no rollup, no marker in any byte.
    with db.engine.connect() as connection:
        for table in ("survey_ballots", "survey_rollups"):
            assert connection.exec_driver_sql(
                f"SELECT count(*) FROM {table} WHERE survey_id = {election.survey_id}").scalar() == 0
        dump = readable(connection)
        if connection.dialect.name == "sqlite":
            dump += [p.read_bytes() for p in sqlite_files(connection)]
    assert not [m for m in markers if any(m.encode() in value for value in dump)]
    found = attack(election, "before close")

    evaluator = Client(app.test_client())
    evaluator.login("evaluator")
    assert evaluator.post(f"/surveys/{election.survey_id}/close").status_code == 303
    survey = db.session.get(Survey, election.survey_id)
    assert survey.counted_at is not None and survey.sealed_private_key is None
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql(
            f"SELECT count(*) FROM survey_envelopes WHERE survey_id = {election.survey_id}").scalar() == 0
        counted = {text for text, in connection.exec_driver_sql(
            "SELECT a.text FROM survey_ballot_answers a JOIN survey_ballots b ON b.id = a.ballot_id"
            f" WHERE b.survey_id = {election.survey_id}")} - {None}
    assert counted == markers
    found += attack(election, "after the tally")

    vacuum()
    found += attack(election, "after VACUUM")
    if db.engine.dialect.name == "postgresql":
        vacuum(full=True)
        found += attack(election, "after VACUUM FULL")
    return found


# --- the attacks work: each finds its link once the defence it tests is taken away ----------

class InOrder(random.Random):
    """A tally "shuffle" that leaves the envelopes in the order they were read."""

    def shuffle(self, x) -> None:
        pass


def test_the_attacks_link_ballots_that_are_unpadded_unshuffled_and_numbered(app, sv, world, monkeypatch):
    monkeypatch.setattr(sealing, "PADDED_TO", 1)
    election = cast_thirty(app, sv, world)
    numbers = itertools.count(1)
    monkeypatch.setattr(tally, "uuid", SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(numbers))))
    transitions.close_survey(world["evaluator"], db.session.get(Survey, election.survey_id), utcnow())
    db.session.commit()
    run_tally(election.survey_id, utcnow(), rng=InOrder())

    assert linked(election, envelope_size) == (VOTERS, VOTERS)
    # The ballots are numbered and stored in the order the envelopes were read: by their random ids, which the
    # watcher knows (SQLite always; PostgreSQL on an index scan), or about as the voters came (a heap scan).
    if db.engine.dialect.name == "sqlite":
        assert linked(election, envelope_id_order) == (VOTERS, VOTERS)
    else:
        orders = (envelope_id_order, ballot_id_order, storage_order_of_ballots, storage_order_of_answers)
        assert max(linked(election, each)[0] for each in orders) > CHANCE


def test_the_attacks_link_ballots_written_with_their_participation(app, sv, world):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("xmin and ctid are PostgreSQL's")
    # An identified survey writes the ballot and its rollup counts in the participation's transaction, by design.
    election = cast_thirty(app, sv, world, Anonymity.identified)
    assert linked(election, same_transaction) == (VOTERS, VOTERS)
    # Rows come in about as they were written: pages fill in order, give or take one per connection.
    for each in (storage_order_of_ballots, storage_order_of_answers):
        assert linked(election, each)[0] > CHANCE, each.__name__
    assert linked(election, rollups_name_the_last_voter)[1] > 0
