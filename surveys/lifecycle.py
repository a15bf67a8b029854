"""The survey lifecycle, declared once as data: phases, transitions, who takes each, what each requires.

A survey is stored as draft, open, closed or published. The clock moves an open survey on
without a write: it is scheduled until its opening time and ended after its closing time, so
its phase is derived from the stored state and the time. Services, views, tests and
docs/surveys.md read this declaration. No Flask here: the messages are lazy, translated where shown.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Protocol

from flask_babel import lazy_gettext as _l

from errors import InvalidTransition, PermissionDenied
from surveys.models import SurveyState


class Phase(enum.Enum):
    """Where a survey stands at a given moment."""

    draft = "draft"
    scheduled = "scheduled"  # open, before its opening time
    open = "open"
    ended = "ended"  # open, past its closing time, which nobody has recorded yet
    closed = "closed"
    published = "published"

    @property
    def status(self) -> str:
        """Return what the pages call the phase (a key of labels.STATUS_LABELS): an ended survey is closed."""
        return Phase.closed.value if self is Phase.ended else self.value


class Party(enum.Enum):
    manager = "manager"  # an evaluator of the survey's area, or an administrator
    voter = "voter"  # a verified resident of a community asked, or the holder of an invitation code
    clock = "clock"  # the survey's opening or closing time passing


class Requirement(enum.Enum):
    """What a survey must have before it opens."""

    questions = "questions"
    communities = "communities"
    closing_ahead = "closing_ahead"  # its closing time is still to come
    secretaries = "secretaries"  # democratic evaluations: a secretary in office in every community


@dataclass(frozen=True)
class Refusal:
    """What a refused transition says; `names` is the survey's time that the message shows as %(date)s."""

    message: str
    names: str | None = None


@dataclass(frozen=True)
class Transition:
    name: str
    #: What it does, in the words of docs/surveys.md.
    does: str
    sources: frozenset[Phase]
    #: None keeps the phase.
    target: Phase | None
    parties: frozenset[Party]
    #: Why it is refused, by phase outside its sources.
    refusals: Mapping[Phase, Refusal]
    requires: tuple[Requirement, ...] = ()
    #: The clock's transitions only: the time of the survey at which it happens.
    at: str | None = None
    removes: bool = False


def _transition(name, does, sources, target, parties, refusal="", *, requires=(), at=None, removes=False,
                **refusals) -> Transition:
    """Declare a transition; `refusal` is said from every other phase unless a phase is given its own."""
    by_phase = {
        phase: refusals.get(phase.value, refusal) for phase in Phase if phase not in sources
    }
    by_phase = {phase: r if isinstance(r, Refusal) else Refusal(r) for phase, r in by_phase.items()}
    return Transition(name, does, frozenset(sources), target, frozenset(parties), by_phase, tuple(requires), at,
                      removes)


MANAGER, VOTER, CLOCK = frozenset({Party.manager}), frozenset({Party.voter}), frozenset({Party.clock})
OPENING = (Requirement.questions, Requirement.communities, Requirement.closing_ahead, Requirement.secretaries)
LOCKED = _l("This survey has opened: its questions, communities and minimum group size are locked.")
DRAFT, SCHEDULED, OPEN, ENDED, CLOSED, PUBLISHED = (
    Phase.draft, Phase.scheduled, Phase.open, Phase.ended, Phase.closed, Phase.published,
)

#: In the order of a survey's life; the clock's transitions are applied in this order.
TRANSITIONS: Mapping[str, Transition] = {
    t.name: t
    for t in (
        _transition("edit_questions", "change the questions and the communities asked", {DRAFT}, None, MANAGER,
                    LOCKED),
        _transition("edit_rules", "change the anonymity, the opening time and the minimum group size", {DRAFT},
                    None, MANAGER,
                    _l("This survey has opened: its anonymity, opening time and minimum group size are locked.")),
        _transition("edit_details", "change the title, the description and the closing time",
                    {DRAFT, SCHEDULED, OPEN}, None, MANAGER, _l("A closed survey cannot be changed.")),
        _transition("delete", "delete the draft", {DRAFT}, None, MANAGER, LOCKED, removes=True),
        _transition("open", "lock the draft and open it now", {DRAFT}, OPEN, MANAGER, LOCKED, requires=OPENING),
        _transition("schedule", "lock the draft to open at its opening time", {DRAFT}, SCHEDULED, MANAGER, LOCKED,
                    requires=OPENING),
        _transition("issue_codes", "issue invitation codes for a community asked", {SCHEDULED, OPEN}, None,
                    MANAGER, _l("Codes cannot be issued for a closed survey."),
                    draft=_l("Open or schedule the survey before issuing codes: its communities are fixed then.")),
        _transition("open_by_time", "take answers from the opening time", {SCHEDULED}, OPEN, CLOCK,
                    at="opens_at"),
        _transition("answer", "give one ballot", {OPEN}, None, VOTER,
                    _l("This survey has closed; answers are no longer accepted."),
                    draft=_l("This survey is still being prepared and takes no answers yet."),
                    scheduled=Refusal(_l("This survey opens on %(date)s."), names="opens_at")),
        _transition("close_by_time", "stop taking answers at the closing time", {OPEN}, ENDED, CLOCK,
                    at="closes_at"),
        _transition("close", "stop taking answers now, or record that the closing time has passed",
                    {SCHEDULED, OPEN, ENDED}, CLOSED, MANAGER, _l("Only an open survey can be closed.")),
        _transition("publish", "publish the results", {ENDED, CLOSED}, PUBLISHED, MANAGER,
                    _l("Only a closed survey can be published.")),
    )
}
CLOCK_TRANSITIONS = tuple(t for t in TRANSITIONS.values() if t.at)

