"""Command-line tasks of the workflow: the time-limit sweep."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from db import utcnow
from extensions import db, writing
from workflow import services
from workflow.signals import sweep_finished

workflow_cli = AppGroup("workflow", help="Case workflow tasks.")


def time_limits() -> services.TimeLimits:
    cfg = current_app.config
    return services.TimeLimits(
        escalation_grace_hours=cfg["WORKFLOW_ESCALATION_GRACE_HOURS"], auto_close_days=cfg["WORKFLOW_AUTO_CLOSE_DAYS"]
    )


@workflow_cli.command("sweep")
def sweep_command() -> None:
    """Mark overdue cases, supervise long-overdue ones, close resolved cases without feedback."""
    now = utcnow()
    with writing():
        report = services.sweep(now, time_limits())
        db.session.commit()
        sweep_finished.send(now=now)
        db.session.commit()
    click.echo(
        f"{report.marked_overdue} marked overdue, {report.supervised} put under supervision, "
        f"{report.auto_closed} closed without feedback."
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(workflow_cli)
