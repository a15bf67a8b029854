"""Administrators manage organizations, users and their roles, and secretary terms."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

import accounts.organizations
import accounts.terms
import accounts.users
from accounts.auth import password_hasher, role_required
from accounts.forms import (
    AppointSecretaryForm,
    EditUserForm,
    EndTermForm,
    OrganizationForm,
    ResetPasswordForm,
    UserForm,
)
from accounts.models import OrgLevel, Role, User
from accounts.organizations import create_organization, get_organization_in_scope, organizations_in, update_organization
from accounts.terms import appoint_secretary, current_secretaries, get_term, terms_of
from accounts.users import GrantSpec, create_user, get_user, search_users, update_user
from errors import ValidationFailed
from extensions import db
from inputs import id_argument, text_argument
from responses import copy_errors, form_status, render_page_or_fragment

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@role_required(Role.admin)
def require_admin():
    """Keep every page here for administrators."""


def _organization_choices(levels: set[OrgLevel] | None = None, blank: str | None = None):
    organizations = organizations_in(None)
    choices = [SelectChoice("", blank)] if blank is not None else []
    for organization in organizations:
        if levels is None or organization.level in levels:
            indent = "\u2003" * (organization.path.count("/") - 2)
            choices.append(SelectChoice(organization.id, f"{indent}{organization.name}"))
    return choices


@bp.get("/organizations")
def organizations():
    """Show the whole organization tree with current secretaries."""
    organizations = organizations_in(None)
    secretaries = current_secretaries([o.id for o in organizations])
    return render_template("admin/organizations.html", organizations=organizations, secretaries=secretaries)


@bp.route("/organizations/new", methods=["GET", "POST"])
def new_organization():
    """Add an organization to the tree."""
    form = OrganizationForm(parent=id_argument("parent", _("Choose an organization from the list.")))
    form.parent.choices = _organization_choices({OrgLevel.district, OrgLevel.township}, blank=_("None (a district)"))
    if form.validate_on_submit():
        try:
            organization = create_organization(
                current_user, name=form.name.data, level=OrgLevel(form.level.data), parent_id=form.parent.data
            )
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            flash(_("Organization “%(name)s” added.", name=organization.name), "success")
            return redirect(url_for("admin.organizations"), 303)
    return render_template("admin/organization_form.html", form=form, organization=None), form_status(form)


@bp.route("/organizations/<int:organization_id>/edit", methods=["GET", "POST"])
def edit_organization(organization_id: int):
    """Rename or move an organization."""
    organization = get_organization_in_scope(organization_id, None)
    form = OrganizationForm(obj=organization, parent=organization.parent_id, level=organization.level.value)
    del form.level
    parent_level = organization.level.parent_level
    form.parent.choices = _organization_choices({parent_level} if parent_level else set(), blank=_("None (a district)"))
    if form.validate_on_submit():
        try:
            update_organization(current_user, organization, name=form.name.data, parent_id=form.parent.data)
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            flash(_("Organization saved."), "success")
            return redirect(url_for("admin.organizations"), 303)
    return (
        render_template("admin/organization_form.html", form=form, organization=organization, terms=terms_of(organization)),
        form_status(form),
    )


@bp.post("/organizations/<int:organization_id>/delete")
def delete_organization(organization_id: int):
    """Delete an organization nothing refers to."""
    organization = get_organization_in_scope(organization_id, None)
    name = organization.name
    accounts.organizations.delete_organization(current_user, organization)
    db.session.commit()
    flash(_("Organization “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("admin.organizations"), 303)


@bp.route("/organizations/<int:organization_id>/terms", methods=["GET", "POST"])
def terms(organization_id: int):
    """Show an organization's secretary terms and appoint a new secretary."""
    organization = get_organization_in_scope(organization_id, None)
    form = AppointSecretaryForm()
    members = db.session.scalars(
        db.select(User).where(User.grants.any(organization_id=organization.id, role=Role.member)).order_by(User.name)
    ).all()
    form.user.choices = [SelectChoice("", _("Choose…"))] + [SelectChoice(m.id, f"{m.name} ({m.username})") for m in members]
    if form.validate_on_submit():
        try:
            appoint_secretary(current_user, organization, get_user(form.user.data), form.start_date.data)
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            flash(_("Secretary appointed."), "success")
            return redirect(url_for("admin.terms", organization_id=organization.id), 303)
    return (
        render_template(
            "admin/terms.html", organization=organization, terms=terms_of(organization), form=form, end_form=EndTermForm()
        ),
        form_status(form),
    )


