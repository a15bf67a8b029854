"""The sign-in page's side of throttling: the attempt as accounts/throttle.py sees it, its 429, the device cookie."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, make_response, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _

from accounts.throttle import Attempt, DeviceCookies, LoginThrottle, Policy
from errors import render_error
from extensions import limiter

DEVICE_COOKIE = "device"


def _device_cookies() -> DeviceCookies:
    return DeviceCookies(current_app.config["DEVICE_COOKIE_KEY"])


def _throttle() -> LoginThrottle:
    # The limiter's storage: memory in one process, Redis shared by every node (RATELIMIT_STORAGE_URI).
    return LoginThrottle(limiter.storage, Policy.from_settings(current_app.config))


def attempt(login: str) -> Attempt:
    """Return this request's sign-in attempt: its login, its address and the browser's device entry for the login."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    return Attempt(login, request.remote_addr or "", _device_cookies().nonce_for(cookie, login))


def wait(attempt: Attempt) -> int:
    return _throttle().wait(attempt)


def failed(attempt: Attempt) -> None:
    _throttle().failed(attempt)


def succeeded(attempt: Attempt) -> None:
    _throttle().succeeded(attempt)


def too_soon(attempt: Attempt, seconds: int) -> Response:
    """Answer 429 saying when to try again and, to an untrusted browser, that the account's own are not held up."""
    when = format_timedelta(timedelta(seconds=seconds))
    if attempt.trusted:
        message = _("Too many wrong passwords have been tried from this browser. Please try again in %(wait)s.",
                    wait=when)
    else:
        message = _("Too many wrong passwords have been tried. Please try again in %(wait)s. A browser that has "
                    "signed in to this account before can still sign in now.", wait=when)
    response = make_response(render_error(429, message))
    response.headers["Retry-After"] = str(seconds)
    return response


def remember_device(response: Response, login: str) -> Response:
    """Give the browser a fresh device entry for this login, beside those of its other accounts."""
    config = current_app.config
    value = _device_cookies().issue(request.cookies.get(DEVICE_COOKIE, ""), login)
    # Sent to the sign-in page only: nothing else needs it.
    response.set_cookie(DEVICE_COOKIE, value, max_age=timedelta(days=config["DEVICE_COOKIE_DAYS"]),
                        path=url_for("accounts.login"), secure=config["SESSION_COOKIE_SECURE"], httponly=True,
                        samesite="Lax")
    return response
