"""The secretary report: history, trend, breakdown, comments, and only its own term."""
from __future__ import annotations

from datetime import date

import pytest

from accounts.models import Role
from evaluation import scoring
from evaluation.report import secretary_report
from evaluation.results import Hidden
from surveys.models import QuestionType
from tests.evaluation.builders import DAY, LATER, T0


def test_the_secretary_report_has_history_trend_breakdown_and_only_its_own_term(ev, world, make):
    spring = world["community"]
    first, _tiny, _second = ev.three_results(spring)

    report = secretary_report(world["evaluator"], world["term"].id, LATER)

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
    assert trend.interval == scoring.newcombe_difference_interval(80, 100, 65, 100)
    assert trend.is_real_change == scoring.is_real_change(trend.interval) is True
    assert report.history[0].settings.recorded_at is not None
    breakdown = {b.question.position: b for b in report.questions}
    assert [o.count for o in breakdown[1].options] == [45, 20, 35] and breakdown[1].dont_know == 0
    assert [o.count for o in breakdown[2].options] == [40, 30, 20, 10]
    assert breakdown[3].hidden and breakdown[3].answered is None  # no answers recorded for it
    assert breakdown[6].question.type == QuestionType.free_text and breakdown[6].comments == ()

    # A successor's record starts afresh.
    successor = make.user((Role.member, spring), name="New secretary")
    new_term = make.term(spring, successor, start=date(2025, 9, 1))
    fresh = secretary_report(world["admin"], new_term.id, LATER)
    assert fresh.history == () and fresh.latest is None and fresh.questions == ()


def test_comments_appear_from_ten_answers_shuffled_without_dates(ev, world):
    spring = world["community"]
    survey = ev.survey([spring])
    texts = [f"Comment number {i}" for i in range(10)]
    for text in texts[:9]:
        ev.ballot(survey, spring, comment=text)
    ev.close(survey)
    report = secretary_report(world["evaluator"], world["term"].id, LATER)
    free = next(b for b in report.questions if b.question.type == QuestionType.free_text)
    assert free.answered == 9 and free.comments == ()

    again = ev.survey([spring], opens_at=T0 + 30 * DAY)
    for text in texts:
        ev.ballot(again, spring, comment=text, now=T0 + 31 * DAY)
    ev.close(again)
    orders = set()
    for _ in range(6):
        report = secretary_report(world["evaluator"], world["term"].id, LATER + 30 * DAY)
        free = next(b for b in report.questions if b.question.type == QuestionType.free_text)
        assert sorted(free.comments) == sorted(texts)
        assert all(isinstance(c, str) for c in free.comments)
        orders.add(free.comments)
    assert len(orders) > 1
