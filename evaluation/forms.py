"""Forms of the evaluation area; rules across fields (θ below 1, weights adding up to 1) are the settings service's."""
from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, IntegerField
from wtforms.validators import InputRequired, NumberRange, StopValidation
from wtforms.widgets import TextInput

from inputs import Form

#: Weights have at most this many decimal places, so four of them add up to exactly 1 or miss it by 0.0001 or more.
WEIGHT_PLACES = 4
_WEIGHT_STEP = Decimal(1).scaleb(-WEIGHT_PLACES)


def _weight_shape(form, field) -> None:
    """Accept a decimal from 0 to 1 with at most WEIGHT_PLACES decimal places."""
    value = field.data
    if value is None:  # unreadable: the field already says so
        return
    # Decimal accepts "NaN" and "Infinity", which cannot be compared or stored.
    if not value.is_finite() or not 0 <= value <= 1:
        raise StopValidation(_l("Enter a decimal from 0 to 1, for example 0.25."))
    if value != value.quantize(_WEIGHT_STEP):
        raise StopValidation(_l("Use at most four decimal places, for example 0.3333."))


def _weight_field(label, description):
    # A text input rather than type=number: browsers blank a number input they cannot read, and the
    # message should say what was wrong with what was typed.
    return DecimalField(
        label, places=None, widget=TextInput(), description=description,
        validators=[InputRequired(_l("Enter a weight, 0 if this part should not count.")), _weight_shape],
        invalid_value_message=_l("Enter a decimal from 0 to 1, for example 0.25."),
        render_kw={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"},
    )


class EvaluationSettingsForm(Form):
    """θ as numerator and denominator, m, and the composite's four weights; names match update_settings' errors."""

    theta_numerator = IntegerField(
        _l("Numerator"), validators=[
            InputRequired(_l("Enter the numerator.")),
            NumberRange(1, 999, _l("Enter a whole number from 1 to 999.")),
        ], render_kw={"min": 1, "max": 999, "inputmode": "numeric"},
    )
    theta_denominator = IntegerField(
        _l("Denominator"), validators=[
            InputRequired(_l("Enter the denominator.")),
            NumberRange(2, 1000, _l("Enter a whole number from 2 to 1000.")),
        ], render_kw={"min": 2, "max": 1000, "inputmode": "numeric"},
    )
    shrink_m = IntegerField(
        _l("Pseudo-answers for ranking (m)"), validators=[
            InputRequired(_l("Enter a whole number, 0 to rank by the raw rate.")),
            NumberRange(0, 1000, _l("Enter a whole number from 0 to 1000.")),
        ], render_kw={"min": 0, "max": 1000, "inputmode": "numeric"},
        description=_l("Before ranking, each secretary's answers get m more answers at the rate of all secretaries in "
                       "the survey, so that a few answers cannot put anyone first or last. 0 ranks by the raw rate. "
                       "The table still shows each secretary's raw rate and number of answers."),
    )
    weight_survey_satisfaction = _weight_field(
        _l("Survey satisfaction rate"),
        _l("Satisfied and basically satisfied answers in the survey, as a share of the valid answers."))
    weight_response_rate = _weight_field(
        _l("Case response rate"),
        _l("Cases answered within the time limit, as a share of the cases submitted."))
    weight_resolution_rate = _weight_field(
        _l("Case resolution rate"),
        _l("Feedback saying the problem was solved, as a share of all feedback."))
    weight_case_satisfaction_rate = _weight_field(
        _l("Case satisfaction rate"),
        _l("Satisfied and basically satisfied feedback, as a share of all feedback."))
