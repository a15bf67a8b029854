"""Evaluation results in the browser: an evaluator sorts, filters, opens a flagged secretary and downloads the table."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select

from accounts.models import Organization
from extensions import db
from surveys.models import Survey, SurveyKind, SurveyState

pytestmark = pytest.mark.usefixtures("forget_language_choices")

EVALUATOR = "eval.district"  # eval.donghu is locked out for a while by the login throttling test
TOWNSHIP = "西山镇党委"
TOWNSHIP_COMMUNITIES = {"西山村", "石桥村", "柳营社区"}
# The demo's latest evaluation (tests/evaluation/test_demo.py): 石桥村's secretary is flagged and confirmed,
# 柳营社区 has fewer than k = 5 answers, and 西山村 is hidden too so that 柳营社区 cannot be worked out.
FLAGGED = "石桥村"
FLAGGED_SECRETARY = "sec.shiqiao"
FEW_ANSWERS = "柳营社区"
REMAINDER = "西山村"
K = 5
NO_FIGURE = "—"
#: The case period as the filter form sends it (year-month of the first and last months).
PERIOD = r"from=\d{4}-\d{2}&to=\d{4}-\d{2}"

READ_TABLE = """table => {
  const text = node => node.textContent.replace(/\\s+/g, ' ').trim();
  // A bar cell shows a chart and its counts in <small>; a sortable header its link and an arrow.
  const cell = node => text(node.querySelector('small') || node);
  const rows = selector => [...table.querySelectorAll(selector)].map(row => [...row.children].map(cell));
  return {
    header: [...table.querySelectorAll('thead th')].map(th => text(th.querySelector('a') || th)),
    rows: rows('tbody tr'),
    totals: rows('tfoot tr'),
  };
}"""


@dataclass(frozen=True)
class Table:
    """The evaluation table as the screen shows it: header texts, secretaries' rows and township totals."""

    header: list[str]
    rows: list[list[str]]
    totals: list[list[str]]

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]


def read_table(page) -> Table:
    data = page.locator("#evaluation-table table").evaluate(READ_TABLE)
    return Table(data["header"], data["rows"], data["totals"])


def percents(texts: list[str]) -> list[float]:
    """Return the percentages among the cells, in order; cells without a figure come after them all."""
    figures = [text for text in texts if text != NO_FIGURE]
    assert texts[len(figures):] == [NO_FIGURE] * (len(texts) - len(figures)), texts
    return [float(text.rstrip("%")) for text in figures]


def review_flags(table: Table, tr, locale="en") -> dict[str, list[str]]:
    """Return the review flags per community; the grade question's flags may stand beside them in the cell."""
    review = {tr("Flagged, confirmed", locale), tr("Flagged, marginal", locale)}
    flags = {community: [name for name in flag.split("; ") if name in review]
             for community, flag in zip(table.column(tr("Community", locale)), table.column(tr("Flag", locale)))}
    return {community: names for community, names in flags.items() if names}


def xlsx_text(cell) -> str:
    """Return a cell as a spreadsheet displays it, from its value and number format."""
    if cell.value is None:
        return ""
    if cell.data_type == "n":
        places = cell.number_format.rstrip("%").partition(".")[2]
        if cell.number_format.endswith("%"):
            return f"{cell.value * 100:.{len(places)}f}%"
        return f"{cell.value:.{len(places)}f}"
    return str(cell.value)


