"""Extensions, created unbound; create_app binds them."""
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

from flask import Flask, has_app_context

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from huey import Huey
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

# Named constraints so Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
htmx = Htmx()
limiter = Limiter(key_func=get_remote_address)

#: True while the current unit of work will write: SQLite then takes the write lock up
#: front (BEGIN IMMEDIATE) instead of failing to upgrade a read lock mid-transaction.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)


@contextmanager
def writing() -> Iterator[None]:
    """Mark the work inside as writing, for command-line tasks."""
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


def configure_sqlite(engine: Engine, busy_timeout_s: int) -> None:
    """Use WAL, a busy timeout and explicit BEGIN (IMMEDIATE when writing) on SQLite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


class TaskQueue(Huey):
    """Huey bound to the app by `init_app`: its storage comes from TASK_QUEUE_URL, its tasks run in an app context.

    Unbound, with TASKS_IMMEDIATE or inside `inline()`, a task runs at once where it is queued (Huey's
    immediate mode).
    """

    def __init__(self) -> None:
        self.flask_app: Flask | None = None
        self.queue_url = ""
        super().__init__("lianxin", results=False, immediate=True)

    def init_app(self, app: Flask) -> None:
        self.flask_app = app
        self.queue_url = app.config["TASK_QUEUE_URL"]
        self.immediate = app.config["TASKS_IMMEDIATE"]
        self.storage = self.create_storage()

    def get_storage(self, **_kwargs):
        return queue_storage(self.name, self.queue_url)

    @contextmanager
    def inline(self) -> Iterator[None]:
        """Run the tasks queued inside at once: a command run from cron may have no consumer beside it."""
        was_immediate = self.immediate
        self.immediate = True
        try:
            yield
        finally:
            self.immediate = was_immediate

    def execute(self, task, timestamp=None):
        # Inline a task shares the caller's app context and transaction; in a consumer it gets one of its
        # own, writing from the start on SQLite.
        if has_app_context():
            return super().execute(task, timestamp)
        with self.flask_app.app_context(), writing():
            return super().execute(task, timestamp)


def queue_storage(name: str, url: str):
    """Return Huey's storage for a `sqlite:///path` or `redis://host:port/db` URL."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SqliteStorage(name, filename=url.removeprefix("sqlite:///"))
    if scheme in ("redis", "rediss", "unix"):
        return RedisStorage(name, url=url)
    raise ValueError(f"TASK_QUEUE_URL must be sqlite:///path or redis://host:port/db, not {url!r}")


huey = TaskQueue()
