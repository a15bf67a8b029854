"""Run a survey's tally and SIGKILL this process at a chosen point, as a crash would (for test_tally_crash.py).

    python -m tests.surveys.tally_until_killed DATABASE_URL SURVEY_ID [WHERE N]

WHERE is `statement` (before the N-th SQL statement), `envelope` (as the N-th envelope is opened),
`commit` (before the N-th commit reaches the database) or `committed` (just after the N-th commit);
without it the tally runs to the end. The app is built from TestConfig on the test's database.
"""
from __future__ import annotations

import os
import signal
import sys

from sqlalchemy import event
from sqlalchemy.orm import Session

import config
from app import create_app
from db import utcnow
from extensions import db, writing
from surveys import sealing, tally
from surveys.tasks import run_tally


def kill_at(where: str, n: int) -> None:
    """Count the events of one kind and kill this process at the n-th."""
    count = 0

    def tick(*_args, **_kwargs) -> None:
        nonlocal count
        count += 1
        if count == n:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    if where == "statement":
        event.listen(db.engine, "before_cursor_execute", tick)
    elif where == "commit":
        event.listen(db.engine, "commit", tick)
    elif where == "committed":
        event.listen(Session, "after_commit", tick)
    elif where == "envelope":
        open_envelope = sealing.open_envelope

        def opening(*args):
            tick()
            return open_envelope(*args)

        sealing.open_envelope = opening
    else:
        raise SystemExit(f"unknown kill point {where!r}")


def main(url: str, survey_id: str, where: str | None = None, n: str = "0") -> None:
    app = create_app(type("KilledTallyConfig", (config.TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    # A commit after every community (the task groups several), so that kills land between communities too.
    tally.BALLOTS_PER_COMMIT = 1
    with app.app_context(), writing():
        if where:
            kill_at(where, int(n))
        report = run_tally(int(survey_id), utcnow())
    print(f"counted {report.ballots} ballot(s) in {report.communities} community(ies)")


if __name__ == "__main__":
    main(*sys.argv[1:])
