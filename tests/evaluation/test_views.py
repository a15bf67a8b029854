"""The evaluation screens: the table, sorting and filtering, privacy, scope, exports, publication, secretary page."""
from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest

from accounts.models import Organization, Role
from evaluation.charts import format_percent
from evaluation.models import CaseFigure
from extensions import db
from surveys.models import Survey
from surveys.transitions import publish_survey
from tests.evaluation.builders import DAY, T0
from tests.helpers import duplicate_ids, soup

FRAGMENT = {"HX-Request": "true", "HX-Target": "evaluation-table"}


@pytest.fixture
def results(ev, world):
    """A closed evaluation of four communities in two townships, with one under k and one flagged.

    Township: Spring 12 answers (hidden so that Summer cannot be inferred from the total), Summer 3 (under k = 5),
    Winter 20. Other township: Autumn 10, six of them dissatisfied (flagged).
    """
    spring = world["community"]
    summer, summer_term = ev.community("Summer")
    winter, winter_term = ev.community("Winter")
    autumn = world["other_community"]
    autumn_term = ev.make.term(autumn, ev.make.user((Role.member, autumn), name="Secretary of Autumn"))
    survey = ev.survey([spring, summer, winter, autumn], actor=world["admin"])
    ev.answers(survey, spring, 8, 0, 4, eligible=40)
    ev.answers(survey, summer, 2, 0, 1, eligible=30)
    ev.answers(survey, winter, 10, 4, 6, eligible=50)
    ev.answers(survey, autumn, 2, 2, 6, eligible=20)
    ev.close(survey)
    return {"survey": survey, "spring": spring, "summer": summer, "winter": winter, "autumn": autumn,
            "autumn_term": autumn_term, "winter_term": winter_term}


def table_url(survey, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/evaluation/surveys/{survey.id}" + (f"?{query}" if query else "")


def screen_rows(response) -> list[list[str]]:
    """Return the evaluation table's header and cells as text, charts left out."""
    table = soup(response).find("table", class_="evaluation-table")
    for chart in table.find_all("svg"):
        chart.decompose()
    for arrow in table.select("th [aria-hidden=true]"):
        arrow.decompose()
    return [[cell.get_text(" ", strip=True) for cell in tr.find_all(["th", "td"])] for tr in table.find_all("tr")]


def row_named(rows, name):
    return next(r for r in rows if r[1] == name)


def community_names(response) -> list[str]:
    return [row[1] for row in screen_rows(response)[1:] if not row[1].startswith("Township total")]


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list[str]]:
    """Return the sheet's cells as Excel displays them under their number formats."""
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = []
    for row in sheet.iter_rows():
        texts = []
        for cell in row:
            value, number_format = cell.value, cell.number_format
            if value is None:
                texts.append("")
            elif isinstance(value, (int, float)) and number_format.endswith("%"):
                decimals = len(number_format.partition(".")[2]) - 1 if "." in number_format else 0
                texts.append(format_percent(value, decimals))
            elif isinstance(value, float):
                texts.append(f"{value:.{len(number_format.partition('.')[2])}f}")
            else:
                texts.append(str(value))
        rows.append(texts)
    return rows


# --- the table -----------------------------------------------------------------------------

def test_the_table_shows_the_secretaries_of_the_evaluators_area(client, world, results):
    client.login("evaluator")

    response = client.get(table_url(results["survey"]))

    assert response.status_code == 200
    assert duplicate_ids(response) == []
    rows = screen_rows(response)
    assert rows[0][:5] == ["Township", "Community", "Secretary", "Valid answers (N)", "Turnout"]
    assert sorted(community_names(response)) == ["Spring", "Summer", "Winter"]
    winter = row_named(rows, "Winter")
    assert winter[2] == "Secretary of Winter"
    assert winter[3:9] == ["20", "40.0%", "10 / 4 / 6", "70.0%", "30.0%", "14.5%–51.9%"]
    assert winter[-1] == "1"  # the best rank of the survey
    page = soup(response)
    link = page.find("a", string="Secretary of Winter")
    assert link["href"] == f"/evaluation/terms/{results['winter_term'].id}"
    # The bar and its text alternative, the composite with its explanation, the method with k and θ.
    assert page.find("svg", id=f"bar-{results['winter'].id}") is not None
    assert page.find(id=f"composite-{results['winter'].id}") is not None
    method = page.find("section", class_="method").get_text(" ", strip=True)
    assert "k = 5" in method and "θ = 1/3" in method and "m = 10" in method and "Wilson" in method
    exports = {a.get_text(): a["href"] for a in page.select(".exports a")}
    assert exports["CSV"] == f"/evaluation/surveys/{results['survey'].id}/export.csv?sort=rank&order=asc"


