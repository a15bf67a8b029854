"""Command-line tasks of the surveys: counting a closed survey's ballots by hand."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from db import utcnow
from errors import DomainError
from extensions import db, writing
from surveys.models import Survey
from surveys.sealing import BrokenSeal
from surveys.tasks import run_tally

surveys_cli = AppGroup("surveys", help="Survey tasks.")


@surveys_cli.command("tally")
@click.argument("survey_id", type=int)
def tally_command(survey_id: int) -> None:
    """Count a closed survey's sealed ballots (the queue does this at close; safe to run again)."""
    try:
        with writing():
            survey = db.session.get(Survey, survey_id)
            if survey is not None and survey.counted_at is not None:
                click.echo(f"Survey {survey_id} was counted already, at {survey.counted_at:%Y-%m-%d %H:%M} UTC.")
                return
            report = run_tally(survey_id, utcnow())
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    except BrokenSeal as error:
        raise click.ClickException(f"{error}. Nothing of that community was counted; check BALLOT_KEY "
                                   "(docs/privacy.md) and that no envelope was altered, then run this again.") from None
    click.echo(f"Survey {survey_id} counted: {report.ballots} ballot(s) in {report.communities} community(ies).")


def init_app(app: Flask) -> None:
    app.cli.add_command(surveys_cli)
