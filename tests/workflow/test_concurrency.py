"""Many people taking the same action on the same case at once: exactly one wins."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from accounts.models import User
from errors import Conflict
from extensions import db
from tests.workflow.conftest import HOUR, T0, run_together
from workflow.actions import ActionInput, get_case, parties_for, take_action
from workflow.machine import State
from workflow.models import Case, CaseEvent

THREADS = 16


def test_sixteen_members_accepting_at_once_make_one_transition(app, world):
    case_id, member_id = world["case"].id, world["member"].id
    seen = world["case"].version
    events_before = db.session.scalar(sa.select(sa.func.count()).where(CaseEvent.case_id == case_id))
    db.session.commit()  # the test's own transaction must not hold anything while the threads run

    def accept():
        member = db.session.get(User, member_id)
        case = get_case(case_id)
        event = take_action(case, "accept", actor=member, parties=parties_for(member, case),
                            seen_version=seen, data=ActionInput(), now=T0 + HOUR)
        return event.action, event.to_state

    outcomes = run_together(app, accept, THREADS)

    won = [o for o in outcomes if isinstance(o, tuple)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert won == [("accept", State.accepted)], outcomes
    assert len(lost) == THREADS - 1, outcomes
    db.session.rollback()
    case = db.session.get(Case, case_id)
    assert case.state == State.accepted and case.version == seen + 1
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
    assert len(events) == events_before + 1
    assert (events[-1].action, events[-1].from_state, events[-1].to_state, events[-1].case_version) == (
        "accept", State.submitted, State.accepted, case.version)


def test_different_actions_at_once_leave_one_consistent_history(app, world, flow):
    """Members reject, accept and merge at once while the resident withdraws: one of them happens."""
    case = world["case"]
    other = flow.file(now=T0)
    ids = {"case": case.id, "other": other.id, "member": world["member"].id, "assignee": world["assignee"].id,
           "resident": world["resident"].id}
    seen = case.version
    db.session.commit()
    plans = [("accept", "member", {}), ("reject", "assignee", {"reason": "Not ours."}),
             ("merge", "member", {"duplicate_of_id": ids["other"]}), ("withdraw", "resident", {})] * 4
    turn = iter(range(len(plans)))
    lock = threading.Lock()

    def act():
        with lock:
            action, who, fields = plans[next(turn)]
        user = db.session.get(User, ids[who])
        target = get_case(ids["case"])
        event = take_action(target, action, actor=user, parties=parties_for(user, target),
                            seen_version=seen, data=ActionInput(**fields), now=T0 + HOUR)
        return event.action, event.to_state

    outcomes = run_together(app, act, n=len(plans))

    won = [o for o in outcomes if isinstance(o, tuple)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, Conflict) for o in outcomes if o is not won[0]), outcomes
    db.session.rollback()
    case = db.session.get(Case, ids["case"])
    transitions = db.session.execute(sa.select(CaseEvent.from_state, CaseEvent.to_state)
                                     .where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
    assert len(transitions) == 2
    assert transitions[-1] == (State.submitted, case.state) and case.state == won[0][1]
