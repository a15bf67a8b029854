"""The workflow declaration against PRODUCT.md §3, with no database."""
from __future__ import annotations

import pytest

from tests.workflow.conftest import replay
from workflow import machine
from workflow.machine import ACTIONS, Field, Party, State, TransitionRefused

S = State

# PRODUCT.md §3 "States", copied literally: state, English, 中文, open.
STATES = [
    ("submitted", "Submitted", "待受理", True),
    ("accepted", "Accepted", "已受理", True),
    ("assigned", "Assigned", "已派单", True),
    ("in_progress", "In progress", "办理中", True),
    ("on_hold", "Waiting for resident", "待补充", True),
    ("resolved", "Resolved, awaiting feedback", "待回访", True),
    ("closed", "Closed", "已办结", False),
    ("rejected", "Not accepted", "不予受理", False),
    ("withdrawn", "Withdrawn", "已撤回", False),
    ("merged", "Merged as duplicate", "已合并", False),
]

OPEN = {S.submitted, S.accepted, S.assigned, S.in_progress, S.on_hold, S.resolved}

# PRODUCT.md §3 "Transitions", copied literally: action → (from, to, who, requires).
# None as target keeps the state ("(same)").
TRANSITIONS = {
    "accept": ({S.submitted}, S.accepted, {Party.member}, ()),
    "reject": ({S.submitted}, S.rejected, {Party.member}, (Field.reason,)),
    "merge": ({S.submitted, S.accepted}, S.merged, {Party.member}, (Field.duplicate_of,)),
    "assign": ({S.accepted, S.assigned, S.in_progress}, S.assigned, {Party.secretary, Party.member},
               (Field.assignee,)),
    "start": ({S.assigned}, S.in_progress, {Party.assignee}, ()),
    "request_info": ({S.in_progress}, S.on_hold, {Party.assignee}, (Field.question,)),
    "resume": ({S.on_hold}, S.in_progress, {Party.owner, Party.assignee}, (Field.note,)),
    "resolve": ({S.in_progress}, S.resolved, {Party.assignee}, (Field.resolution,)),
    "confirm": ({S.resolved}, S.closed, {Party.owner}, (Field.feedback,)),
    "reopen": ({S.resolved}, S.in_progress, {Party.owner}, (Field.feedback, Field.reason)),
    "auto_close": ({S.resolved}, S.closed, {Party.system}, ()),
    "escalate": ({S.accepted, S.assigned, S.in_progress}, S.submitted, {Party.secretary}, (Field.reason,)),
    "withdraw": (OPEN - {S.resolved}, S.withdrawn, {Party.owner}, ()),
    "comment": (set(State), None, {Party.member, Party.owner}, (Field.text,)),
}

EVERYONE = frozenset(Party)


def all_given(action: str) -> dict[str, object]:
    return {f.value: "x" for f in ACTIONS[action].requires}


def test_states_are_those_of_the_product_with_their_labels():
    assert [s.value for s in State] == [row[0] for row in STATES]
    assert {s.value: (s.label, s.label_zh) for s in State} == {row[0]: (row[1], row[2]) for row in STATES}
    assert {s.value: s.is_open for s in State} == {row[0]: row[3] for row in STATES}
    assert machine.OPEN_STATES == OPEN
    assert machine.PAUSED_STATES == {S.on_hold}


@pytest.mark.parametrize("name", TRANSITIONS)
def test_action_is_declared_as_in_the_product(name):
    sources, target, parties, requires = TRANSITIONS[name]
    action = ACTIONS[name]
    assert action.sources == sources
    assert action.target == target
    assert action.parties == parties
    assert action.requires == requires


def test_no_action_beyond_the_product_table():
    assert list(ACTIONS) == list(TRANSITIONS)


@pytest.mark.parametrize("name", TRANSITIONS)
@pytest.mark.parametrize("state", list(State))
def test_check_follows_the_table(name, state):
    sources, target, parties, _requires = TRANSITIONS[name]
    if state in sources:
        assert machine.check(name, state, frozenset(parties), all_given(name)) == (target or state)
    else:
        with pytest.raises(TransitionRefused) as refused:
            machine.check(name, state, frozenset(parties), all_given(name))
        assert refused.value.kind == "state"


@pytest.mark.parametrize("name", TRANSITIONS)
def test_check_refuses_other_parties(name):
    sources, _target, parties, _requires = TRANSITIONS[name]
    state = next(s for s in State if s in sources)
    for party in set(Party) - parties:
        with pytest.raises(TransitionRefused) as refused:
            machine.check(name, state, frozenset({party}), all_given(name))
        assert refused.value.kind == "party"
    with pytest.raises(TransitionRefused) as refused:
        machine.check(name, state, frozenset(), all_given(name))
    assert refused.value.kind == "party"


