"""Command-line tasks of accounts: the first administrator."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

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


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