def test_a_flag_shows_in_the_row(client, world, results):
    client.login("admin")

    rows = screen_rows(client.get(table_url(results["survey"])))

    assert row_named(rows, "Autumn")[9] == "Flagged, marginal"
    assert row_named(rows, "Winter")[9] == "—"


def test_sorting_by_a_column_heading_as_a_page_and_as_a_fragment(client, world, results):
    client.login("evaluator")
    survey = results["survey"]

    page = client.get(table_url(survey, sort="name", order="desc"))
    fragment = client.get(table_url(survey, sort="name", order="asc"), headers=FRAGMENT)

    assert community_names(page) == ["Winter", "Summer", "Spring"]
    heading = soup(page).find("th", attrs={"aria-sort": True})
    assert heading["aria-sort"] == "descending"
    # The heading now sorts the other way, keeping the filter and the htmx target.
    link = heading.find("a")
    assert link["href"].endswith("sort=name&order=asc")
    assert link["hx-get"] == link["href"] and link["hx-target"] == "#evaluation-table"
    assert fragment.status_code == 200
    root = soup(fragment).find()
    assert root.name == "section" and root["id"] == "evaluation-table"
    assert "<html" not in fragment.get_data(as_text=True)
    assert community_names(fragment) == ["Spring", "Summer", "Winter"]
    assert fragment.headers["Vary"].count("HX-Request") == 1


def test_filtering_by_township_without_and_with_htmx(client, world, results):
    client.login("admin")
    survey = results["survey"]
    other_township = results["autumn"].parent_id

    page = client.get(table_url(survey))
    form = soup(page).find("form", id="evaluation-filter")
    assert form["method"] == "get" and form.find("button", type="submit") is not None
    assert {o["value"] for o in form.find_all("option")} == {"", str(world["township"].id), str(other_township)}
    filtered = client.get(table_url(survey, township=other_township))
    fragment = client.get(table_url(survey, township=other_township), headers=FRAGMENT)

    assert sorted(community_names(page)) == ["Autumn", "Spring", "Summer", "Winter"]
    assert community_names(filtered) == community_names(fragment) == ["Autumn"]
    assert soup(filtered).find("option", selected=True)["value"] == str(other_township)
    export = soup(fragment).select_one(".exports a")["href"]
    assert f"township={other_township}" in export


@pytest.mark.parametrize("params", [
    {"sort": "secret"}, {"order": "sideways"}, {"township": "abc"}, {"township": "99999"},
    {"township": "1" * 30}, {"from": "2025-13"}, {"from": "0000-01"}, {"to": "next"}, {"from": "2025-1"},
    {"from": "2025-06", "to": "2025-01"}, {"from": "2020-01", "to": "2025-06"},
])
def test_bad_parameters_are_refused_with_a_message(client, world, results, params):
    client.login("evaluator")

    response = client.get(table_url(results["survey"], **params))

    assert response.status_code == 422
    assert soup(response).find("h1") is not None
    for url in ("export.csv", "export.xlsx"):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        assert client.get(f"/evaluation/surveys/{results['survey'].id}/{url}?{query}").status_code == 422


