"""Evaluators read the results of closed surveys: the table, a secretary's page, the publication page, exports."""
from __future__ import annotations

import functools
import re
from datetime import date

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from accounts.auth import role_required
from accounts.models import Role
from db import utcnow
from errors import Conflict, ValidationFailed
from evaluation import case_figures, charts, exports, scoring, sheet, sheet_views
from evaluation.history_chart import HistoryPoint, history_chart, text_alternative_history
from evaluation.report import COMMENT_MINIMUM, SecretaryReport, secretary_report
from evaluation.results import Hidden, get_result_survey, surveys_in_progress, surveys_with_results
from evaluation.table import DEFAULT_DESCENDING, SORTS, EvaluationTable, evaluation_table, survey_period
from inputs import positive_integer
from responses import render_page_or_fragment, wants_fragment
from surveys.labels import KIND_LABELS
from surveys.lifecycle import effective_state
from surveys.models import Survey, SurveyState

bp = Blueprint("evaluation", __name__, url_prefix="/evaluation")

READERS = (Role.evaluator, Role.admin)
#: The order parameter of the table's URLs, and whether it means descending.
ORDERS = {"asc": False, "desc": True}
#: A month as an <input type="month"> sends it: YYYY-MM.
MONTH_RE = re.compile(r"(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])")


@bp.context_processor
def evaluation_context() -> dict:
    """Give the evaluation templates the survey kinds' names, the no-figure mark and the charts they draw."""
    return {"kind_labels": KIND_LABELS, "no_figure": sheet.NO_FIGURE, "rating_bar": charts.rating_bar}


def month_value(month: date) -> str:
    """Return a month as <input type="month"> and the query string write it."""
    return f"{month.year:04d}-{month.month:02d}"


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
    default_period = survey_period(survey)
    first = _month_argument("from", default_period.first, errors)
    last = _month_argument("to", default_period.last, errors)
    if township and positive_integer(township) is None:
        errors["township"] = [_("Choose one of the townships in this table.")]
    if sort not in SORTS:
        errors["sort"] = [_("The table cannot be sorted by “%(value)s”.", value=sort[:40])]
    if order and order not in ORDERS:
        errors["order"] = [_("The order is either ascending or descending.")]
    if errors:
        raise ValidationFailed(errors)
    return {"township_id": positive_integer(township), "sort": sort,
            "descending": ORDERS[order] if order else None, "period": case_figures.month_range(first, last)}


def _url_arguments(result: EvaluationTable, **changes) -> dict:
    """Return the query string that shows this table again, with changes."""
    arguments = {"township": result.township_id, "sort": result.sort,
                 "order": "desc" if result.descending else "asc"}
    # The survey's own case period goes without saying; a chosen one is carried along.
    if result.period != survey_period(result.survey):
        arguments |= {"from": month_value(result.period.first), "to": month_value(result.period.last)}
    arguments.update(changes)
    return arguments


# --- the table -------------------------------------------------------------------------------

@bp.get("/")
@role_required(*READERS)
def index():
    """List the surveys of the user's area with results, and those still open."""
    now = utcnow()
    return render_template(
        "evaluation/index.html", results=surveys_with_results(current_user, now),
        in_progress=surveys_in_progress(current_user, now), SurveyState=SurveyState,
    )


@bp.get("/surveys/<int:survey_id>")
@role_required(*READERS)
def table(survey_id: int):
    """Show the secretaries of a closed survey with their figures, sortable and filterable by township."""
    survey = get_result_survey(current_user, survey_id)
    now = utcnow()
    try:
        result = evaluation_table(current_user, survey, now=now, **_table_arguments(survey))
    except Conflict as error:
        if wants_fragment():
            raise
        still_open = effective_state(survey, now) == SurveyState.open
        return render_template("evaluation/not_closed.html", survey=survey, message=error.message,
                               still_open=still_open), 409
    return render_page_or_fragment("evaluation/table.html", "evaluation/_table.html", **_table_context(result))


def _table_context(result: EvaluationTable) -> dict:
    labels = sheet_views.sheet_labels(result.min_group_size)
    return {
        "survey": result.survey, "result": result,
        "sheet": sheet_views.shown_sheet(result, labels),
        "words": sheet_views.ScreenWords(), "hidden": labels.hidden, "too_few": labels.hidden[Hidden.FEW_ANSWERS],
        # One url_for for the thousand links to secretary pages: they differ only in the term id at the end.
        "secretary_url": url_for("evaluation.secretary", term_id=0).removesuffix("0"),
        "explained": [row for row in result.rows if row.composite and row.composite.score is not None],
        "url_arguments": functools.partial(_url_arguments, result),
        "default_descending": DEFAULT_DESCENDING, "pattern_defs": charts.pattern_defs(),
        "month_value": month_value,
    }


