"""Random sequences of actions by random people against the real services, checked after every step."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test,
)

from accounts.models import Role, User
from errors import Conflict, DomainError, InvalidTransition, PermissionDenied, ValidationFailed
from extensions import db
from tests.workflow.conftest import PATHS, replay, T0
import workflow.sweep
from workflow import machine
from workflow.actions import ActionInput, give_feedback, parties_for, StaleCase, take_action
from workflow.machine import ACTIONS, State, TransitionRefused
from workflow.models import Case, CaseEvent, Feedback, FeedbackOutcome, Priority, Satisfaction

# At least 200 examples wherever it runs, CI included.
settings.register_profile(
    "ci", max_examples=200, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile("ci")

#: PRODUCT.md §3's states.
PRODUCT_STATES = {"submitted", "accepted", "assigned", "in_progress", "on_hold", "resolved", "closed", "rejected",
                  "withdrawn", "merged"}
ACTORS = ["owner", "other_resident", "colleague", "other_member", "case_assignee", "secretary", "member",
          "assignee", "township_secretary", "evaluator", "anonymous"]
ASSIGNEES = ["assignee", "colleague", "member", "township_secretary", "district_secretary", "other_member", "resident",
             "missing", None]
DUPLICATES = ["sibling", "self", "elsewhere", "missing", None]
TEXTS = st.sampled_from(["", "  ", "Some words."])
HAPPY = (Satisfaction.satisfied, Satisfaction.basically_satisfied)
REFUSALS = (PermissionDenied, InvalidTransition, ValidationFailed, Conflict)
MISSING_ID = 10**8
WEIGHTS = {"accept": 4, "assign": 1, "start": 4, "request_info": 2, "resume": 4, "resolve": 4, "confirm": 2,
           "reopen": 2}


class Environment:
    """The people, a case in another community and a clock shared by every example of one test."""

    def __init__(self, world, flow) -> None:
        self.world = world
        self.flow = flow
        self.now = T0
        self.ids = {key: world[key].id for key in (
            "resident", "other_resident", "member", "assignee", "colleague", "other_member", "evaluator",
            "township_secretary", "district_secretary")}
        self.elsewhere_id = flow.file(organization=world["other_community"], now=T0).id
        #: Where each staff member serves; it does not change during the test.
        self.serves = {key: world[key].organization_for(Role.member).id for key in (
            "assignee", "colleague", "member", "township_secretary", "district_secretary")}

    def user(self, key: str) -> User:
        return db.session.get(User, self.ids[key])


class CaseWorkflow(RuleBasedStateMachine):
    def __init__(self, env: Environment) -> None:
        super().__init__()
        self.env = env
        #: The snapshot last found consistent.
        self.checked = None
        self.is_open = True

    # --- helpers ------------------------------------------------------------------------

    @property
    def case(self) -> Case:
        return db.session.get(Case, self.case_id)

    def person(self, key: str):
        """Return (user, holds the tracking code) for an actor of the case."""
        case = self.case
        if key == "owner":
            return (self.env.user("resident"), False) if case.resident_id else (None, True)
        if key == "anonymous":
            return None, False
        if key == "case_assignee":
            return (db.session.get(User, case.assignee_id), False) if case.assignee_id else (None, False)
        if key == "secretary":
            by_org = {self.env.world["community"].id: "member", self.env.world["township"].id: "township_secretary",
                      self.env.world["district"].id: "district_secretary"}
            return self.env.user(by_org[case.organization_id]), False
        return self.env.user(key), False

    def snapshot(self) -> tuple:
        """Return what the database holds: state, version, organization, assignee, events, feedback rows."""
        events = sa.select(sa.func.count()).where(CaseEvent.case_id == Case.id).scalar_subquery()
        feedback = sa.select(sa.func.count()).where(Feedback.case_id == Case.id).scalar_subquery()
        return tuple(db.session.execute(
            sa.select(Case.state, Case.version, Case.organization_id, Case.assignee_id, events, feedback)
            .where(Case.id == self.case_id)
        ).one())

    def expected_refusal(self, case: Case, action: str, parties, data: ActionInput, stale: bool):
        """Return the error the services must raise, per PRODUCT.md §3, or None if the action must succeed."""
        declared = machine.ACTIONS.get(action)
        if declared is None or not parties & declared.parties:
            return PermissionDenied  # strangers learn nothing, not even that the case moved on
        if stale and declared.target is not None:
            return StaleCase  # a comment overwrites nothing, so it needs no fresh version
        try:
            machine.check(action, case.state, parties, data.given())
        except TransitionRefused as refused:
            return {"party": PermissionDenied, "unknown": PermissionDenied, "state": InvalidTransition,
                    "fields": ValidationFailed}[refused.kind]
        happy = data.solved and data.satisfaction in HAPPY
        if action == "merge":
            original = db.session.get(Case, data.duplicate_of_id)
            if original is None or original.id == case.id or original.organization_id != case.organization_id \
                    or not original.state.is_open:
                return ValidationFailed
        elif action == "assign":
            user = db.session.get(User, data.assignee_id)
            organization = user.organization_for(Role.member) if user else None
            if organization is None or organization.id != case.organization_id or not user.active:
                return ValidationFailed
        elif action == "escalate" and case.organization.parent_id is None:
            return ValidationFailed
        elif (action == "confirm" and not happy) or (action == "reopen" and happy):
            return ValidationFailed
        return None

    def attempt(self, action: str, actor: str, stale: bool, data: ActionInput, call) -> None:
        """Run `call`, then check it did exactly what the declaration says: all of it, or nothing."""
        before = self.snapshot()
        case = self.case
        user, code = self.person(actor)
        parties = parties_for(user, case, holds_tracking_code=code)
        expected = self.expected_refusal(case, action, parties, data, stale)
        from_state = case.state
        seen = case.version - 1 if stale else case.version
        try:
            event = call(case, user, parties, seen)
        except REFUSALS as error:
            assert type(error) is expected, (action, actor, from_state, parties, data, error)
            db.session.rollback()
            assert self.snapshot() == before, "a refused action changed the case"
            return
        except DomainError as error:  # pragma: no cover - reported with context
            raise AssertionError(f"unexpected {type(error).__name__} for {action}") from error
        assert expected is None, (action, actor, from_state, parties, data, "was not refused")
        assert from_state.is_open or action == "comment", "a terminal state accepted an action"
        assert (event.from_state, event.to_state) == (from_state, ACTIONS[action].target_from(from_state))
        db.session.commit()
        after = self.snapshot()
        assert after[0] == event.to_state
        assert after[1] == before[1] + (0 if action == "comment" else 1)
        assert after[4] == before[4] + 1, "not exactly one event"
        assert after[5] == before[5] + (1 if action in ("confirm", "reopen") else 0)

    # --- rules --------------------------------------------------------------------------

    @initialize(filer=st.sampled_from(["resident", None]), priority=st.sampled_from(Priority),
                start=st.sampled_from(list(PATHS)))
    def file(self, filer, priority, start):
        """File a case and take it by the usual path to an open state, so short examples reach deep states."""
        case = self.env.flow.file(filer, now=self.env.now, priority=priority)
        self.env.flow.bring_to(case, start, now=self.env.now)
        self.case_id = case.id
        self.sibling_id = self.env.flow.file("other_resident", now=self.env.now).id
        self.env.now += timedelta(hours=len(PATHS[start]))

    @rule(hours=st.sampled_from([0, 1, 2, 23, 25, 24 * 3, 24 * 8]), sweep=st.booleans())
    def time_passes(self, hours, sweep):
        """Let time pass, then maybe run the sweep: it may mark the case and close it after 7 days resolved."""
        self.env.now += timedelta(hours=hours)
        if not sweep:
            return
        before = self.snapshot()
        case = self.case
        due_to_close = case.state == State.resolved and case.resolved_at <= self.env.now - timedelta(days=7)
        workflow.sweep.sweep(self.env.now, workflow.sweep.TimeLimits())
        db.session.commit()
        after = self.snapshot()
        if due_to_close:
            assert after[0] == State.closed and after[5] == before[5] + 1
            [row] = db.session.scalars(sa.select(Feedback).where(Feedback.case_id == self.case_id,
                                                                 Feedback.round == self.case.round))
            assert row.outcome == FeedbackOutcome.no_feedback and row.satisfaction is None
        else:
            # At most the overdue and supervise marks, which keep the state.
            assert after[0] == before[0] and after[5] == before[5]
            assert before[4] <= after[4] <= before[4] + 2

    @rule(
        action=st.sampled_from(list(ACTIONS)), actor=st.sampled_from(ACTORS),
        stale=st.sampled_from([False, False, False, True]),
        reason=TEXTS, question=TEXTS, note=TEXTS, resolution=TEXTS, text=TEXTS,
        assignee=st.sampled_from(ASSIGNEES), duplicate=st.sampled_from(DUPLICATES),
        solved=st.sampled_from([True, False, None]), satisfaction=st.sampled_from([*Satisfaction, None]),
        public=st.booleans(),
    )
    def act(self, action, actor, stale, reason, question, note, resolution, text, assignee, duplicate, solved,
            satisfaction, public):
        assignee_id = MISSING_ID if assignee == "missing" else self.env.ids.get(assignee)
        duplicate_of_id = {"sibling": self.sibling_id, "self": self.case_id, "elsewhere": self.env.elsewhere_id,
                           "missing": MISSING_ID, None: None}[duplicate]
        data = ActionInput(
            reason=reason, question=question, note=note, resolution=resolution, text=text, assignee_id=assignee_id,
            duplicate_of_id=duplicate_of_id, solved=solved, satisfaction=satisfaction, comment=reason, public=public,
        )
        self.attempt(action, actor, stale, data, lambda case, user, parties, seen: take_action(
            case, action, actor=user, parties=parties, seen_version=seen, data=data, now=self.env.now))

    # `is_open` is read from the stored row after every step (the invariant below).
    @precondition(lambda self: self.is_open)
    @rule(data=st.data())
    def act_as_allowed(self, data):
        """Take an action the declaration offers to someone who may take it, with sensible input."""
        case = self.case
        choices = []
        for actor in ("owner", "colleague", "case_assignee", "secretary"):
            user, code = self.person(actor)
            parties = parties_for(user, case, holds_tracking_code=code)
            choices += [(actor, a.name) for a in machine.allowed_actions(case.state, parties) if a.name != "auto_close"]
        # Moving the case on is likelier than ending it, so examples reach the later states.
        actions = sorted({name for _, name in choices}, key=list(ACTIONS).index)
        action = data.draw(st.sampled_from([n for n in actions for _ in range(WEIGHTS.get(n, 1))]), label="action")
        actor = data.draw(st.sampled_from(sorted(a for a, n in choices if n == action)), label="actor")
        if action in ("confirm", "reopen"):
            return self.feedback(actor, False, data.draw(st.booleans(), label="solved"),
                                 data.draw(st.sampled_from(Satisfaction), label="satisfaction"), "Some words.")
        members = [key for key, organization_id in self.env.serves.items() if organization_id == case.organization_id]
        words = "Some words."
        inputs = ActionInput(
            reason=words, question=words, note=words, resolution=words, text=words,
            assignee_id=self.env.ids[data.draw(st.sampled_from(members), label="assignee")],
            duplicate_of_id=self.sibling_id, public=data.draw(st.booleans(), label="public"),
        )
        self.attempt(action, actor, False, inputs, lambda case, user, parties, seen: take_action(
            case, action, actor=user, parties=parties, seen_version=seen, data=inputs, now=self.env.now))

    @rule(actor=st.sampled_from(["owner", "owner", "other_resident", "member", "anonymous"]),
          stale=st.sampled_from([False, False, False, True]), solved=st.sampled_from([True, False, None]),
          satisfaction=st.sampled_from([*Satisfaction, None]), comment=TEXTS)
    def feedback(self, actor, stale, solved, satisfaction, comment):
        happy = solved and satisfaction in HAPPY
        action = "confirm" if happy else "reopen"
        data = ActionInput(solved=solved, satisfaction=satisfaction, comment=comment,
                           reason="" if happy else comment)
        self.attempt(action, actor, stale, data, lambda case, user, parties, seen: give_feedback(
            case, actor=user, parties=parties, seen_version=seen, solved=solved, satisfaction=satisfaction,
            comment=comment, now=self.env.now))

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def the_case_is_consistent(self):
        stored = self.snapshot()
        if stored == self.checked:
            return  # nothing changed since the last check (a refused action, or time passing)
        case = db.session.execute(sa.select(Case.__table__).where(Case.id == self.case_id)).one()
        self.check_history(case)
        self.check_columns(case)
        self.checked = stored
        self.is_open = case.state.is_open

    def check_history(self, case):
        assert case.state.value in PRODUCT_STATES
        events = db.session.execute(
            sa.select(CaseEvent.action, CaseEvent.from_state, CaseEvent.to_state, CaseEvent.case_version)
            .where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        ).all()
        assert (events[0].action, events[0].from_state) == ("submit", None)
        assert replay([(e.from_state, e.to_state) for e in events]) == case.state
        # Every change of the case has its event, and every event says which version it left.
        assert events[-1].case_version == case.version
        assert [e.case_version for e in events] == sorted(e.case_version for e in events)
        feedback = db.session.execute(sa.select(Feedback.round, Feedback.outcome)
                                      .where(Feedback.case_id == case.id).order_by(Feedback.round)).all()
        answered = [e.action for e in events if e.action in ("confirm", "reopen", "auto_close")]
        assert [f.outcome.value for f in feedback] == [
            {"confirm": "confirmed", "reopen": "reopened", "auto_close": "no_feedback"}[a] for a in answered]
        assert [f.round for f in feedback] == list(range(1, len(feedback) + 1))
        assert case.round == 1 + answered.count("reopen") == 1 + case.reopen_count

    def check_columns(self, case):
        if not case.state.is_open:
            assert [a.name for a in machine.allowed_actions(case.state, frozenset(machine.Party))] == ["comment"]
            assert case.closed_at is not None
            return
        assert (case.state == State.on_hold) == (case.hold_started_at is not None)
        if case.state == State.submitted:
            assert case.accepted_at is None and case.resolve_due_at is None and case.assignee_id is None
        else:
            assert case.accepted_at is not None and case.resolve_due_at is not None
        if case.state in (State.assigned, State.in_progress, State.on_hold, State.resolved):
            assert case.assignee_id is not None
        assert (case.state == State.resolved) == (case.resolved_at is not None)


def test_random_workflows_keep_the_rules(app, world, flow, make, township_secretary, district_secretary):
    world["colleague"] = make.user((Role.member, world["community"]), username="colleague")
    # Objects stay loaded across commits, as nothing else writes; every check reads the rows themselves.
    db.session().expire_on_commit = False
    env = Environment(world, flow)
    run_state_machine_as_test(lambda: CaseWorkflow(env), settings=PROFILE)
    cases = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
    assert cases >= 2 * PROFILE.max_examples
