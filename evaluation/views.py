"""Evaluators read the results of closed surveys: the table, a secretary's page, the publication page, exports."""
from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from babel.dates import format_skeleton
from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import format_date, get_locale, gettext as _, lazy_gettext as _l, ngettext
from flask_login import current_user
from markupsafe import Markup, escape

from accounts.auth import role_required
from accounts.models import Role
from db import utcnow
from errors import Conflict, ValidationFailed
from evaluation import case_figures, charts, exports, services
from evaluation import statistics as stats
from evaluation.models import COMPONENTS
from evaluation.services import EvaluationRow, EvaluationTable, Hidden, Rating, TownshipTotal
from responses import render_page_or_fragment, wants_fragment
from surveys import services as survey_services
from surveys.models import QuestionType, Survey, SurveyState
from surveys.labels import KIND_LABELS, OPTION_LABELS

bp = Blueprint("evaluation", __name__, url_prefix="/evaluation")

READERS = (Role.evaluator, Role.admin)
#: The order parameter of the table's URLs, and whether it means descending.
ORDERS = {"asc": False, "desc": True}
#: Ids in the query string fit a database integer; anything longer is a mistake, not an id.
NUMBER_RE = re.compile(r"[0-9]{1,9}")
#: A month as an <input type="month"> sends it: YYYY-MM.
MONTH_RE = re.compile(r"(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])")
#: What a cell shows when there is no figure: the export writes the same mark.
NO_FIGURE = "—"
#: The types of the table's figures, whose texts never need escaping.
NUMBER_TYPES = (int, float)
REVIEW_FLAG_LABELS = {
    stats.ReviewFlag.CONFIRMED: _l("Flagged, confirmed"),
    stats.ReviewFlag.MARGINAL: _l("Flagged, marginal"),
}
GRADE4_FLAG_LABELS = {
    stats.Grade4Flag.ADJUSTMENT_RECOMMENDED: _l("Adjustment recommended"),
    stats.Grade4Flag.WARNING_TALK: _l("Warning talk"),
}
COMPONENT_LABELS = {
    "survey_satisfaction": _l("Survey satisfaction rate"),
    "response_rate": _l("Case response rate"),
    "resolution_rate": _l("Case resolution rate"),
    "case_satisfaction_rate": _l("Case satisfaction rate"),
}


@bp.context_processor
def evaluation_labels():
    return {"kind_labels": KIND_LABELS, "component_labels": COMPONENT_LABELS}


def _rating3_labels() -> tuple[str, str, str]:
    labels = OPTION_LABELS[QuestionType.rating3]
    return str(labels["satisfied"]), str(labels["basically_satisfied"]), str(labels["dissatisfied"])


def _hidden_text(hidden: Hidden, k: int) -> str:
    if hidden == Hidden.FEW_ANSWERS:
        return _("Hidden: fewer than %(k)d answers", k=k)
    return _("Hidden: would reveal a smaller group")


def _flag_labels() -> dict[stats.ReviewFlag | stats.Grade4Flag, str]:
    return {flag: str(label) for flag, label in (*REVIEW_FLAG_LABELS.items(), *GRADE4_FLAG_LABELS.items())}


def _flag_text(rating: Rating | None, grade4=None, labels: Mapping | None = None) -> str:
    """Name the review flags of a result, or NO_FIGURE when there is none (labels: _flag_labels(), if at hand)."""
    names = []
    if rating is not None and rating.flagged:
        names.append(str((labels or REVIEW_FLAG_LABELS)[rating.flag]))
    if grade4 is not None and grade4.flags:
        names.extend(str((labels or GRADE4_FLAG_LABELS)[flag]) for flag in stats.Grade4Flag if flag in grade4.flags)
    return "; ".join(names) or NO_FIGURE


class TableTexts:
    """The words the table repeats on every row, translated once per request rather than once per row."""

    def __init__(self, k: int) -> None:
        self.hidden = {reason: _hidden_text(reason, k) for reason in Hidden}
        self.vacant = _("Vacant")
        self.flags = _flag_labels()
        self.rating3 = _rating3_labels()
        self.components = {name: str(label) for name, label in COMPONENT_LABELS.items()}
        self.escaped_components = {name: str(escape(label)) for name, label in self.components.items()}
        # Patterns filled in per row: gettext without arguments leaves the placeholders in.
        self.hidden_marker = _("Hidden")
        self.bar_title = _("%(name)s: %(summary)s")
        self.placeholder_title = _("%(name)s: %(marker)s")
        self.omitted = _("Left out for lack of data: %(parts)s.")


