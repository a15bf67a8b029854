"""Flask-Login wiring with server-side sign-ins, the configured password hasher and role guards for views."""
from __future__ import annotations

from functools import wraps

from argon2 import PasswordHasher
from flask import Flask, current_app, flash, g, request, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, user_logged_in, user_logged_out
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from ua_parser import parse as parse_user_agent

from accounts import passwords, sessions
from accounts.models import OrgLevel, Role, User
from accounts.sessions import SignIn
from db import utcnow
from errors import PermissionDenied
from extensions import db, login_manager
from session_store import write_after_request

#: Where the session keeps the id of its sign-in.
SIGN_IN_KEY = "sign_in"
#: What a session keeps when its sign-in ends: the language the visitor chose.
KEPT_AFTER_SIGN_OUT = ("locale",)


def password_hasher() -> PasswordHasher:
    cfg = current_app.config
    return passwords.hasher(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST_KIB"], cfg["ARGON2_PARALLELISM"])


#: A signed-in user with their grants, the grants' organizations and their sign-in's times, in one query:
#: nearly every request asks for a role.
USER_SIGNED_IN = (
    select(User, SignIn.created_at, SignIn.last_seen_at)
    .join(SignIn, SignIn.user_id == User.id)
    .options(joinedload(User.grants))
    .where(User.id == bindparam("user_id"), SignIn.id == bindparam("sign_in"))
)


def timeouts() -> sessions.Timeouts:
    config = current_app.config
    return sessions.Timeouts(config["SESSION_IDLE_TIMEOUT"], config["SESSION_ABSOLUTE_TIMEOUT"])


def forget_sign_in() -> None:
    """Empty the session but for the visitor's language."""
    kept = {key: session[key] for key in KEPT_AFTER_SIGN_OUT if key in session}
    session.clear()
    session.update(kept)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Return the session's user while its sign-in lasts; a sign-in ended anywhere signs the session out."""
    user_id, _sep, version = session_id.partition(":")
    sign_in = session.get(SIGN_IN_KEY)
    if not user_id.isdigit() or not sign_in:
        return None
    row = db.session.execute(USER_SIGNED_IN, {"user_id": int(user_id), "sign_in": sign_in}).unique().one_or_none()
    if row is None or not row.User.active or str(row.User.session_version) != version:
        forget_sign_in()
        return None
    now = utcnow()
    expiry = sessions.expiry(row.created_at, row.last_seen_at, now, timeouts())
    if expiry.expired:
        g.ended_sign_in = sign_in
        forget_sign_in()
        flash(_("You were signed out after a period of inactivity. Please log in again.") if expiry.idle
              else _("Your session reached its longest allowed time. Please log in again."), "info")
        return None
    if sessions.needs_touch(row.last_seen_at, now):
        g.touch_sign_in = sign_in
    return row.User


def _device() -> str:
    """Name the browser and system of the request, as the list of sign-ins shows them."""
    parsed = parse_user_agent(request.headers.get("User-Agent", ""))
    return " · ".join(part.family for part in (parsed.user_agent, parsed.os) if part and part.family != "Other")


def _start_sign_in(_app, user: User, **_extra) -> None:
    """Record the new sign-in under a new session id, so that an id planted before it is worthless."""
    current_app.session_interface.regenerate(session)
    session[SIGN_IN_KEY] = sessions.start_sign_in(user.id, _device(), utcnow())
    db.session.commit()


def _end_sign_in(_app, user: User, **_extra) -> None:
    """End the sign-in and leave its session id behind: a copy of the old cookie opens nothing."""
    sign_in = session.get(SIGN_IN_KEY)
    if sign_in:
        sessions.end_sign_in(sign_in)
        db.session.commit()
    current_app.session_interface.regenerate(session)
    forget_sign_in()


def _write_sign_in_bookkeeping(_error=None) -> None:
    """Move the last-seen time or delete a sign-in that ran out, once the request's own work is over."""
    statements = []
    if "touch_sign_in" in g:
        statements.append(sessions.touch_statement(g.pop("touch_sign_in"), utcnow()))
    if "ended_sign_in" in g:
        statements.append(sessions.end_statement(g.pop("ended_sign_in")))
    if statements:
        write_after_request(*statements)


def role_required(*roles: Role):
    """Let a view through only for signed-in users holding one of the roles."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated or not any(current_user.has_role(role) for role in roles):
                raise PermissionDenied(_l("Your account does not have the role this page needs."))
            return view(*args, **kwargs)

        return wrapped

    return decorator


ROLE_LABELS = {
    Role.resident: _l("Resident"),
    Role.member: _l("Member"),
    Role.evaluator: _l("Evaluator"),
    Role.admin: _l("Administrator"),
}
LEVEL_LABELS = {
    OrgLevel.district: _l("District committee"),
    OrgLevel.township: _l("Township committee"),
    OrgLevel.community: _l("Community organization"),
}


def init_app(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(Role=Role, role_label=ROLE_LABELS.get, level_label=LEVEL_LABELS.get)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.localize_callback = str  # flashed in the reader's language; the session stores plain text
    login_manager.session_protection = "basic"
    user_logged_in.connect(_start_sign_in, app)
    user_logged_out.connect(_end_sign_in, app)
    app.teardown_request(_write_sign_in_bookkeeping)
