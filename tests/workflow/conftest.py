"""Workflow fixtures: a fixed clock and a helper that files cases and acts through the real services."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from accounts.models import OrgLevel, Role
from extensions import db, writing
from workflow.actions import ActionInput, give_feedback, parties_for, take_action
from workflow.filing import file_case
from workflow.machine import State
from workflow.models import Case, CaseEvent, Priority, Satisfaction

#: A fixed "now" so deadlines can be compared exactly.
T0 = datetime(2025, 3, 3, 8, 0)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

#: The usual actions that take a case from submitted to each open state.
PATHS = {
    State.submitted: [],
    State.accepted: ["accept"],
    State.assigned: ["accept", "assign"],
    State.in_progress: ["accept", "assign", "start"],
    State.on_hold: ["accept", "assign", "start", "request_info"],
    State.resolved: ["accept", "assign", "start", "resolve"],
}
INPUT = {
    "request_info": {"question": "Which lamp?"}, "resolve": {"resolution": "Replaced the bulb."},
    "reject": {"reason": "Not ours."}, "escalate": {"reason": "Needs the township."},
    "resume": {"note": "The one by gate 2."}, "comment": {"text": "Noted."},
}


def events_of(case: Case) -> list[CaseEvent]:
    """Return the case's events as stored, oldest first."""
    return list(db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)))


def replay(transitions: list[tuple[State | None, State]]) -> State | None:
    """Return the state a case reaches through its events' (from, to) pairs, checking they chain."""
    state = None
    for from_state, to_state in transitions:
        if state is not None and from_state != state:
            raise ValueError(f"event from {from_state} does not follow {state}")
        state = to_state
    return state


class Flow:
    """File cases and take actions through the services, committing like a view does."""

    def __init__(self, world, upload_dir: Path) -> None:
        self.world = world
        self.upload_dir = upload_dir

    def file(self, resident="resident", *, now: datetime = T0, priority: Priority = Priority.normal,
             organization=None, category=None) -> Case:
        user = self.world[resident] if resident else None
        case = file_case(
            user, category_id=(category or self.world["category"]).id, priority=priority, title="Broken lamp",
            description="The lamp at the gate is dark.", address="Gate 2", contact_name="Li",
            contact_phone="13800000000", organization_id=organization.id if organization is not None else
            (None if user else self.world["community"].id),
            photos=[], upload_dir=self.upload_dir, now=now,
        )
        db.session.commit()
        return case

    def act(self, case: Case, action: str, actor="member", *, now: datetime = T0, code: bool = False, **data):
        """Take the action as `actor` (a key of the world, a user, or None) and commit."""
        user = self.world[actor] if isinstance(actor, str) else actor
        fields = dict(INPUT.get(action, {}))
        if action == "assign":
            fields["assignee_id"] = self.world["assignee"].id
        fields.update(data)
        event = take_action(
            case, action, actor=user, parties=parties_for(user, case, holds_tracking_code=code),
            seen_version=case.version, data=ActionInput(**fields), now=now,
        )
        db.session.commit()
        return event

    def feedback(self, case: Case, *, solved: bool | None, satisfaction: Satisfaction | None, comment: str = "",
                 actor="resident", now: datetime = T0):
        user = self.world[actor] if isinstance(actor, str) else actor
        event = give_feedback(
            case, actor=user, parties=parties_for(user, case), seen_version=case.version,
            solved=solved, satisfaction=satisfaction, comment=comment, now=now,
        )
        db.session.commit()
        return event

    def bring_to(self, case: Case, state: State, *, now: datetime = T0) -> Case:
        """Take a submitted case to an open state by the usual path, one hour per step."""
        actors = {"accept": "member", "assign": "member", "start": "assignee", "request_info": "assignee",
                  "resolve": "assignee"}
        for step, action in enumerate(PATHS[state], start=1):
            self.act(case, action, actors[action], now=now + step * HOUR)
        assert case.state == state
        return case


def run_together(app, work, n: int) -> list:
    """Run `work()` in n threads that start together, each in its own app context; return results or errors."""
    barrier = threading.Barrier(n, timeout=30)
    outcomes: list = [None] * n

    def run(i: int) -> None:
        with app.app_context(), writing():
            try:
                barrier.wait()
                outcomes[i] = work()
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - every outcome is asserted by the caller
                db.session.rollback()
                outcomes[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


@pytest.fixture
def township_secretary(world, make):
    """A member of the township who holds its secretary term."""
    secretary = make.user((Role.member, world["township"]), username="township.secretary")
    make.term(world["township"], secretary)
    world["township_secretary"] = secretary
    return secretary


@pytest.fixture
def district_secretary(world, make):
    """A member of the district, the root, who holds its secretary term."""
    assert world["district"].level == OrgLevel.district
    secretary = make.user((Role.member, world["district"]), username="district.secretary")
    make.term(world["district"], secretary)
    world["district_secretary"] = secretary
    return secretary


@pytest.fixture
def flow(world, app):
    return Flow(world, Path(app.config["UPLOAD_FOLDER"]))
