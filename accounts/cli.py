"""Command-line tasks: demo data and the first administrator."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from accounts import demo, services
from accounts.auth import password_hasher
from accounts.models import User, utcnow
from errors import ValidationFailed
from extensions import db, writing
from surveys import demo as surveys_demo
from workflow import demo as workflow_demo

demo_cli = AppGroup("demo", help="Demo data for trying Lianxin out.")
users_cli = AppGroup("users", help="Manage user accounts.")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when any account exists already.")
def seed_command(if_empty: bool) -> None:
    """Create the demo district, its people and data, then print the demo logins."""
    with writing():
        _seed(if_empty)


def _seed(if_empty: bool) -> None:
    surveys = None
    if demo.is_seeded():
        click.echo("Demo data is present already; nothing added.")
    elif if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("The database has accounts already; demo data not added.")
        return
    else:
        demo.seed(password_hasher())
        now = utcnow()
        cases = workflow_demo.seed(now, Path(current_app.config["UPLOAD_FOLDER"]))
        surveys = surveys_demo.seed(now, current_app.config["SECRET_KEY"].encode())
        db.session.commit()
        click.echo(f"Demo data created, with {cases} cases and {surveys.ballots} survey ballots.")
    click.echo(f"\nDemo accounts (password for all: {demo.DEMO_PASSWORD}):")
    for account in demo.demo_accounts():
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


@users_cli.command("create-admin")
@click.argument("username")
@click.option("--name", default="Administrator", help="Display name.")
@click.password_option(help="The new administrator's password.")
def create_admin_command(username: str, name: str, password: str) -> None:
    """Create an administrator account."""
    try:
        with writing():
            user = services.create_user(
                None, username=username, name=name, phone=None, password=password,
                grants=[services.GrantSpec(services.Role.admin, None)], ph=password_hasher(),
            )
            db.session.commit()
    except ValidationFailed as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Administrator {user.username} created.")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