def download_xlsx(page, name: str, tmp_path: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """Download the table's workbook from its link; return its header, rows (to the first empty one) and notes."""
    with page.expect_download() as downloading:
        page.locator("#evaluation-table").get_by_role("link", name=name, exact=True).click()
    download = downloading.value
    assert re.fullmatch(r"evaluation-survey-\d+\.xlsx", download.suggested_filename), download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    sheet = load_workbook(path).active
    lines = [[xlsx_text(cell) for cell in row] for row in sheet.iter_rows()]
    header, body = lines[0], lines[1:]
    blank = next(i for i, line in enumerate(body) if not any(line))
    notes = [line[0] for line in body[blank + 1:] if line[0]]
    return header, body[:blank], notes


def assert_export_equals_screen(page, tr, tmp_path, locale="en") -> None:
    """The workbook holds the screen's header, its rows and township totals in the same order, then its notes."""
    screen = read_table(page)
    header, rows, notes = download_xlsx(page, tr("Excel (XLSX)", locale), tmp_path)
    assert header == screen.header
    assert rows == screen.rows + screen.totals
    assert notes == page.locator("#method-heading + ul li").all_inner_texts()


@pytest.fixture(scope="module")
def latest(app) -> tuple[int, str]:
    """The id and title of the demo's latest published democratic evaluation."""
    with app.app_context():
        survey = db.session.scalars(
            select(Survey).where(Survey.state == SurveyState.published,
                                 Survey.kind == SurveyKind.democratic_evaluation)
            .order_by(Survey.closes_at.desc())
        ).first()
        return survey.id, survey.title


@pytest.fixture(scope="module")
def township_id(app) -> str:
    with app.app_context():
        return str(db.session.scalar(select(Organization.id).where(Organization.name == TOWNSHIP)))


def open_latest_table(page, tr, latest, locale="en") -> None:
    """Go from the main navigation to the latest evaluation's table."""
    survey_id, title = latest
    page.get_by_role("navigation", name=tr("Main", locale)).get_by_role(
        "link", name=tr("Evaluation results", locale), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Evaluation results", locale))
    page.get_by_role("region", name=tr("Surveys with results", locale)).get_by_role(
        "link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page).to_have_url(re.compile(rf"/evaluation/surveys/{survey_id}$"))


def sort_link(page, tr, column: str, locale="en"):
    return page.locator("#evaluation-table thead").get_by_role("link", name=tr(column, locale), exact=True)


def column_heading(page, tr, column: str, locale="en"):
    return page.locator("#evaluation-table thead th").filter(
        has=page.get_by_role("link", name=tr(column, locale), exact=True))


def assert_township_only(table: Table, tr) -> None:
    """Rows of the township's communities only, with its total; the hidden ones say why."""
    assert set(table.column(tr("Township"))) == {TOWNSHIP}
    assert set(table.column(tr("Community"))) == TOWNSHIP_COMMUNITIES
    assert [total[table.header.index(tr("Township"))] for total in table.totals] == [TOWNSHIP]
    answers = dict(zip(table.column(tr("Community")), table.column(tr("Valid answers (N)"))))
    assert answers[FEW_ANSWERS] == tr("Hidden: fewer than %(k)d answers", k=K)
    assert answers[REMAINDER] == tr("Hidden: would reveal a smaller group")


def test_evaluator_sorts_filters_opens_the_flagged_secretary_and_downloads_the_table(
    page, log_in, tr, name_of, latest, township_id, check_a11y, duplicate_ids, tmp_path
):
    """Sorting and filtering swap the table in place and push the URL; the workbook equals the screen."""
    survey_id, title = latest
    log_in(page, EVALUATOR)
    open_latest_table(page, tr, latest)
    check_a11y(page)
    assert duplicate_ids(page) == []

    # By rank first: the whole district, the flagged secretary marked, the hidden ones without a figure.
    expect(column_heading(page, tr, "Rank")).to_have_attribute("aria-sort", "ascending")
    by_rank = read_table(page)
    assert {tr("Township"), tr("Community"), tr("Secretary"), tr("Flag"), tr("Rank")} <= set(by_rank.header)
    assert set(by_rank.column(tr("Township"))) == {"东湖街道党工委", TOWNSHIP}
    assert review_flags(by_rank, tr) == {FLAGGED: [tr("Flagged, confirmed")]}
    ranks = [int(rank) for rank in by_rank.column(tr("Rank")) if rank != NO_FIGURE]
    assert ranks == sorted(ranks) and len(ranks) == len(by_rank.rows) - 2

    # Sorting by the dissatisfied share swaps the table in (no page load), pushes the URL, puts 石桥村 first.
    page.evaluate("() => { window.notReloaded = true; }")
    with page.expect_response(lambda r: "sort=dissatisfied" in r.url) as sorted_by:
        sort_link(page, tr, "Dissatisfied share").click()
    assert sorted_by.value.request.headers.get("hx-request") == "true"
    expect(page).to_have_url(re.compile(rf"/evaluation/surveys/{survey_id}\?(.+&)?sort=dissatisfied&order=desc$"))
    expect(column_heading(page, tr, "Dissatisfied share")).to_have_attribute("aria-sort", "descending")
    expect(column_heading(page, tr, "Rank")).not_to_have_attribute("aria-sort", re.compile(".*"))
    most_dissatisfied = read_table(page)
    shares = percents(most_dissatisfied.column(tr("Dissatisfied share")))
    assert shares == sorted(shares, reverse=True)
    assert most_dissatisfied.column(tr("Community"))[0] == FLAGGED
    assert sorted(most_dissatisfied.rows) == sorted(by_rank.rows)
    assert most_dissatisfied.rows != by_rank.rows
    # The same link again reverses the order.
    with page.expect_response(lambda r: "order=asc" in r.url):
        sort_link(page, tr, "Dissatisfied share").click()
    expect(page).to_have_url(re.compile(r"sort=dissatisfied&order=asc$"))
    expect(column_heading(page, tr, "Dissatisfied share")).to_have_attribute("aria-sort", "ascending")
    least_dissatisfied = read_table(page)
    shares = percents(least_dissatisfied.column(tr("Dissatisfied share")))
    assert shares == sorted(shares)
    assert page.evaluate("() => window.notReloaded") is True

    # Choosing a township filters in place and keeps the sort.
    with page.expect_response(lambda r: f"township={township_id}" in r.url) as filtered:
        page.get_by_label(tr("Township"), exact=True).select_option(label=TOWNSHIP)
    assert filtered.value.request.headers.get("hx-request") == "true"
    # The form also sends its case period, the survey's own unless changed.
    expect(page).to_have_url(re.compile(rf"\?township={township_id}&{PERIOD}&sort=dissatisfied&order=asc$"))
    expect(page.locator("#evaluation-table tbody tr")).to_have_count(len(TOWNSHIP_COMMUNITIES))
    township = read_table(page)
    assert_township_only(township, tr)
    shares = percents(township.column(tr("Dissatisfied share")))
    assert shares == sorted(shares)
    assert page.evaluate("() => window.notReloaded") is True
    check_a11y(page)
    assert duplicate_ids(page) == []
    filtered_url = page.url

    # The flagged secretary's page: the flag, the history chart with its text alternative, the case figures.
    secretary = name_of(FLAGGED_SECRETARY)
    page.locator("#evaluation-table tbody tr").filter(has_text=FLAGGED).get_by_role(
        "link", name=secretary, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(secretary)
    expect(page.get_by_text(tr("Secretary of %(community)s", community=FLAGGED))).to_be_visible()
    latest_result = page.get_by_role("region", name=tr("Latest result"), exact=True)
    expect(latest_result).to_contain_text(title)
    expect(latest_result.locator(".badge-flag")).to_contain_text(tr("Flagged, confirmed"))
    history = page.get_by_role("region", name=tr("History across surveys"), exact=True)
    chart = history.get_by_role("img", name=tr("Satisfaction rate across surveys: %(name)s", name=secretary),
                                exact=True)
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description(re.compile(re.escape(title) + r": \d+\.\d%"))
    history.get_by_text(tr("The chart's data as a table"), exact=True).click()
    chart_data = history.locator("details table")
    expect(chart_data).to_be_visible()
    expect(chart_data.locator("tbody tr").filter(has_text=title)).to_have_count(1)
    expect(history.locator("table").last.locator("tbody tr").filter(has_text=title)).to_contain_text(
        tr("Flagged, confirmed"))
    cases = page.get_by_role("region", name=tr("Cases per month"), exact=True)
    case_table = cases.get_by_role("table", name=tr("Cases submitted while this secretary was in office, by month"))
    expect(case_table).to_be_visible()
    expect(case_table.get_by_role("columnheader", name=tr("Response rate"), exact=True)).to_be_visible()
    total = case_table.locator("tfoot tr")
    expect(total.get_by_role("rowheader")).to_have_text(tr("All months"))
    assert int(total.get_by_role("cell").first.inner_text()) > 0
    check_a11y(page)
    assert duplicate_ids(page) == []

    # Back to the filtered, sorted table, then its workbook: the same rows in the same order.
    page.go_back()
    expect(page).to_have_url(filtered_url)
    expect(page.get_by_label(tr("Township"), exact=True)).to_have_value(township_id)
    assert read_table(page) == township
    assert_export_equals_screen(page, tr, tmp_path)


def test_table_sorts_and_filters_without_javascript(new_page, log_in, tr, latest, township_id, tmp_path):
    """Without JavaScript the headers are plain links and the township filter a GET form that keeps the sort."""
    survey_id, _ = latest
    page = new_page(java_script_enabled=False)
    log_in(page, EVALUATOR)
    open_latest_table(page, tr, latest)
    by_rank = read_table(page)

    with page.expect_navigation():
        sort_link(page, tr, "Dissatisfied share").click()
    expect(page).to_have_url(re.compile(rf"/evaluation/surveys/{survey_id}\?(.+&)?sort=dissatisfied&order=desc$"))
    expect(column_heading(page, tr, "Dissatisfied share")).to_have_attribute("aria-sort", "descending")
    sorted_table = read_table(page)
    shares = percents(sorted_table.column(tr("Dissatisfied share")))
    assert shares == sorted(shares, reverse=True)
    assert sorted_table.column(tr("Community"))[0] == FLAGGED
    assert sorted(sorted_table.rows) == sorted(by_rank.rows) and sorted_table.rows != by_rank.rows

    page.get_by_label(tr("Township"), exact=True).select_option(label=TOWNSHIP)
    with page.expect_navigation():
        page.locator("#evaluation-filter").get_by_role("button", name=tr("Show"), exact=True).click()
    # The form also sends its case period, the survey's own unless changed.
    expect(page).to_have_url(re.compile(rf"\?township={township_id}&{PERIOD}&sort=dissatisfied&order=desc$"))
    township = read_table(page)
    assert_township_only(township, tr)
    assert township.rows == [row for row in sorted_table.rows if row[0] == TOWNSHIP]
    # axe is a script and cannot run here; the test with JavaScript checks the same markup.
    assert_export_equals_screen(page, tr, tmp_path)


def test_table_and_secretary_page_in_chinese(
    page, log_in, tr, name_of, latest, switch_language, check_a11y, duplicate_ids, tmp_path
):
    """The table, its export and the secretary page follow the chosen language."""
    zh = "zh_Hans"
    log_in(page, EVALUATOR)
    switch_language(page, zh)
    open_latest_table(page, tr, latest, zh)
    table = read_table(page)
    assert {tr("Township", zh), tr("Community", zh), tr("Secretary", zh), tr("Valid answers (N)", zh),
            tr("Satisfaction rate", zh), tr("Dissatisfied share", zh), tr("Flag", zh), tr("Rank", zh)
            } <= set(table.header)
    assert review_flags(table, tr, zh) == {FLAGGED: [tr("Flagged, confirmed", zh)]}
    answers = dict(zip(table.column(tr("Community", zh)), table.column(tr("Valid answers (N)", zh))))
    assert answers[FEW_ANSWERS] == tr("Hidden: fewer than %(k)d answers", zh, k=K)
    expect(page.locator("#evaluation-table caption")).to_have_text(
        tr("Results per secretary; click a column heading to sort.", zh))
    check_a11y(page)
    assert duplicate_ids(page) == []
    assert_export_equals_screen(page, tr, tmp_path, zh)

    secretary = name_of(FLAGGED_SECRETARY)
    page.locator("#evaluation-table tbody tr").filter(has_text=FLAGGED).get_by_role(
        "link", name=secretary, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(secretary)
    expect(page.get_by_role("region", name=tr("Latest result", zh), exact=True).locator(".badge-flag")).to_contain_text(
        tr("Flagged, confirmed", zh))
    expect(page.get_by_role("img", name=tr("Satisfaction rate across surveys: %(name)s", zh, name=secretary),
                            exact=True)).to_be_visible()
    expect(page.get_by_role("region", name=tr("Cases per month", zh), exact=True).get_by_role(
        "table", name=tr("Cases submitted while this secretary was in office, by month", zh))).to_be_visible()
    check_a11y(page)
    assert duplicate_ids(page) == []


def test_publication_page_prints_without_navigation_and_settings_pass_axe(
    page, new_page, log_in, tr, latest, check_a11y, duplicate_ids
):
    """The publication page (公示) passes axe and prints only the notice; the admin's settings page passes axe."""
    survey_id, title = latest
    log_in(page, EVALUATOR)
    open_latest_table(page, tr, latest)
    page.get_by_role("link", name=tr("Publication page"), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/evaluation/surveys/{survey_id}/publication$"))
    notice = tr("Public notice of the results: %(title)s", title=title)
    expect(page.get_by_role("heading", level=1)).to_have_text(notice)
    expect(page.get_by_role("heading", level=2, name=TOWNSHIP, exact=True)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=FLAGGED)).to_contain_text(tr("Flagged, confirmed"))
    check_a11y(page)
    assert duplicate_ids(page) == []

    nav = page.get_by_role("navigation", name=tr("Main"))
    breadcrumb = page.get_by_role("navigation", name=tr("Breadcrumb"))
    expect(nav).to_be_visible()
    page.emulate_media(media="print")
    expect(nav).to_be_hidden()
    expect(breadcrumb).to_be_hidden()
    expect(page.get_by_text(tr("To print this page or save it as PDF, use your browser's Print command (Ctrl+P). "
                               "The navigation is left out of the printout."))).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text(notice)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator(".publication-issuer")).to_be_visible()
    page.emulate_media(media="screen")
    expect(nav).to_be_visible()

    admin = new_page()
    log_in(admin, "admin")
    admin.get_by_role("navigation", name=tr("Main")).get_by_role(
        "link", name=tr("Evaluation settings"), exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(tr("Evaluation settings"))
    check_a11y(admin)
    assert duplicate_ids(admin) == []
