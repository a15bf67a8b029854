"""Security headers and write intent for SQLite on every request."""
from __future__ import annotations

from flask import Flask, current_app, g, request

from extensions import write_intent

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def reads_before_writing(view):
    """Mark a view that reads in a plain transaction and takes SQLite's write lock itself, for its writes alone.

    Every other state-changing request writes with the lock taken at its first statement.
    """
    view.reads_before_writing = True
    return view


def _mark_write_intent() -> None:
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint)
    if not getattr(view, "reads_before_writing", False):
        g.write_intent_token = write_intent.set(True)


def _add_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if current_app.config["HSTS"]:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    # The same URL answers htmx swaps with fragments and browsers with pages.
    response.vary.update(("HX-Request", "HX-Target"))
    return response


def _reset_write_intent(_exc=None) -> None:
    token = g.pop("write_intent_token", None)
    if token is not None:
        write_intent.reset(token)


def init_app(app: Flask) -> None:
    app.before_request(_mark_write_intent)
    app.after_request(_add_headers)
    app.teardown_request(_reset_write_intent)
