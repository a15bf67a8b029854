"""The evaluation settings (θ, m, composite weights) and the copy recorded with each published result."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from flask_babel import lazy_gettext as _l

from accounts import audit
from accounts.models import User
from accounts.users import require_admin
from errors import ValidationFailed
from evaluation import scoring
from evaluation.models import (
    COMPONENTS, DEFAULT_SHRINK_M, DEFAULT_THETA, DEFAULT_WEIGHT, EvaluationSettings, ResultSettings,
)
from extensions import db
from surveys.models import Survey, SurveyState
from surveys.signals import survey_published


@dataclass(frozen=True)
class SettingsInForce:
    """The θ, m and composite weights that apply to one survey's results."""

    theta: Fraction
    shrink_m: int
    weights: Mapping[str, float]
    #: When they were recorded with the published results; None when the current settings apply.
    recorded_at: datetime | None = None


def _in_force(row: EvaluationSettings | ResultSettings, recorded_at: datetime | None = None) -> SettingsInForce:
    return SettingsInForce(theta=row.theta, shrink_m=row.shrink_m, weights=row.weights, recorded_at=recorded_at)


def _default_settings() -> EvaluationSettings:
    # Built explicitly: column defaults only apply on insert.
    return EvaluationSettings(
        id=1, theta_numerator=DEFAULT_THETA.numerator, theta_denominator=DEFAULT_THETA.denominator,
        shrink_m=DEFAULT_SHRINK_M, **{f"weight_{name}": DEFAULT_WEIGHT for name in COMPONENTS},
    )


def get_settings() -> EvaluationSettings:
    """Return the saved settings, or unsaved defaults when none were saved (so reading never writes)."""
    return db.session.get(EvaluationSettings, 1) or _default_settings()


def current_settings() -> SettingsInForce:
    """Return the settings that apply to results not yet published."""
    return _in_force(get_settings())


def update_settings(actor: User, *, theta_numerator: int, theta_denominator: int, shrink_m: int,
                    weights: Mapping[str, float], now: datetime) -> EvaluationSettings:
    """Change θ, m and the weights (administrators only); published results keep the settings they had."""
    require_admin(actor)
    errors: dict[str, list] = {}
    if theta_denominator < 1 or not 0 < theta_numerator < theta_denominator:
        errors["theta"] = [_l("The threshold must lie strictly between 0 and 1.")]
    if shrink_m < 0:
        errors["shrink_m"] = [_l("The number of pseudo-answers cannot be negative.")]
    if set(weights) != set(COMPONENTS):
        errors["weights"] = [_l("Give a weight for each of the four parts of the composite score.")]
    else:
        for name in COMPONENTS:
            if not math.isfinite(weights[name]) or weights[name] < 0:
                errors[f"weight_{name}"] = [_l("A weight cannot be negative.")]
        if not any(key.startswith("weight_") for key in errors) and \
                abs(math.fsum(weights.values()) - 1) > scoring.WEIGHT_TOLERANCE:
            errors["weights"] = [_l("The weights must add up to 1 (they add up to %(total)s).",
                                    total=f"{math.fsum(weights.values()):g}")]
    if errors:
        raise ValidationFailed(errors)
    settings = db.session.get(EvaluationSettings, 1)
    if settings is None:
        settings = _default_settings()
        db.session.add(settings)
    before = _described(settings)
    theta = Fraction(theta_numerator, theta_denominator)
    settings.theta_numerator, settings.theta_denominator = theta.numerator, theta.denominator
    settings.shrink_m = shrink_m
    for name in COMPONENTS:
        setattr(settings, f"weight_{name}", float(weights[name]))
    settings.updated_at, settings.updated_by_id = now, actor.id
    db.session.flush()
    after = _described(settings)
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        audit.record(audit.AuditKind.settings_changed, actor, details={"changes": changes})
    return settings


def _described(settings: EvaluationSettings) -> dict[str, object]:
    """Return the settings as the audit log keeps them: θ as a fraction, m, each weight."""
    return {"theta": f"{settings.theta_numerator}/{settings.theta_denominator}", "shrink_m": settings.shrink_m,
            **{f"weight_{name}": getattr(settings, f"weight_{name}") for name in COMPONENTS}}


@survey_published.connect
def record_result_settings(survey: Survey, now: datetime) -> ResultSettings:
    """Record the settings in force with a survey's published results."""
    current = get_settings()
    recorded = db.session.get(ResultSettings, survey.id)
    if recorded is None:
        recorded = ResultSettings(survey_id=survey.id)
        db.session.add(recorded)
    recorded.theta_numerator, recorded.theta_denominator = current.theta_numerator, current.theta_denominator
    recorded.shrink_m = current.shrink_m
    for name in COMPONENTS:
        setattr(recorded, f"weight_{name}", getattr(current, f"weight_{name}"))
    recorded.recorded_at = now
    db.session.flush()
    return recorded


def settings_for(survey: Survey) -> SettingsInForce:
    """Return the settings recorded when the survey was published, or the current ones until then."""
    if survey.state == SurveyState.published:
        recorded = db.session.get(ResultSettings, survey.id)
        if recorded is not None:
            return _in_force(recorded, recorded.recorded_at)
    return current_settings()
