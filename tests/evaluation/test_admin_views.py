"""The evaluation settings page: administrators only, exact weights, errors beside fields, published results kept."""
from __future__ import annotations

from fractions import Fraction

import pytest
import sqlalchemy as sa

from db import utcnow
from evaluation import settings
from evaluation.models import COMPONENTS, EvaluationSettings, ResultSettings
from extensions import db
from surveys.transitions import close_survey, publish_survey
from tests.evaluation.builders import count
from tests.helpers import duplicate_ids, soup

URL = "/admin/evaluation/settings"
EQUAL = dict.fromkeys(COMPONENTS, 0.25)
VALID = {"theta_numerator": "1", "theta_denominator": "3", "shrink_m": "10",
         **{f"weight_{name}": "0.25" for name in COMPONENTS}}


def form_data(**changes) -> dict:
    return {**VALID, **changes}


def in_force():
    current = settings.current_settings()
    return current.theta, current.shrink_m, dict(current.weights)


def error_beside(response, field_id: str) -> str:
    """Return the error message shown beside a field, checking it is tied to the field."""
    page = soup(response)
    error = page.find(id=f"{field_id}-error")
    assert error is not None, f"no error beside {field_id}"
    assert f"{field_id}-error" in page.find(id=field_id)["aria-describedby"]
    return error.get_text(" ", strip=True)


def group_error(response, group: str) -> str:
    """Return the error message of a fieldset (theta, weights), checking the fieldset refers to it."""
    page = soup(response)
    error = page.find(id=f"{group}-error")
    assert error is not None, f"no error for {group}"
    assert f"{group}-error" in error.find_parent("fieldset")["aria-describedby"]
    return error.get_text(" ", strip=True)


@pytest.fixture
def admin(client, world):
    client.login("admin")
    return client


def test_the_page_shows_the_settings_in_force_and_what_they_do(admin):
    response = admin.get(URL)

    assert response.status_code == 200 and duplicate_ids(response) == []
    page = soup(response)
    in_force_list = page.find(id="in-force-heading").find_parent("section").dl.get_text(" ", strip=True)
    assert "1/3 (33.3%)" in in_force_list and "Never: these are the defaults." in in_force_list
    assert in_force_list.count("0.25") == 4
    assert "keep the settings they were published with" in page.find(id="published-results-note").get_text()
    assert "exactly θ is not flagged" in page.find(id="theta-hint").get_text()
    assert "add up to exactly 1" in page.find(id="weights-hint").get_text()
    assert {field["name"]: field.get("value") for field in page.select("form input[type!=hidden]")} == VALID
    # Each input has its label, and the hint of m is tied to it.
    for field in page.select("form input[type!=hidden]"):
        assert page.find("label", attrs={"for": field["id"]}) is not None
    assert page.find(id="shrink_m")["aria-describedby"] == "shrink_m-hint"


def test_an_administrator_changes_the_settings(admin, world):
    changed = form_data(theta_numerator="2", theta_denominator="5", shrink_m="0", weight_survey_satisfaction="0.4",
                        weight_response_rate="0.2", weight_resolution_rate="0.2", weight_case_satisfaction_rate="0.2")
    response = admin.post(URL, changed)

    assert response.status_code == 303 and response.headers["Location"] == URL
    assert in_force() == (Fraction(2, 5), 0, {"survey_satisfaction": 0.4, "response_rate": 0.2,
                                               "resolution_rate": 0.2, "case_satisfaction_rate": 0.2})
    saved = db.session.get(EvaluationSettings, 1)
    assert saved.updated_by_id == world["admin"].id
    page = soup(admin.get(URL))
    assert "Evaluation settings saved" in page.find(id="flashes").get_text()
    in_force_list = page.find(id="in-force-heading").find_parent("section").dl.get_text(" ", strip=True)
    assert "2/5 (40%)" in in_force_list and world["admin"].name in in_force_list
    assert page.find(id="weight_survey_satisfaction")["value"] == "0.4"


def test_htmx_gets_the_updated_partial_and_a_message(admin):
    response = admin.post(URL, form_data(theta_numerator="1", theta_denominator="2"),
                          headers={"HX-Request": "true", "HX-Target": "evaluation-settings"})

    assert response.status_code == 200
    page = soup(response)
    assert page.find()["id"] == "evaluation-settings" and page.h1 is None
    assert "1/2 (50%)" in page.find(id="evaluation-settings").dl.get_text(" ", strip=True)
    flashes = page.find(id="flashes")
    assert flashes["hx-swap-oob"] == "true" and "saved" in flashes.get_text()
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("username", [None, "evaluator", "member", "resident"])
def test_only_administrators_see_or_change_the_settings(client, world, username):
    if username:
        client.login(username)
    page = client.get(URL)
    change = client.post(URL, form_data(theta_numerator="1", theta_denominator="2"))

    if username is None:
        assert page.status_code == change.status_code == 302
        assert "/login" in page.headers["Location"] and "/login" in change.headers["Location"]
    else:
        assert page.status_code == change.status_code == 403
    assert in_force() == (Fraction(1, 3), 10, EQUAL)


def test_the_settings_need_the_csrf_token(admin):
    response = admin.post(URL, form_data(theta_numerator="1", theta_denominator="2"), csrf=False)

    assert response.status_code == 400
    assert in_force() == (Fraction(1, 3), 10, EQUAL)


