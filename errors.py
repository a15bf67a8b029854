"""Domain errors, and their one mapping to HTTP responses.

The error classes import nothing from Flask, so plain domain modules can raise them;
the mapping imports Flask inside the functions that need it.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class DomainError(Exception):
    """An operation refused for a reason the user can act on."""

    status = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class PermissionDenied(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class InvalidTransition(Conflict):
    pass


class ValidationFailed(DomainError):
    """Input that is well-formed but breaks a rule; `errors` maps field names to messages."""

    status = 422

    def __init__(self, errors: dict[str, list] | object) -> None:
        if not isinstance(errors, dict):
            errors = {"": [errors]}
        super().__init__()
        self.errors = errors

    @property
    def message(self) -> str:
        # Joined on demand: the messages may be lazy translations.
        return "; ".join(str(m) for msgs in self.errors.values() for m in msgs)

    @message.setter
    def message(self, _value: str) -> None:
        """Ignore DomainError's assignment; the message comes from `errors`."""


def _default_message(status: int) -> str:
    from flask_babel import gettext as _

    return {
        400: _("The request could not be understood. Please go back and try again."),
        403: _("You do not have permission to do this."),
        404: _("The page you were looking for does not exist."),
        405: _("This page cannot be used that way."),
        409: _("This was changed in the meantime. Please reload and try again."),
        413: _("The upload is too large."),
        422: _("Some of what you entered needs correcting."),
        429: _("Too many attempts. Please wait a few minutes and try again."),
    }.get(status, _("Something went wrong on our side. Please try again later."))


def _title(status: int) -> str:
    from flask_babel import gettext as _

    return {
        400: _("Bad request"),
        403: _("Not allowed"),
        404: _("Page not found"),
        405: _("Not allowed"),
        409: _("Conflict"),
        413: _("Upload too large"),
        422: _("Please check your input"),
        429: _("Too many attempts"),
    }.get(status, _("Server error"))


def render_error(status: int, message: str | None = None):
    """Render an error as a full page, or as a fragment for an htmx swap."""
    from flask import render_template

    from extensions import db
    from responses import wants_fragment

    db.session.rollback()
    context = {"status": status, "title": _title(status), "message": message or _default_message(status)}
    if wants_fragment():
        # Show the message in the page's message area rather than in place of the swap target.
        headers = {"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"}
        return render_template("errors/_error.html", **context), status, headers
    return render_template("errors/error.html", **context), status


def register_error_handlers(app) -> None:
    from flask import request
    from flask_babel import gettext as _
    from flask_limiter import RateLimitExceeded
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        return render_error(error.status, error.message or None)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        return render_error(400, _("This form has expired or was not sent from this site. Please reload the page and try again."))

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limit(error: RateLimitExceeded):
        # A limit given its own words (error_message) says what was limited; the others get the generic ones.
        return render_error(429, error.description if error.limit.error_message else None)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)
