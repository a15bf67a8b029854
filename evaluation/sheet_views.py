"""The evaluation table's words in the user's language, translated once per request rather than once per row.

The sheet's labels, the page's bar and composite texts and the method notes; the secretary page borrows them.
"""
from __future__ import annotations

from datetime import date
from fractions import Fraction

from babel.dates import format_skeleton
from flask_babel import format_date, get_locale, gettext as _, lazy_gettext as _l, ngettext

from evaluation import charts, scoring
from evaluation.models import COMPONENTS
from evaluation.results import Hidden, Rating
from evaluation.sheet import NO_FIGURE, Sheet, SheetLabels, table_sheet
from evaluation.table import EvaluationTable
from surveys.labels import OPTION_LABELS
from surveys.models import QuestionType

REVIEW_FLAG_LABELS = {
    scoring.ReviewFlag.CONFIRMED: _l("Flagged, confirmed"),
    scoring.ReviewFlag.MARGINAL: _l("Flagged, marginal"),
}
GRADE4_FLAG_LABELS = {
    scoring.Grade4Flag.ADJUSTMENT_RECOMMENDED: _l("Adjustment recommended"),
    scoring.Grade4Flag.WARNING_TALK: _l("Warning talk"),
}
COMPONENT_LABELS = {
    "survey_satisfaction": _l("Survey satisfaction rate"),
    "response_rate": _l("Case response rate"),
    "resolution_rate": _l("Case resolution rate"),
    "case_satisfaction_rate": _l("Case satisfaction rate"),
}
#: The evaluation table's column headers, by the column keys of sheet.table_columns.
COLUMN_HEADERS = {
    "township": _l("Township"),
    "community": _l("Community"),
    "secretary": _l("Secretary"),
    "n": _l("Valid answers (N)"),
    "turnout": _l("Turnout"),
    "answers": _l("Satisfied / basically satisfied / dissatisfied"),
    "satisfaction": _l("Satisfaction rate"),
    "dissatisfied": _l("Dissatisfied share"),
    "interval": _l("Interval of the dissatisfied share (95%)"),
    "flag": _l("Flag"),
    "response_rate": _l("Response rate"),
    "resolution_rate": _l("Resolution rate"),
    "case_satisfaction": _l("Case satisfaction rate"),
    "composite": _l("Composite score"),
    "rank": _l("Rank"),
}


def hidden_text(hidden: Hidden, k: int) -> str:
    """Say why a figure is withheld."""
    if hidden == Hidden.FEW_ANSWERS:
        return _("Hidden: fewer than %(k)d answers", k=k)
    return _("Hidden: would reveal a smaller group")


def flag_labels() -> dict[scoring.ReviewFlag | scoring.Grade4Flag, str]:
    """Return the names of the review and grade flags in the user's language."""
    return {flag: str(label) for flag, label in (*REVIEW_FLAG_LABELS.items(), *GRADE4_FLAG_LABELS.items())}


def _township_total(communities: int) -> str:
    return ngettext("Township total (%(num)d community)", "Township total (%(num)d communities)", communities)


def sheet_labels(k: int) -> SheetLabels:
    """Return the words of the table's cells in the user's language, for a survey with minimum group size k."""
    return SheetLabels(
        headers={key: str(header) for key, header in COLUMN_HEADERS.items()},
        hidden={reason: hidden_text(reason, k) for reason in Hidden}, vacant=_("Vacant"), flags=flag_labels(),
        township_total=_township_total,
    )


def shown_sheet(table: EvaluationTable, labels: SheetLabels | None = None) -> Sheet:
    """Return the table as the cells and notes the screen and the downloads show, in the user's language."""
    return table_sheet(table, labels or sheet_labels(table.min_group_size), table_notes(table))


