"""Anonymity of the schema: envelopes, ballots and answers hold nothing that identifies, times or orders a voter."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time

import pytest
import sqlalchemy as sa

from extensions import db
from surveys.models import Ballot, BallotAnswer, Envelope
from surveys.sealing import PADDED_TO
from surveys.tasks import run_tally
from tests.surveys.conftest import DAY, HOUR, T0, answer_key, reloaded

SEALED_BOX_OVERHEAD = 48  # a NaCl sealed box: the ephemeral public key and the MAC

BALLOT_COLUMNS = {
    "survey_ballots": {"id", "survey_id", "organization_id"},
    "survey_ballot_answers": {"ballot_id", "question_id", "value", "text"},
    "survey_envelopes": {"survey_id", "organization_id", "id", "sealed"},
}
BALLOT_REFERENCES = {
    "survey_ballots": {("survey_id",): "surveys", ("organization_id",): "organizations"},
    "survey_ballot_answers": {("ballot_id",): "survey_ballots", ("question_id",): "survey_questions"},
    "survey_envelopes": {("survey_id",): "surveys", ("organization_id",): "organizations"},
}
BALLOT_KEYS = {
    "survey_ballots": ["id"],
    "survey_ballot_answers": ["ballot_id", "question_id"],
    "survey_envelopes": ["survey_id", "organization_id", "id"],
}
#: Tables that know who took part: nothing of a ballot may point at them.
VOTER_TABLES = {"survey_participations", "survey_invitations", "users"}
#: The only columns anywhere that may point at a ballot: its answers, and an identified survey's participation.
BALLOT_REFERRERS = {("survey_ballot_answers", "ballot_id"), ("survey_participations", "ballot_id")}
TEMPORAL = (sa.Date, sa.DateTime, sa.Time, sa.Interval)


def test_the_database_schema_of_ballots_holds_nothing_that_identifies_times_or_orders_a_voter(app):
    inspector = sa.inspect(db.engine)
    for table, allowed in BALLOT_COLUMNS.items():
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        assert set(columns) == allowed, f"{table} has columns beyond the allow-list"
        assert not any(isinstance(c["type"], TEMPORAL) for c in columns.values()), f"{table} has a time"
        # No serial, identity or server default anywhere: nothing the database numbers or stamps.
        assert all(c["default"] is None and not c.get("identity") for c in columns.values()), table
        references = {tuple(fk["constrained_columns"]): fk["referred_table"]
                      for fk in inspector.get_foreign_keys(table)}
        assert references == BALLOT_REFERENCES[table], f"{table} refers to something beyond the allow-list"
        assert not set(references.values()) & VOTER_TABLES
        assert inspector.get_pk_constraint(table)["constrained_columns"] == BALLOT_KEYS[table]
    for table in ("survey_ballots", "survey_envelopes"):
        id_type = {c["name"]: c["type"] for c in inspector.get_columns(table)}["id"]
        assert not isinstance(id_type, sa.Integer), f"{table}: a number would order them"
    referrers = {(table, column) for table in inspector.get_table_names() for fk in inspector.get_foreign_keys(table)
                 if fk["referred_table"] == "survey_ballots" for column in fk["constrained_columns"]}
    assert referrers == BALLOT_REFERRERS


def test_ballot_tables_have_no_sequence_or_rowid(app):
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            owned = connection.execute(sa.text(
                "SELECT c.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                "JOIN pg_class c ON c.oid = d.refobjid WHERE c.relname = ANY(:tables)"
            ), {"tables": list(BALLOT_COLUMNS)}).scalars().all()
            assert owned == []
            return
        for table in BALLOT_COLUMNS:
            sql = connection.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                                     {"t": table}).scalar_one()
            assert sql.rstrip().upper().endswith("WITHOUT ROWID"), table
            with pytest.raises(sa.exc.OperationalError, match="rowid"):
                connection.execute(sa.text(f"SELECT rowid FROM {table}"))


def test_the_models_of_ballots_hold_nothing_that_identifies_a_voter():
    for model in (Ballot, BallotAnswer, Envelope):
        table = model.__table__
        assert {c.name for c in table.columns} == BALLOT_COLUMNS[table.name]
        assert {tuple(c.name for c in fk.columns): fk.referred_table.name for fk in table.foreign_key_constraints} == \
            BALLOT_REFERENCES[table.name]
        assert not any(c.server_default is not None for c in table.columns)
        assert not any(isinstance(c.type, TEMPORAL) for c in table.columns)
        assert table.dialect_options["sqlite"]["with_rowid"] is False
    for model in (Ballot, Envelope):
        assert isinstance(model.__table__.c.id.type, sa.Uuid) and model.__table__.c.id.autoincrement is not True
    referrers = {(table.name, c.name) for table in db.metadata.sorted_tables for c in table.columns
                 if any(fk.column.table.name == "survey_ballots" for fk in c.foreign_keys)}
    assert referrers == BALLOT_REFERRERS


def _rows(table) -> list[dict]:
    with db.engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(table)).mappings()]


def _random_ids(rows: list[dict], column: str = "id") -> list[uuid.UUID]:
    ids = [uuid.UUID(str(row[column])) for row in rows]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    return ids


def _no_times(rows: list[dict]) -> None:
    assert not any(isinstance(value, (date, datetime, time)) for row in rows for value in row.values())


def test_envelopes_are_random_ids_and_padded_bytes_and_ballots_know_no_day(sv, world):
    survey = sv.opened()
    comment = survey.questions[-1]
    # Comments from none to near the padding: every envelope has the same size all the same.
    lengths = [0, 1, 17, 60, 150, 170]
    for code, length in zip(sv.codes(survey, world["community"], len(lengths)), lengths):
        answers = {**sv.valid_answers(survey), answer_key(comment): "c" * length}
        sv.vote(reloaded(survey), sv.by_code(reloaded(survey), code), answers, now=T0 + 5 * HOUR)
    envelopes = _rows(Envelope.__table__)
    assert len(envelopes) == 6 and _rows(Ballot.__table__) == [] == _rows(BallotAnswer.__table__)
    _random_ids(envelopes)
    _no_times(envelopes)
    assert {len(row["sealed"]) for row in envelopes} == {PADDED_TO + SEALED_BOX_OVERHEAD}

    run_tally(survey.id, T0 + 8 * DAY)
    assert _rows(Envelope.__table__) == []
    ballots = _rows(Ballot.__table__)
    assert len(ballots) == 6
    ids = _random_ids(ballots)
    assert not {row["id"] for row in envelopes} & set(ids)  # nothing carries over from the envelope
    _no_times(ballots)
    answers = _rows(BallotAnswer.__table__)
    assert answers and {uuid.UUID(str(row["ballot_id"])) for row in answers} == set(ids)
    _no_times(answers)
    assert sorted(len(row["text"] or "") for row in answers if row["question_id"] == comment.id) == \
        [n for n in lengths if n]  # an empty comment is no answer
