"""Administrators manage request categories and their time limits."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.auth import role_required
from accounts.models import Role
from errors import ValidationFailed
from extensions import db
from responses import copy_errors, form_status
from workflow import categories
from workflow.forms import CategoryForm

bp = Blueprint("categories", __name__, url_prefix="/admin/categories")


@bp.before_request
@role_required(Role.admin)
def require_admin():
    """Keep every page here for administrators."""


@bp.get("/")
def index():
    """List the categories with their time limits."""
    return render_template("workflow/categories.html", categories=categories.all_categories())


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Add a category."""
    form = CategoryForm()
    return _save(form, None, lambda: categories.create_category(current_user, _fields(form)))


@bp.route("/<int:category_id>/edit", methods=["GET", "POST"])
def edit(category_id: int):
    """Rename a category, change its time limits or stop offering it."""
    category = categories.get_category(category_id)
    form = CategoryForm(obj=category)
    return _save(form, category, lambda: categories.update_category(current_user, category, _fields(form)))


def _save(form: CategoryForm, category: categories.Category | None, save: Callable[[], object]):
    """Validate the form, save through the service, commit and go back to the list; or show the form with its errors."""
    if form.validate_on_submit():
        try:
            save()
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            flash(_("Category saved."), "success")
            return redirect(url_for("categories.index"), 303)
    return render_template("workflow/category_form.html", form=form, category=category), form_status(form)


def _fields(form: CategoryForm) -> categories.CategoryFields:
    return categories.CategoryFields(
        name=form.name.data, name_en=form.name_en.data, active=form.active.data,
        urgent_respond_hours=form.urgent_respond_hours.data, urgent_resolve_hours=form.urgent_resolve_hours.data,
        normal_respond_hours=form.normal_respond_hours.data, normal_resolve_hours=form.normal_resolve_hours.data,
    )

