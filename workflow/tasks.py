"""The workflow's queued work: the time-limit sweep, every ten minutes."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from huey import crontab

from db import utcnow
from extensions import db, huey
from workflow.signals import sweep_finished
from workflow.sweep import SweepReport, TimeLimits, sweep


def time_limits() -> TimeLimits:
    """Return the sweep's limits from the app's settings."""
    config = current_app.config
    return TimeLimits(
        escalation_grace_hours=config["WORKFLOW_ESCALATION_GRACE_HOURS"],
        auto_close_days=config["WORKFLOW_AUTO_CLOSE_DAYS"],
    )


def run_sweep(now: datetime) -> SweepReport:
    """Sweep and commit, then let the packages above act on the swept cases."""
    report = sweep(now, time_limits())
    db.session.commit()
    sweep_finished.send(now=now)
    db.session.commit()
    return report


@huey.periodic_task(crontab(minute="*/10"), name="workflow.sweep")
def sweep_cases() -> None:
    """Mark overdue cases, supervise long-overdue ones, close resolved cases without feedback."""
    run_sweep(utcnow())