#: The phase of each stored state before the clock's transitions apply.
_STORED_PHASE = {
    SurveyState.draft: DRAFT, SurveyState.open: SCHEDULED, SurveyState.closed: CLOSED,
    SurveyState.published: PUBLISHED,
}
#: The state of each phase, as services write it and effective_state() reports it: an ended survey is
#: closed, though stored open until someone records it.
STATE_OF = {
    DRAFT: SurveyState.draft, SCHEDULED: SurveyState.open, OPEN: SurveyState.open, ENDED: SurveyState.closed,
    CLOSED: SurveyState.closed, PUBLISHED: SurveyState.published,
}


class Timed(Protocol):
    """What the phase is read from: a Survey, or a ballot's row of one."""

    state: SurveyState
    opens_at: datetime
    closes_at: datetime


class Refused(InvalidTransition):
    """A transition the survey's phase does not allow; `date` is the time the message names, if any."""

    def __init__(self, message: str, date: datetime | None = None) -> None:
        super().__init__(message)
        self.date = date


def phase(survey: Timed, now: datetime) -> Phase:
    """Return the survey's phase at `now`: its stored state, moved on by the clock."""
    current = _STORED_PHASE[survey.state]
    for transition in CLOCK_TRANSITIONS:
        if current in transition.sources and now >= getattr(survey, transition.at):
            current = transition.target
    return current


def effective_state(survey: Timed, now: datetime) -> SurveyState:
    """Return the state as of now: an open survey past its closing time is closed."""
    return STATE_OF[phase(survey, now)]


def check(name: str, survey: Timed, now: datetime, parties: frozenset[Party]) -> Transition:
    """Return the transition if these parties may take it now, or raise PermissionDenied or Refused."""
    transition = TRANSITIONS[name]
    if not parties & transition.parties:
        raise PermissionDenied()
    current = phase(survey, now)
    if current not in transition.sources:
        refusal = transition.refusals[current]
        raise Refused(refusal.message, getattr(survey, refusal.names) if refusal.names else None)
    return transition


def allowed(survey: Timed, now: datetime, parties: frozenset[Party]) -> frozenset[str]:
    """Return the names of the transitions these parties may take now."""
    current = phase(survey, now)
    return frozenset(t.name for t in TRANSITIONS.values() if current in t.sources and parties & t.parties)


def _who(transition: Transition) -> str:
    who = ", ".join(sorted(p.value for p in transition.parties))
    return f"{who} at {transition.at}" if transition.at else who


def mermaid_diagram() -> str:
    """Return the state diagram in Mermaid syntax, built from the declaration."""
    lines = ["stateDiagram-v2", "    [*] --> draft"]
    for transition in TRANSITIONS.values():
        if transition.target is None and not transition.removes:
            continue
        for source in (p for p in Phase if p in transition.sources):
            target = "[*]" if transition.removes else transition.target.value
            lines.append(f"    {source.value} --> {target}: {transition.name} ({_who(transition)})")
    lines.append(f"    {PUBLISHED.value} --> [*]")
    return "\n".join(lines)


def markdown_table() -> str:
    """Return the transitions as a Markdown table (what, who, from, to, requires), built from the declaration."""
    lines = ["| transition | what | who | from | to | requires |", "|---|---|---|---|---|---|"]
    for t in TRANSITIONS.values():
        sources = ", ".join(p.value for p in Phase if p in t.sources)
        to = "(removed)" if t.removes else "(same)" if t.target is None else t.target.value
        requires = ", ".join(r.value for r in t.requires) or "—"
        lines.append(f"| {t.name} | {t.does} | {_who(t)} | {sources} | {to} | {requires} |")
    return "\n".join(lines)