def _interval_text(interval: stats.Interval) -> str:
    low, high = interval
    return f"{charts.format_percent(low, 1)}–{charts.format_percent(high, 1)}"


def _month(month: date) -> str:
    return format_skeleton("yMMM", month, locale=get_locale())


# --- the table's columns and cells, shared by the screen and the exports --------------------

@dataclass(frozen=True)
class TableColumn:
    """A column of the evaluation table: its export spec and the sort key its header applies, if any."""

    key: str
    spec: exports.Column
    sort: str | None = None


class SheetRow(NamedTuple):
    """A row's cells, column by column, as the exports write them and as the screen shows them."""

    #: What the export writes: numbers, texts or markers.
    values: tuple[object, ...]
    #: What the screen shows, the way the CSV writes it.
    texts: tuple[str, ...]
    #: The service's row or township total the cells come from, for the links and charts around them.
    source: EvaluationRow | TownshipTotal


@dataclass(frozen=True)
class Sheet:
    """The evaluation table as cells: the page renders these, the exports write them."""

    columns: tuple[TableColumn, ...]
    rows: tuple[SheetRow, ...]
    totals: tuple[SheetRow, ...]
    notes: tuple[str, ...]


def table_columns() -> tuple[TableColumn, ...]:
    """Return the evaluation table's columns in the user's language."""
    percent = "percent"
    return (
        TableColumn("township", exports.Column(_("Township"))),
        TableColumn("community", exports.Column(_("Community")), "name"),
        TableColumn("secretary", exports.Column(_("Secretary"))),
        TableColumn("n", exports.Column(_("Valid answers (N)"), "int")),
        TableColumn("turnout", exports.Column(_("Turnout"), percent), "turnout"),
        TableColumn("answers", exports.Column(_("Satisfied / basically satisfied / dissatisfied"))),
        TableColumn("satisfaction", exports.Column(_("Satisfaction rate"), percent), "satisfaction"),
        TableColumn("dissatisfied", exports.Column(_("Dissatisfied share"), percent), "dissatisfied"),
        TableColumn("interval", exports.Column(_("Interval of the dissatisfied share (95%)"))),
        TableColumn("flag", exports.Column(_("Flag"))),
        TableColumn("response_rate", exports.Column(_("Response rate"), percent)),
        TableColumn("resolution_rate", exports.Column(_("Resolution rate"), percent)),
        TableColumn("case_satisfaction", exports.Column(_("Case satisfaction rate"), percent)),
        TableColumn("composite", exports.Column(_("Composite score"), "float", 3), "composite"),
        TableColumn("rank", exports.Column(_("Rank"), "int"), "rank"),
    )


def _survey_values(rating: Rating | None, hidden_text: str | None, texts: TableTexts,
                   grade4=None) -> dict[str, object]:
    """Return the cells of a 满意/基本满意/不满意 result: the figures, or why they are withheld."""
    if rating is None:
        return {"n": hidden_text or NO_FIGURE, "answers": NO_FIGURE, "satisfaction": NO_FIGURE,
                "dissatisfied": NO_FIGURE, "interval": NO_FIGURE, "flag": NO_FIGURE}
    return {
        "n": rating.n,
        "answers": f"{rating.satisfied} / {rating.basically_satisfied} / {rating.dissatisfied}",
        "satisfaction": rating.satisfaction_rate,
        "dissatisfied": rating.dissatisfied_share,
        "interval": _interval_text(rating.dissatisfied_interval),
        "flag": _flag_text(rating, grade4, texts.flags),
    }


def _or_mark(value):
    return NO_FIGURE if value is None else value


def _row_values(row: EvaluationRow, texts: TableTexts) -> dict[str, object]:
    values = _survey_values(row.rating, texts.hidden[row.hidden] if row.hidden else None, texts, row.grade4)
    cases = row.cases
    rates = (cases.response_rate, cases.resolution_rate, cases.satisfaction_rate) if cases else (None, None, None)
    score = row.composite.score if row.composite else None
    values.update(
        township=row.township.name if row.township else NO_FIGURE,
        community=row.organization.name,
        secretary=row.secretary_name or texts.vacant,
        turnout=_or_mark(row.turnout),
        response_rate=_or_mark(rates[0]), resolution_rate=_or_mark(rates[1]), case_satisfaction=_or_mark(rates[2]),
        composite=_or_mark(score), rank=_or_mark(row.rank),
    )
    return values


