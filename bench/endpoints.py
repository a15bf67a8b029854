"""What is measured: each project request, its bare twin and the rows it needs prepared."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from bench import data
from bench.data import Request
from bench.harness import WARMUP_S, Login, Target
from db import utcnow

#: Requests a second no server here reaches: a write endpoint's rows are sized from these and
#: the duration, since every request uses up a case, voter or code and a run stops when they run out.
FEED_RPS = {"project": 2000, "bare": 5000}
#: Rows beyond that for the check, the statement count and what wrk's own request check skips.
FEED_SPARE = 25


@dataclass
class Run:
    """What an endpoint's preparation may use: the project app in this process and the run's length."""

    app: Flask
    tmp: Path
    duration_s: int
    evaluation: data.Evaluation | None = None

    def feed_size(self, side: str) -> int:
        """Return how many fresh requests one side of an endpoint may need at most."""
        return FEED_RPS[side] * (self.duration_s + WARMUP_S + 1) + FEED_SPARE

    def open_evaluation(self) -> data.Evaluation:
        """Return the evaluation both ballot endpoints vote in, opening it the first time."""
        if self.evaluation is None:
            self.evaluation = data.open_evaluation(self.app, utcnow())
        return self.evaluation


#: Prepares an endpoint's data; returns the requests each side ("project", "bare") sends once each.
Prepare = Callable[[Run, Login | None], dict[str, list[Request]]]


@dataclass(frozen=True)
class Endpoint:
    """A project request and the bare request doing the least work for the same job.

    `project` None measures the bare request alone, as the baseline of the write endpoints;
    `login_as` names the demo user whose signed-in session the project request carries;
    `prepare` adds the rows the endpoint needs just before it is loaded; `versus_insert` also
    loads the bare single-row insert in the same turns, for the ratio to it.
    """

    name: str
    project: Target | None
    bare: Target
    login_as: str | None = None
    prepare: Prepare | None = None
    versus_insert: bool = False


def prepare_case_list(run: Run, _login: Login | None) -> dict[str, list[Request]]:
    """Add the 10,000 cases the member's list filters."""
    total = data.add_list_cases(run.app, utcnow())
    print(f"  {total} cases in the database", flush=True)
    return {}


def prepare_accept(run: Run, login: Login | None) -> dict[str, list[Request]]:
    """Add a submitted case for each "accept" the project side may send."""
    cases = data.accept_requests(run.app, login.cookie, login.csrf_token, run.feed_size("project"), utcnow())
    return {"project": cases}


def prepare_account_ballots(run: Run, _login: Login | None) -> dict[str, list[Request]]:
    """Add a signed-in resident for each project ballot and an invitation for each bare one."""
    evaluation = run.open_evaluation()
    return {
        "project": data.resident_ballot_requests(run.app, evaluation, run.feed_size("project")),
        "bare": data.bare_ballot_requests(run.app, evaluation, run.feed_size("bare"), seed=1),
    }


def prepare_code_ballots(run: Run, _login: Login | None) -> dict[str, list[Request]]:
    """Issue a code for each project ballot and add an invitation for each bare one."""
    evaluation = run.open_evaluation()
    return {
        "project": data.code_ballot_requests(run.app, evaluation, run.feed_size("project")),
        "bare": data.bare_ballot_requests(run.app, evaluation, run.feed_size("bare"), seed=2),
    }


INSERT = Target("POST", "/insert", body="note=bench", status=204)
BARE_BALLOT = Target("POST", "/ballot-bare", status=204)
ENDPOINTS = [
    Endpoint("login_page", Target("GET", "/login", expect='name="csrf_token"'), Target("GET", "/static-page")),
    Endpoint(
        "home_page",
        Target("GET", "/", expect='id="organization-table"'),
        Target("GET", "/rows", expect="<table>"),
        login_as="eval.district",
    ),
    Endpoint("insert", None, INSERT),
    Endpoint(
        "case_list",
        Target("GET", "/cases", expect='id="case-results"'),
        Target("GET", "/cases-rows", expect="<table>"),
        login_as="sec.chunhui",
        prepare=prepare_case_list,
    ),
    Endpoint(
        "accept",
        Target("POST", "/cases/<id>/actions", expect="/cases/", status=303),
        INSERT,
        login_as=data.ACCEPTER,
        prepare=prepare_accept,
    ),
    Endpoint(
        "ballot_account",
        Target("POST", "/surveys/<id>/ballot", expect="/vote/thanks", status=303),
        BARE_BALLOT,
        prepare=prepare_account_ballots,
        versus_insert=True,
    ),
    Endpoint(
        "ballot_code",
        Target("POST", "/vote/<id>", expect="/vote/thanks", status=303),
        BARE_BALLOT,
        prepare=prepare_code_ballots,
        versus_insert=True,
    ),
]
