"""The evaluation settings: defaults, validation, who changes them, and the copy recorded at publication."""
from __future__ import annotations

from fractions import Fraction

import pytest
import sqlalchemy as sa

from errors import PermissionDenied, ValidationFailed
from evaluation import scoring, settings
from evaluation.models import EvaluationSettings, ResultSettings
from extensions import db
from tests.evaluation.builders import DAY, EQUAL, LATER, T0, row_of, table


def test_reading_the_settings_never_writes_and_gives_the_defaults(app, world):
    current = settings.current_settings()

    assert (current.theta, current.shrink_m, dict(current.weights)) == (Fraction(1, 3), 10, EQUAL)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvaluationSettings)) == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"weights": {**EQUAL, "survey_satisfaction": 0.5}}, "weights"),
    ({"weights": {**EQUAL, "response_rate": -0.25, "survey_satisfaction": 0.75}}, "weight_response_rate"),
    ({"weights": {"survey_satisfaction": 1.0}}, "weights"),
    ({"theta_numerator": 0}, "theta"),
    ({"theta_numerator": 3}, "theta"),
    ({"shrink_m": -1}, "shrink_m"),
])
def test_bad_settings_are_refused_beside_their_field(world, change, field):
    values = {"theta_numerator": 1, "theta_denominator": 3, "shrink_m": 10, "weights": EQUAL, **change}
    with pytest.raises(ValidationFailed) as refused:
        settings.update_settings(world["admin"], now=T0, **values)
    assert field in refused.value.errors


def test_only_administrators_change_the_settings(world):
    with pytest.raises(PermissionDenied):
        settings.update_settings(world["evaluator"], theta_numerator=1, theta_denominator=2, shrink_m=5,
                                 weights=EQUAL, now=T0)


def test_publishing_records_the_settings_so_later_changes_leave_published_flags_alone(ev, world):
    spring = world["community"]
    published = ev.survey([spring], title="Published")
    ev.answers(published, spring, 6, 0, 4)  # 40% dissatisfied: flagged under 1/3, not under 1/2
    ev.close(published, publish=True)
    closed = ev.survey([spring], title="Closed only", opens_at=T0 + 14 * DAY)
    ev.answers(closed, spring, 6, 0, 4)
    ev.close(closed)

    recorded = db.session.get(ResultSettings, published.id)
    assert (recorded.theta, recorded.shrink_m, recorded.weights) == (Fraction(1, 3), 10, EQUAL)
    settings.update_settings(world["admin"], theta_numerator=2, theta_denominator=4, shrink_m=4,
                             weights={**EQUAL, "survey_satisfaction": 0.4, "response_rate": 0.1}, now=LATER)
    db.session.commit()

    assert settings.current_settings().theta == Fraction(1, 2)
    old = table(world["evaluator"], published)
    assert old.settings.theta == Fraction(1, 3) and old.settings.recorded_at == published.published_at
    assert row_of(old, spring).rating.flag == scoring.ReviewFlag.MARGINAL
    new = table(world["evaluator"], closed)
    assert new.settings.theta == Fraction(1, 2) and new.settings.recorded_at is None
    assert row_of(new, spring).rating.flag == scoring.ReviewFlag.NONE
    assert new.settings.weights["survey_satisfaction"] == 0.4
