"""Server-side sessions (Flask-Session): in the database by default, in Redis when SESSION_REDIS_URL is set.

The browser holds only a random session id; what the session holds stays on the server, so that
ending a sign-in (accounts/sessions.py) ends it everywhere at once and any node can serve the next
request. Flask-Session brings the cookie handling and Redis; the database store is ours, on a table
the migrations manage, writing only once the request's own work is over so that on SQLite the write
lock is taken up front and never while the request still holds a read transaction.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from flask import Flask, g
from flask_session import Session
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from redis import Redis
from sqlalchemy import DateTime, LargeBinary, String, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from db import utcnow
from extensions import db, writing

#: Bytes of randomness in a session id (43 characters in the cookie).
SESSION_ID_BYTES = 32


class StoredSession(db.Model):
    """A session's data, by its id, until it expires."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


_sessions = StoredSession.__table__
#: Built once: every request with a session cookie reads one.
_READ = select(_sessions.c.data).where(_sessions.c.id == bindparam("id"), _sessions.c.expires_at > bindparam("now"))
_DELETE = delete(_sessions).where(_sessions.c.id == bindparam("id"))


@cache
def _upsert_statement(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_sessions).values(id=bindparam("id"), data=bindparam("data"),
                                         expires_at=bindparam("expires_at"))
    return statement.on_conflict_do_update(index_elements=[_sessions.c.id], set_={
        "data": statement.excluded.data, "expires_at": statement.excluded.expires_at,
    })


def write_after_request(*statements) -> None:
    """Run bookkeeping statements once a request's own work is over, in a write transaction of their own.

    Each is a statement or a (statement, parameters) pair. What the request left uncommitted is
    dropped, as the end of the request would drop it.
    """
    db.session.rollback()
    with writing():
        for statement in statements:
            db.session.execute(*statement) if isinstance(statement, tuple) else db.session.execute(statement)
        db.session.commit()


class DatabaseSessionInterface(ServerSideSessionInterface):
    """Flask-Session's server-side sessions, stored in the `sessions` table."""

    session_class = ServerSideSession
    #: Expired rows are skipped when read and deleted by the periodic task or `flask session_cleanup`.
    ttl = False

    def __init__(self, app: Flask) -> None:
        super().__init__(app, key_prefix="", sid_length=SESSION_ID_BYTES)

    def regenerate(self, session: ServerSideSession) -> None:
        """Give the session a new id; the old id's row is deleted with the next write."""
        if session:
            g.setdefault("replaced_session_ids", []).append(session.sid)
            session.sid = self._generate_sid(self.sid_length)
            session.modified = True

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        # On a connection of its own: the request's transaction begins later, once it knows it will write.
        with db.engine.connect() as connection:
            data = connection.scalar(_READ, {"id": store_id, "now": utcnow()})
        return None if data is None else self.serializer.decode(data)

    def _delete_expired_sessions(self) -> None:
        delete_expired()

    def _replaced(self) -> list:
        return [delete(_sessions).where(_sessions.c.id.in_(g.pop("replaced_session_ids")))] \
            if "replaced_session_ids" in g else []

    def _delete_session(self, store_id: str) -> None:
        write_after_request(*self._replaced(), (_DELETE, {"id": store_id}))

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        write_after_request(*self._replaced(), (_upsert_statement(db.engine.dialect.name), {
            "id": store_id, "data": self.serializer.encode(session), "expires_at": utcnow() + session_lifetime,
        }))


def delete_expired() -> int:
    """Delete the sessions that have expired; return how many."""
    with writing():
        deleted = db.session.execute(delete(_sessions).where(_sessions.c.expires_at <= utcnow())).rowcount
        db.session.commit()
    return deleted


def init_app(app: Flask) -> None:
    """Keep sessions in Redis when SESSION_REDIS_URL is set, else in the database."""
    url = app.config.get("SESSION_REDIS_URL")
    if url:
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=Redis.from_url(url),
                          SESSION_KEY_PREFIX="lianxin:session:", SESSION_ID_LENGTH=SESSION_ID_BYTES)
        Session(app)
    else:
        app.session_interface = DatabaseSessionInterface(app)
