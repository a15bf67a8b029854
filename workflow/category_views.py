"""Administrators manage request categories and their time limits."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.auth import role_required
from accounts.models import Role
from errors import NotFound
from extensions import db
from responses import form_status
from workflow.forms import CategoryForm
from workflow.models import Category

bp = Blueprint("categories", __name__, url_prefix="/admin/categories")


@bp.before_request
@role_required(Role.admin)
def require_admin():
    """Keep every page here for administrators."""


@bp.get("/")
def index():
    """List the categories with their time limits."""
    categories = db.session.scalars(select(Category).order_by(Category.id)).all()
    return render_template("workflow/categories.html", categories=categories)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Add a category."""
    return _edit(Category(), CategoryForm())


@bp.route("/<int:category_id>/edit", methods=["GET", "POST"])
def edit(category_id: int):
    """Rename a category, change its time limits or stop offering it."""
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound(_("There is no such category."))
    return _edit(category, CategoryForm(obj=category))


def _edit(category: Category, form: CategoryForm):
    if form.validate_on_submit():
        form.populate_obj(category)
        db.session.add(category)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            form.name.errors.append(_("A category with this name exists already."))
        else:
            flash(_("Category saved."), "success")
            return redirect(url_for("categories.index"), 303)
    return render_template("workflow/category_form.html", form=form, category=category), form_status(form)
