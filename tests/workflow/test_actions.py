"""Taking actions on the database: deadlines, escalation, merge, assignment, feedback, history."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from accounts.models import Role
from errors import InvalidTransition, PermissionDenied, ValidationFailed
from extensions import db
from tests.workflow.conftest import DAY, events_of, HOUR, replay, T0
from workflow import machine
from workflow.actions import ActionInput, assignable_members, parties_for, StaleCase, take_action
from workflow.effects import EFFECTS
from workflow.history import events_since, timeline
from workflow.machine import Party, State
from workflow.models import Case, CaseEvent, Feedback, FeedbackOutcome, Priority, Satisfaction
from workflow.queries import supervision_list
from workflow.sweep import sweep, TimeLimits


def snapshot(case: Case) -> tuple:
    """Return what the database holds for the case: state, version, organization and event count."""
    db.session.rollback()
    row = db.session.execute(
        sa.select(Case.state, Case.version, Case.organization_id).where(Case.id == case.id)
    ).one()
    events = db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id))
    return (*row, events)


def test_every_action_of_the_machine_has_one_effect():
    assert list(EFFECTS) == list(machine.ACTIONS)


# --- deadlines ----------------------------------------------------------------------------

@pytest.mark.parametrize("priority, resolve_hours", [(Priority.normal, 7 * 24), (Priority.urgent, 24)])
def test_accepting_sets_the_resolve_deadline(flow, priority, resolve_hours):
    case = flow.file(priority=priority, now=T0)
    accepted_at = T0 + timedelta(minutes=30)
    flow.act(case, "accept", now=accepted_at)
    assert case.state == State.accepted
    assert case.responded_at == case.accepted_at == accepted_at
    assert case.resolve_due_at == accepted_at + resolve_hours * HOUR


def test_time_on_hold_does_not_count(flow, world):
    case = flow.bring_to(flow.file(now=T0), State.in_progress, now=T0)
    due = case.resolve_due_at
    flow.act(case, "request_info", "assignee", now=T0 + DAY)
    assert case.state == State.on_hold and case.hold_started_at == T0 + DAY
    assert not case.is_late(T0 + 30 * DAY)  # the clock stopped a day after acceptance
    event = flow.act(case, "resume", "resident", now=T0 + DAY + 3 * HOUR)
    assert case.state == State.in_progress and case.hold_started_at is None
    assert case.resolve_due_at == due + 3 * HOUR
    assert event.detail == {"held_seconds": 3 * 3600}
    # A second wait adds up.
    flow.act(case, "request_info", "assignee", now=T0 + 2 * DAY)
    flow.act(case, "resume", "assignee", now=T0 + 4 * DAY)
    assert case.resolve_due_at == due + 3 * HOUR + 2 * DAY


def test_due_at_follows_the_state(flow):
    case = flow.file(now=T0)
    assert case.due_at == case.respond_due_at
    flow.act(case, "accept", now=T0 + HOUR)
    assert case.due_at == case.resolve_due_at
    flow.bring_to(flow.file(now=T0), State.resolved)
    resolved = db.session.scalars(sa.select(Case).where(Case.state == State.resolved)).one()
    assert resolved.due_at is None and not resolved.is_late(T0 + 100 * DAY)


# --- escalation ---------------------------------------------------------------------------

@pytest.mark.parametrize("state", [State.accepted, State.assigned, State.in_progress])
def test_escalation_moves_the_case_to_the_parent(flow, world, township_secretary, state):
    case = flow.bring_to(flow.file(now=T0), state, now=T0)
    later = T0 + 2 * DAY
    event = flow.act(case, "escalate", "member", now=later)
    assert case.state == State.submitted
    assert case.organization_id == world["township"].id
    assert case.assignee_id is None and case.accepted_at is None and case.resolve_due_at is None
    assert case.submitted_at == later and case.respond_due_at == later + 24 * HOUR
    assert event.detail["from_organization_id"] == world["community"].id
    assert event.detail["organization_id"] == world["township"].id
    # The community's members lose the case; the township's take it up.
    assert parties_for(world["member"], case) == frozenset()
    assert parties_for(township_secretary, case) == {Party.member, Party.secretary}
    flow.act(case, "accept", township_secretary, now=later + HOUR)
    assert case.resolve_due_at == later + HOUR + 7 * DAY
    assert case in supervision_list(world["evaluator"], later + HOUR)


def test_only_the_secretary_escalates(flow, world):
    case = flow.bring_to(flow.file(), State.assigned)
    before = snapshot(case)
    with pytest.raises(PermissionDenied):
        flow.act(case, "escalate", "assignee", now=T0 + DAY)
    assert snapshot(case) == before


def test_escalation_needs_a_reason(flow):
    case = flow.bring_to(flow.file(), State.accepted)
    with pytest.raises(ValidationFailed) as caught:
        flow.act(case, "escalate", reason="  ")
    assert set(caught.value.errors) == {"reason"}


def test_an_organization_without_parent_cannot_escalate(flow, world, district_secretary):
    case = flow.file(organization=world["district"], now=T0)
    flow.act(case, "accept", district_secretary, now=T0 + HOUR)
    before = snapshot(case)
    with pytest.raises(ValidationFailed) as caught:
        flow.act(case, "escalate", district_secretary, now=T0 + DAY)
    assert set(caught.value.errors) == {"reason"}
    assert snapshot(case) == before
    assert before[0] == State.accepted and before[2] == world["district"].id


def test_a_submitted_case_is_not_escalated(flow):
    case = flow.file()
    with pytest.raises(InvalidTransition):
        flow.act(case, "escalate")


# --- merge --------------------------------------------------------------------------------

def test_merge_into_an_open_case_of_the_same_organization(flow, world):
    original = flow.bring_to(flow.file(now=T0), State.in_progress)
    duplicate = flow.file(now=T0 + DAY)
    event = flow.act(duplicate, "merge", duplicate_of_id=original.id, now=T0 + DAY + HOUR)
    assert duplicate.state == State.merged
    assert duplicate.duplicate_of_id == original.id
    assert duplicate.closed_at == duplicate.responded_at == T0 + DAY + HOUR
    assert event.detail == {"duplicate_of": original.id}
    assert original.state == State.in_progress


def test_merge_refuses_other_organizations_closed_cases_and_itself(flow, world, make):
    duplicate = flow.file(now=T0)
    elsewhere = flow.file(organization=world["other_community"], now=T0)
    closed = flow.file(now=T0)
    flow.act(closed, "reject", now=T0 + HOUR)
    merged = flow.file(now=T0)
    flow.act(merged, "merge", duplicate_of_id=duplicate.id, now=T0 + HOUR)
    before = snapshot(duplicate)
    for target in (elsewhere.id, closed.id, merged.id, duplicate.id, 999_999):
        with pytest.raises(ValidationFailed) as caught:
            flow.act(duplicate, "merge", duplicate_of_id=target, now=T0 + 2 * HOUR)
        assert set(caught.value.errors) == {"duplicate_of"}
        assert snapshot(duplicate) == before
    with pytest.raises(ValidationFailed) as caught:
        flow.act(duplicate, "merge", now=T0 + 2 * HOUR)
    assert set(caught.value.errors) == {"duplicate_of"}


def test_merge_is_refused_once_work_started(flow):
    original = flow.file()
    case = flow.bring_to(flow.file(), State.assigned)
    with pytest.raises(InvalidTransition):
        flow.act(case, "merge", duplicate_of_id=original.id)


# --- assignment ---------------------------------------------------------------------------

def test_assign_to_a_member_of_the_case_s_organization(flow, world, make):
    case = flow.bring_to(flow.file(), State.accepted)
    colleague = make.user((Role.member, world["community"]), username="colleague", name="Colleague")
    event = flow.act(case, "assign", assignee_id=colleague.id, note="Please look today.")
    assert case.state == State.assigned and case.assignee_id == colleague.id
    assert event.detail == {"assignee_id": colleague.id, "assignee_name": "Colleague"}
    assert event.note == "Please look today."
    assert {u.username for u in assignable_members(case)} == {"assignee", "colleague", "member"}
    # Reassigning works from assigned and from in_progress; only the assignee starts.
    with pytest.raises(PermissionDenied):
        flow.act(case, "start", "assignee")
    flow.act(case, "start", colleague)
    flow.act(case, "assign", "member", assignee_id=world["assignee"].id)
    assert case.state == State.assigned and case.assignee_id == world["assignee"].id


def test_assign_refuses_anyone_outside_the_organization(flow, world, make):
    case = flow.bring_to(flow.file(), State.accepted)
    gone = make.user((Role.member, world["community"]), username="gone")
    gone.active = False
    township_member = make.user((Role.member, world["township"]), username="township.member")
    db.session.commit()
    before = snapshot(case)
    for user_id in (world["other_member"].id, world["resident"].id, world["evaluator"].id, world["admin"].id,
                    gone.id, township_member.id, 999_999):
        with pytest.raises(ValidationFailed) as caught:
            flow.act(case, "assign", assignee_id=user_id)
        assert set(caught.value.errors) == {"assignee"}
        assert snapshot(case) == before
    with pytest.raises(ValidationFailed) as caught:
        flow.act(case, "assign", assignee_id=None)
    assert set(caught.value.errors) == {"assignee"}


def test_members_of_another_organization_and_residents_cannot_act(flow, world):
    case = flow.file()
    before = snapshot(case)
    for actor in ("other_member", "other_resident", "resident", "evaluator", "admin", None):
        with pytest.raises(PermissionDenied):
            flow.act(case, "accept", actor)
    assert snapshot(case) == before


# --- the rest of the path ------------------------------------------------------------------

def test_request_info_resolve_and_reject_need_their_text(flow):
    case = flow.bring_to(flow.file(), State.in_progress)
    for action, field in (("request_info", "question"), ("resolve", "resolution")):
        with pytest.raises(ValidationFailed) as caught:
            flow.act(case, action, "assignee", **{field: ""})
        assert set(caught.value.errors) == {field}
    with pytest.raises(ValidationFailed) as caught:
        flow.act(flow.file(), "reject", reason="")
    assert set(caught.value.errors) == {"reason"}


def test_reject_tells_the_resident_why(flow):
    case = flow.file(now=T0)
    event = flow.act(case, "reject", reason="This is the water company's pipe.", now=T0 + HOUR)
    assert case.state == State.rejected and case.closed_at == T0 + HOUR
    assert event.public and event.note == "This is the water company's pipe."


@pytest.mark.parametrize("state", [State.submitted, State.accepted, State.assigned, State.in_progress,
                                   State.on_hold])
def test_the_filer_may_withdraw_an_open_case(flow, world, state):
    case = flow.bring_to(flow.file(), state)
    with pytest.raises(PermissionDenied):
        flow.act(case, "withdraw", "other_resident")
    flow.act(case, "withdraw", "resident", now=T0 + DAY)
    assert case.state == State.withdrawn and case.closed_at == T0 + DAY


def test_a_resolved_case_cannot_be_withdrawn(flow):
    case = flow.bring_to(flow.file(), State.resolved)
    with pytest.raises(InvalidTransition):
        flow.act(case, "withdraw", "resident")


def test_a_filer_without_account_acts_with_the_tracking_code(flow, world):
    case = flow.bring_to(flow.file(None), State.on_hold)
    with pytest.raises(PermissionDenied):
        flow.act(case, "resume", None, note="It is the left one.")
    flow.act(case, "resume", None, code=True, note="It is the left one.")
    assert case.state == State.in_progress
    # A tracking code does not make someone the owner of a case filed with an account.
    other = flow.file()
    assert parties_for(None, other, holds_tracking_code=True) == frozenset()


def test_comments_keep_the_state_and_the_version(flow, world):
    case = flow.bring_to(flow.file(), State.assigned)
    version = case.version
    internal = flow.act(case, "comment", "member", text="Call first.", public=False)
    public = flow.act(case, "comment", "resident", text="Thanks!", public=False)
    assert case.state == State.assigned and case.version == version
    assert (internal.public, public.public) == (False, True)  # residents only write in public
    assert internal.from_state == internal.to_state == State.assigned
    assert internal.case_version == public.case_version == version
    assert [e.id for e in timeline(case, internal=False)][-1] == public.id
    assert internal not in timeline(case, internal=False)
    assert internal in timeline(case, internal=True)
    for actor in ("other_member", "other_resident", "evaluator", None):
        with pytest.raises(PermissionDenied):
            flow.act(case, "comment", actor)
    with pytest.raises(ValidationFailed):
        flow.act(case, "comment", text=" ")


@pytest.mark.parametrize("terminal", ["reject", "withdraw", "merge", "confirm"])
def test_a_closed_case_takes_only_comments(flow, world, terminal):
    case = flow.file(now=T0)
    if terminal == "reject":
        flow.act(case, "reject")
    elif terminal == "withdraw":
        flow.act(case, "withdraw", "resident")
    elif terminal == "merge":
        flow.act(case, "merge", duplicate_of_id=flow.file().id)
    else:
        flow.bring_to(case, State.resolved)
        flow.feedback(case, solved=True, satisfaction=Satisfaction.satisfied)
    assert not case.state.is_open
    before = snapshot(case)
    for action in machine.ACTIONS:
        if action in ("comment", "auto_close"):
            continue
        for actor in ("member", "assignee", "resident"):
            with pytest.raises((InvalidTransition, PermissionDenied)):
                flow.act(case, action, actor, duplicate_of_id=case.id, reason="x", solved=True,
                         satisfaction=Satisfaction.satisfied)
            assert snapshot(case) == before
    flow.act(case, "comment", "resident", text="Thanks again.")
    assert snapshot(case)[:3] == before[:3] and snapshot(case)[3] == before[3] + 1


def test_a_stale_version_is_refused_with_what_changed(flow, world):
    case = flow.file(now=T0)
    seen = case.version
    flow.act(case, "accept", now=T0 + HOUR)
    flow.act(case, "comment", text="Will assign tomorrow.", now=T0 + 2 * HOUR)
    before = snapshot(case)
    with pytest.raises(StaleCase) as caught:
        take_action(case, "reject", actor=world["member"], parties=parties_for(world["member"], case),
                    seen_version=seen, data=ActionInput(reason="Duplicate."), now=T0 + 3 * HOUR)
    assert [e.action for e in caught.value.changes] == ["accept", "comment"]
    assert caught.value.case is case
    assert snapshot(case) == before


# --- feedback -----------------------------------------------------------------------------

@pytest.mark.parametrize("satisfaction", [Satisfaction.satisfied, Satisfaction.basically_satisfied])
def test_solved_and_satisfied_confirms(flow, world, satisfaction):
    case = flow.bring_to(flow.file(), State.resolved)
    event = flow.feedback(case, solved=True, satisfaction=satisfaction, comment="Quick work.", now=T0 + DAY)
    assert (event.action, case.state, case.closed_at) == ("confirm", State.closed, T0 + DAY)
    [feedback] = case.feedback
    assert (feedback.round, feedback.outcome, feedback.solved, feedback.satisfaction, feedback.comment) == (
        1, FeedbackOutcome.confirmed, True, satisfaction, "Quick work.")
    assert event.detail == {"solved": True, "satisfaction": satisfaction.value}


@pytest.mark.parametrize("solved, satisfaction", [
    (False, Satisfaction.satisfied), (False, Satisfaction.dissatisfied), (True, Satisfaction.dissatisfied),
    (False, Satisfaction.basically_satisfied),
])
def test_unsolved_or_dissatisfied_reopens_with_a_reason(flow, world, solved, satisfaction):
    case = flow.bring_to(flow.file(), State.resolved)
    before = snapshot(case)
    with pytest.raises(ValidationFailed) as caught:
        flow.feedback(case, solved=solved, satisfaction=satisfaction, comment="")
    assert set(caught.value.errors) == {"reason"}
    assert snapshot(case) == before
    event = flow.feedback(case, solved=solved, satisfaction=satisfaction, comment="Still dark at night.")
    assert (event.action, case.state, case.round, case.reopen_count, case.resolved_at) == (
        "reopen", State.in_progress, 2, 1, None)
    assert event.note == "Still dark at night."
    [feedback] = case.feedback
    assert (feedback.round, feedback.outcome, feedback.solved, feedback.satisfaction) == (
        1, FeedbackOutcome.reopened, solved, satisfaction)


def test_feedback_needs_both_answers_and_comes_from_the_filer(flow, world):
    case = flow.bring_to(flow.file(), State.resolved)
    before = snapshot(case)
    for solved, satisfaction in ((None, Satisfaction.satisfied), (True, None), (None, None)):
        with pytest.raises(ValidationFailed) as caught:
            flow.feedback(case, solved=solved, satisfaction=satisfaction, comment="Hm.")
        assert "feedback" in caught.value.errors
    for actor in ("other_resident", "member", "assignee", None):
        with pytest.raises(PermissionDenied):
            flow.feedback(case, solved=True, satisfaction=Satisfaction.satisfied, actor=actor)
    assert snapshot(case) == before


def test_confirm_and_reopen_refuse_the_other_s_answers(flow, world):
    case = flow.bring_to(flow.file(), State.resolved)
    with pytest.raises(ValidationFailed) as caught:
        flow.act(case, "confirm", "resident", solved=False, satisfaction=Satisfaction.dissatisfied)
    assert set(caught.value.errors) == {"feedback"}
    with pytest.raises(ValidationFailed) as caught:
        flow.act(case, "reopen", "resident", solved=True, satisfaction=Satisfaction.satisfied, reason="Why not")
    assert set(caught.value.errors) == {"feedback"}


def test_feedback_is_kept_per_round(flow, world):
    case = flow.bring_to(flow.file(), State.resolved)
    flow.feedback(case, solved=False, satisfaction=Satisfaction.dissatisfied, comment="Still broken.")
    flow.act(case, "resolve", "assignee", resolution="Replaced the cable too.", now=T0 + DAY)
    assert case.resolved_at == T0 + DAY and case.round == 2
    flow.feedback(case, solved=True, satisfaction=Satisfaction.basically_satisfied, now=T0 + 2 * DAY)
    assert case.state == State.closed
    rows = db.session.scalars(sa.select(Feedback).where(Feedback.case_id == case.id).order_by(Feedback.round)).all()
    assert [(f.round, f.outcome) for f in rows] == [(1, FeedbackOutcome.reopened), (2, FeedbackOutcome.confirmed)]
    db.session.add(Feedback(case_id=case.id, round=2, outcome=FeedbackOutcome.confirmed, solved=True,
                            satisfaction=Satisfaction.satisfied))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_feedback_without_answers_is_only_no_feedback(flow, world):
    case = flow.file()
    db.session.add(Feedback(case_id=case.id, round=1, outcome=FeedbackOutcome.confirmed))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(Feedback(case_id=case.id, round=1, outcome=FeedbackOutcome.no_feedback, solved=True,
                            satisfaction=Satisfaction.satisfied))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# --- history ------------------------------------------------------------------------------

def test_events_cannot_be_updated_or_deleted(flow, world):
    case = flow.file()
    flow.act(case, "accept")
    event = events_of(case)[-1]
    event.note = "rewritten"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    event = events_of(case)[-1]
    db.session.delete(event)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert [(e.action, e.note) for e in events_of(case)] == [("submit", ""), ("accept", "")]


def test_every_action_appends_exactly_one_event_and_bumps_the_version(flow, world):
    case = flow.file(now=T0)
    for action, actor in (("accept", "member"), ("assign", "member"), ("start", "assignee"),
                          ("request_info", "assignee"), ("resume", "resident"), ("resolve", "assignee")):
        version, count = case.version, len(events_of(case))
        event = flow.act(case, action, actor)
        assert case.version == version + 1 == event.case_version
        assert len(events_of(case)) == count + 1
        assert event.actor_id == world[actor].id and event.action == action
    assert events_since(case, 1)[0].action == "accept"


def test_replaying_every_case_s_events_gives_its_state(flow, world, township_secretary):
    """A scripted scenario touching every action, then each case's history replays to its state."""
    now = T0
    a = flow.bring_to(flow.file(now=now), State.resolved, now=now)
    flow.feedback(a, solved=False, satisfaction=Satisfaction.dissatisfied, comment="No.", now=now + DAY)
    flow.act(a, "request_info", "assignee", now=now + DAY)
    flow.act(a, "resume", "resident", now=now + 2 * DAY)
    flow.act(a, "resolve", "assignee", now=now + 3 * DAY)
    flow.feedback(a, solved=True, satisfaction=Satisfaction.satisfied, now=now + 4 * DAY)
    b = flow.file(now=now)
    flow.act(b, "reject", now=now + HOUR)
    flow.act(b, "comment", "resident", text="Why?", now=now + 2 * HOUR)
    c = flow.bring_to(flow.file(now=now), State.in_progress, now=now)
    flow.act(c, "escalate", now=now + DAY)
    flow.act(c, "accept", township_secretary, now=now + DAY)
    d = flow.file(now=now)
    flow.act(d, "merge", duplicate_of_id=flow.file(now=now).id, now=now + HOUR)
    e = flow.bring_to(flow.file(now=now), State.on_hold, now=now)
    flow.act(e, "withdraw", "resident", now=now + DAY)
    f = flow.bring_to(flow.file(now=now), State.resolved, now=now)
    sweep(now + 30 * DAY, TimeLimits())
    db.session.commit()
    assert f.state == State.closed

    cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
    assert len(cases) >= 8
    for case in cases:
        transitions = db.session.execute(
            sa.select(CaseEvent.from_state, CaseEvent.to_state).where(CaseEvent.case_id == case.id)
            .order_by(CaseEvent.id)
        ).all()
        assert transitions[0] == (None, State.submitted)
        assert replay([tuple(t) for t in transitions]) == case.state, case.id
    assert {c.state for c in cases} >= {State.closed, State.rejected, State.submitted, State.accepted,
                                        State.merged, State.withdrawn}


def test_assigning_the_same_member_again_still_moves_the_version(flow, world):
    case = flow.bring_to(flow.file(), State.assigned)
    version = case.version
    event = flow.act(case, "assign", assignee_id=world["assignee"].id, note="Reminder: today please.")
    assert case.version == version + 1 == event.case_version
    with pytest.raises(StaleCase):
        take_action(case, "assign", actor=world["member"], parties=parties_for(world["member"], case),
                    seen_version=version, data=ActionInput(assignee_id=world["assignee"].id),
                    now=T0)
