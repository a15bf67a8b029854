"""The address of the client being served, for records kept by code that imports no Flask (the audit log)."""
from __future__ import annotations

from contextvars import ContextVar

from flask import Flask, g, request

#: The current request's client address as the WSGI server gives it; None in commands and queued tasks.
current: ContextVar[str | None] = ContextVar("client_address", default=None)


def _remember() -> None:
    g.client_address_token = current.set(request.remote_addr)


def _forget(_exc=None) -> None:
    token = g.pop("client_address_token", None)
    if token is not None:
        current.reset(token)


def init_app(app: Flask) -> None:
    app.before_request(_remember)
    app.teardown_request(_forget)