def _total_values(total: TownshipTotal, texts: TableTexts) -> dict[str, object]:
    return {
        "township": total.township.name,
        "community": ngettext("Township total (%(num)d community)", "Township total (%(num)d communities)",
                              total.communities),
        "secretary": NO_FIGURE,
        "turnout": _or_mark(total.turnout),
        # A total is shown only from k valid answers; below, no figure of it is.
        **_survey_values(total.rating, None if total.rating else texts.hidden[Hidden.FEW_ANSWERS], texts),
        "response_rate": NO_FIGURE, "resolution_rate": NO_FIGURE, "case_satisfaction": NO_FIGURE,
        "composite": NO_FIGURE, "rank": NO_FIGURE,
    }


def _cell_text(spec: exports.Column, value: object) -> str:
    """Return exports.cell_text(spec, value), answering the table's usual cells without its general checks.

    A page formats some fifteen thousand cells; texts, the table's ints and floats go the short way.
    """
    kind, cls = spec.kind, value.__class__
    if cls is str:
        return value
    if cls is float and kind == "percent":
        return charts.format_percent(value, spec.decimals)
    if cls is float and kind == "float":
        return f"{value:.{spec.decimals}f}"
    if cls is int and kind == "int":
        return str(value)
    return exports.cell_text(spec, value)


class _SheetRows:
    """Turns the cells of rows, given by column key, into SheetRows for the given columns."""

    def __init__(self, columns: tuple[TableColumn, ...]) -> None:
        self.values_of = operator.itemgetter(*(column.key for column in columns))
        self.specs = tuple(column.spec for column in columns)

    def __call__(self, by_key: dict[str, object], source) -> SheetRow:
        values = self.values_of(by_key)
        # Texts as they are; the rest as exports.cell_text writes them.
        return SheetRow(values, tuple([value if value.__class__ is str else _cell_text(spec, value)
                                       for spec, value in zip(self.specs, values)]), source)


def _fraction(theta) -> str:
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
          "together are under two thirds.", theta=_fraction(theta), percent=charts.format_percent(float(theta), 1)),
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
                   first=_month(table.period.first), last=_month(table.period.last), weights=weights))
    if settings.recorded_at is not None:
        notes.append(_("These settings were recorded when the results were published, on %(date)s.",
                       date=format_date(settings.recorded_at)))
    return tuple(notes)


def table_sheet(table: EvaluationTable, texts: TableTexts | None = None) -> Sheet:
    """Return the table's header, rows, township totals and notes as the screen and the exports show them."""
    columns = table_columns()
    texts = texts or TableTexts(table.min_group_size)
    sheet_row = _SheetRows(columns)
    return Sheet(
        columns=columns,
        rows=tuple([sheet_row(_row_values(row, texts), row) for row in table.rows]),
        totals=tuple([sheet_row(_total_values(total, texts), total) for total in table.totals]),
        notes=table_notes(table),
    )


# --- charts and explanations the page adds around the cells -----------------------------------

def _bar(rating: Rating | None, name: str, reason: str | None, id: str, texts: TableTexts | None = None) -> Markup:
    """Return the 满意/基本满意/不满意 bar, or a placeholder saying the figures are hidden (and why, in its title)."""
    labels = texts.rating3 if texts else _rating3_labels()
    if rating is None:
        marker = (texts.hidden_marker if texts else _("Hidden")) if reason else NO_FIGURE
        pattern = texts.placeholder_title if texts else _("%(name)s: %(marker)s")
        return charts.placeholder_bar(marker, title=pattern % {"name": name, "marker": reason or marker}, id=id)
    summary = charts.text_alternative_bar(rating.satisfied, rating.basically_satisfied, rating.dissatisfied,
                                          labels=labels).summary
    pattern = texts.bar_title if texts else _("%(name)s: %(summary)s")
    return charts.stacked_bar(rating.satisfied, rating.basically_satisfied, rating.dissatisfied, labels=labels,
                              title=pattern % {"name": name, "summary": summary}, id=id)


