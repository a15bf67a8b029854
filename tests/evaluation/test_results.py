"""Survey results: what is withheld under k and beside township totals, and who sees which surveys."""
from __future__ import annotations

import pytest

from accounts.models import Role
from errors import NotFound, PermissionDenied, ValidationFailed
from evaluation.report import secretary_report
from evaluation.results import Hidden, get_result_survey, surveys_in_progress, surveys_with_results
from extensions import db
from surveys.builder import create_survey
from surveys.models import Anonymity, SurveyKind
from tests.evaluation.builders import DAY, LATER, T0, count_due, row_of, table


# --- privacy -------------------------------------------------------------------------------

def test_a_community_under_k_is_hidden_and_so_is_the_next_smallest_beside_the_township_total(ev, world):
    survey, spring, summer, winter = ev.three_communities()

    result = table(world["evaluator"], survey)

    assert {r.organization.name: r.hidden for r in result.rows} == {
        "Spring": Hidden.REMAINDER, "Summer": Hidden.FEW_ANSWERS, "Winter": None,
    }
    for community in (spring, summer):
        row = row_of(result, community)
        assert (row.rating, row.grade4, row.shrunk_rate, row.rank, row.composite) == (None,) * 5
    assert row_of(result, winter).rank == 1 and result.ranked == 1
    # Only what is shown goes into c, so c reveals nothing hidden either.
    assert result.prior_rate == row_of(result, winter).rating.satisfaction_rate
    total, = result.totals
    assert total.township.id == world["township"].id and total.communities == 3
    assert total.rating.n == 35 and total.rating.dissatisfied == 4 + 1 + 6


def test_filtering_by_township_shows_the_same_total_and_hides_the_same_communities(ev, world):
    survey, *_ = ev.three_communities()
    unfiltered = table(world["evaluator"], survey)

    filtered = table(world["evaluator"], survey, township_id=world["township"].id)

    assert [(r.organization.id, r.hidden, r.rating) for r in filtered.rows] == \
        [(r.organization.id, r.hidden, r.rating) for r in unfiltered.rows]
    assert filtered.totals == unfiltered.totals
    # The total minus what is shown leaves two communities together, never the small one alone.
    shown = sum(r.rating.n for r in filtered.rows if r.rating)
    assert filtered.totals[0].rating.n - shown == 12 + 3


def test_no_remainder_hiding_when_the_township_total_is_itself_under_k(ev, world):
    survey, spring, summer, winter = ev.three_communities(sizes=(0, 3, 0))

    result = table(world["evaluator"], survey)

    assert {r.hidden for r in result.rows} == {Hidden.FEW_ANSWERS}
    assert result.totals[0].rating is None and result.totals[0].ballots == 3


def test_dont_know_answers_count_toward_the_remainder(ev, world):
    spring = world["community"]
    summer, _ = ev.community("Summer")
    winter, _ = ev.community("Winter")
    survey = ev.survey([spring, summer, winter])
    ev.answers(survey, spring, 10, 0, 2)
    ev.answers(survey, summer, 0, 0, 0, dont_know=2)  # N = 0, yet two people answered
    ev.answers(survey, winter, 20, 0, 5)
    ev.close(survey)

    result = table(world["evaluator"], survey)

    assert row_of(result, summer).hidden == Hidden.FEW_ANSWERS
    assert row_of(result, spring).hidden == Hidden.REMAINDER


def test_participation_stays_visible_for_hidden_rows(ev, world):
    survey, spring, summer, winter = ev.three_communities()

    row = row_of(table(world["evaluator"], survey), summer)

    assert (row.ballots, row.hidden) == (3, Hidden.FEW_ANSWERS)


# --- scope ---------------------------------------------------------------------------------

def test_an_evaluator_sees_only_their_township(ev, world):
    autumn = world["other_community"]
    autumn_secretary = ev.make.user((Role.member, autumn), name="Secretary of Autumn")
    autumn_term = ev.make.term(autumn, autumn_secretary)
    spring = world["community"]
    survey = ev.survey([spring, autumn], actor=world["admin"])
    ev.answers(survey, spring, 8, 1, 1)
    ev.answers(survey, autumn, 2, 2, 6)
    ev.close(survey)
    evaluator = world["evaluator"]

    result = table(evaluator, survey)

    assert [r.organization.id for r in result.rows] == [spring.id]
    assert [t.township.id for t in result.totals] == [world["township"].id]
    assert [o.id for o in result.townships] == [world["township"].id]
    # Ranks are over the whole survey, the same for every viewer.
    assert row_of(result, spring).rank == 1 and result.ranked == 2
    assert {r.organization.id for r in table(world["admin"], survey).rows} == {spring.id, autumn.id}
    with pytest.raises(ValidationFailed) as refused:
        table(evaluator, survey, township_id=autumn.parent_id)
    assert "township" in refused.value.errors
    with pytest.raises(PermissionDenied):
        secretary_report(evaluator, autumn_term.id, LATER)
    with pytest.raises(NotFound):
        secretary_report(evaluator, autumn_term.id + 1000, LATER)
    for outsider in (world["member"], world["resident"]):
        with pytest.raises(PermissionDenied):
            table(outsider, survey)
        with pytest.raises(PermissionDenied):
            secretary_report(outsider, world["term"].id, LATER)


def test_a_survey_of_another_area_is_refused(ev, world):
    autumn = world["other_community"]
    ev.make.term(autumn, ev.make.user((Role.member, autumn)))
    survey = ev.close(ev.survey([autumn], actor=world["admin"]))

    with pytest.raises(PermissionDenied):
        table(world["evaluator"], survey)
    with pytest.raises(PermissionDenied):
        get_result_survey(world["evaluator"], survey.id)
    with pytest.raises(NotFound):
        get_result_survey(world["evaluator"], survey.id + 1000)
    assert survey not in surveys_with_results(world["evaluator"], LATER)
    assert survey in surveys_with_results(world["admin"], LATER)


def test_surveys_with_results_are_closed_evaluations_newest_first(ev, world, survey):
    spring = world["community"]
    older = ev.close(ev.survey([spring], title="Older", opens_at=T0 - 90 * DAY))
    newer = ev.close(ev.survey([spring], title="Newer", opens_at=T0))
    # Open by state, but past its closing time: its results are due once the periodic tally has counted it.
    lapsed = ev.survey([spring], title="Lapsed", opens_at=T0 + 10 * DAY)
    general = create_survey(
        world["evaluator"], title="General", description="", kind=SurveyKind.general,
        anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5, owner_organization_id=None,
    )
    db.session.commit()
    assert surveys_with_results(world["evaluator"], LATER) == [newer, older]
    count_due(LATER)

    listed = surveys_with_results(world["evaluator"], LATER)

    assert listed == [lapsed, newer, older]
    assert general not in listed and survey not in listed
    assert survey in surveys_in_progress(world["evaluator"], survey.opens_at)