@bp.get("/surveys/<int:survey_id>/participation")
@role_required(*READERS)
def participation(survey_id: int):
    """Show ballots, eligible voters and turnout per community while a survey runs."""
    survey = get_result_survey(current_user, survey_id)
    now = utcnow()
    result = evaluation_table(current_user, survey, now=now, live_participation=True, sort="name")
    return render_template("evaluation/participation.html", survey=survey, result=result,
                           still_open=effective_state(survey, now) == SurveyState.open)


# --- the downloads ---------------------------------------------------------------------------

def _shown_table(survey_id: int) -> tuple[Survey, sheet.Sheet]:
    """Return the survey and its table as the query string asks the screen to show it."""
    survey = get_result_survey(current_user, survey_id)
    result = evaluation_table(current_user, survey, now=utcnow(), **_table_arguments(survey))
    return survey, sheet_views.shown_sheet(result)


def _attachment(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/surveys/<int:survey_id>/export.csv")
@role_required(*READERS)
def export_csv(survey_id: int):
    """Download the table as shown, as CSV."""
    survey, shown = _shown_table(survey_id)
    data = exports.to_csv([c.spec for c in shown.columns], sheet.export_rows(shown), notes=shown.notes)
    return _attachment(data, exports.CSV_MIMETYPE, f"evaluation-survey-{survey.id}.csv")


@bp.get("/surveys/<int:survey_id>/export.xlsx")
@role_required(*READERS)
def export_xlsx(survey_id: int):
    """Download the table as shown, as an Excel workbook."""
    survey, shown = _shown_table(survey_id)
    data = exports.to_xlsx([c.spec for c in shown.columns], sheet.export_rows(shown), sheet_title=survey.title,
                           notes=shown.notes)
    return _attachment(data, exports.XLSX_MIMETYPE, f"evaluation-survey-{survey.id}.xlsx")


# --- the publication and the secretary page ----------------------------------------------------

@bp.get("/surveys/<int:survey_id>/publication")
@role_required(*READERS)
def publication(survey_id: int):
    """Show the published results as a page to print and post (公示)."""
    survey = get_result_survey(current_user, survey_id)
    if survey.state != SurveyState.published:
        raise Conflict(_l("Only published results have a publication page. Publish the survey first."))
    result = evaluation_table(current_user, survey, now=utcnow(), sort="name")
    townships = {place.id for place in result.townships}
    sections = [(place.name, [r for r in result.rows if r.township and r.township.id == place.id])
                for place in result.townships]
    others = [r for r in result.rows if r.township is None or r.township.id not in townships]
    if others:
        sections.append((_("Other communities"), others))
    k = result.min_group_size
    return render_template(
        "evaluation/publication.html", survey=survey, result=result, sections=[s for s in sections if s[1]],
        hidden_text=lambda row: sheet_views.hidden_text(row.hidden, k),
        flag_text=functools.partial(sheet.flag_text, labels=sheet_views.flag_labels()),
        format_percent=charts.format_percent,
    )


@bp.get("/terms/<int:term_id>")
@role_required(*READERS)
def secretary(term_id: int):
    """Show one secretary's results across surveys, the latest answers, comments, case figures and trend."""
    report = secretary_report(current_user, term_id, utcnow())
    return render_template("evaluation/secretary.html", **_secretary_context(report))


def _history_points(report: SecretaryReport) -> list[HistoryPoint]:
    points = []
    for result in report.history:
        rating = result.rating
        threshold = 1 - float(result.settings.theta)
        if rating is None:
            points.append(HistoryPoint(result.survey.title, None, threshold=threshold))
            continue
        low, high = scoring.wilson_interval(rating.satisfied + rating.basically_satisfied, rating.n)
        points.append(HistoryPoint(result.survey.title, rating.satisfaction_rate, low, high, threshold))
    return points


def _secretary_context(report: SecretaryReport) -> dict:
    points = _history_points(report)
    gap_note = _("no figure: fewer answers than the survey's minimum")
    threshold_label = _("flag line: 1 − θ")
    chart = history_chart(
        points, title=_("Satisfaction rate across surveys: %(name)s", name=report.secretary_name),
        y_label=_("Satisfaction rate"), gap_note=gap_note, threshold_label=threshold_label, id="history-chart",
    ) if points else None
    return {
        "report": report, "history_chart": chart,
        "history_rows": text_alternative_history(points, gap_note=gap_note, threshold_label=threshold_label).rows,
        "pattern_defs": charts.pattern_defs(), "words": sheet_views.ScreenWords(),
        "hidden_text": lambda result: sheet_views.hidden_text(result.hidden, result.survey.min_group_size),
        "flag_text": functools.partial(sheet.flag_text, labels=sheet_views.flag_labels()),
        "format_percent": charts.format_percent, "interval_text": sheet.interval_text,
        "month_label": sheet_views.month_label, "comment_minimum": COMMENT_MINIMUM,
        "signed_points": lambda difference: f"{difference * 100:+.1f}",
    }