class ScreenWords:
    """The words the page's macros repeat on every row, translated once per request rather than once per row."""

    def __init__(self) -> None:
        self.hidden_marker = _("Hidden")
        labels = OPTION_LABELS[QuestionType.rating3]
        self.rating3 = (str(labels["satisfied"]), str(labels["basically_satisfied"]), str(labels["dissatisfied"]))
        self.components = {name: str(label) for name, label in COMPONENT_LABELS.items()}
        # Patterns filled in per row: gettext without arguments leaves the placeholders in.
        self._bar_title = _("%(name)s: %(summary)s")
        self._placeholder_title = _("%(name)s: %(marker)s")
        self._omitted = _("Left out for lack of data: %(parts)s.")

    def bar_title(self, name: str, rating: Rating) -> str:
        """Return the title of a community's bar: its name and its answers in words."""
        summary = charts.text_alternative_bar(rating.satisfied, rating.basically_satisfied, rating.dissatisfied,
                                              labels=self.rating3).summary
        return self._bar_title % {"name": name, "summary": summary}

    def placeholder_title(self, name: str, reason: str | None) -> str:
        """Return the title of a bar without figures: the name and why they are hidden, or the no-figure mark."""
        return self._placeholder_title % {"name": name, "marker": reason or NO_FIGURE}

    def composite_sum(self, composite: scoring.CompositeScore) -> str:
        """Return how a composite score adds up, e.g. "0.500 × 80.0% (Case response rate) + … = 0.750"."""
        # The values as format_percent(value, 1) writes them, in the same format string as the rest.
        parts = " + ".join(["%.3f × %.1f%% (%s)" % (c.weight, c.value * 100, self.components[c.name])
                            for c in composite.contributions])
        return f"{parts} = {composite.score:.3f}"

    def omitted(self, names: tuple[str, ...]) -> str:
        """Say which parts a composite score left out."""
        return self._omitted % {"parts": ", ".join(self.components[name] for name in names)}


def month_label(month: date) -> str:
    """Return a month as the user's language writes it, e.g. "Mar 2026"."""
    return format_skeleton("yMMM", month, locale=get_locale())


def _fraction_text(theta: Fraction) -> str:
    """Return a fraction as "1/3"."""
    return f"{theta.numerator}/{theta.denominator}"


def table_notes(table: EvaluationTable) -> tuple[str, ...]:
    """Return the method in a few sentences with this table's k, θ, m, c, weights and period."""
    settings = table.settings
    theta = settings.theta
    notes = [
        _("Survey: %(title)s, from %(opens)s to %(closes)s.", title=table.survey.title,
          opens=format_date(table.survey.opens_at), closes=format_date(table.survey.closes_at)),
        _("No figure is shown for fewer than k = %(k)d valid answers (don't-know answers are not counted). Where a "
          "township total is shown, one more community is hidden if the hidden ones could otherwise be worked out "
          "from it.", k=table.min_group_size),
        _("Satisfaction rate = (satisfied + basically satisfied) / N. The dissatisfied share comes with its Wilson "
          "interval (95%)."),
        _("Review threshold θ = %(theta)s (%(percent)s): a secretary is flagged when the dissatisfied share exceeds "
          "θ; confirmed when the lower end of the interval exceeds θ too, marginal otherwise. Grade questions: "
          "adjustment recommended when more than θ answer incompetent; warning talk when excellent and competent "
          "together are under two thirds.", theta=_fraction_text(theta),
          percent=charts.format_percent(float(theta), 1)),
    ]
    if table.prior_rate is not None:
        notes.append(_(
            "The rank orders the satisfaction rate shrunk toward the rate of the whole survey, c = %(c)s, with "
            "m = %(m)d pseudo-answers: (S + B + m·c) / (N + m), so that few answers do not decide a rank. "
            "%(ranked)d communities are ranked.",
            c=charts.format_percent(table.prior_rate, 1), m=settings.shrink_m, ranked=table.ranked,
        ))
    weights = ", ".join(f"{COMPONENT_LABELS[name]} {settings.weights[name]:g}" for name in COMPONENTS)
    notes.append(_("Case rates cover %(first)s to %(last)s. Composite score = weighted sum of %(weights)s; parts "
                   "without data are left out and the other weights scaled up to add up to 1.",
                   first=month_label(table.period.first), last=month_label(table.period.last), weights=weights))
    if settings.recorded_at is not None:
        notes.append(_("These settings were recorded when the results were published, on %(date)s.",
                       date=format_date(settings.recorded_at)))
    return tuple(notes)
