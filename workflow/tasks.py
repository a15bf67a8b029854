"""The workflow's queued work: the time-limit sweep, every ten minutes; forgetting old form keys, every hour."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from huey import crontab

import formkeys
from db import utcnow
from extensions import db, huey, writing
from workflow.signals import sweep_finished
from workflow.sweep import SweepReport, TimeLimits, sweep

#: Form keys are kept this much longer than they are accepted, for nodes whose clocks disagree a little.
FORM_KEY_CLOCK_MARGIN = timedelta(hours=1)


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


@huey.periodic_task(crontab(minute="37"), name="workflow.forget-form-keys")
def forget_form_keys() -> None:
    """Delete the claimed form keys older than any key a form may still carry."""
    kept = timedelta(days=current_app.config["FORM_KEY_DAYS"]) + FORM_KEY_CLOCK_MARGIN
    with writing():
        formkeys.forget_claimed_before(utcnow() - kept)
        db.session.commit()