def _explanation(row: EvaluationRow, texts: TableTexts) -> str:
    """Return how one secretary's composite score was computed, with the actual numbers, as a term and its details."""
    composite = row.composite
    # Escaped piece by piece, which is the same as escaping the whole: only the labels may need it. The value is
    # written as format_percent(value, 1) writes it, in the same format string as the rest.
    labels = texts.escaped_components
    parts = " + ".join(["%.3f × %.1f%% (%s)" % (c.weight, c.value * 100, labels[c.name])
                        for c in composite.contributions])
    omitted = ""
    if composite.omitted:
        omitted = texts.omitted % {"parts": ", ".join(texts.components[name] for name in composite.omitted)}
        omitted = f" <small>{escape(omitted)}</small>"
    return (f'<dt id="composite-{row.organization.id}">{charts.escape_text(row.organization.name)}</dt>'
            f"<dd>{parts} = {composite.score:.3f}{omitted}</dd>")


class BodyRows:
    """Writes the secretaries' rows of the table as templates/evaluation/_table.html's tfoot writes the totals.

    Built here rather than in a template loop over every cell: for a thousand rows that loop was most of the
    page's time. Each column's cell markup is worked out once; a row only fills in its escaped texts.
    """

    def __init__(self, columns: tuple[TableColumn, ...], secretary_url: str) -> None:
        keys = [column.key for column in columns]
        self.secretary, self.answers, self.flag, self.composite = (
            keys.index(key) for key in ("secretary", "answers", "flag", "composite"))
        cells = []
        for column in columns:
            if column.key == "community":
                cells.append('<th scope="row">{}</th>')
            elif column.key == "answers":
                cells.append('<td class="bar-cell">{}</td>')
            elif column.spec.kind != "text":
                cells.append('<td class="num">{}</td>')
            else:
                cells.append("<td>{}</td>")
        self.pattern = "<tr{}>" + "".join(cells) + "</tr>"
        self.secretary_url = secretary_url

    def row(self, row: SheetRow, bar: Markup) -> str:
        """Return a secretary's row: the cells' texts escaped, with the links, bar and badge around some."""
        source = row.source
        # Numbers are written as digits, signs and "%", with nothing to escape.
        texts = [text if value.__class__ in NUMBER_TYPES else charts.escape_text(text)
                 for value, text in zip(row.values, row.texts)]
        if source.term_id:
            texts[self.secretary] = f'<a href="{self.secretary_url}{source.term_id}">{texts[self.secretary]}</a>'
        texts[self.answers] = f"{bar}<small>{texts[self.answers]}</small>"
        if row.texts[self.flag] != NO_FIGURE:
            texts[self.flag] = f'<span class="badge badge-flag">{texts[self.flag]}</span>'
        if source.composite and source.composite.score is not None:
            texts[self.composite] = f'<a href="#composite-{source.organization.id}">{texts[self.composite]}</a>'
        css = ' class="withheld"' if source.hidden else \
            ' class="flagged"' if source.rating and source.rating.flagged else ""
        return self.pattern.format(css, *texts)


# --- reading the query string ----------------------------------------------------------------

def _month_argument(name: str, default: date, errors: dict[str, list]) -> date:
    value = request.args.get(name, "")
    if not value:
        return default
    match = MONTH_RE.fullmatch(value)
    if match is None:
        errors["period"] = [_("Give months as year and month, for example 2026-03.")]
        return default
    return date(int(match[1]), int(match[2]), 1)


def _table_arguments(survey: Survey) -> dict:
    """Read township, case period, sort and order from the query string, refusing what the table cannot show."""
    args = request.args
    township, sort, order = args.get("township", ""), args.get("sort", "rank"), args.get("order", "")
    errors: dict[str, list] = {}
    default_period = services.survey_period(survey)
    first = _month_argument("from", default_period.first, errors)
    last = _month_argument("to", default_period.last, errors)
    if township and not NUMBER_RE.fullmatch(township):
        errors["township"] = [_("Choose one of the townships in this table.")]
    if sort not in services.SORTS:
        errors["sort"] = [_("The table cannot be sorted by “%(value)s”.", value=sort[:40])]
    if order and order not in ORDERS:
        errors["order"] = [_("The order is either ascending or descending.")]
    if errors:
        raise ValidationFailed(errors)
    return {"township_id": int(township) if township else None, "sort": sort,
            "descending": ORDERS[order] if order else None, "period": case_figures.month_range(first, last)}


