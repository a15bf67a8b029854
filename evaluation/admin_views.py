"""Administrators set the evaluation's review threshold, shrinkage and composite weights."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import format_decimal, format_percent, gettext as _
from flask_login import current_user

from accounts.auth import role_required
from accounts.models import Role
from db import utcnow
from accounts.users import get_user
from errors import ValidationFailed
from evaluation.forms import EvaluationSettingsForm
from evaluation.models import COMPONENTS, EvaluationSettings
from evaluation.settings import get_settings, update_settings
from extensions import db
from responses import copy_errors, render_page_or_fragment, wants_fragment

bp = Blueprint("evaluation_admin", __name__, url_prefix="/admin/evaluation")

PAGE, FRAGMENT = "evaluation/admin/settings.html", "evaluation/admin/_settings.html"
#: update_settings' error keys about several fields at once, shown at their fieldset.
GROUP_ERRORS = ("theta", "weights")


@bp.before_request
@role_required(Role.admin)
def require_admin():
    """Keep every page here for administrators."""


def _form_for(saved: EvaluationSettings) -> EvaluationSettingsForm:
    weights = {f"weight_{name}": Decimal(repr(weight)) for name, weight in saved.weights.items()}
    return EvaluationSettingsForm(formdata=None, theta_numerator=saved.theta_numerator,
                                  theta_denominator=saved.theta_denominator, shrink_m=saved.shrink_m, **weights)


def _context(form: EvaluationSettingsForm | None = None, group_errors: dict | None = None) -> dict:
    """Return what the page and its partial show: the saved settings and the form (fresh unless given)."""
    saved = get_settings()
    return {
        "saved": saved,
        "theta_percent": format_percent(float(saved.theta), "#,##0.#%"),
        "weights": [(name, format_decimal(weight, "0.0###")) for name, weight in saved.weights.items()],
        "updated_by": get_user(saved.updated_by_id) if saved.updated_by_id else None,
        "form": form or _form_for(saved),
        "group_errors": group_errors or {},
        "components": COMPONENTS,
    }


def _invalid(form: EvaluationSettingsForm, group_errors: dict | None = None):
    return render_page_or_fragment(PAGE, FRAGMENT, 422, **_context(form, group_errors))


@bp.get("/settings")
def settings():
    """Show the settings in force, what each does, and the form to change them."""
    return render_template(PAGE, **_context())


@bp.post("/settings")
def update():
    """Change θ, m and the composite weights for results not yet published."""
    form = EvaluationSettingsForm()
    if not form.validate():
        return _invalid(form)
    try:
        update_settings(
            current_user, theta_numerator=form.theta_numerator.data, theta_denominator=form.theta_denominator.data,
            shrink_m=form.shrink_m.data,
            # Exact: each weight has at most four decimal places, so the floats' sum is 1 within the
            # service's tolerance exactly when the decimals add up to 1.
            weights={name: float(form[f"weight_{name}"].data) for name in COMPONENTS}, now=utcnow(),
        )
    except ValidationFailed as error:
        group_errors = {key: messages for key, messages in error.errors.items() if key in GROUP_ERRORS}
        copy_errors(form, ValidationFailed({k: v for k, v in error.errors.items() if k not in GROUP_ERRORS}))
        return _invalid(form, group_errors)
    db.session.commit()
    message = _("Evaluation settings saved. Results published from now on use them; published results keep theirs.")
    if wants_fragment():
        return render_template(FRAGMENT, **_context()) + render_template("_flash_oob.html", message=message)
    flash(message, "success")
    return redirect(url_for("evaluation_admin.settings"), 303)