def test_a_chosen_case_period_gives_the_case_rates_and_stays_with_sorting(client, world, results):
    # Survey opened in June 2025: its own case period is April to June 2025; November 2024 is outside it.
    db.session.add(CaseFigure(organization_id=results["winter"].id, term_id=results["winter_term"].id,
                              month=date(2024, 11, 1), submitted=10, responded_in_time=9, with_feedback=0, solved=0,
                              satisfied=0, basically_satisfied=0, dissatisfied=0, overdue=0, reopened=0,
                              resolve_hours=[]))
    db.session.commit()
    client.login("evaluator")

    own = screen_rows(client.get(table_url(results["survey"])))
    chosen = client.get(table_url(results["survey"], **{"from": "2024-10", "to": "2024-12"}))

    assert row_named(own, "Winter")[10] == "—"
    assert chosen.status_code == 200
    assert row_named(screen_rows(chosen), "Winter")[10] == "90.0%"
    page = soup(chosen)
    assert page.find("input", id="period-from")["value"] == "2024-10"
    assert page.find("input", id="period-to")["value"] == "2024-12"
    assert "from=2024-10&to=2024-12" in page.find("a", id="sort-satisfaction")["href"]
    assert "from=2024-10&to=2024-12" in page.select_one(".exports a")["href"]
    # Without a choice, links stay as short as before.
    assert "from=" not in soup(client.get(table_url(results["survey"]))).find("a", id="sort-satisfaction")["href"]


def test_the_township_of_another_area_is_not_a_filter(client, world, results):
    client.login("evaluator")

    response = client.get(table_url(results["survey"], township=results["autumn"].parent_id))

    assert response.status_code == 422
    assert "Autumn" not in response.get_data(as_text=True)


def test_an_unknown_survey_is_not_found(client, world):
    client.login("evaluator")
    for suffix in ("", "/participation", "/export.csv", "/export.xlsx", "/publication"):
        assert client.get(f"/evaluation/surveys/99999{suffix}").status_code == 404, suffix
    assert client.get("/evaluation/terms/99999").status_code == 404


def test_an_open_survey_has_participation_but_no_results_yet(client, world, survey):
    client.login("evaluator")

    refused = client.get(table_url(survey))
    participation = client.get(f"/evaluation/surveys/{survey.id}/participation")

    assert refused.status_code == 409
    link = soup(refused).find("a", href=f"/evaluation/surveys/{survey.id}/participation")
    assert link is not None
    assert client.get(f"/evaluation/surveys/{survey.id}/export.csv").status_code == 409
    assert participation.status_code == 200
    row = soup(participation).find("tbody").find("tr")
    assert [c.get_text(strip=True) for c in row.find_all(["th", "td"])][:4] == \
        ["Township", "Spring", world["member"].name, "0"]
    index = client.get("/evaluation/")
    assert soup(index).find("a", href=f"/evaluation/surveys/{survey.id}/participation") is not None


# --- scope ---------------------------------------------------------------------------------

def test_an_evaluator_of_another_township_is_refused(client, make, world, ev, results):
    other_township = db.session.get(Organization, results["autumn"].parent_id)
    make.user((Role.evaluator, other_township), username="other.evaluator")
    local = ev.close(ev.survey([world["community"]], title="Local", opens_at=T0 + 20 * DAY))
    client.login("other.evaluator")

    for url in (table_url(local), f"/evaluation/surveys/{local.id}/export.csv",
                f"/evaluation/surveys/{local.id}/export.xlsx", f"/evaluation/terms/{world['term'].id}"):
        assert client.get(url).status_code in (403, 404), url
    # The survey of both townships shows the other evaluator their own community only.
    shared = client.get(table_url(results["survey"]))
    assert community_names(shared) == ["Autumn"]
    assert "Spring" not in client.get(f"/evaluation/surveys/{results['survey'].id}/export.csv").get_data(as_text=True)
    assert client.get(f"/evaluation/terms/{results['autumn_term'].id}").status_code == 200


def test_people_without_the_evaluator_role_are_refused(client, world, results):
    client.login("member")
    assert client.get(table_url(results["survey"])).status_code == 403
    assert client.get("/evaluation/").status_code == 403


def test_an_administrator_sees_every_township(client, world, results):
    client.login("admin")

    response = client.get(table_url(results["survey"]))

    assert sorted(community_names(response)) == ["Autumn", "Spring", "Summer", "Winter"]
    assert len(soup(response).select("table.evaluation-table tfoot tr")) == 2


# --- privacy -------------------------------------------------------------------------------