@bp.post("/terms/<int:term_id>/end")
def end_term(term_id: int):
    """End a secretary's term on a given day."""
    term = get_term(term_id)
    form = EndTermForm()
    if form.validate_on_submit():
        try:
            accounts.terms.end_term(current_user, term, form.end_date.data)
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            flash(_("The term has ended."), "success")
            return redirect(url_for("admin.terms", organization_id=term.organization_id), 303)
    appoint_form = AppointSecretaryForm()
    appoint_form.user.choices = [SelectChoice("", _("Choose…"))]
    return (
        render_template(
            "admin/terms.html", organization=term.organization, terms=terms_of(term.organization),
            form=appoint_form, end_form=form, failed_term_id=term.id,
        ),
        422,
    )


@bp.get("/users")
def users():
    """List and search user accounts."""
    query = text_argument("q").strip()
    role_value = request.args.get("role", "")
    role = Role(role_value) if role_value in Role._value2member_map_ else None
    page = id_argument("page", _("Page numbers are whole numbers from 1.")) or 1
    pagination = search_users(query, role, page)
    return render_page_or_fragment(
        "admin/users.html", "admin/_user_results.html", pagination=pagination, q=query, role=role, roles=list(Role)
    )


def _fill_role_fields(form: UserForm, user: User | None = None, populate: bool = False) -> None:
    communities = _organization_choices({OrgLevel.community}, blank=_("Choose…"))
    everything = _organization_choices(None, blank=_("Choose…"))
    form.resident_org.choices = communities
    form.member_org.choices = everything
    form.evaluator_org.choices = everything
    if user is not None and populate:
        for role, flag, org_field in UserForm.ROLE_FIELDS:
            grant = user.grant(role)
            getattr(form, flag).data = grant is not None
            getattr(form, org_field).data = grant.organization_id if grant else None
        form.is_admin.data = user.is_admin


def _grants_from(form: UserForm) -> list[GrantSpec]:
    grants = [
        GrantSpec(role, getattr(form, org_field).data)
        for role, flag, org_field in UserForm.ROLE_FIELDS
        if getattr(form, flag).data
    ]
    if form.is_admin.data:
        grants.append(GrantSpec(Role.admin, None))
    return grants


def _role_errors_to_fields(error: ValidationFailed) -> ValidationFailed:
    # Services name role problems by role; the form shows them beside that role's selector.
    field_for = {role.value: org_field for role, _flag, org_field in UserForm.ROLE_FIELDS}
    return ValidationFailed({field_for.get(k, k): v for k, v in error.errors.items()})


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    """Create an account with its roles."""
    form = UserForm()
    _fill_role_fields(form)
    if form.validate_on_submit():
        try:
            user = create_user(
                current_user, username=form.username.data, name=form.name.data, phone=form.phone.data,
                password=form.password.data, grants=_grants_from(form), ph=password_hasher(),
            )
        except ValidationFailed as error:
            copy_errors(form, _role_errors_to_fields(error))
        else:
            db.session.commit()
            flash(_("Account “%(username)s” created.", username=user.username), "success")
            return redirect(url_for("admin.users"), 303)
    return render_template("admin/user_form.html", form=form, user=None), form_status(form)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
def edit_user(user_id: int):
    """Change an account's details, status and roles."""
    user = get_user(user_id)
    form = EditUserForm(obj=user)
    _fill_role_fields(form, user, populate=not form.is_submitted())
    if form.validate_on_submit():
        try:
            update_user(
                current_user, user, name=form.name.data, phone=form.phone.data, active=form.active.data,
                grants=_grants_from(form),
            )
        except ValidationFailed as error:
            copy_errors(form, _role_errors_to_fields(error))
        else:
            db.session.commit()
            flash(_("Account saved."), "success")
            return redirect(url_for("admin.users"), 303)
    return (
        render_template("admin/user_form.html", form=form, user=user, password_form=ResetPasswordForm()),
        form_status(form),
    )


@bp.post("/users/<int:user_id>/sign-out")
def sign_out_user(user_id: int):
    """End every session of an account at once, on every node."""
    user = get_user(user_id)
    ended = accounts.users.sign_out_everywhere(current_user, user)
    db.session.commit()
    flash(ngettext("%(num)d session of “%(username)s” has been signed out.",
                   "%(num)d sessions of “%(username)s” have been signed out.", ended, username=user.username),
          "success")
    return redirect(url_for("admin.edit_user", user_id=user.id), 303)


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int):
    """Give an account a new password chosen by the administrator."""
    user = get_user(user_id)
    password_form = ResetPasswordForm()
    if password_form.validate_on_submit():
        try:
            accounts.users.reset_password(current_user, user, password_form.password.data, password_hasher())
        except ValidationFailed as error:
            copy_errors(password_form, error)
        else:
            db.session.commit()
            flash(_("The password of “%(username)s” has been reset.", username=user.username), "success")
            return redirect(url_for("admin.edit_user", user_id=user.id), 303)
    form = EditUserForm(obj=user, formdata=None)
    _fill_role_fields(form, user, populate=True)
    return render_template("admin/user_form.html", form=form, user=user, password_form=password_form), 422
