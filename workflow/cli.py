"""Command-line tasks of the workflow: the time-limit sweep, for cron where no consumer runs."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from db import utcnow
from extensions import huey, writing
from workflow.tasks import run_sweep

workflow_cli = AppGroup("workflow", help="Case workflow tasks.")


@workflow_cli.command("sweep")
def sweep_command() -> None:
    """Mark overdue cases, supervise long-overdue ones, close resolved cases without feedback."""
    # Run what the sweep queues (the case-figure refresh) here too: cron may have no consumer beside it.
    with writing(), huey.inline():
        report = run_sweep(utcnow())
    click.echo(
        f"{report.marked_overdue} marked overdue, {report.supervised} put under supervision, "
        f"{report.auto_closed} closed without feedback."
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(workflow_cli)
