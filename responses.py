"""Choosing between a full page and an htmx fragment, in one place."""
from flask import flash, redirect, render_template, request
from flask_babel import gettext as _

from extensions import db


def wants_fragment() -> bool:
    """Tell whether this request is an htmx swap that wants only a fragment."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(page_template: str, fragment_template: str, status: int = 200, **context):
    """Render the fragment for an htmx swap, the whole page otherwise."""
    return render_template(fragment_template if wants_fragment() else page_template, **context), status


def copy_errors(form, error) -> None:
    """Put a service's ValidationFailed messages beside the form's fields."""
    for field_name, messages in error.errors.items():
        field = getattr(form, field_name, None) if field_name else None
        target = field.errors if field is not None else form.form_errors
        if isinstance(target, tuple):
            field.errors = target = list(target)
        target.extend(messages)


def form_status(form) -> int:
    """Return 422 for a submitted form being shown again with errors, else 200."""
    return 422 if form.is_submitted() else 200


def already_sent(result_url: str):
    """Answer a form sent again with what its first submission did: a 303 there, or an htmx redirect."""
    db.session.rollback()  # the replay keeps nothing it read or claimed
    flash(_("This form had already been sent; here is what it did."), "info")
    if wants_fragment():
        # A swap cannot follow a redirect to a full page; htmx loads it instead.
        return "", 200, {"HX-Redirect": result_url}
    return redirect(result_url, 303)
