"""Command-line tasks of the evaluation: recomputing the precomputed case figures."""
from __future__ import annotations

from datetime import date, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from db import utcnow
from evaluation import case_figures
from extensions import db, writing

evaluation_cli = AppGroup("evaluation", help="Evaluation tasks.")


def _month(_ctx, _param, values: tuple[str, ...]) -> list[date]:
    try:
        return [datetime.strptime(value, "%Y-%m").date() for value in values]
    except ValueError:
        raise click.BadParameter("give months as YYYY-MM, for example 2025-06") from None


@evaluation_cli.command("refresh")
@click.option("--month", "months", multiple=True, callback=_month, metavar="YYYY-MM",
              help="A month to recompute (repeatable); every month with cases when omitted.")
def refresh_command(months: list[date]) -> None:
    """Recompute the case figures per organization, secretary term and month."""
    with writing():
        report = case_figures.refresh_case_figures(utcnow(), months or None)
        db.session.commit()
    click.echo(f"Case figures recomputed: {report.months} month(s), {report.cases} case(s), {report.rows} row(s).")


def init_app(app: Flask) -> None:
    app.cli.add_command(evaluation_cli)
