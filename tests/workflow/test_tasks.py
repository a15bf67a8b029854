"""The sweep and the case-figure refresh run as Huey tasks through a real consumer, on SQLite and on Redis."""
from __future__ import annotations

import os
import time
from datetime import datetime

import pytest
import redis
import sqlalchemy as sa

import config
from app import create_app
from db import utcnow
from evaluation import case_figures
from evaluation.models import CaseFigure
from extensions import db, huey
from tests.workflow.conftest import DAY
from workflow.machine import State
from workflow.models import Case
from workflow.tasks import sweep_cases

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_available() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.sqlite3'}"
    if not _redis_available():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"Redis is required in CI but {REDIS_URL} is unreachable")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def queued_app(app, queue_url):
    """The same database behind an app whose tasks wait in a real queue; the test app is bound again after."""
    queued = type("QueuedConfig", (config.TestConfig,), {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
        "TASKS_IMMEDIATE": False,
        "TASK_QUEUE_URL": queue_url,
    })
    queued_app = create_app(queued)
    yield queued_app
    huey.storage.flush_all()
    huey.init_app(app)
    with queued_app.app_context():
        db.engine.dispose()


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_sweep_runs_every_ten_minutes():
    task = sweep_cases.s()
    assert task.validate_datetime(datetime(2026, 12, 4, 15, 20))
    assert not task.validate_datetime(datetime(2026, 12, 4, 15, 21))


def test_a_consumer_runs_the_sweep_and_then_the_figure_refresh(app, flow, queued_app):
    now = utcnow()
    case = flow.bring_to(flow.file(now=now - 10 * DAY), State.resolved, now=now - 10 * DAY)
    db.session.commit()

    sweep_cases()  # queued, not run: no consumer yet
    assert huey.pending_count() == 1
    db.session.rollback()
    assert db.session.get(Case, case.id).state == State.resolved

    consumer = huey.create_consumer(workers=1, periodic=False, initial_delay=0.05, max_delay=0.2)
    consumer.start()
    try:
        this_month = case_figures.month_start(now)
        assert _wait_for(lambda: db.session.get(Case, case.id).state == State.closed)
        # The sweep's signal queued the refresh, which the consumer then ran as a task of its own.
        assert _wait_for(lambda: db.session.scalar(
            sa.select(sa.func.count()).select_from(CaseFigure).where(CaseFigure.month == this_month)
        ))
        assert _wait_for(lambda: huey.pending_count() == 0)
    finally:
        consumer.stop(graceful=True)


def test_the_consume_command_refuses_while_tasks_run_inline(runner):
    result = runner.invoke(args=["tasks", "consume"])
    assert result.exit_code != 0 and "TASKS_IMMEDIATE" in result.output
