"""`flask demo seed`: the demo district, its people, cases and evaluations."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from accounts.auth import password_hasher
from accounts.models import User
from db import utcnow
from demo import cases, evaluations, people
from extensions import db, writing

demo_cli = AppGroup("demo", help="Demo data for trying Lianxin out.")


def seed_everything(upload_folder: Path, code_key: bytes, box_key: bytes) -> tuple[int, evaluations.SeededSurveys]:
    """Seed people, cases and surveys through the real services; return the case count and the surveys."""
    people.seed(password_hasher())
    now = utcnow()
    case_count = cases.seed(now, upload_folder)
    surveys = evaluations.seed(now, code_key, box_key)
    return case_count, surveys


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when any account exists already.")
def seed_command(if_empty: bool) -> None:
    """Create the demo district, its people and data, then print the demo logins."""
    with writing():
        _seed(if_empty)


def _seed(if_empty: bool) -> None:
    surveys = None
    if people.is_seeded():
        click.echo("Demo data is present already; nothing added.")
    elif if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("The database has accounts already; demo data not added.")
        return
    else:
        case_count, surveys = seed_everything(
            Path(current_app.config["UPLOAD_FOLDER"]), current_app.config["CODE_HASH_KEY"],
            current_app.config["BALLOT_BOX_KEY"],
        )
        db.session.commit()
        click.echo(f"Demo data created, with {case_count} cases and {surveys.ballots} survey ballots.")
    click.echo(f"\nDemo accounts (password for all: {people.DEMO_PASSWORD}):")
    for account in people.demo_accounts():
        click.echo(f"  {account.username:<16} {account.name:<12} {account.what}")
    if surveys is None:
        # Only the codes' hashes are stored, so they cannot be shown again.
        click.echo("\nThe open demo survey's invitation codes were shown when the demo was created;"
                   " an evaluator can issue more on the survey's page.")
        return
    click.echo(f"\nInvitation codes for the open survey «{surveys.open_title}»"
               " (each answers once at http://127.0.0.1:5000/vote):")
    for community, code in surveys.codes:
        click.echo(f"  {community:<8} {code}")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
