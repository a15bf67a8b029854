"""The evaluation's services: figures against the statistics, flags, privacy, scope, settings, query plans."""
from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
import sqlalchemy as sa

from accounts.models import Role
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from evaluation import case_figures, services, settings, statistics as stats
from evaluation.models import COMPONENTS, CaseFigure, EvaluationSettings, ResultSettings
from evaluation.services import Hidden
from extensions import db
from surveys import services as survey_services
from surveys.models import Anonymity, QuestionType, Survey, SurveyKind
from tests.evaluation.builders import DAY, LATER, T0

EQUAL = dict.fromkeys(COMPONENTS, 0.25)


def table(actor, survey, **kwargs):
    return services.evaluation_table(actor, survey, now=LATER, **kwargs)


def row_of(result, community):
    return next(r for r in result.rows if r.organization.id == community.id)


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
    assert rating.satisfaction_rate == stats.satisfaction_rate(10, 6, 20) == 0.8
    assert rating.dissatisfied_share == 0.2
    assert rating.dissatisfied_interval == stats.wilson_interval(4, 20)
    assert rating.flag == stats.ReviewFlag.NONE and not rating.flagged
    assert (row.ballots, row.eligible, row.turnout) == (22, 40, 22 / 40)
    assert row.secretary_name == world["member"].name and row.term_id == world["term"].id
    assert row.township.id == world["township"].id
    # c is the rate over every shown secretary of the survey: (16 + 8) / (20 + 10).
    assert result.prior_rate == pytest.approx(24 / 30)
    assert row.shrunk_rate == pytest.approx(stats.shrunk_rate(16, 20, 24 / 30, 10))
    assert row_of(result, summer).shrunk_rate == pytest.approx(stats.shrunk_rate(8, 10, 24 / 30, 10))
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
    expected = stats.composite_score({"survey_satisfaction": 0.8, "response_rate": 0.8, "resolution_rate": 0.8,
                                      "case_satisfaction_rate": 0.8}, EQUAL)
    assert composite == expected and composite.score == pytest.approx(0.8)
    assert [c.name for c in composite.contributions] == list(COMPONENTS)
    # A chosen period replaces the default.
    march = case_figures.month_range(date(2025, 3, 15), date(2025, 3, 31))
    assert row_of(table(world["evaluator"], survey, period=march), spring).cases.submitted == 50


@pytest.mark.parametrize(("d", "n", "flag"), [
    (3, 9, stats.ReviewFlag.NONE),  # exactly one third is not flagged
    (4, 9, stats.ReviewFlag.MARGINAL),  # above θ, but the interval reaches below it
    (50, 100, stats.ReviewFlag.CONFIRMED),  # the Wilson lower bound (0.40) is above θ too
])
def test_review_flags_at_the_boundary(ev, world, d, n, flag):
    spring = world["community"]
    survey = ev.survey([spring])
    ev.answers(survey, spring, n - d, 0, d)
    ev.close(survey)

    rating = row_of(table(world["evaluator"], survey), spring).rating

    assert rating.flag == flag == stats.review_flag(d, n)
    assert rating.flagged == (flag != stats.ReviewFlag.NONE)


@pytest.mark.parametrize(("grades", "flags"), [
    ((3, 3, 0, 3), set()),  # 优秀 + 称职 exactly two thirds, 不称职 exactly one third
    ((2, 2, 2, 3), {stats.Grade4Flag.WARNING_TALK}),
    ((1, 2, 2, 4), {stats.Grade4Flag.WARNING_TALK, stats.Grade4Flag.ADJUSTMENT_RECOMMENDED}),
])
def test_grade4_flags_at_the_boundary(ev, world, grades, flags):
    spring = world["community"]
    survey = ev.survey([spring])
    ev.answers(survey, spring, 9, 0, 0, grades=grades)
    ev.close(survey)

    grade4 = row_of(table(world["evaluator"], survey), spring).grade4

    assert grade4.flags == flags
    assert (grade4.n, grade4.incompetent) == (9, grades[3])


# --- privacy -------------------------------------------------------------------------------