@pytest.mark.parametrize("name", [n for n, row in TRANSITIONS.items() if row[3]])
def test_check_names_every_missing_field(name):
    sources, _target, parties, requires = TRANSITIONS[name]
    state = next(s for s in State if s in sources)
    for given in ({}, {f.value: "" for f in requires}, {f.value: None for f in requires}):
        with pytest.raises(TransitionRefused) as refused:
            machine.check(name, state, frozenset(parties), given)
        assert refused.value.kind == "fields"
        assert refused.value.missing == requires
    if len(requires) > 1:
        partial = {requires[0].value: "x"}
        with pytest.raises(TransitionRefused) as refused:
            machine.check(name, state, frozenset(parties), partial)
        assert refused.value.missing == requires[1:]


def test_check_refuses_an_unknown_action():
    with pytest.raises(TransitionRefused) as refused:
        machine.check("teleport", S.submitted, EVERYONE, {})
    assert refused.value.kind == "unknown"


def test_party_is_checked_before_state_and_state_before_fields():
    # A stranger learns nothing about the case's state; a wrong state is told before missing input.
    with pytest.raises(TransitionRefused) as refused:
        machine.check("reject", S.closed, frozenset({Party.owner}), {})
    assert refused.value.kind == "party"
    with pytest.raises(TransitionRefused) as refused:
        machine.check("reject", S.closed, frozenset({Party.member}), {})
    assert refused.value.kind == "state"


@pytest.mark.parametrize("state", [s for s in State if s not in OPEN])
def test_terminal_states_allow_only_comment(state):
    assert [a.name for a in machine.allowed_actions(state, EVERYONE)] == ["comment"]
    for name in ACTIONS:
        if name == "comment":
            assert machine.check(name, state, EVERYONE, all_given(name)) == state
            continue
        with pytest.raises(TransitionRefused) as refused:
            machine.check(name, state, EVERYONE, all_given(name))
        assert refused.value.kind == "state"


@pytest.mark.parametrize("state", sorted(OPEN, key=list(State).index))
def test_every_open_state_leads_somewhere(state):
    assert any(a.target not in (None, state) for a in machine.allowed_actions(state, EVERYONE))


def test_allowed_actions_depend_on_party_and_state():
    def names(state, *parties):
        return [a.name for a in machine.allowed_actions(state, frozenset(parties))]

    assert names(S.submitted, Party.member) == ["accept", "reject", "merge", "comment"]
    assert names(S.submitted, Party.owner) == ["withdraw", "comment"]
    assert names(S.in_progress, Party.member, Party.assignee) == [
        "assign", "request_info", "resolve", "comment"]
    assert names(S.in_progress, Party.member, Party.secretary) == ["assign", "escalate", "comment"]
    assert names(S.resolved, Party.owner) == ["confirm", "reopen", "comment"]
    assert names(S.resolved, Party.system) == ["auto_close"]
    assert names(S.on_hold) == []


def test_every_state_is_reachable_from_submitted():
    reached, frontier = {S.submitted}, [S.submitted]
    while frontier:
        state = frontier.pop()
        for action in machine.allowed_actions(state, EVERYONE):
            target = action.target_from(state)
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_replay_follows_a_chain():
    events = [(None, S.submitted), (S.submitted, S.accepted), (S.accepted, S.assigned),
              (S.assigned, S.assigned), (S.assigned, S.in_progress), (S.in_progress, S.resolved),
              (S.resolved, S.closed), (S.closed, S.closed)]
    assert replay(events) == S.closed
    assert replay(events[:3]) == S.assigned
    assert replay([]) is None


@pytest.mark.parametrize("events", [
    [(None, S.submitted), (S.accepted, S.assigned)],
    [(None, S.submitted), (S.submitted, S.accepted), (S.submitted, S.rejected)],
    [(None, S.submitted), (S.submitted, S.resolved), (S.in_progress, S.closed)],
])
def test_replay_rejects_a_broken_chain(events):
    with pytest.raises(ValueError):
        replay(events)


def test_mermaid_diagram_has_every_transition_and_no_comment():
    diagram = machine.mermaid_diagram()
    assert diagram.startswith("stateDiagram-v2\n")
    edges = [line.strip() for line in diagram.splitlines()[1:]]
    expected = ["[*] --> submitted"]
    for name, (sources, target, parties, _requires) in TRANSITIONS.items():
        if target is None:
            continue
        who = ", ".join(sorted(p.value for p in parties))
        expected += [f"{s.value} --> {target.value}: {name} ({who})" for s in State if s in sources]
    expected += [f"{s.value} --> [*]" for s in State if s not in OPEN]
    assert edges == expected


def test_markdown_table_has_a_row_per_action():
    rows = machine.markdown_table().splitlines()
    assert rows[0] == "| action | who | from | to | requires |"
    body = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
    assert [cells[0] for cells in body] == list(TRANSITIONS)
    by_name = {cells[0]: cells for cells in body}
    assert by_name["comment"] == ["comment", "member, owner", "any", "(same)", "text"]
    assert by_name["accept"] == ["accept", "member", "submitted", "accepted", "—"]
    assert by_name["reopen"] == ["reopen", "owner", "resolved", "in_progress", "feedback, reason"]
    assert by_name["withdraw"][2] == "submitted, accepted, assigned, in_progress, on_hold"


def test_machine_imports_no_flask():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(machine))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"flask", "flask_babel", "flask_sqlalchemy", "sqlalchemy"}
