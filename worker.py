"""`flask tasks consume`: the consumer that runs queued and periodic tasks beside the app."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from extensions import huey

tasks_cli = AppGroup("tasks", help="The task queue.")


@tasks_cli.command("consume")
@click.option("--workers", default=1, show_default=True, help="Worker threads.")
def consume_command(workers: int) -> None:
    """Run queued tasks and the periodic ones (the sweep every 10 minutes) until stopped."""
    if huey.immediate:
        raise click.ClickException("TASKS_IMMEDIATE is on: tasks run where they are queued, so there is nothing to consume.")
    click.echo(f"Consuming tasks from {huey.queue_url.split('@')[-1]} with {workers} worker(s); Ctrl-C stops.")
    huey.create_consumer(workers=workers, worker_type="thread", periodic=True).run()


def init_app(app: Flask) -> None:
    app.cli.add_command(tasks_cli)
