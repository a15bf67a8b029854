"""Anonymity of the schema: ballots hold nothing that identifies a voter."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa

from extensions import db
from surveys.models import Ballot, BallotAnswer
from tests.surveys.conftest import HOUR, T0, reloaded


BALLOT_COLUMNS = {
    "survey_ballots": {"id", "survey_id", "organization_id", "day"},
    "survey_ballot_answers": {"ballot_id", "question_id", "value", "text"},
}
BALLOT_REFERENCES = {
    "survey_ballots": {("survey_id",): "surveys", ("organization_id",): "organizations"},
    "survey_ballot_answers": {("ballot_id",): "survey_ballots", ("question_id",): "survey_questions"},
}
#: The only columns anywhere that may point at a ballot: its answers, and an identified survey's participation.
BALLOT_REFERRERS = {("survey_ballot_answers", "ballot_id"), ("survey_participations", "ballot_id")}


def test_the_database_schema_of_ballots_holds_nothing_that_identifies_a_voter(app):
    inspector = sa.inspect(db.engine)
    for table, allowed in BALLOT_COLUMNS.items():
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        assert set(columns) == allowed, f"{table} has columns beyond the allow-list"
        references = {tuple(fk["constrained_columns"]): fk["referred_table"] for fk in inspector.get_foreign_keys(table)}
        assert references == BALLOT_REFERENCES[table], f"{table} refers to something beyond the allow-list"
    columns = {c["name"]: c for c in inspector.get_columns("survey_ballots")}
    assert inspector.get_pk_constraint("survey_ballots")["constrained_columns"] == ["id"]
    assert not isinstance(columns["id"]["type"], sa.Integer)  # no sequence to order ballots by
    assert columns["id"]["default"] is None  # no serial or identity behind it
    assert not columns["id"].get("identity")
    assert isinstance(columns["day"]["type"], sa.Date) and not isinstance(columns["day"]["type"], sa.DateTime)
    assert str(columns["day"]["type"]) == "DATE"
    referrers = {(table, column) for table in inspector.get_table_names() for fk in inspector.get_foreign_keys(table)
                 if fk["referred_table"] == "survey_ballots" for column in fk["constrained_columns"]}
    assert referrers == BALLOT_REFERRERS


def test_the_models_of_ballots_hold_nothing_that_identifies_a_voter():
    for model in (Ballot, BallotAnswer):
        table = model.__table__
        assert {c.name for c in table.columns} == BALLOT_COLUMNS[table.name]
        assert {tuple(c.name for c in fk.columns): fk.referred_table.name for fk in table.foreign_key_constraints} == \
            BALLOT_REFERENCES[table.name]
        assert not any(c.server_default is not None for c in table.columns)
    assert isinstance(Ballot.__table__.c.id.type, sa.Uuid) and not Ballot.__table__.c.id.autoincrement is True
    assert type(Ballot.__table__.c.day.type) is sa.Date
    referrers = {(table.name, c.name) for table in db.metadata.sorted_tables for c in table.columns
                 if any(fk.column.table.name == "survey_ballots" for fk in c.foreign_keys)}
    assert referrers == BALLOT_REFERRERS


def test_ballot_ids_are_random_and_ballots_know_only_the_day(sv, world):
    survey = sv.opened()
    for code in sv.codes(survey, world["community"], 6):
        sv.vote(reloaded(survey), sv.by_code(reloaded(survey), code), now=T0 + 5 * HOUR)
    with db.engine.connect() as connection:
        rows = connection.execute(sa.select(Ballot.__table__)).mappings().all()
    assert len(rows) == 6
    ids = [uuid.UUID(str(row["id"])) for row in rows]
    assert len(set(ids)) == 6
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    for row in rows:
        assert not any(isinstance(value, datetime) for value in row.values())
        assert type(row["day"]) is date and row["day"] == date(2025, 6, 2)
    with db.engine.connect() as connection:
        answers = connection.execute(sa.select(BallotAnswer.__table__)).mappings().all()
    assert answers and not any(isinstance(v, (datetime, date)) for row in answers for v in row.values())
