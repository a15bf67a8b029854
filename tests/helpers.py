"""Helpers shared by view tests: page parsing and URL building from the url_map."""
from __future__ import annotations

from collections import Counter

from bs4 import BeautifulSoup


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def duplicate_ids(response) -> list[str]:
    ids = Counter(tag["id"] for tag in soup(response).find_all(id=True))
    return [i for i, n in ids.items() if n > 1]


#: Routes that show a closed survey's results: an open survey would rightly get 409 there.
RESULT_ENDPOINTS = ("evaluation.table", "evaluation.export_csv", "evaluation.export_xlsx", "evaluation.publication")


def build_urls(app, methods: set[str], ids: dict[str, int], prefix: str = "",
               endpoint_ids: dict[str, dict[str, int]] | None = None):
    """Yield (endpoint, url) for every rule with one of the methods, filling ids by argument name.

    endpoint_ids gives some endpoints their own ids, e.g. a published survey for the result pages.
    """
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not (rule.methods & methods) or not rule.endpoint.startswith(prefix):
            continue
        own = (endpoint_ids or {}).get(rule.endpoint, {})
        args = {name: own.get(name, ids.get(name, 1)) for name in rule.arguments}
        with app.test_request_context():
            yield rule.endpoint, app.url_for(rule.endpoint, **args)


def ids_for(world, survey=None) -> dict[str, int]:
    """Return the ids that fill url_map arguments of the same names."""
    case = world["case"]
    ids = {
        "organization_id": world["community"].id, "user_id": world["resident"].id, "term_id": world["term"].id,
        "case_id": case.id, "photo_id": case.photos[0].id, "category_id": world["category"].id,
        "code": case.tracking_code,
    }
    if survey is not None:
        ids.update(survey_id=survey.id, question_id=survey.questions[0].id)
    return ids


def result_ids(published_survey) -> dict[str, dict[str, int]]:
    """Return endpoint_ids that show a published survey's results on the result pages."""
    return {endpoint: {"survey_id": published_survey.id} for endpoint in RESULT_ENDPOINTS}
