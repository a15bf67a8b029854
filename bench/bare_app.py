"""The baseline: a bare Flask app doing the least work for each job the project's pages do."""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, render_template, request
from sqlalchemy import (
    Column, Date, DateTime, ForeignKey, Integer, MetaData, String, Table, Text, Uuid, create_engine, select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from config import Config
from extensions import configure_sqlite, writing

metadata = MetaData()
#: The project's tables, reduced to the columns the baseline reads or writes.
users = Table(
    "users", metadata, Column("id", Integer, primary_key=True), Column("username", String), Column("name", String)
)
categories = Table("categories", metadata, Column("id", Integer, primary_key=True), Column("name", String))
cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String),
    Column("state", String),
    Column("category_id", ForeignKey("categories.id")),
    Column("submitted_at", DateTime),
)
participations = Table(
    "survey_participations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", Integer),
    Column("organization_id", Integer),
    Column("resident_id", Integer),
    Column("invitation_id", Integer),
    Column("day", Date),
)
ballots = Table(
    "survey_ballots", metadata, Column("id", Uuid, primary_key=True), Column("survey_id", Integer),
    Column("organization_id", Integer), Column("day", Date),
)
answers = Table(
    "survey_ballot_answers", metadata, Column("ballot_id", Uuid, primary_key=True),
    Column("question_id", Integer, primary_key=True), Column("value", String), Column("text", Text),
)
rollups = Table(
    "survey_rollups", metadata, Column("survey_id", Integer, primary_key=True),
    Column("organization_id", Integer, primary_key=True), Column("question_id", Integer, primary_key=True),
    Column("option", String, primary_key=True), Column("count", Integer),
)
targets = Table(
    "survey_targets", metadata, Column("survey_id", Integer, primary_key=True),
    Column("organization_id", Integer, primary_key=True), Column("ballots", Integer),
)
bench_writes = Table(
    "bench_writes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("note", String(80)),
    Column("created_at", DateTime),
)
STATIC_PAGE = (Path(__file__).parent / "templates" / "static_page.html").read_text(encoding="utf-8")
#: What a free-text answer counts under in the rollups, as in the project.
ANSWERED = "answered"


def _engine(url: str) -> Engine:
    """Create the engine with the project's own SQLite setup (WAL, busy timeout, BEGIN IMMEDIATE to write)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, Config.SQLITE_BUSY_TIMEOUT)
    return engine


def create_app() -> Flask:
    """Create the bare app on DATABASE_URL and its bench-only table."""
    engine = _engine(os.environ["DATABASE_URL"])
    insert_for_dialect = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    # Built once and run for every answer, as the project does: a multi-row VALUES would be compiled per request.
    add_to_rollup = insert_for_dialect(rollups).on_conflict_do_update(
        index_elements=["survey_id", "organization_id", "question_id", "option"],
        set_={"count": rollups.c.count + 1},
    )
    with engine.begin() as connection:
        # Both workers run this at start; IF NOT EXISTS keeps the race harmless.
        connection.execute(CreateTable(bench_writes, if_not_exists=True))
    app = Flask(__name__)

    @app.get("/static-page")
    def static_page() -> str:
        """Return a small constant page: the least work for a page without data."""
        return STATIC_PAGE

    @app.get("/rows")
    def rows() -> str:
        """Render the first 20 users in a table."""
        with engine.connect() as connection:
            query = select(users.c.id, users.c.username, users.c.name).order_by(users.c.id).limit(20)
            return render_template("rows.html", rows=connection.execute(query).all())

    @app.get("/cases-rows")
    def cases_rows() -> str:
        """Render the 20 newest cases with their category's name in a table."""
        with engine.connect() as connection:
            columns = (cases.c.id, cases.c.title, cases.c.state, cases.c.submitted_at, categories.c.name.label("category"))
            query = (
                select(*columns)
                .join(categories, categories.c.id == cases.c.category_id)
                .order_by(cases.c.submitted_at.desc())
                .limit(20)
            )
            return render_template("cases_rows.html", rows=connection.execute(query).all())

    @app.post("/insert")
    def insert() -> tuple[str, int]:
        """Insert one row."""
        with writing(), engine.begin() as connection:
            now = datetime.now(timezone.utc)
            connection.execute(bench_writes.insert().values(note=request.form.get("note", ""), created_at=now))
        return "", 204

    @app.post("/ballot-bare")
    def ballot_bare() -> tuple[str, int]:
        """Write the rows of one ballot by invitation in one transaction: no checks, no auth, no CSRF."""
        form = request.form
        survey_id, organization_id = int(form["survey"]), int(form["organization"])
        day = datetime.now(timezone.utc).date()
        ballot_id = uuid.uuid4()
        # "q<id>" carries an option, "t<id>" a free-text answer.
        given = [(int(key[1:]), key[0], value) for key, value in form.items() if key[0] in "qt" and key[1:].isdigit()]
        with writing(), engine.begin() as connection:
            connection.execute(participations.insert().values(
                survey_id=survey_id, organization_id=organization_id, invitation_id=int(form["invitation"]), day=day
            ))
            connection.execute(ballots.insert().values(
                id=ballot_id, survey_id=survey_id, organization_id=organization_id, day=day
            ))
            connection.execute(answers.insert(), [
                {"ballot_id": ballot_id, "question_id": question_id, "value": value if kind == "q" else None,
                 "text": value if kind == "t" else None}
                for question_id, kind, value in given
            ])
            connection.execute(add_to_rollup, [
                {"survey_id": survey_id, "organization_id": organization_id, "question_id": question_id,
                 "option": value if kind == "q" else ANSWERED, "count": 1}
                for question_id, kind, value in given
            ])
            connection.execute(targets.update().where(
                targets.c.survey_id == survey_id, targets.c.organization_id == organization_id
            ).values(ballots=targets.c.ballots + 1))
        return "", 204

    return app