def _url_arguments(table: EvaluationTable, **changes) -> dict:
    """Return the query string that shows this table again, with changes."""
    arguments = {"township": table.township_id, "sort": table.sort, "order": "desc" if table.descending else "asc"}
    # The survey's own case period goes without saying; a chosen one is carried along.
    if table.period != services.survey_period(table.survey):
        arguments |= {"from": month_value(table.period.first), "to": month_value(table.period.last)}
    arguments.update(changes)
    return arguments


def _results(survey_id: int) -> tuple[Survey, EvaluationTable]:
    survey = services.get_result_survey(current_user, survey_id)
    return survey, services.evaluation_table(current_user, survey, now=utcnow(), **_table_arguments(survey))


# --- the routes ------------------------------------------------------------------------------

@bp.get("/")
@role_required(*READERS)
def index():
    """List the surveys of the user's area with results, and those still open."""
    now = utcnow()
    return render_template(
        "evaluation/index.html", results=services.surveys_with_results(current_user, now),
        in_progress=services.surveys_in_progress(current_user, now), SurveyState=SurveyState,
    )


@bp.get("/surveys/<int:survey_id>")
@role_required(*READERS)
def table(survey_id: int):
    """Show the secretaries of a closed survey with their figures, sortable and filterable by township."""
    survey = services.get_result_survey(current_user, survey_id)
    now = utcnow()
    try:
        result = services.evaluation_table(current_user, survey, now=now, **_table_arguments(survey))
    except Conflict as error:
        if wants_fragment():
            raise
        still_open = survey_services.effective_state(survey, now) == SurveyState.open
        return render_template("evaluation/not_closed.html", survey=survey, message=error.message,
                               still_open=still_open), 409
    return render_page_or_fragment("evaluation/table.html", "evaluation/_table.html", **_table_context(result))


def month_value(month: date) -> str:
    """Return a month as <input type="month"> and the query string write it."""
    return f"{month.year:04d}-{month.month:02d}"


def _table_context(result: EvaluationTable) -> dict:
    texts = TableTexts(result.min_group_size)
    sheet = table_sheet(result, texts)
    # One url_for for the thousand links to secretary pages: they differ only in the term id at the end.
    secretary_url = url_for("evaluation.secretary", term_id=0).removesuffix("0")
    rows = BodyRows(sheet.columns, secretary_url)
    body = []
    for row in sheet.rows:
        source = row.source
        bar = _bar(source.rating, source.organization.name, texts.hidden[source.hidden] if source.hidden else None,
                   f"bar-{source.organization.id}", texts)
        body.append(rows.row(row, bar))
    totals = []
    for row in sheet.totals:
        source = row.source
        reason = None if source.rating else texts.hidden[Hidden.FEW_ANSWERS]
        totals.append((row, _bar(source.rating, source.township.name, reason, f"bar-township-{source.township.id}",
                                 texts)))
    explained = [row for row in result.rows if row.composite and row.composite.score is not None]
    return {
        # Markup: BodyRows and _explanation escape every text they write.
        "survey": result.survey, "result": result, "sheet": sheet, "body": Markup("\n".join(body)), "totals": totals,
        "explanations": Markup("\n".join(_explanation(row, texts) for row in explained)),
        "url_arguments": lambda **changes: _url_arguments(result, **changes),
        "default_descending": services.DEFAULT_DESCENDING, "pattern_defs": charts.pattern_defs(),
        "theta_percent": charts.format_percent(float(result.settings.theta), 1),
        "theta": _fraction(result.settings.theta), "no_figure": NO_FIGURE, "month_value": month_value,
    }


@bp.get("/surveys/<int:survey_id>/participation")
@role_required(*READERS)
def participation(survey_id: int):
    """Show ballots, eligible voters and turnout per community while a survey runs."""
    survey = services.get_result_survey(current_user, survey_id)
    now = utcnow()
    result = services.evaluation_table(current_user, survey, now=now, live_participation=True, sort="name")
    return render_template("evaluation/participation.html", survey=survey, result=result,
                           still_open=survey_services.effective_state(survey, now) == SurveyState.open)