def _three_communities(ev, world, sizes=(12, 3, 20)):
    """Spring, Summer and Winter of the township with the given numbers of valid answers; k = 5."""
    spring = world["community"]
    summer, _ = ev.community("Summer")
    winter, _ = ev.community("Winter")
    survey = ev.survey([spring, summer, winter])
    for community, n in zip((spring, summer, winter), sizes):
        ev.answers(survey, community, n - n // 3, 0, n // 3)
    ev.close(survey)
    return survey, spring, summer, winter


def test_a_community_under_k_is_hidden_and_so_is_the_next_smallest_beside_the_township_total(ev, world):
    survey, spring, summer, winter = _three_communities(ev, world)

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
    survey, *_ = _three_communities(ev, world)
    unfiltered = table(world["evaluator"], survey)

    filtered = table(world["evaluator"], survey, township_id=world["township"].id)

    assert [(r.organization.id, r.hidden, r.rating) for r in filtered.rows] == \
        [(r.organization.id, r.hidden, r.rating) for r in unfiltered.rows]
    assert filtered.totals == unfiltered.totals
    # The total minus what is shown leaves two communities together, never the small one alone.
    shown = sum(r.rating.n for r in filtered.rows if r.rating)
    assert filtered.totals[0].rating.n - shown == 12 + 3


def test_no_remainder_hiding_when_the_township_total_is_itself_under_k(ev, world):
    survey, spring, summer, winter = _three_communities(ev, world, sizes=(0, 3, 0))

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
    survey, spring, summer, winter = _three_communities(ev, world)

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
        services.secretary_report(evaluator, autumn_term.id, LATER)
    with pytest.raises(NotFound):
        services.secretary_report(evaluator, autumn_term.id + 1000, LATER)
    for outsider in (world["member"], world["resident"]):
        with pytest.raises(PermissionDenied):
            table(outsider, survey)
        with pytest.raises(PermissionDenied):
            services.secretary_report(outsider, world["term"].id, LATER)


def test_a_survey_of_another_area_is_refused(ev, world):
    autumn = world["other_community"]
    ev.make.term(autumn, ev.make.user((Role.member, autumn)))
    survey = ev.close(ev.survey([autumn], actor=world["admin"]))

    with pytest.raises(PermissionDenied):
        table(world["evaluator"], survey)
    with pytest.raises(PermissionDenied):
        services.get_result_survey(world["evaluator"], survey.id)
    with pytest.raises(NotFound):
        services.get_result_survey(world["evaluator"], survey.id + 1000)
    assert survey not in services.surveys_with_results(world["evaluator"], LATER)
    assert survey in services.surveys_with_results(world["admin"], LATER)


def test_surveys_with_results_are_closed_evaluations_newest_first(ev, world, survey):
    spring = world["community"]
    older = ev.close(ev.survey([spring], title="Older", opens_at=T0 - 90 * DAY))
    newer = ev.close(ev.survey([spring], title="Newer", opens_at=T0))
    # Open by state, but past its closing time: its results are due.
    lapsed = ev.survey([spring], title="Lapsed", opens_at=T0 + 10 * DAY)
    general = survey_services.create_survey(
        world["evaluator"], title="General", description="", kind=SurveyKind.general,
        anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5, owner_organization_id=None,
    )
    db.session.commit()

    listed = services.surveys_with_results(world["evaluator"], LATER)

    assert listed == [lapsed, newer, older]
    assert general not in listed and survey not in listed
    assert survey in services.surveys_in_progress(world["evaluator"], survey.opens_at)


# --- bad input and open surveys ------------------------------------------------------------

def test_an_open_survey_shows_only_participation_and_only_when_asked(ev, world, survey):
    now = survey.opens_at + DAY

    with pytest.raises(Conflict):
        services.evaluation_table(world["evaluator"], survey, now=now)
    result = services.evaluation_table(world["evaluator"], survey, now=now, live_participation=True)

    assert result.live
    row, = result.rows
    assert (row.ballots, row.rating, row.rank, row.cases, row.hidden) == (0, None, None, None, None)
    assert result.totals[0].rating is None


def test_a_draft_has_no_table(ev, world):
    survey = survey_services.create_survey(
        world["evaluator"], title="Draft", description="", kind=SurveyKind.democratic_evaluation,
        anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5, owner_organization_id=None,
    )
    survey_services.set_targets(world["evaluator"], survey, [world["community"].id])
    db.session.commit()
    with pytest.raises(Conflict):
        services.evaluation_table(world["evaluator"], survey, now=T0, live_participation=True)


def test_sorting_and_bad_sort_keys(ev, world):
    # Satisfaction: Spring 20/30, Winter 14/20; Summer has no answers, so nothing else is hidden.
    survey, spring, summer, winter = _three_communities(ev, world, sizes=(30, 0, 20))
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


# --- settings ------------------------------------------------------------------------------

def test_reading_the_settings_never_writes_and_gives_the_defaults(app, world):
    current = settings.current_settings()

    assert (current.theta, current.shrink_m, dict(current.weights)) == (Fraction(1, 3), 10, EQUAL)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvaluationSettings)) == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"weights": {**EQUAL, "survey_satisfaction": 0.5}}, "weights"),
    ({"weights": {**EQUAL, "response_rate": -0.25, "survey_satisfaction": 0.75}}, "weight_response_rate"),
    ({"weights": {"survey_satisfaction": 1.0}}, "weights"),
    ({"theta_numerator": 0}, "theta"),
    ({"theta_numerator": 3}, "theta"),
    ({"shrink_m": -1}, "shrink_m"),
])
def test_bad_settings_are_refused_beside_their_field(world, change, field):
    values = {"theta_numerator": 1, "theta_denominator": 3, "shrink_m": 10, "weights": EQUAL, **change}
    with pytest.raises(ValidationFailed) as refused:
        settings.update_settings(world["admin"], now=T0, **values)
    assert field in refused.value.errors


def test_only_administrators_change_the_settings(world):
    with pytest.raises(PermissionDenied):
        settings.update_settings(world["evaluator"], theta_numerator=1, theta_denominator=2, shrink_m=5,
                                 weights=EQUAL, now=T0)


