"""The time-limit sweep: overdue marks, supervision, closing without feedback; idempotent and safe in parallel."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from accounts.models import Role
from db import utcnow
from extensions import db
from tests.workflow.conftest import DAY, HOUR, T0, run_together
import workflow.sweep
from workflow.machine import State
from workflow.models import Case, CaseEvent, Feedback, FeedbackOutcome, Priority, Satisfaction
from workflow.queries import supervision_list

LIMITS = workflow.sweep.TimeLimits(escalation_grace_hours=24, auto_close_days=7)
MINUTE = timedelta(minutes=1)


def sweep(now):
    report = workflow.sweep.sweep(now, LIMITS)
    db.session.commit()
    return report


def counts(report) -> tuple[int, int, int]:
    return report.marked_overdue, report.supervised, report.auto_closed


def events(case: Case, *actions: str) -> list[CaseEvent]:
    query = sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    if actions:
        query = query.where(CaseEvent.action.in_(actions))
    return list(db.session.scalars(query))


def all_events() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent))


# --- overdue ------------------------------------------------------------------------------

def test_a_missed_respond_deadline_is_marked(flow):
    late = flow.file(now=T0)  # respond by T0 + 24 h
    urgent = flow.file(now=T0 + 23 * HOUR + 30 * MINUTE, priority=Priority.urgent)  # respond by T0 + 24½ h
    on_time = flow.file(now=T0 + 2 * HOUR)  # respond by T0 + 26 h
    answered = flow.file(now=T0)
    flow.act(answered, "reject", now=T0 + HOUR)
    assert counts(sweep(T0 + 24 * HOUR)) == (0, 0, 0)  # a deadline is missed only once it has passed
    assert counts(sweep(T0 + 25 * HOUR)) == (2, 0, 0)
    assert late.overdue and urgent.overdue and not on_time.overdue and not answered.overdue
    [event] = events(late, "overdue")
    assert (event.from_state, event.to_state, event.actor_id, event.public) == (
        State.submitted, State.submitted, None, False)
    assert event.case_version == late.version


def test_a_missed_resolve_deadline_is_marked(flow):
    case = flow.bring_to(flow.file(now=T0), State.in_progress, now=T0)  # accepted at T0 + 1 h
    assert case.resolve_due_at == T0 + HOUR + 7 * DAY
    assert counts(sweep(T0 + 7 * DAY + 30 * MINUTE)) == (0, 0, 0)
    assert counts(sweep(T0 + 7 * DAY + 2 * HOUR)) == (1, 0, 0)
    assert case.overdue and case.state == State.in_progress


def test_a_case_on_hold_since_before_its_deadline_is_not_marked(flow):
    case = flow.bring_to(flow.file(now=T0), State.in_progress, now=T0)
    flow.act(case, "request_info", "assignee", now=T0 + DAY)  # six days before the deadline
    assert counts(sweep(T0 + 30 * DAY)) == (0, 0, 0)
    assert not case.overdue and events(case, "overdue", "supervise") == []
    flow.act(case, "resume", "resident", now=T0 + 30 * DAY)
    assert case.resolve_due_at == T0 + HOUR + 36 * DAY
    assert counts(sweep(T0 + 31 * DAY)) == (0, 0, 0)


def test_a_case_already_late_when_put_on_hold_is_marked(flow):
    case = flow.bring_to(flow.file(now=T0), State.in_progress, now=T0)
    flow.act(case, "request_info", "assignee", now=T0 + 9 * DAY)  # two days past the deadline
    assert case.is_late(T0 + 10 * DAY)
    assert counts(sweep(T0 + 10 * DAY)) == (1, 1, 0)
    assert case.overdue and case.supervised_at == T0 + 10 * DAY


def test_lateness_on_hold_is_counted_on_the_stopped_clock(flow):
    case = flow.bring_to(flow.file(now=T0), State.in_progress, now=T0)
    due = case.resolve_due_at
    flow.act(case, "request_info", "assignee", now=due + 2 * HOUR)  # late by two hours, then the clock stops
    assert counts(sweep(due + 10 * DAY)) == (1, 0, 0)  # not late beyond the grace period on its own clock
    assert case.supervised_at is None


def test_closed_and_resolved_cases_are_never_overdue(flow):
    rejected = flow.file(now=T0)
    flow.act(rejected, "reject", now=T0 + 2 * DAY)
    resolved = flow.bring_to(flow.file(now=T0), State.resolved, now=T0)
    assert counts(sweep(T0 + 6 * DAY)) == (0, 0, 0)
    assert not rejected.overdue and not resolved.overdue


# --- supervision --------------------------------------------------------------------------

def test_overdue_beyond_the_grace_period_goes_to_the_parent_s_supervision_list(flow, world, make,
                                                                              township_secretary):
    case = flow.file(now=T0)  # respond by T0 + 24 h
    fresh = flow.file(now=T0 + 2 * DAY)
    far_evaluator = make.user((Role.evaluator, world["other_community"].parent), username="far.evaluator")
    assert counts(sweep(T0 + 47 * HOUR)) == (1, 0, 0)  # 23 h late: within the grace period
    assert case.overdue and case.supervised_at is None
    assert counts(sweep(T0 + 49 * HOUR)) == (0, 1, 0)  # 25 h late
    assert case.supervised_at == T0 + 49 * HOUR
    [event] = events(case, "supervise")
    assert event.detail == {"organization_id": world["township"].id, "organization_name": "Township"}
    assert not event.public and event.actor_id is None
    for user in (township_secretary, world["evaluator"]):
        listed = supervision_list(user, T0 + 49 * HOUR)
        assert case in listed and fresh not in listed
    assert case not in supervision_list(far_evaluator, T0 + 49 * HOUR)


def test_a_case_at_the_root_is_marked_but_has_nobody_to_supervise_it(flow, world, district_secretary):
    case = flow.file(organization=world["district"], now=T0)
    assert counts(sweep(T0 + 10 * DAY)) == (1, 0, 0)
    assert case.overdue and case.supervised_at is None
    assert case in supervision_list(district_secretary, T0 + 10 * DAY)


def test_a_long_late_case_is_marked_and_supervised_in_one_run(flow, world):
    case = flow.bring_to(flow.file(now=T0), State.assigned, now=T0)
    assert counts(sweep(T0 + 20 * DAY)) == (1, 1, 0)
    assert [e.action for e in events(case)][-2:] == ["overdue", "supervise"]
    assert case.version == events(case)[-1].case_version


# --- closing without feedback ---------------------------------------------------------------

def test_resolved_cases_close_without_feedback_after_seven_days(flow, world):
    case = flow.bring_to(flow.file(now=T0), State.resolved, now=T0)
    resolved_at = case.resolved_at
    assert counts(sweep(resolved_at + 7 * DAY - MINUTE)) == (0, 0, 0)
    assert counts(sweep(resolved_at + 7 * DAY)) == (0, 0, 1)
    assert case.state == State.closed and case.closed_at == resolved_at + 7 * DAY
    [event] = events(case, "auto_close")
    assert (event.from_state, event.to_state, event.actor_id) == (State.resolved, State.closed, None)
    [feedback] = case.feedback
    assert (feedback.round, feedback.outcome, feedback.solved, feedback.satisfaction) == (
        1, FeedbackOutcome.no_feedback, None, None)
    satisfied = db.session.scalar(sa.select(sa.func.count()).select_from(Feedback).where(
        Feedback.satisfaction.in_([Satisfaction.satisfied, Satisfaction.basically_satisfied])))
    assert satisfied == 0


def test_closing_without_feedback_keeps_earlier_rounds(flow, world):
    case = flow.bring_to(flow.file(now=T0), State.resolved, now=T0)
    flow.feedback(case, solved=False, satisfaction=Satisfaction.dissatisfied, comment="Still dark.", now=T0 + DAY)
    flow.act(case, "resolve", "assignee", now=T0 + 2 * DAY)
    assert counts(sweep(T0 + 9 * DAY)) == (0, 0, 1)
    assert [(f.round, f.outcome) for f in case.feedback] == [
        (1, FeedbackOutcome.reopened), (2, FeedbackOutcome.no_feedback)]


# --- idempotence and concurrency -------------------------------------------------------------

def test_a_second_run_changes_nothing(flow, world):
    flow.file(now=T0)
    flow.bring_to(flow.file(now=T0), State.assigned, now=T0)
    flow.bring_to(flow.file(now=T0), State.resolved, now=T0)
    flow.file(organization=world["district"], now=T0)
    now = T0 + 20 * DAY
    assert counts(sweep(now)) == (3, 2, 1)
    versions = dict(db.session.execute(sa.select(Case.id, Case.version)).all())
    before = all_events()
    assert counts(sweep(now)) == (0, 0, 0)
    assert counts(sweep(now + DAY)) == (0, 0, 0)
    assert all_events() == before
    assert dict(db.session.execute(sa.select(Case.id, Case.version)).all()) == versions


def test_two_sweeps_at_once_act_on_each_case_once(app, flow, world):
    late = [flow.file(now=T0 + n * MINUTE).id for n in range(6)]
    resolved = [flow.bring_to(flow.file(now=T0), State.resolved, now=T0).id for _ in range(4)]
    db.session.commit()
    now = T0 + 20 * DAY

    def run():
        return counts(workflow.sweep.sweep(now, LIMITS))

    outcomes = run_together(app, run, 2)

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert tuple(map(sum, zip(*outcomes))) == (6, 6, 4)
    db.session.rollback()
    rows = db.session.execute(
        sa.select(CaseEvent.case_id, CaseEvent.action, sa.func.count())
        .where(CaseEvent.action.in_(["overdue", "supervise", "auto_close"]))
        .group_by(CaseEvent.case_id, CaseEvent.action)
    ).all()
    assert {(case_id, action): n for case_id, action, n in rows} == {
        **{(case_id, "overdue"): 1 for case_id in late}, **{(case_id, "supervise"): 1 for case_id in late},
        **{(case_id, "auto_close"): 1 for case_id in resolved},
    }
    feedback = db.session.execute(sa.select(Feedback.case_id, sa.func.count()).group_by(Feedback.case_id)).all()
    assert dict(feedback) == {case_id: 1 for case_id in resolved}


# --- the command ------------------------------------------------------------------------------

def test_the_sweep_command_prints_what_it_did(app, flow, world):
    now = utcnow()
    flow.file(now=now - 3 * DAY)
    flow.file(now=now - 30 * HOUR)
    flow.bring_to(flow.file(now=now - 10 * DAY), State.resolved, now=now - 10 * DAY)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["workflow", "sweep"])
    assert result.exit_code == 0, result.output
    assert result.output == "2 marked overdue, 1 put under supervision, 1 closed without feedback.\n"
    result = runner.invoke(args=["workflow", "sweep"])
    assert result.output == "0 marked overdue, 0 put under supervision, 0 closed without feedback.\n"
    db.session.rollback()
    states = db.session.scalars(sa.select(Case.state).where(Case.id != world["case"].id).order_by(Case.id)).all()
    assert states == [State.submitted, State.submitted, State.closed]