def test_a_community_under_k_shows_no_figure_anywhere(client, world, results):
    client.login("evaluator")
    survey = results["survey"]

    page = screen_rows(client.get(table_url(survey)))
    in_csv = csv_rows(client.get(f"/evaluation/surveys/{survey.id}/export.csv"))
    in_xlsx = xlsx_rows(client.get(f"/evaluation/surveys/{survey.id}/export.xlsx"))

    for rows in (page, in_csv, in_xlsx):
        summer = row_named(rows, "Summer")
        assert summer[3] == "Hidden: fewer than 5 answers"
        assert summer[5:10] == ["—"] * 5 and summer[13:] == ["—", "—"]
        spring = row_named(rows, "Spring")
        assert spring[3] == "Hidden: would reveal a smaller group"
        assert spring[5:10] == ["—"] * 5
    bar = soup(client.get(table_url(survey))).find("svg", id=f"bar-{results['summer'].id}")
    assert "Hidden" in bar.get_text() and "%" not in bar.get_text()


def test_filtering_cannot_reveal_a_hidden_community(client, world, results):
    client.login("evaluator")
    survey = results["survey"]

    for params in ({}, {"township": world["township"].id}):
        rows = screen_rows(client.get(table_url(survey, **params)))
        total = next(r for r in rows if r[1].startswith("Township total"))
        shown = sum(int(r[3]) for r in rows[1:] if r[3].isdigit() and r is not total)
        # What the total leaves over is either nothing or at least k answers, never the small group alone.
        remainder = int(total[3]) - shown
        assert remainder == 0 or remainder >= 5
        assert remainder == 15


# --- exports -------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {}, {"sort": "satisfaction", "order": "asc"}, {"township": "TOWNSHIP"}, {"from": "2024-10", "to": "2024-12"},
])
def test_the_exports_equal_the_screen(client, world, results, params):
    client.login("admin")
    survey = results["survey"]
    params = {k: (world["township"].id if v == "TOWNSHIP" else v) for k, v in params.items()}
    query = "&".join(f"{k}={v}" for k, v in params.items())

    screen = screen_rows(client.get(table_url(survey, **params)))
    as_csv = client.get(f"/evaluation/surveys/{survey.id}/export.csv?{query}")
    as_xlsx = client.get(f"/evaluation/surveys/{survey.id}/export.xlsx?{query}")

    assert as_csv.headers["Content-Disposition"] == f'attachment; filename="evaluation-survey-{survey.id}.csv"'
    assert as_xlsx.headers["Content-Disposition"] == f'attachment; filename="evaluation-survey-{survey.id}.xlsx"'
    assert as_csv.mimetype == "text/csv"
    from_csv, from_xlsx = csv_rows(as_csv), xlsx_rows(as_xlsx)
    assert from_csv[:len(screen)] == screen
    assert from_xlsx[:len(screen)] == screen
    # The notes follow one empty row and carry k, θ and the method.
    csv_notes = [row[0] for row in from_csv[len(screen) + 1:]]
    xlsx_notes = [row[0] for row in from_xlsx[len(screen) + 1:] if row and row[0]]
    assert from_csv[len(screen)] == [] and csv_notes == xlsx_notes
    assert any("k = 5" in note for note in csv_notes) and any("θ = 1/3" in note for note in csv_notes)


def test_the_exports_speak_the_users_language(client, world, results):
    client.login("admin")
    client.post("/language", {"locale": "zh_Hans"})
    survey = results["survey"]

    page = client.get(table_url(survey))
    as_csv = csv_rows(client.get(f"/evaluation/surveys/{survey.id}/export.csv"))

    assert soup(page).html["lang"] == "zh-Hans"
    assert "退出登录" in page.get_data(as_text=True)
    assert as_csv[0] == screen_rows(page)[0]


# --- publication ---------------------------------------------------------------------------

