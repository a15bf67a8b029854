"""Signing in and out, residents' own accounts, the organization tree and the register."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from wtforms.fields.choices import SelectChoice

import accounts.register
from accounts import throttle_views
from accounts.auth import SIGN_IN_KEY, password_hasher, role_required, timeouts
from accounts.forms import ChangePasswordForm, LanguageForm, LoginForm, RegisterForm, RegisterImportForm
from accounts.models import OrgLevel, Role
from accounts.organizations import get_organization_in_scope, organizations_in
from accounts.register import RegisterImportFailed, register_scope
from accounts.sessions import active_sign_ins
from accounts.signals import login_failed
from accounts.terms import current_secretaries, open_term, terms_of
from accounts.users import authenticate, change_password, evaluator_scope, register_resident
from db import utcnow
from errors import ValidationFailed
from extensions import db, limiter
from inputs import id_argument
from responses import copy_errors, form_status

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str | None:
    """Accept only a local path as the place to return to after logging in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/")
def index():
    """Show each signed-in person what their roles let them do."""
    if not current_user.is_authenticated:
        return render_template("accounts/welcome.html")
    context = {}
    if current_user.has_role(Role.evaluator) or current_user.is_admin:
        scope = evaluator_scope(current_user)
        organizations = organizations_in(scope)
        context["organizations"] = organizations
        context["secretaries"] = current_secretaries([o.id for o in organizations])
    for role in (Role.resident, Role.member):
        organization = current_user.organization_for(role)
        if organization is not None:
            context[f"{role.value}_org"] = organization
            context[f"{role.value}_secretary"] = open_term(organization.id)
    return render_template("accounts/index.html", **context)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log a user in and return them where they were going."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"), 303)
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        attempt = throttle_views.attempt(form.username.data)
        if wait := throttle_views.wait(attempt):
            return throttle_views.too_soon(attempt, wait)
        user = authenticate(form.username.data, form.password.data, password_hasher())
        if user is None:
            login_failed.send(current_app._get_current_object(), login=form.username.data.strip(),
                              address=request.remote_addr)
            throttle_views.failed(attempt)
            form.form_errors.append(_("The login or password is wrong, or the account is disabled."))
        else:
            db.session.commit()
            session.clear()
            login_user(user)
            if user.locale:
                session["locale"] = user.locale
            throttle_views.succeeded(attempt)
            response = redirect(_safe_next(form.next.data) or url_for("accounts.index"), 303)
            return throttle_views.remember_device(response, form.username.data)
    return render_template("accounts/login.html", form=form), form_status(form)


@bp.post("/logout")
def logout():
    """Log the user out, ending this sign-in on the server."""
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("accounts.index"), 303)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["REGISTER_LIMIT_PER_IP"], methods=["POST"])
def register():
    """Let a resident open an account, verified when it matches the register."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"), 303)
    form = RegisterForm()
    form.community.choices = _community_choices()
    if form.validate_on_submit():
        try:
            user = register_resident(
                name=form.name.data,
                phone=form.phone.data,
                community_id=form.community.data,
                password=form.password.data,
                ph=password_hasher(),
            )
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            login_user(user)
            if user.is_verified:
                flash(_("Welcome! Your account matches the community register and is verified."), "success")
            else:
                flash(_("Welcome! Your account is not verified yet: it will be once the community's register lists your name and phone number."), "info")
            return redirect(url_for("accounts.index"), 303)
    return render_template("accounts/register.html", form=form), form_status(form)


def _community_choices() -> list[SelectChoice]:
    organizations = organizations_in(None)
    by_id = {o.id: o for o in organizations}
    communities = [o for o in organizations if o.level == OrgLevel.community]
    return [SelectChoice("", _("Choose…"))] + [
        SelectChoice(c.id, f"{by_id[c.parent_id].name} · {c.name}" if c.parent_id in by_id else c.name)
        for c in communities
    ]


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Show the user's account and let them change their password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(current_user, form.current_password.data, form.new_password.data, password_hasher())
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # stay signed in under the new session version
            flash(_("Your password has been changed. Other devices have been signed out."), "success")
            return redirect(url_for("accounts.account"), 303)
    sign_ins = active_sign_ins(current_user.id, utcnow(), timeouts())
    return render_template("accounts/account.html", form=form, sign_ins=sign_ins,
                           this_sign_in=session.get(SIGN_IN_KEY)), form_status(form)


@bp.post("/language")
def set_language():
    """Remember the chosen language, for the account too when signed in."""
    form = LanguageForm()
    if not form.validate_on_submit():
        raise ValidationFailed(_("Choose one of the offered languages."))
    session["locale"] = form.locale.data
    if current_user.is_authenticated:
        current_user.locale = form.locale.data
        db.session.commit()
    return redirect(_safe_next(form.next.data) or url_for("accounts.index"), 303)


@bp.get("/organizations")
@role_required(Role.evaluator, Role.admin)
def organizations():
    """List the organizations in the evaluator's area with their current secretaries."""
    scope = evaluator_scope(current_user)
    organizations = organizations_in(scope)
    secretaries = current_secretaries([o.id for o in organizations])
    return render_template("accounts/organizations.html", organizations=organizations, secretaries=secretaries, scope=scope)


@bp.get("/organizations/<int:organization_id>")
@role_required(Role.evaluator, Role.admin)
def organization(organization_id: int):
    """Show an organization in the evaluator's area with its secretaries over time."""
    scope = evaluator_scope(current_user)
    organization = get_organization_in_scope(organization_id, scope)
    return render_template(
        "accounts/organization.html",
        organization=organization,
        terms=terms_of(organization),
        children=organization.children,
    )


@bp.get("/register-entries")
@role_required(Role.member, Role.admin)
def register_entries():
    """List the resident register of the communities the user manages."""
    scope = register_scope(current_user)
    community_id = id_argument("community", _("Choose an organization from the list."))
    page = id_argument("page", _("Page numbers are whole numbers from 1.")) or 1
    rows, total = accounts.register.register_entries(scope, community_id, page)
    communities = [o for o in organizations_in(scope) if o.level == OrgLevel.community]
    return render_template(
        "accounts/register_entries.html",
        rows=rows, total=total, page=page, per_page=50, communities=communities, community_id=community_id,
    )


@bp.route("/register-entries/import", methods=["GET", "POST"])
@role_required(Role.member, Role.admin)
def import_register():
    """Import residents from a CSV file, all rows or none."""
    register_scope(current_user)
    form = RegisterImportForm()
    row_errors = []
    if form.validate_on_submit():
        try:
            report = accounts.register.import_register(current_user, form.file.data.read())
        except RegisterImportFailed as error:
            copy_errors(form, error)
            row_errors = error.row_errors
        else:
            db.session.commit()
            flash(
                " ".join((
                    ngettext("%(num)d resident imported.", "%(num)d residents imported.", report.added),
                    ngettext("%(num)d was listed already.", "%(num)d were listed already.", report.unchanged),
                    ngettext("%(num)d account is now verified.", "%(num)d accounts are now verified.", report.verified),
                )),
                "success",
            )
            return redirect(url_for("accounts.register_entries"), 303)
    return render_template("accounts/import_register.html", form=form, row_errors=row_errors), form_status(form)
