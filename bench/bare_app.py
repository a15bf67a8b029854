"""The baseline: a bare Flask app doing the least work for each job the project's pages do."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, render_template, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

metadata = MetaData()
#: The project's table, reduced to the columns the baseline page shows.
users = Table(
    "users", metadata, Column("id", Integer, primary_key=True), Column("username", String), Column("name", String)
)
bench_writes = Table(
    "bench_writes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("note", String(80)),
    Column("created_at", DateTime),
)
STATIC_PAGE = (Path(__file__).parent / "templates" / "static_page.html").read_text(encoding="utf-8")


def _engine(url: str) -> Engine:
    """Create the engine, with the project's SQLite durability settings so writes compare fairly."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 15000")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    return engine


def create_app() -> Flask:
    """Create the bare app on DATABASE_URL and its bench-only table."""
    engine = _engine(os.environ["DATABASE_URL"])
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

    @app.post("/insert")
    def insert() -> tuple[str, int]:
        """Insert one row."""
        with engine.begin() as connection:
            now = datetime.now(timezone.utc)
            connection.execute(bench_writes.insert().values(note=request.form.get("note", ""), created_at=now))
        return "", 204

    return app
