"""A user's own sign-ins: ending one from the account page, or every other one at once."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts import sessions
from accounts.auth import SIGN_IN_KEY
from errors import NotFound
from extensions import db

bp = Blueprint("sign_ins", __name__)


@bp.post("/account/sessions/<sign_in_id>/end")
@login_required
def end(sign_in_id: str):
    """Sign out one of the user's own browsers; this one is signed out by logging out."""
    if sign_in_id == session.get(SIGN_IN_KEY) or not sessions.end_sign_in(sign_in_id, current_user.id):
        raise NotFound(_("There is no such session of yours."))
    db.session.commit()
    flash(_("That session has been signed out."), "success")
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/sessions/end-others")
@login_required
def end_others():
    """Sign out every browser of the user but this one."""
    ended = sessions.end_sign_ins(current_user.id, keep=session.get(SIGN_IN_KEY))
    db.session.commit()
    flash(_("Every other session has been signed out.") if ended else _("There was no other session."), "success")
    return redirect(url_for("accounts.account"), 303)
