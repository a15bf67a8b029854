"""Command-line tasks of accounts: the first administrator, signing everyone out."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from accounts import sessions
from accounts.auth import password_hasher
from accounts.models import Role
from accounts.users import GrantSpec, create_user
from errors import ValidationFailed
from extensions import db, writing

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create-admin")
@click.argument("username")
@click.option("--name", default="Administrator", help="Display name.")
@click.password_option(help="The new administrator's password.")
def create_admin_command(username: str, name: str, password: str) -> None:
    """Create an administrator account."""
    try:
        with writing():
            user = create_user(
                None, username=username, name=name, phone=None, password=password,
                grants=[GrantSpec(Role.admin, None)], ph=password_hasher(),
            )
            db.session.commit()
    except ValidationFailed as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Administrator {user.username} created.")


@users_cli.command("sign-out-everyone")
def sign_out_everyone_command() -> None:
    """End every signed-in session of every account, on every node."""
    with writing():
        ended = sessions.end_everyone()
        db.session.commit()
    click.echo(f"{ended} sessions signed out.")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