def test_the_publication_page_is_only_for_published_results(client, world, ev, results):
    client.login("evaluator")
    survey = results["survey"]
    assert client.get(f"/evaluation/surveys/{survey.id}/publication").status_code == 409

    publish_survey(world["admin"], db.session.get(Survey, survey.id), survey.closes_at + DAY)
    db.session.commit()
    response = client.get(f"/evaluation/surveys/{survey.id}/publication")

    assert response.status_code == 200
    page = soup(response)
    assert page.find("link", href="/static/css/print.css")["media"] == "print"
    assert world["district"].name in page.find("footer", class_="publication-issuer").get_text()
    rows = {r.find("th").get_text(strip=True): [c.get_text(strip=True) for c in r.find_all("td")]
            for r in page.select("table.publication-table tbody tr")}
    assert set(rows) == {"Spring", "Summer", "Winter"}
    assert rows["Winter"] == ["Secretary of Winter", "20", "70.0%", "30.0%", "—"]
    assert rows["Summer"][1:] == ["Hidden: fewer than 5 answers", "—", "—", "—"]
    assert "script" not in response.get_data(as_text=True).split("<main", 1)[1]
    index = soup(client.get("/evaluation/"))
    assert index.find("a", href=f"/evaluation/surveys/{survey.id}/publication") is not None


# --- the secretary page --------------------------------------------------------------------

def test_the_secretary_page_shows_history_trend_breakdown_and_cases(client, world, ev):
    spring = world["community"]
    ev.three_results(spring)
    db.session.add(CaseFigure(organization_id=spring.id, term_id=world["term"].id, month=date(2025, 5, 1),
                              submitted=10, responded_in_time=9, with_feedback=8, solved=6, satisfied=4,
                              basically_satisfied=2, dissatisfied=2, overdue=1, reopened=1, resolve_hours=[10.0, 30.0]))
    db.session.commit()
    client.login("evaluator")

    response = client.get(f"/evaluation/terms/{world['term'].id}")

    assert response.status_code == 200
    assert duplicate_ids(response) == []
    page = soup(response)
    text = page.get_text(" ", strip=True)
    assert page.find("h1").get_text(strip=True) == world["member"].name
    assert page.find("svg", id="history-chart") is not None
    data = [[c.get_text(strip=True) for c in tr.find_all(["th", "td"])] for tr in page.find("details").find_all("tr")]
    assert [row[0] for row in data[1:]] == ["2024", "Tiny", "2025"]
    assert data[1][1] == "80.0%" and data[3][1] == "65.0%"
    assert "-15.0 percentage points" in text and "This is a real change" in text
    assert "Hidden: fewer than 5 answers" in text
    rating3, grade4 = page.select("article.breakdown")[:2]
    assert [td.get_text(strip=True) for td in rating3.select("tbody td.num")][::2] == ["45", "20", "35"]
    assert [th.get_text(strip=True) for th in grade4.select("tbody th")] == \
        ["Excellent", "Competent", "Basically competent", "Incompetent"]
    assert [td.get_text(strip=True) for td in grade4.select("tbody td.num")][::2] == ["40", "30", "20", "10"]
    cases = page.find("caption", string=lambda s: s and "by month" in s).find_parent("table")
    may = [c.get_text(strip=True) for c in cases.find("tbody").find("tr").find_all(["th", "td"])]
    assert may[1:] == ["10", "90.0%", "75.0%", "75.0%", "1", "20.0", "1"]


def test_a_secretary_without_results_has_a_plain_page(client, world):
    client.login("admin")

    response = client.get(f"/evaluation/terms/{world['term'].id}")

    assert response.status_code == 200
    assert "No evaluation of this secretary has closed yet." in response.get_data(as_text=True)


def test_the_index_lists_surveys_with_results(client, world, results):
    client.login("evaluator")

    page = soup(client.get("/evaluation/"))

    assert page.find("a", href=table_url(results["survey"])) is not None



def test_the_secretary_page_shows_comments_only_from_ten_answers(client, world, ev):
    spring = world["community"]
    survey = ev.survey([spring])
    for i in range(10):
        ev.ballot(survey, spring, comment=f"Comment number {i}")
    ev.close(survey)
    client.login("evaluator")

    page = soup(client.get(f"/evaluation/terms/{world['term'].id}"))

    assert sorted(li.get_text() for li in page.select("ul.comments li")) == [f"Comment number {i}" for i in range(10)]
