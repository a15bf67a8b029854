"""The public page that says, in residents' words, what the sealed ballot box promises and what it does not."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("privacy", __name__)


@bp.get("/privacy/ballots")
def ballots():
    """Explain how an anonymous ballot is protected."""
    return render_template("surveys/privacy.html")
