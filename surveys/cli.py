"""Command-line tasks of the surveys: counting a closed survey's ballots by hand."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from db import utcnow
from errors import DomainError
from extensions import writing
from surveys.tasks import run_tally

surveys_cli = AppGroup("surveys", help="Survey tasks.")


@surveys_cli.command("tally")
@click.argument("survey_id", type=int)
def tally_command(survey_id: int) -> None:
    """Count a closed survey's sealed ballots (the queue does this at close; safe to run again)."""
    try:
        with writing():
            report = run_tally(survey_id, utcnow())
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    click.echo(f"Survey {survey_id} counted: {report.ballots} ballot(s) in {report.communities} community(ies).")


def init_app(app: Flask) -> None:
    app.cli.add_command(surveys_cli)