def test_weights_that_do_not_add_up_to_1_are_refused_and_the_old_settings_stay(admin):
    assert admin.post(URL, form_data(shrink_m="5")).status_code == 303
    before = in_force()

    response = admin.post(URL, form_data(shrink_m="20", weight_case_satisfaction_rate="0.2"))

    assert response.status_code == 422 and duplicate_ids(response) == []
    assert "must add up to 1 (they add up to 0.95)" in group_error(response, "weights")
    assert soup(response).find(id="shrink_m")["value"] == "20"  # what was typed comes back
    assert in_force() == before


def test_htmx_gets_the_refused_form_as_the_partial(admin):
    response = admin.post(URL, form_data(weight_response_rate="0.5"),
                          headers={"HX-Request": "true", "HX-Target": "evaluation-settings"})

    assert response.status_code == 422
    assert soup(response).find()["id"] == "evaluation-settings"
    assert "they add up to 1.25" in group_error(response, "weights")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvaluationSettings)) == 0


def test_thirds_are_entered_to_four_places_and_add_up_exactly(admin):
    thirds = form_data(weight_survey_satisfaction="0.3333", weight_response_rate="0.3333",
                       weight_resolution_rate="0.3334", weight_case_satisfaction_rate="0")
    assert admin.post(URL, thirds).status_code == 303
    assert in_force()[2] == {"survey_satisfaction": 0.3333, "response_rate": 0.3333, "resolution_rate": 0.3334,
                             "case_satisfaction_rate": 0.0}

    # Ten places would pass a floating-point tolerance although they do not add up to 1.
    response = admin.post(URL, form_data(weight_survey_satisfaction="0.3333333333", weight_response_rate="0.3333333333",
                                         weight_resolution_rate="0.3333333334", weight_case_satisfaction_rate="0"))
    assert response.status_code == 422
    assert "at most four decimal places" in error_beside(response, "weight_survey_satisfaction")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("theta_numerator", "one", "Not a valid integer"),
    ("theta_numerator", "1.5", "Not a valid integer"),
    ("theta_numerator", "", "Enter the numerator"),
    ("theta_denominator", "99999999999", "from 2 to 1000"),
    ("shrink_m", "-1", "from 0 to 1000"),
    ("shrink_m", "ten", "Not a valid integer"),
    ("weight_response_rate", "0,25", "decimal from 0 to 1"),
    ("weight_response_rate", "25%", "decimal from 0 to 1"),
    ("weight_response_rate", "NaN", "decimal from 0 to 1"),
    ("weight_response_rate", "Infinity", "decimal from 0 to 1"),
    ("weight_response_rate", "-0.25", "decimal from 0 to 1"),
    ("weight_response_rate", "1.5", "decimal from 0 to 1"),
    ("weight_response_rate", "", "Enter a weight"),
])
def test_malformed_numbers_are_refused_beside_their_field(admin, field, value, message):
    response = admin.post(URL, form_data(**{field: value}))

    assert response.status_code == 422 and duplicate_ids(response) == []
    assert message in error_beside(response, field)
    assert soup(response).find(id=field)["value"] == value
    assert in_force() == (Fraction(1, 3), 10, EQUAL)


@pytest.mark.parametrize(("numerator", "denominator", "refused_at"), [
    ("0", "3", "theta_numerator"),
    ("3", "3", "theta"),
    ("4", "3", "theta"),
    ("1", "1", "theta_denominator"),
])
def test_theta_must_lie_strictly_between_0_and_1(admin, numerator, denominator, refused_at):
    response = admin.post(URL, form_data(theta_numerator=numerator, theta_denominator=denominator))

    assert response.status_code == 422
    if refused_at == "theta":
        assert "strictly between 0 and 1" in group_error(response, "theta")
    else:
        assert error_beside(response, refused_at)
    assert in_force()[0] == Fraction(1, 3)


@pytest.mark.parametrize(("numerator", "denominator", "theta"), [
    ("1", "1000", Fraction(1, 1000)),
    ("999", "1000", Fraction(999, 1000)),
    ("2", "4", Fraction(1, 2)),
])
def test_theta_near_its_bounds_is_accepted_in_lowest_terms(admin, numerator, denominator, theta):
    assert admin.post(URL, form_data(theta_numerator=numerator, theta_denominator=denominator)).status_code == 303
    assert in_force()[0] == theta
    page = soup(admin.get(URL))
    assert (page.find(id="theta_numerator")["value"], page.find(id="theta_denominator")["value"]) == \
        (str(theta.numerator), str(theta.denominator))


def test_published_results_keep_the_settings_recorded_at_publication(admin, world, survey):
    now = utcnow()
    close_survey(world["admin"], survey, now)
    db.session.commit()
    count(survey.id, now)
    publish_survey(world["admin"], survey, now)
    db.session.commit()

    changed = form_data(theta_numerator="1", theta_denominator="2", shrink_m="3", weight_survey_satisfaction="0.7",
                        weight_response_rate="0.1", weight_resolution_rate="0.1", weight_case_satisfaction_rate="0.1")
    assert admin.post(URL, changed).status_code == 303

    recorded = db.session.get(ResultSettings, survey.id)
    assert (recorded.theta, recorded.shrink_m, recorded.weights) == (Fraction(1, 3), 10, EQUAL)
    published = settings.settings_for(survey)
    assert (published.theta, published.recorded_at) == (Fraction(1, 3), survey.published_at)
    assert in_force()[:2] == (Fraction(1, 2), 3)
