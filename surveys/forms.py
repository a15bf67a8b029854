"""Forms of the surveys area; answers are checked by the services against the survey's questions."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class BallotForm(FlaskForm):
    """CSRF only: the questions' fields are built from the survey and checked by services.check_answers."""


class CodeForm(FlaskForm):
    code = StringField(_l("Invitation code"), validators=[DataRequired(), Length(max=20)],
                       description=_l("The 8 letters and digits on your slip, for example K7QP-M2XA."),
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"})
