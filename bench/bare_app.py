"""The baseline: a bare Flask app doing the least work for each job the project's pages do."""
from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from flask import Flask, render_template, request
from nacl.public import PublicKey, SealedBox
from sqlalchemy import (
    Boolean, Column, Date, DateTime, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Uuid, bindparam,
    create_engine, select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from config import Config
from extensions import configure_sqlite, writing
from surveys.sealing import PADDED_TO

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
envelopes = Table(
    "survey_envelopes", metadata, Column("survey_id", Integer, primary_key=True),
    Column("organization_id", Integer, primary_key=True), Column("id", Uuid, primary_key=True),
    Column("sealed", LargeBinary),
)
targets = Table(
    "survey_targets", metadata, Column("survey_id", Integer, primary_key=True),
    Column("organization_id", Integer, primary_key=True), Column("ballots", Integer), Column("counted", Boolean),
)
surveys = Table("surveys", metadata, Column("id", Integer, primary_key=True), Column("ballot_public_key", LargeBinary))
bench_writes = Table(
    "bench_writes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("note", String(80)),
    Column("created_at", DateTime),
)
STATIC_PAGE = (Path(__file__).parent / "templates" / "static_page.html").read_text(encoding="utf-8")


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
    # Built once, as the project's: the table's unique constraints decide, and only a new row returns its id.
    take_part = insert_for_dialect(participations).on_conflict_do_nothing().returning(participations.c.id)
    count_ballot = targets.update().where(
        targets.c.survey_id == bindparam("survey"), targets.c.organization_id == bindparam("organization"),
        targets.c.counted.is_(False),
    ).values(ballots=targets.c.ballots + 1)

    @cache
    def ballot_box(survey_id: int) -> SealedBox:
        """Return what seals a survey's ballots, read once per process as the project reads its open surveys."""
        with engine.connect() as connection:
            key = connection.scalar(select(surveys.c.ballot_public_key).where(surveys.c.id == survey_id))
        return SealedBox(PublicKey(key))
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
        """Take one ballot by invitation in one transaction: the participation, the count, a sealed envelope.

        No checks, no auth, no CSRF; the answers ("q<id>") are sealed as they come, padded as the
        project pads them, before the write lock is taken.
        """
        form = request.form
        survey_id, organization_id = int(form["survey"]), int(form["organization"])
        given = sorted((int(key[1:]), value) for key, value in form.items() if key[0] == "q" and key[1:].isdigit())
        plain = json.dumps([survey_id, organization_id, given], ensure_ascii=False, separators=(",", ":")).encode()
        sealed = ballot_box(survey_id).encrypt(plain + b" " * (-len(plain) % PADDED_TO))
        # Returning before the commit rolls back: the connection closes with its transaction open.
        with writing(), engine.connect() as connection:
            if connection.execute(take_part, {
                "survey_id": survey_id, "organization_id": organization_id, "resident_id": None,
                "invitation_id": int(form["invitation"]), "day": datetime.now(timezone.utc).date(),
            }).scalar() is None:
                return "", 409
            if not connection.execute(count_ballot, {"survey": survey_id, "organization": organization_id}).rowcount:
                return "", 409  # counted already
            connection.execute(envelopes.insert(), {
                "survey_id": survey_id, "organization_id": organization_id, "id": uuid.uuid4(), "sealed": sealed,
            })
            connection.commit()
        return "", 204

    return app
