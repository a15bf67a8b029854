"""The evaluation table: figures against the statistics, flags, bad input, sorting, reads rollups only."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from errors import Conflict, ValidationFailed
from evaluation import case_figures, scoring
from evaluation.models import COMPONENTS, CaseFigure
from evaluation.results import surveys_with_results
from evaluation.table import evaluation_table
from extensions import db
from surveys.builder import create_survey, set_targets
from surveys.models import Anonymity, Ballot, Survey, SurveyKind
from surveys.transitions import close_survey
from tests.evaluation.builders import DAY, EQUAL, LATER, T0, count, row_of, table


# --- the figures ---------------------------------------------------------------------------

def test_the_figures_follow_the_statistics(ev, world):
    spring = world["community"]
    summer, summer_term = ev.community("Summer")
    survey = ev.survey([spring, summer])
    ev.answers(survey, spring, 10, 6, 4, dont_know=2, eligible=40)
    ev.answers(survey, summer, 5, 3, 2)
    ev.close(survey)

    result = table(world["evaluator"], survey)

    row = row_of(result, spring)
    rating = row.rating
    assert (rating.n, rating.satisfied, rating.basically_satisfied, rating.dissatisfied, rating.dont_know) == \
        (20, 10, 6, 4, 2)
    assert rating.satisfaction_rate == scoring.satisfaction_rate(10, 6, 20) == 0.8
    assert rating.dissatisfied_share == 0.2
    assert rating.dissatisfied_interval == scoring.wilson_interval(4, 20)
    assert rating.flag == scoring.ReviewFlag.NONE and not rating.flagged
    assert (row.ballots, row.eligible, row.turnout) == (22, 40, 22 / 40)
    assert row.secretary_name == world["member"].name and row.term_id == world["term"].id
    assert row.township.id == world["township"].id
    # c is the rate over every shown secretary of the survey: (16 + 8) / (20 + 10).
    assert result.prior_rate == pytest.approx(24 / 30)
    assert row.shrunk_rate == pytest.approx(scoring.shrunk_rate(16, 20, 24 / 30, 10))
    assert row_of(result, summer).shrunk_rate == pytest.approx(scoring.shrunk_rate(8, 10, 24 / 30, 10))
    # Equal raw rates shrink to the same value and share the rank.
    assert [r.rank for r in result.rows] == [1, 1] and result.ranked == 2
    # Without case figures the composite is the survey satisfaction alone, renormalised.
    assert row.composite.score == pytest.approx(0.8) and row.composite.renormalised
    assert row.cases.submitted == 0


def test_the_case_rates_and_the_composite_come_from_the_case_figures_of_the_period(ev, world):
    spring = world["community"]
    survey = ev.survey([spring])
    ev.answers(survey, spring, 6, 2, 2)
    ev.close(survey)
    term = world["term"]
    figures = [
        # (month, submitted, in time, with feedback, solved, S, B, D, overdue, reopened, hours)
        (date(2025, 4, 1), 10, 9, 8, 6, 4, 2, 2, 1, 1, [10.0, 30.0]),
        (date(2025, 6, 1), 10, 7, 2, 2, 1, 1, 0, 2, 0, [20.0]),
        # Outside the period (April to June, the survey opened in June): not counted.
        (date(2025, 3, 1), 50, 0, 50, 0, 0, 0, 50, 50, 50, [999.0]),
    ]
    for month, n, in_time, fb, solved, s, b, d, overdue, reopened, hours in figures:
        db.session.add(CaseFigure(organization_id=spring.id, term_id=term.id, month=month, submitted=n,
                                  responded_in_time=in_time, with_feedback=fb, solved=solved, satisfied=s,
                                  basically_satisfied=b, dissatisfied=d, overdue=overdue, reopened=reopened,
                                  resolve_hours=hours))
    db.session.commit()

    result = table(world["evaluator"], survey)

    assert (result.period.first, result.period.last) == (date(2025, 4, 1), date(2025, 6, 1))
    cases = row_of(result, spring).cases
    assert (cases.submitted, cases.responded_in_time, cases.with_feedback, cases.solved) == (20, 16, 10, 8)
    assert (cases.overdue, cases.reopened, cases.resolved, cases.median_resolve_hours) == (3, 1, 3, 20.0)
    assert cases.response_rate == 16 / 20
    assert cases.resolution_rate == 8 / 10
    assert cases.satisfaction_rate == (5 + 3) / 10
    composite = row_of(result, spring).composite
    expected = scoring.CompositeFormula(EQUAL).score({"survey_satisfaction": 0.8, "response_rate": 0.8,
                                                      "resolution_rate": 0.8, "case_satisfaction_rate": 0.8})
    assert composite == expected and composite.score == pytest.approx(0.8)
    assert [c.name for c in composite.contributions] == list(COMPONENTS)
    # A chosen period replaces the default.
    march = case_figures.month_range(date(2025, 3, 15), date(2025, 3, 31))
    assert row_of(table(world["evaluator"], survey, period=march), spring).cases.submitted == 50


@pytest.mark.parametrize(("d", "n", "flag"), [
    (3, 9, scoring.ReviewFlag.NONE),  # exactly one third is not flagged
    (4, 9, scoring.ReviewFlag.MARGINAL),  # above θ, but the interval reaches below it
    (50, 100, scoring.ReviewFlag.CONFIRMED),  # the Wilson lower bound (0.40) is above θ too
])
def test_review_flags_at_the_boundary(ev, world, d, n, flag):
    spring = world["community"]
    survey = ev.survey([spring])
    ev.answers(survey, spring, n - d, 0, d)
    ev.close(survey)

    rating = row_of(table(world["evaluator"], survey), spring).rating

    assert rating.flag == flag == scoring.review_flag(d, n)
    assert rating.flagged == (flag != scoring.ReviewFlag.NONE)


@pytest.mark.parametrize(("grades", "flags"), [
    ((3, 3, 0, 3), set()),  # 优秀 + 称职 exactly two thirds, 不称职 exactly one third
    ((2, 2, 2, 3), {scoring.Grade4Flag.WARNING_TALK}),
    ((1, 2, 2, 4), {scoring.Grade4Flag.WARNING_TALK, scoring.Grade4Flag.ADJUSTMENT_RECOMMENDED}),
])
def test_grade4_flags_at_the_boundary(ev, world, grades, flags):
    spring = world["community"]
    survey = ev.survey([spring])
    ev.answers(survey, spring, 9, 0, 0, grades=grades)
    ev.close(survey)

    grade4 = row_of(table(world["evaluator"], survey), spring).grade4

    assert grade4.flags == flags
    assert (grade4.n, grade4.incompetent) == (9, grades[3])


# --- bad input and open surveys ------------------------------------------------------------

def test_an_open_survey_shows_only_participation_and_only_when_asked(ev, world, survey):
    now = survey.opens_at + DAY

    with pytest.raises(Conflict):
        evaluation_table(world["evaluator"], survey, now=now)
    result = evaluation_table(world["evaluator"], survey, now=now, live_participation=True)

    assert result.live
    row, = result.rows
    assert (row.ballots, row.rating, row.rank, row.cases, row.hidden) == (0, None, None, None, None)
    assert result.totals[0].rating is None


def test_a_closed_survey_has_results_only_once_its_ballots_are_counted(ev, world):
    spring = world["community"]
    survey = ev.survey([spring])
    for rating in ("satisfied", "satisfied", "basically_satisfied", "dissatisfied", "satisfied"):
        ev.ballot(survey, spring, rating=rating)
    close_survey(world["admin"], survey, survey.closes_at)
    db.session.commit()

    with pytest.raises(Conflict) as refused:
        table(world["evaluator"], survey)
    assert "being counted" in str(refused.value.message)
    assert survey not in surveys_with_results(world["evaluator"], LATER)
    count(survey.id, survey.closes_at)

    row, = table(world["evaluator"], survey).rows
    assert (row.ballots, row.rating.n, row.rating.satisfied, row.rating.dissatisfied) == (5, 5, 3, 1)
    assert surveys_with_results(world["evaluator"], LATER) == [survey]


def test_a_draft_has_no_table(ev, world):
    survey = create_survey(
        world["evaluator"], title="Draft", description="", kind=SurveyKind.democratic_evaluation,
        anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5, owner_organization_id=None,
    )
    set_targets(world["evaluator"], survey, [world["community"].id])
    db.session.commit()
    with pytest.raises(Conflict):
        evaluation_table(world["evaluator"], survey, now=T0, live_participation=True)


def test_sorting_and_bad_sort_keys(ev, world):
    # Satisfaction: Spring 20/30, Winter 14/20; Summer has no answers, so nothing else is hidden.
    survey, spring, summer, winter = ev.three_communities(sizes=(30, 0, 20))
    evaluator = world["evaluator"]

    def order(**kwargs):
        result = table(evaluator, survey, **kwargs)
        return [r.organization.name for r in result.rows], result.descending

    assert order(sort="name") == (["Spring", "Summer", "Winter"], False)
    assert order(sort="name", descending=True) == (["Winter", "Summer", "Spring"], True)
    assert order(sort="rank") == (["Winter", "Spring", "Summer"], False)
    # Rows without the figure come last, whichever the direction.
    assert order(sort="satisfaction") == (["Winter", "Spring", "Summer"], True)
    assert order(sort="satisfaction", descending=False) == (["Spring", "Winter", "Summer"], False)
    assert order(sort="dissatisfied") == (["Spring", "Winter", "Summer"], True)
    assert order(sort="composite")[0] == ["Winter", "Spring", "Summer"]
    with pytest.raises(ValidationFailed) as refused:
        table(evaluator, survey, sort="secret")
    assert "sort" in refused.value.errors
    with pytest.raises(ValidationFailed):
        table(evaluator, survey, township_id=spring.id)
    with pytest.raises(ValidationFailed):
        case_figures.month_range(date(2025, 6, 1), date(2025, 5, 1))


# --- reads rollups only --------------------------------------------------------------------

def test_the_table_never_reads_ballots(ev, world, survey):
    closed, *_ = ev.three_communities()
    # Real ballots exist (in another survey, counted), so a query that read them would have rows to find.
    for _ in range(3):
        ev.ballot(survey, world["community"], now=survey.opens_at + DAY)
    ev.close(survey)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 3
    db.session.expire_all()
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany:
            statements.append((statement, parameters))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        table(world["evaluator"], db.session.get(Survey, closed.id), sort="composite")
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)

    selects = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    for statement, _ in statements:
        assert "survey_ballot" not in statement.lower() and "survey_envelopes" not in statement.lower(), statement
    connection = db.session.connection()
    for statement, parameters in selects:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                               parameters))
            assert "SCAN survey_ballot" not in plan, plan
        else:
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            assert "Seq Scan on survey_ballots" not in plan and "survey_ballot" not in plan, plan