def _attachment(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _export_rows(sheet: Sheet) -> list[list[object]]:
    return [list(row.values) for row in (*sheet.rows, *sheet.totals)]


@bp.get("/surveys/<int:survey_id>/export.csv")
@role_required(*READERS)
def export_csv(survey_id: int):
    """Download the table as shown, as CSV."""
    survey, result = _results(survey_id)
    sheet = table_sheet(result)
    data = exports.to_csv([c.spec for c in sheet.columns], _export_rows(sheet), notes=sheet.notes)
    return _attachment(data, exports.CSV_MIMETYPE, f"evaluation-survey-{survey.id}.csv")


@bp.get("/surveys/<int:survey_id>/export.xlsx")
@role_required(*READERS)
def export_xlsx(survey_id: int):
    """Download the table as shown, as an Excel workbook."""
    survey, result = _results(survey_id)
    sheet = table_sheet(result)
    data = exports.to_xlsx([c.spec for c in sheet.columns], _export_rows(sheet), sheet_title=survey.title,
                           notes=sheet.notes)
    return _attachment(data, exports.XLSX_MIMETYPE, f"evaluation-survey-{survey.id}.xlsx")


@bp.get("/surveys/<int:survey_id>/publication")
@role_required(*READERS)
def publication(survey_id: int):
    """Show the published results as a page to print and post (公示)."""
    survey = services.get_result_survey(current_user, survey_id)
    if survey.state != SurveyState.published:
        raise Conflict(_l("Only published results have a publication page. Publish the survey first."))
    result = services.evaluation_table(current_user, survey, now=utcnow(), sort="name")
    townships = {place.id for place in result.townships}
    sections = [(place.name, [r for r in result.rows if r.township and r.township.id == place.id])
                for place in result.townships]
    others = [r for r in result.rows if r.township is None or r.township.id not in townships]
    if others:
        sections.append((_("Other communities"), others))
    k = result.min_group_size
    return render_template(
        "evaluation/publication.html", survey=survey, result=result, sections=[s for s in sections if s[1]],
        hidden_text=lambda row: _hidden_text(row.hidden, k), flag_text=_flag_text, no_figure=NO_FIGURE,
        format_percent=charts.format_percent,
    )


@bp.get("/terms/<int:term_id>")
@role_required(*READERS)
def secretary(term_id: int):
    """Show one secretary's results across surveys, the latest answers, comments, case figures and trend."""
    report = services.secretary_report(current_user, term_id, utcnow())
    return render_template("evaluation/secretary.html", **_secretary_context(report))


def _secretary_context(report: services.SecretaryReport) -> dict:
    points = []
    for result in report.history:
        rating = result.rating
        threshold = 1 - float(result.settings.theta)
        if rating is None:
            points.append(charts.HistoryPoint(result.survey.title, None, threshold=threshold))
            continue
        favourable = rating.satisfied + rating.basically_satisfied
        low, high = stats.wilson_interval(favourable, rating.n)
        points.append(charts.HistoryPoint(result.survey.title, rating.satisfaction_rate, low, high, threshold))
    gap_note = _("no figure: fewer answers than the survey's minimum")
    threshold_label = _("flag line: 1 − θ")
    history_chart = charts.history_chart(
        points, title=_("Satisfaction rate across surveys: %(name)s", name=report.secretary_name),
        y_label=_("Satisfaction rate"), gap_note=gap_note, threshold_label=threshold_label, id="history-chart",
    ) if points else None
    history_rows = charts.text_alternative_history(points, gap_note=gap_note, threshold_label=threshold_label).rows
    k = report.latest.survey.min_group_size if report.latest else None
    latest_bar = None
    if report.latest is not None:
        reason = _hidden_text(report.latest.hidden, k) if report.latest.hidden else None
        latest_bar = _bar(report.latest.rating, report.organization.name, reason, "latest-bar")
    return {
        "report": report, "history_chart": history_chart, "history_rows": history_rows,
        "pattern_defs": charts.pattern_defs(), "latest_bar": latest_bar,
        "hidden_text": lambda result: _hidden_text(result.hidden, result.survey.min_group_size),
        "flag_text": _flag_text, "format_percent": charts.format_percent, "interval_text": _interval_text,
        "month_label": _month, "no_figure": NO_FIGURE, "comment_minimum": services.COMMENT_MINIMUM,
        "signed_points": lambda difference: f"{difference * 100:+.1f}",
    }
