"""Precomputed case figures: built from cases moved through the workflow services at controlled times."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from accounts.models import Role
from accounts.terms import appoint_secretary
from db import utcnow
from evaluation import case_figures
from evaluation.cli import evaluation_cli
from evaluation.models import CaseFigure
from evaluation.report import secretary_report
from extensions import db
from workflow import actions, filing
from workflow.machine import State
from workflow.models import Case, Priority, Satisfaction
from workflow.sweep import TimeLimits, sweep

#: A Monday in March 2025; the category answers within 24 hours and resolves within 7 days (normal priority).
T0 = datetime(2025, 3, 3, 8, 0)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MARCH, FEBRUARY = date(2025, 3, 1), date(2025, 2, 1)
INPUT = {
    "reject": {"reason": "Not ours."}, "request_info": {"question": "Which lamp?"}, "resume": {"note": "Gate 2."},
    "resolve": {"resolution": "Replaced the bulb."}, "escalate": {"reason": "Needs the township."},
}


class Cases:
    """File cases and act on them through the workflow services, committing like a view does."""

    def __init__(self, world, app) -> None:
        self.world = world
        self.upload_dir = Path(app.config["UPLOAD_FOLDER"])

    def file(self, now: datetime, priority: Priority = Priority.normal) -> Case:
        case = filing.file_case(
            self.world["resident"], category_id=self.world["category"].id, priority=priority, title="Broken lamp",
            description="The lamp at the gate is dark.", address="Gate 2", contact_name="Li",
            contact_phone="13800000000", organization_id=None, photos=[], upload_dir=self.upload_dir, now=now,
        )
        db.session.commit()
        return case

    def act(self, case: Case, action: str, at: datetime, actor: str = "member", **data) -> None:
        user = self.world[actor]
        fields = {**INPUT.get(action, {}), **data}
        if action == "assign":
            fields["assignee_id"] = self.world["assignee"].id
        actions.take_action(
            case, action, actor=user, parties=actions.parties_for(user, case), seen_version=case.version,
            data=actions.ActionInput(**fields), now=at,
        )
        db.session.commit()

    def work(self, case: Case, accept_at: datetime, resolve_at: datetime) -> None:
        """Accept, assign, start and resolve: worked from acceptance to resolve_at."""
        self.act(case, "accept", accept_at)
        self.act(case, "assign", accept_at)
        self.act(case, "start", accept_at, actor="assignee")
        self.act(case, "resolve", resolve_at, actor="assignee")

    def feedback(self, case: Case, at: datetime, solved: bool, satisfaction: Satisfaction) -> None:
        resident = self.world["resident"]
        actions.give_feedback(
            case, actor=resident, parties=actions.parties_for(resident, case), seen_version=case.version,
            solved=solved, satisfaction=satisfaction, comment="" if solved else "Still dark.", now=at,
        )
        db.session.commit()


@pytest.fixture
def cases(world, app):
    return Cases(world, app)


def figures(month: date) -> dict[int | None, CaseFigure]:
    """Return the month's figure rows by term."""
    return {f.term_id: f for f in db.session.scalars(sa.select(CaseFigure).where(CaseFigure.month == month))}


def counts(figure: CaseFigure) -> dict[str, int]:
    return {name: getattr(figure, name) for name in case_figures.COUNT_FIELDS}


def test_refresh_counts_responses_feedback_reopens_overdue_and_working_hours(cases, world):
    satisfied, late_and_reopened, rejected, unanswered, on_hold = (cases.file(T0) for _ in range(5))
    cases.work(satisfied, accept_at=T0 + 2 * HOUR, resolve_at=T0 + 12 * HOUR)
    cases.feedback(satisfied, T0 + DAY, solved=True, satisfaction=Satisfaction.satisfied)
    cases.act(rejected, "reject", T0 + HOUR)
    cases.act(on_hold, "accept", T0 + HOUR)
    cases.act(on_hold, "assign", T0 + 2 * HOUR)
    cases.act(on_hold, "start", T0 + 3 * HOUR, actor="assignee")
    cases.act(on_hold, "request_info", T0 + 4 * HOUR, actor="assignee")
    cases.act(on_hold, "resume", T0 + 10 * HOUR, actor="assignee")
    cases.act(on_hold, "resolve", T0 + 12 * HOUR, actor="assignee")
    # Past the 24-hour response limit, two cases are still unanswered.
    sweep(T0 + 25 * HOUR, TimeLimits())
    db.session.commit()
    cases.act(unanswered, "accept", T0 + 26 * HOUR)
    cases.work(late_and_reopened, accept_at=T0 + 30 * HOUR, resolve_at=T0 + 40 * HOUR)
    cases.feedback(late_and_reopened, T0 + 50 * HOUR, solved=False, satisfaction=Satisfaction.dissatisfied)
    cases.act(late_and_reopened, "resolve", T0 + 60 * HOUR, actor="assignee")
    cases.feedback(late_and_reopened, T0 + 70 * HOUR, solved=True, satisfaction=Satisfaction.basically_satisfied)
    # A week after its resolution, the sweep closes the on-hold case without feedback.
    sweep(T0 + 8 * DAY, TimeLimits())
    db.session.commit()
    assert on_hold.state == State.closed and on_hold.feedback[0].outcome.value == "no_feedback"

    last_month = cases.file(T0 - 10 * DAY)
    cases.act(last_month, "accept", T0 - 10 * DAY + HOUR)

    report = case_figures.refresh_case_figures(T0 + 9 * DAY, [T0, T0 - 10 * DAY])
    db.session.commit()

    assert (report.months, report.rows, report.cases) == (2, 2, 6)
    term = world["term"].id
    march = figures(MARCH)[term]
    assert march.organization_id == world["community"].id and march.computed_at == T0 + 9 * DAY
    assert counts(march) == {
        "submitted": 5,
        "responded_in_time": 3,  # satisfied, rejected, on hold; not the late one nor the one answered after 26 h
        "with_feedback": 3,  # two rounds of the reopened case and the satisfied one; no feedback is not feedback
        "solved": 2, "satisfied": 1, "basically_satisfied": 1, "dissatisfied": 1,
        "overdue": 2,  # both were still unanswered when the sweep ran at 25 h
        "reopened": 1,
    }
    # Worked hours up to the last resolution: 10; 10 + 10 (waiting for feedback does not count); 11 less 6 on hold.
    assert march.resolve_hours == [5.0, 10.0, 20.0]
    assert counts(figures(FEBRUARY)[term])["submitted"] == 1

    rates, = case_figures.case_rates((CaseFigure.month == MARCH, CaseFigure.term_id == term)).values()
    assert (rates.response_rate, rates.resolution_rate, rates.satisfaction_rate) == (3 / 5, 2 / 3, 2 / 3)
    assert rates.median_resolve_hours == 10.0


