"""Flask-Login wiring, the configured password hasher and role guards for views."""
from __future__ import annotations

from functools import wraps

from argon2 import PasswordHasher
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from accounts import passwords
from accounts.models import OrgLevel, Role, User
from errors import PermissionDenied
from extensions import db, login_manager


def password_hasher() -> PasswordHasher:
    cfg = current_app.config
    return passwords.hasher(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST_KIB"], cfg["ARGON2_PARALLELISM"])


#: A user with their grants and the grants' organizations, in one query: nearly every request asks for a role.
USER_WITH_GRANTS = select(User).options(joinedload(User.grants)).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.execute(USER_WITH_GRANTS, {"user_id": int(user_id)}).unique().scalar_one_or_none()
    if user is None or not user.active or str(user.session_version) != version:
        return None
    return user


def role_required(*roles: Role):
    """Let a view through only for signed-in users holding one of the roles."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not any(current_user.has_role(role) for role in roles):
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
    login_manager.session_protection = "basic"
