"""The case workflow, declared once as data: states, actions, who may act, what they must give.

Views, templates, tests and docs/workflow.md all read this declaration. No Flask here.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping


def N_(message: str) -> str:
    """Mark a string for translation; it is translated where it is shown."""
    return message


class State(enum.Enum):
    submitted = "submitted"
    accepted = "accepted"
    assigned = "assigned"
    in_progress = "in_progress"
    on_hold = "on_hold"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"
    withdrawn = "withdrawn"
    merged = "merged"

    @property
    def label(self) -> str:
        return STATE_LABELS[self][0]

    @property
    def label_zh(self) -> str:
        return STATE_LABELS[self][1]

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


STATE_LABELS = {
    State.submitted: (N_("Submitted"), "待受理"),
    State.accepted: (N_("Accepted"), "已受理"),
    State.assigned: (N_("Assigned"), "已派单"),
    State.in_progress: (N_("In progress"), "办理中"),
    State.on_hold: (N_("Waiting for resident"), "待补充"),
    State.resolved: (N_("Resolved, awaiting feedback"), "待回访"),
    State.closed: (N_("Closed"), "已办结"),
    State.rejected: (N_("Not accepted"), "不予受理"),
    State.withdrawn: (N_("Withdrawn"), "已撤回"),
    State.merged: (N_("Merged as duplicate"), "已合并"),
}
OPEN_STATES = frozenset(
    {State.submitted, State.accepted, State.assigned, State.in_progress, State.on_hold, State.resolved}
)
#: The time-limit clock stops while the case waits for the resident.
PAUSED_STATES = frozenset({State.on_hold})


class Party(enum.Enum):
    """How a person stands to a case; one person may stand in several ways at once."""

    owner = "owner"  # the resident who filed it
    member = "member"  # a member of the case's organization
    secretary = "secretary"  # the secretary (open term) of the case's organization
    assignee = "assignee"  # the member the case is assigned to
    system = "system"  # the sweep


class Field(enum.Enum):
    """What an action requires beyond the click."""

    reason = "reason"
    question = "question"
    note = "note"
    resolution = "resolution"
    assignee = "assignee"
    duplicate_of = "duplicate_of"
    feedback = "feedback"
    text = "text"


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    sources: frozenset[State]
    #: None keeps the state (comment).
    target: State | None
    parties: frozenset[Party]
    requires: tuple[Field, ...] = ()
    #: Whether the event is on the public timeline; comments choose for themselves.
    public: bool = True

    def target_from(self, state: State) -> State:
        return state if self.target is None else self.target


def _action(name, label, sources, target, parties, requires=(), public=True):
    return Action(name, label, frozenset(sources), target, frozenset(parties), tuple(requires), public)


ANY_STATE = frozenset(State)
WITHDRAWABLE = OPEN_STATES - {State.resolved}

ACTIONS: Mapping[str, Action] = {
    a.name: a
    for a in (
        _action("accept", N_("Accept"), {State.submitted}, State.accepted, {Party.member}),
        _action("reject", N_("Do not accept"), {State.submitted}, State.rejected, {Party.member}, [Field.reason]),
        _action("merge", N_("Merge as duplicate"), {State.submitted, State.accepted}, State.merged, {Party.member},
                [Field.duplicate_of]),
        _action("assign", N_("Assign"), {State.accepted, State.assigned, State.in_progress}, State.assigned,
                {Party.secretary, Party.member}, [Field.assignee]),
        _action("start", N_("Start work"), {State.assigned}, State.in_progress, {Party.assignee}),
        _action("request_info", N_("Ask the resident"), {State.in_progress}, State.on_hold, {Party.assignee},
                [Field.question]),
        _action("resume", N_("Resume"), {State.on_hold}, State.in_progress, {Party.owner, Party.assignee},
                [Field.note]),
        _action("resolve", N_("Resolve"), {State.in_progress}, State.resolved, {Party.assignee}, [Field.resolution]),
        _action("confirm", N_("Confirm the solution"), {State.resolved}, State.closed, {Party.owner},
                [Field.feedback]),
        _action("reopen", N_("Reopen"), {State.resolved}, State.in_progress, {Party.owner},
                [Field.feedback, Field.reason]),
        _action("auto_close", N_("Close without feedback"), {State.resolved}, State.closed, {Party.system}),
        _action("escalate", N_("Escalate to the higher organization"),
                {State.accepted, State.assigned, State.in_progress}, State.submitted, {Party.secretary},
                [Field.reason]),
        _action("withdraw", N_("Withdraw"), WITHDRAWABLE, State.withdrawn, {Party.owner}),
        # A secretary or an assignee is always also a member (see actions.parties_for).
        _action("comment", N_("Comment"), ANY_STATE, None, {Party.member, Party.owner}, [Field.text]),
    )
}

#: Actions that answer the resident within the response time limit.
RESPONSE_ACTIONS = frozenset({"accept", "reject", "merge"})


class TransitionRefused(Exception):
    """The action cannot be taken; `kind` says why: state, party or fields."""

    def __init__(self, kind: str, message: str, missing: tuple[Field, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.missing = missing


def check(action_name: str, state: State, parties: frozenset[Party], given: Mapping[str, object]) -> State:
    """Return the state the action leads to, or raise TransitionRefused saying why not."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise TransitionRefused("unknown", f"no action {action_name!r}")
    if not parties & action.parties:
        raise TransitionRefused("party", f"{action_name} is not for {sorted(p.value for p in parties)}")
    if state not in action.sources:
        raise TransitionRefused("state", f"{action_name} is not possible from {state.value}")
    missing = tuple(f for f in action.requires if given.get(f.value) in (None, ""))
    if missing:
        raise TransitionRefused("fields", f"{action_name} needs {[f.value for f in missing]}", missing)
    return action.target_from(state)


def allowed_actions(state: State, parties: frozenset[Party]) -> list[Action]:
    """Return the actions these parties may take on a case in this state, in declaration order."""
    return [a for a in ACTIONS.values() if state in a.sources and parties & a.parties]


def mermaid_diagram() -> str:
    """Return the state diagram in Mermaid syntax, built from the declaration."""
    lines = ["stateDiagram-v2", "    [*] --> submitted"]
    for action in ACTIONS.values():
        if action.target is None:
            continue
        for source in sorted(action.sources, key=lambda s: list(State).index(s)):
            who = ", ".join(sorted(p.value for p in action.parties))
            lines.append(f"    {source.value} --> {action.target.value}: {action.name} ({who})")
    for state in State:
        if not state.is_open:
            lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines)


def _state_list(states: frozenset[State]) -> str:
    if states == ANY_STATE:
        return "any"
    return ", ".join(s.value for s in State if s in states)


def markdown_table() -> str:
    """Return the actions as a Markdown table (who, from, to, requires), built from the declaration."""
    lines = ["| action | who | from | to | requires |", "|---|---|---|---|---|"]
    for action in ACTIONS.values():
        who = ", ".join(sorted(p.value for p in action.parties))
        to = "(same)" if action.target is None else action.target.value
        requires = ", ".join(f.value for f in action.requires) or "—"
        lines.append(f"| {action.name} | {who} | {_state_list(action.sources)} | {to} | {requires} |")
    return "\n".join(lines)