def test_publishing_records_the_settings_so_later_changes_leave_published_flags_alone(ev, world):
    spring = world["community"]
    published = ev.survey([spring], title="Published")
    ev.answers(published, spring, 6, 0, 4)  # 40% dissatisfied: flagged under 1/3, not under 1/2
    ev.close(published, publish=True)
    closed = ev.survey([spring], title="Closed only", opens_at=T0 + 14 * DAY)
    ev.answers(closed, spring, 6, 0, 4)
    ev.close(closed)

    recorded = db.session.get(ResultSettings, published.id)
    assert (recorded.theta, recorded.shrink_m, recorded.weights) == (Fraction(1, 3), 10, EQUAL)
    settings.update_settings(world["admin"], theta_numerator=2, theta_denominator=4, shrink_m=4,
                             weights={**EQUAL, "survey_satisfaction": 0.4, "response_rate": 0.1}, now=LATER)
    db.session.commit()

    assert settings.current_settings().theta == Fraction(1, 2)
    old = table(world["evaluator"], published)
    assert old.settings.theta == Fraction(1, 3) and old.settings.recorded_at == published.published_at
    assert row_of(old, spring).rating.flag == stats.ReviewFlag.MARGINAL
    new = table(world["evaluator"], closed)
    assert new.settings.theta == Fraction(1, 2) and new.settings.recorded_at is None
    assert row_of(new, spring).rating.flag == stats.ReviewFlag.NONE
    assert new.settings.weights["survey_satisfaction"] == 0.4


# --- the secretary page --------------------------------------------------------------------

def test_the_secretary_report_has_history_trend_breakdown_and_only_its_own_term(ev, world, make):
    spring = world["community"]
    first, _tiny, _second = ev.three_results(spring)

    report = services.secretary_report(world["evaluator"], world["term"].id, LATER)

    assert report.term.id == world["term"].id and report.township.id == world["township"].id
    assert [r.survey.title for r in report.history] == ["2024", "Tiny", "2025"]
    assert report.history[1].hidden == Hidden.FEW_ANSWERS and report.history[1].rating is None
    assert report.history[1].ballots == 3
    latest = report.latest
    assert latest is report.history[-1] and latest.rating.n == 100
    # Compared with the previous shown result of the same term; a hidden one is skipped.
    trend = latest.trend
    assert trend.previous_survey.id == first.id
    assert trend.difference == pytest.approx(0.65 - 0.80)
    assert trend.interval == stats.newcombe_difference_interval(80, 100, 65, 100)
    assert trend.is_real_change == stats.is_real_change(trend.interval) is True
    assert report.history[0].settings.recorded_at is not None
    breakdown = {b.question.position: b for b in report.questions}
    assert [o.count for o in breakdown[1].options] == [45, 20, 35] and breakdown[1].dont_know == 0
    assert [o.count for o in breakdown[2].options] == [40, 30, 20, 10]
    assert breakdown[3].hidden and breakdown[3].answered is None  # no answers recorded for it
    assert breakdown[6].question.type == QuestionType.free_text and breakdown[6].comments == ()

    # A successor's record starts afresh.
    successor = make.user((Role.member, spring), name="New secretary")
    new_term = make.term(spring, successor, start=date(2025, 9, 1))
    fresh = services.secretary_report(world["admin"], new_term.id, LATER)
    assert fresh.history == () and fresh.latest is None and fresh.questions == ()


def test_comments_appear_from_ten_answers_shuffled_without_dates(ev, world):
    spring = world["community"]
    survey = ev.survey([spring])
    texts = [f"Comment number {i}" for i in range(10)]
    for text in texts[:9]:
        ev.ballot(survey, spring, comment=text)
    ev.close(survey)
    report = services.secretary_report(world["evaluator"], world["term"].id, LATER)
    free = next(b for b in report.questions if b.question.type == QuestionType.free_text)
    assert free.answered == 9 and free.comments == ()

    again = ev.survey([spring], opens_at=T0 + 30 * DAY)
    for text in texts:
        ev.ballot(again, spring, comment=text, now=T0 + 31 * DAY)
    ev.close(again)
    orders = set()
    for _ in range(6):
        report = services.secretary_report(world["evaluator"], world["term"].id, LATER + 30 * DAY)
        free = next(b for b in report.questions if b.question.type == QuestionType.free_text)
        assert sorted(free.comments) == sorted(texts)
        assert all(isinstance(c, str) for c in free.comments)
        orders.add(free.comments)
    assert len(orders) > 1


# --- reads rollups only --------------------------------------------------------------------

def test_the_table_never_reads_ballots(ev, world, survey):
    closed, *_ = _three_communities(ev, world)
    # Real ballots exist (in another survey), so a query that read them would have rows to find.
    for _ in range(3):
        ev.ballot(survey, world["community"], now=survey.opens_at + DAY)
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
        assert "survey_ballot" not in statement.lower(), statement
    connection = db.session.connection()
    for statement, parameters in selects:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                               parameters))
            assert "SCAN survey_ballot" not in plan, plan
        else:
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            assert "Seq Scan on survey_ballots" not in plan and "survey_ballot" not in plan, plan