def test_the_median_hours_to_resolve_are_the_middle_one_or_the_mean_of_the_middle_two():
    assert case_figures.CaseRates(resolve_hours_json="[3],[1, 2]").median_resolve_hours == 2
    assert case_figures.CaseRates(resolve_hours_json="[4.0, 1.0],[],[2.0, 3.0]").median_resolve_hours == 2.5
    assert case_figures.CaseRates().median_resolve_hours is None


def test_cases_belong_to_the_term_open_when_they_were_filed(cases, world):
    before = cases.file(T0)
    cases.act(before, "accept", T0 + HOUR)
    successor_term = appoint_secretary(None, world["community"], world["assignee"], date(2025, 3, 10))
    db.session.commit()
    after = cases.file(T0 + 10 * DAY)
    cases.act(after, "reject", T0 + 10 * DAY + 30 * HOUR)

    case_figures.refresh_case_figures(T0 + 20 * DAY, [MARCH])
    db.session.commit()

    by_term = figures(MARCH)
    assert set(by_term) == {world["term"].id, successor_term.id}
    assert (by_term[world["term"].id].submitted, by_term[world["term"].id].responded_in_time) == (1, 1)
    assert (by_term[successor_term.id].submitted, by_term[successor_term.id].responded_in_time) == (1, 0)
    # The old secretary's page shows only their own cases.
    report = secretary_report(world["admin"], world["term"].id, T0 + 20 * DAY)
    assert [(m.month, m.cases.submitted) for m in report.case_months] == [(MARCH, 1)]
    assert report.case_total.response_rate == 1.0


def test_an_escalated_case_stays_with_the_community_that_received_it(cases, world, make):
    township_secretary = make.user((Role.member, world["township"]), username="township.secretary")
    make.term(world["township"], township_secretary)
    case = cases.file(T0)
    cases.act(case, "accept", T0 + HOUR)
    cases.act(case, "escalate", T0 + 2 * HOUR)  # the member holds Spring's secretary term
    assert case.organization_id == world["township"].id
    # The township answers late by its own new deadline; the community's answer came in time.
    world["township_member"] = township_secretary
    cases.act(case, "accept", T0 + 40 * HOUR, actor="township_member")

    case_figures.refresh_case_figures(T0 + 3 * DAY, [MARCH])
    db.session.commit()

    figure, = figures(MARCH).values()
    assert (figure.organization_id, figure.term_id) == (world["community"].id, world["term"].id)
    assert (figure.submitted, figure.responded_in_time) == (1, 1)


def test_refresh_replaces_rows_and_leaves_other_months_alone(cases, world):
    case = cases.file(T0)
    case_figures.refresh_case_figures(T0, None)
    db.session.commit()
    everything = db.session.execute(sa.select(CaseFigure.month, CaseFigure.submitted).order_by(CaseFigure.month)).all()
    # March 2025 and the month the world's own case was filed in (today), and nothing in between.
    assert everything[0] == (MARCH, 1) and everything[-1][0] == case_figures.month_start(world["case"].created_at)
    assert len(everything) == 2

    cases.act(case, "accept", T0 + HOUR)
    february = CaseFigure(organization_id=world["community"].id, term_id=None, month=FEBRUARY, submitted=7)
    db.session.add(february)
    db.session.commit()
    case_figures.refresh_case_figures(T0 + DAY, [MARCH])
    case_figures.refresh_case_figures(T0 + DAY, [MARCH])
    db.session.commit()

    march, = figures(MARCH).values()
    assert (march.submitted, march.responded_in_time) == (1, 1)
    assert figures(FEBRUARY)[None].submitted == 7


def test_the_refresh_command_and_the_sweep_recompute_the_figures(app, cases, world):
    cases.file(T0)
    runner = app.test_cli_runner()

    result = runner.invoke(evaluation_cli, ["refresh", "--month", "2025-03"])
    assert result.exit_code == 0, result.output
    assert result.output == "Case figures recomputed: 1 month(s), 1 case(s), 1 row(s).\n"
    assert runner.invoke(evaluation_cli, ["refresh", "--month", "March"]).exit_code == 2
    result = runner.invoke(evaluation_cli, ["refresh"])
    assert result.exit_code == 0 and ", 2 case(s), 2 row(s)" in result.output

    db.session.execute(sa.delete(CaseFigure))
    db.session.commit()
    result = runner.invoke(args=["workflow", "sweep"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    this_month = case_figures.month_start(utcnow())
    assert set(db.session.scalars(sa.select(CaseFigure.month))) == {this_month}
