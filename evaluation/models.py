"""Evaluation settings, the settings recorded with each published result, and precomputed case figures."""
from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models import name_referrers
from db import utcnow
from evaluation.scoring import DEFAULT_THETA
from extensions import db

#: The parts of the composite score, in display order; each has a weight setting.
COMPONENTS = ("survey_satisfaction", "response_rate", "resolution_rate", "case_satisfaction_rate")

DEFAULT_SHRINK_M = 10
DEFAULT_WEIGHT = 0.25


def _settings_checks() -> tuple[CheckConstraint, ...]:
    # Fresh objects per table: a constraint belongs to one table.
    return (
        CheckConstraint("theta_numerator > 0 AND theta_numerator < theta_denominator", name="theta_in_0_1"),
        CheckConstraint("shrink_m >= 0", name="shrink_m_not_negative"),
    )


class _SettingsColumns:
    """The figures that decide flags, ranking and the composite; shared by the live settings and each snapshot."""

    #: The review threshold θ as an exact fraction, so "exactly one third" is never flagged by rounding.
    theta_numerator: Mapped[int] = mapped_column(default=DEFAULT_THETA.numerator)
    theta_denominator: Mapped[int] = mapped_column(default=DEFAULT_THETA.denominator)
    #: m: how many pseudo-answers at the survey-wide rate the ranking adds to each secretary's answers.
    shrink_m: Mapped[int] = mapped_column(default=DEFAULT_SHRINK_M)
    weight_survey_satisfaction: Mapped[float] = mapped_column(default=DEFAULT_WEIGHT)
    weight_response_rate: Mapped[float] = mapped_column(default=DEFAULT_WEIGHT)
    weight_resolution_rate: Mapped[float] = mapped_column(default=DEFAULT_WEIGHT)
    weight_case_satisfaction_rate: Mapped[float] = mapped_column(default=DEFAULT_WEIGHT)

    @property
    def theta(self) -> Fraction:
        return Fraction(self.theta_numerator, self.theta_denominator)

    @property
    def weights(self) -> dict[str, float]:
        """Return the composite's weights by component name."""
        return {name: getattr(self, f"weight_{name}") for name in COMPONENTS}


class EvaluationSettings(_SettingsColumns, db.Model):
    """The settings in force: a single row, edited by administrators."""

    __tablename__ = "evaluation_settings"
    __table_args__ = _settings_checks() + (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    updated_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ResultSettings(_SettingsColumns, db.Model):
    """The settings a survey's results were published under, so later changes leave them as published."""

    __tablename__ = "evaluation_result_settings"
    __table_args__ = _settings_checks()

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseFigure(db.Model):
    """One organization's case counts for the cases filed with it in one month (UTC) under one secretary term.

    Written only by refresh_case_figures (the command line and the sweep); pages read these rows, never cases.
    """

    __tablename__ = "evaluation_case_figures"
    __table_args__ = (
        UniqueConstraint("organization_id", "term_id", "month"),
        Index("ix_evaluation_case_figures_term_month", "term_id", "month"),
        Index("ix_evaluation_case_figures_month", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The organization the case was filed with (before any escalation).
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    #: The secretary term open there on the day the case was filed; None when the post was vacant.
    term_id: Mapped[int | None] = mapped_column(ForeignKey("secretary_terms.id"))
    #: The first day of the UTC month the case was filed in.
    month: Mapped[date]
    submitted: Mapped[int] = mapped_column(default=0)
    #: First accepted, rejected or merged within the category's response limit.
    responded_in_time: Mapped[int] = mapped_column(default=0)
    #: Feedback answers given (one per resolution round); closing without feedback is not one.
    with_feedback: Mapped[int] = mapped_column(default=0)
    solved: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    basically_satisfied: Mapped[int] = mapped_column(default=0)
    dissatisfied: Mapped[int] = mapped_column(default=0)
    #: Cases the sweep ever marked overdue.
    overdue: Mapped[int] = mapped_column(default=0)
    #: Times residents reopened these cases.
    reopened: Mapped[int] = mapped_column(default=0)
    #: Working hours (accepted, assigned, in progress) up to the final resolution of each resolved case.
    resolve_hours: Mapped[list] = mapped_column(JSON, default=list)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


name_referrers(_l("case figures"), CaseFigure.__table__)
