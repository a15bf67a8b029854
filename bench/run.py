"""Load the project and a bare Flask app side by side with wrk and report their ratios."""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import event

import config
from demo.people import DEMO_PASSWORD
from db import utcnow
from app import create_app
from bench import data, evaluation
from bench.data import HOST, USER_AGENT, Request
from extensions import db

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_PATH = BENCH_DIR / "results.json"
REPORT_LUA = BENCH_DIR / "report.lua"
WORKERS = 2
#: Unrecorded load before each measured run, so first-request costs (template compiling,
#: lazy imports, connection pools) stay out of the figures.
WARMUP_S = 1
#: Seconds of each turn when the project and the bare app take turns under load.
SLICE_S = 2
STARTUP_TIMEOUT_S = 30
SETUP_TIMEOUT_S = 300
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FORM_TYPE = "application/x-www-form-urlencoded"
#: The rate limits, raised so that they never answer 429 to the bench.
NO_LIMIT = "1000000 per minute"
#: Requests a second no server here reaches: a write endpoint's rows are sized from these and
#: the duration, since every request uses up a case, voter or code and a run stops when they run out.
FEED_RPS = {"project": 2000, "bare": 5000}
#: Rows beyond that for the check, the statement count and what wrk's own request check skips.
FEED_SPARE = 25


@dataclass(frozen=True)
class Target:
    """One request wrk repeats: method, path, form body, the status and text a correct answer has.

    `expect` is looked for in the body and in the Location header, so a redirect can be checked too.
    """

    method: str
    path: str
    body: str = ""
    expect: str = ""
    status: int = 200


@dataclass(frozen=True)
class Login:
    """A signed-in session: its Cookie header and the CSRF token its forms carry."""

    cookie: str
    csrf_token: str


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
        login_as="sec.chunhui",
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


@dataclass
class Feed:
    """Requests sent once each, in order, by the check, the statement count, the warm-up and every turn."""

    requests: list[Request]
    path: Path
    used: int = 0

    @classmethod
    def write(cls, requests: list[Request], path: Path) -> Feed:
        """Write the requests where the wrk script reads them, one a line: path, cookie, body."""
        path.write_text("".join(f"{r.path}\t{r.cookie}\t{r.body}\n" for r in requests), encoding="utf-8")
        return cls(requests, path)

    def take(self) -> Request:
        """Return the next unused request."""
        if self.used >= len(self.requests):
            sys.exit(f"{self.path.name}: all {len(self.requests)} prepared requests are used; raise FEED_RPS.")
        self.used += 1
        return self.requests[self.used - 1]


@dataclass(frozen=True)
class Side:
    """Where and how one app is loaded for an endpoint."""

    base: str
    target: Target
    cookie: str = ""
    feed: Feed | None = None

    def take(self) -> Request:
        """Return the next request to send: the feed's next one, or the target itself."""
        request = self.feed.take() if self.feed else Request(self.target.path, "", self.target.body)
        return request if request.cookie else request._replace(cookie=self.cookie)


@dataclass(frozen=True)
class Slice:
    """What wrk reports for one short run."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int
    #: A status answered instead of the expected one, 0 when none was.
    unexpected_status: int = 0


@dataclass(frozen=True)
class Figures:
    """One side's figures over all its slices."""

    rps: float
    p50_ms: float
    p95_ms: float
    errors: int
    unexpected_status: int = 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Surface redirects as errors, so a check sees the answer wrk would get."""

    def redirect_request(self, *args, **kwargs) -> None:
        return None


def free_port() -> int:
    """Return a loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    """Return wrk's path, installing Debian's package when running as root."""
    path = shutil.which("wrk")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env, timeout=SETUP_TIMEOUT_S)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=apt_env, timeout=SETUP_TIMEOUT_S)
        path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is needed: install Debian's wrk package (apt-get install wrk) and run again.")
    return path


def run_flask(env: dict[str, str], *args: str) -> None:
    """Run a `flask --app app` command against the bench database."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S,
    )
    if done.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def start_gunicorn(app_spec: str, port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start gunicorn in its own process group, so stopping it stops its workers too."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"{HOST}:{port}", app_spec],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    """Stop a server's process group, forcibly when it does not stop in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until_up(base: str, path: str, process: subprocess.Popen, log_path: Path) -> None:
    """Wait until the server answers, failing when it exits or the time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(base + path, timeout=2):
                return
        except OSError:  # refused, reset or timed out while the workers boot
            time.sleep(0.2)
    sys.exit(f"The server at {base} did not start; its log:\n{log_path.read_text(errors='replace')[-3000:]}")


def _opener(*handlers) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(*handlers)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    return opener


def log_in(base: str, username: str) -> Login:
    """Log in as a demo user; return the signed-in session's Cookie header and CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = _opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/login", timeout=10) as response:
        match = CSRF_RE.search(response.read().decode())
    if match is None:
        sys.exit("The login page has no CSRF token.")
    form = urlencode({"username": username, "password": DEMO_PASSWORD, "csrf_token": match.group(1)}).encode()
    # Success answers 303 to the home page, which the opener follows; that page stores a new
    # CSRF token in the session, so the cookie is taken after it.
    with opener.open(base + "/login", data=form, timeout=30) as response:
        if response.geturl() != base + "/":
            sys.exit(f"Logging in as {username} failed (ended at {response.geturl()}).")
        match = CSRF_RE.search(response.read().decode())
    if match is None:
        sys.exit("The home page has no CSRF token.")
    return Login("; ".join(f"{cookie.name}={cookie.value}" for cookie in jar), match.group(1))


def _headers(request: Request) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if request.body:
        headers["Content-Type"] = FORM_TYPE
    if request.cookie:
        headers["Cookie"] = request.cookie
    return headers


def check(side: Side) -> None:
    """Send the request once and stop unless it has the expected status and text."""
    target, request = side.target, side.take()
    url = side.base + request.path
    outgoing = urllib.request.Request(url, data=request.body.encode() or None, headers=_headers(request),
                                      method=target.method)
    try:
        with _opener(_NoRedirect).open(outgoing, timeout=30) as response:
            status, text, location = response.status, response.read().decode(errors="replace"), ""
    except urllib.error.HTTPError as error:  # redirects too: _NoRedirect does not follow them
        status, text, location = error.code, error.read().decode(errors="replace"), error.headers.get("Location", "")
    if status != target.status:
        sys.exit(f"{target.method} {url} answered {status}, not {target.status}:\n{text[:2000]}")
    if target.expect not in text + location:
        sys.exit(f"{target.method} {url} does not contain {target.expect!r}.")


class StatementCounter:
    """Count the statements sent to the database, leaving out the BEGIN that SQLite's begin hook sends."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        if not re.fullmatch(r"BEGIN( IMMEDIATE)?", statement.strip()):
            self.statements.append(statement)


def count_statements(app: Flask, side: Side) -> list[str]:
    """Send the project request in this process, once unrecorded, and return the statements of the second."""
    client = app.test_client(use_cookies=False)  # the request's own Cookie header, not a jar

    def send():
        request = side.take()
        return client.open(request.path, method=side.target.method, data=request.body or None,
                           headers=_headers(request), environ_base={"REMOTE_ADDR": HOST})

    send()  # a new app's first request loads what later ones find ready
    with app.app_context():
        engine = db.engine
    with StatementCounter(engine) as counter:
        response = send()
    engine.dispose()
    if response.status_code != side.target.status:
        sys.exit(f"In process, {side.target.method} {side.target.path} answered {response.status_code}.")
    return counter.statements


def load(wrk: str, side: Side, duration_s: int, connections: int) -> Slice:
    """Load one side with wrk for a while and return what it reports."""
    target, feed = side.target, side.feed
    # One wrk thread: enough for a Flask app, and it leaves the CPUs to the servers.
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration_s}s", "-s", str(REPORT_LUA),
               "-H", f"User-Agent: {USER_AGENT}"]
    if side.cookie:
        command += ["-H", f"Cookie: {side.cookie}"]
    command.append(side.base + (target.path if feed is None else "/"))
    command += ["--", target.method, target.body, FORM_TYPE if target.method != "GET" else "", str(target.status),
                str(feed.path) if feed else "", str(feed.used) if feed else "0", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60)
    if done.returncode != 0:
        sys.exit(f"wrk failed on {side.base}{target.path}:\n{done.stderr}")
    report = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    if feed is not None:
        if report["exhausted"]:
            sys.exit(f"{feed.path.name}: all {len(feed.requests)} prepared requests are used; raise FEED_RPS.")
        feed.used = report["next"]
    errors = report["errors"]
    return Slice(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        p50_ms=report["p50_us"] / 1000,
        p95_ms=report["p95_us"] / 1000,
        # Any status but the expected one, 4xx/5xx included, is in "unexpected".
        errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"] + report["unexpected"],
        unexpected_status=report["example"],
    )


def slice_lengths(duration_s: int) -> list[int]:
    """Split a duration into the short runs the two sides take turns in."""
    whole, rest = divmod(duration_s, SLICE_S)
    return [SLICE_S] * whole + ([rest] if rest else [])


def combine(slices: list[Slice]) -> Figures:
    """Total the slices; percentiles are the slices' own, weighted by their requests."""
    requests = sum(s.requests for s in slices)
    weight = requests or 1
    return Figures(
        rps=requests / sum(s.seconds for s in slices),
        p50_ms=sum(s.p50_ms * s.requests for s in slices) / weight,
        p95_ms=sum(s.p95_ms * s.requests for s in slices) / weight,
        errors=sum(s.errors for s in slices),
        unexpected_status=max(s.unexpected_status for s in slices),
    )


def measure(wrk: str, sides: list[Side], duration_s: int, connections: int) -> list[Figures]:
    """Warm up each side, then load them in turns and return their figures."""
    for side in sides:
        load(wrk, side, WARMUP_S, connections)
    slices: list[list[Slice]] = [[] for _ in sides]
    # Short turns, so load from anything else on the machine falls on all sides alike.
    for length in slice_lengths(duration_s):
        for side, runs in zip(sides, slices):
            runs.append(load(wrk, side, length, connections))
    figures = [combine(runs) for runs in slices]
    for side, side_figures in zip(sides, figures):
        if side_figures.errors:
            example = f" (status {side_figures.unexpected_status}, not {side.target.status})" \
                if side_figures.unexpected_status else ""
            print(f"warning: {side_figures.errors} socket errors, timeouts or unexpected answers{example} on "
                  f"{side.target.method} {side.target.path}", file=sys.stderr)
    return figures


def result(endpoint: Endpoint, figures: list[Figures], statements: list[str] | None) -> dict:
    """Return one endpoint's entry of results.json."""
    if endpoint.project is None:
        [bare] = figures
        return {**_rounded(bare), "ratio": None, "errors": bare.errors}
    project, bare = figures[0], figures[1]
    row = {
        **_rounded(project),
        "ratio": round(project.rps / bare.rps, 4),
        **{f"bare_{key}": value for key, value in _rounded(bare).items()},
    }
    if endpoint.versus_insert:
        insert = figures[2]
        row |= {"insert_rps": round(insert.rps, 1), "insert_ratio": round(project.rps / insert.rps, 4)}
    return row | {"sql_statements": len(statements), "errors": sum(f.errors for f in figures)}


def _rounded(figures: Figures) -> dict[str, float]:
    """Round the figures to what the measurement can tell apart."""
    return {"rps": round(figures.rps, 1), "p50_ms": round(figures.p50_ms, 2), "p95_ms": round(figures.p95_ms, 2)}


def print_table(results: dict[str, dict]) -> None:
    """Print the figures as a table."""
    print(f"\n{'endpoint':<16}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'bare rps':>10}{'ratio':>8}"
          f"{'insert rps':>12}{'vs insert':>11}{'SQL':>5}")
    for name, row in results.items():
        bare_rps = f"{row['bare_rps']:.1f}" if "bare_rps" in row else "—"
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "—"
        insert_rps = f"{row['insert_rps']:.1f}" if "insert_rps" in row else "—"
        insert_ratio = f"{row['insert_ratio']:.3f}" if "insert_ratio" in row else "—"
        statements = str(row.get("sql_statements", "—"))
        print(f"{name:<16}{row['rps']:>9.1f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{bare_rps:>10}{ratio:>8}"
              f"{insert_rps:>12}{insert_ratio:>11}{statements:>5}")


def bench_config(env: dict[str, str]) -> type[config.Config]:
    """Return the servers' configuration for the project app in this process, whatever was imported before."""
    names = ("RATELIMIT_STORAGE_URI", "LOGIN_LIMIT_PER_IP", "LOGIN_LIMIT_PER_ACCOUNT", "BALLOT_LIMIT_PER_IP")
    return type("BenchConfig", (config.Config,), {
        "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "SECRET_KEY": env["SECRET_KEY"],
        "SESSION_COOKIE_SECURE": False, **{name: env[name] for name in names},
    })


def load_endpoint(wrk: str, run: Run, endpoint: Endpoint, bases: dict[str, str], connections: int,
                  show_sql: bool) -> dict:
    """Prepare one endpoint's data, check and load its sides and return its entry of results.json."""
    started = time.monotonic()
    login = log_in(bases["project"], endpoint.login_as) if endpoint.login_as else None
    requests = endpoint.prepare(run, login) if endpoint.prepare else {}
    if requests:
        counts = ", ".join(f"{len(lines)} for the {side} side" for side, lines in requests.items())
        print(f"  {counts} prepared in {time.monotonic() - started:.0f} s", flush=True)
    feeds = {side: Feed.write(lines, run.tmp / f"{endpoint.name}-{side}.feed") for side, lines in requests.items()}
    with run.app.app_context():
        db.engine.dispose()  # the preparation's connections; the servers write next
    sides = [Side(bases["bare"], endpoint.bare, feed=feeds.get("bare"))]
    if endpoint.project is not None:
        sides.insert(0, Side(bases["project"], endpoint.project, login.cookie if login else "", feeds.get("project")))
    if endpoint.versus_insert:
        sides.append(Side(bases["bare"], INSERT))
    for side in sides:
        check(side)
    statements = count_statements(run.app, sides[0]) if endpoint.project is not None else None
    if show_sql and statements is not None:
        print("\n".join(f"  [{n}] {' '.join(s.split())}" for n, s in enumerate(statements, start=1)))
    print(f"Loading {endpoint.name} for {run.duration_s}s per app…", flush=True)
    return result(endpoint, measure(wrk, sides, run.duration_s, connections), statements)


def bench_evaluation(wrk: str, run: Run, base: str, show_sql: bool) -> dict:
    """Time the evaluation table of 1,000 secretaries at each size of bench.evaluation.SIZES; return the figures.

    The page is loaded over one connection, so its percentiles are a request's own time, not time queued.
    """
    started = time.monotonic()
    scale = evaluation.ScaleEvaluation.create(run.app, utcnow())
    print(f"  {evaluation.COMMUNITIES} secretaries and their closed evaluation added in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    figures: dict = {}
    login = None
    for size in evaluation.SIZES:
        inserted = scale.grow_to(run.app, size)
        print(f"  {size:,} ballots: {inserted.ballots:,} ballots and {inserted.answers:,} answers at "
              f"{inserted.ballot_answer_rate:,.0f} rows/s; {inserted.rows:,} rows in {inserted.total_s:.1f} s "
              f"all told ({inserted.overall_rate:,.0f} rows/s)", flush=True)
        if size == evaluation.SIZES[0]:
            evaluation.check_consistency(run.app, scale)
        service_p50, service_p95 = evaluation.percentiles_ms(evaluation.time_table(run.app, scale))
        row = {"ballot_answer_rows_per_s": round(inserted.ballot_answer_rate),
               "rows_per_s": round(inserted.overall_rate),
               "service_p50_ms": round(service_p50, 2), "service_p95_ms": round(service_p95, 2)}
        if evaluation.has_route(run.app, scale.table_path):
            login = login or log_in(base, evaluation.EVALUATOR)
            side = Side(base, Target("GET", scale.table_path, expect='id="evaluation-table"'), login.cookie)
            check(side)
            statements = count_statements(run.app, side)
            if show_sql:
                print("\n".join(f"  [{n}] {' '.join(s.split())}" for n, s in enumerate(statements, start=1)))
            print(f"Loading the evaluation table at {size:,} ballots for {run.duration_s}s…", flush=True)
            [page] = measure(wrk, [side], run.duration_s, connections=1)
            row |= {**_rounded(page), "sql_statements": len(statements), "errors": page.errors}
        figures[str(size)] = row
    first, last = (figures[str(size)] for size in (evaluation.SIZES[0], evaluation.SIZES[-1]))
    ratio_of = "page" if "p50_ms" in last else "service"
    key = "p50_ms" if ratio_of == "page" else "service_p50_ms"
    return figures | {"ratio": round(last[key] / first[key], 3), "ratio_of": ratio_of}


def bench(endpoints: list[Endpoint], duration_s: int, connections: int, show_sql: bool = False,
          with_evaluation: bool = False) -> dict[str, dict]:
    """Set up a fresh demo database, serve both apps, load each endpoint pair and return the results."""
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="lianxin-bench-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "SECRET_KEY": secrets.token_hex(20),
            "RATELIMIT_STORAGE_URI": "memory://",
            "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback: a Secure cookie would never come back
            # The limits would otherwise turn the bench's logins and ballots into 429s.
            "LOGIN_LIMIT_PER_IP": NO_LIMIT,
            "LOGIN_LIMIT_PER_ACCOUNT": NO_LIMIT,
            "BALLOT_LIMIT_PER_IP": NO_LIMIT,
        }
        print("Preparing the demo database…", flush=True)
        run_flask(env, "db", "upgrade")
        run_flask(env, "demo", "seed")
        run = Run(create_app(bench_config(env)), Path(tmp), duration_s)
        bases = {"project": f"http://{HOST}:{free_port()}", "bare": f"http://{HOST}:{free_port()}"}
        servers: list[subprocess.Popen] = []
        try:
            for spec, base, ready_path in (
                ("app:create_app()", bases["project"], "/login"),
                ("bench.bare_app:create_app()", bases["bare"], "/static-page"),
            ):
                log_path = Path(tmp) / f"{spec.partition(':')[0]}.log"
                servers.append(start_gunicorn(spec, int(base.rsplit(":", 1)[1]), env, log_path))
                wait_until_up(base, ready_path, servers[-1], log_path)
            results = {}
            for endpoint in endpoints:
                print(f"Preparing {endpoint.name}…", flush=True)
                results[endpoint.name] = load_endpoint(wrk, run, endpoint, bases, connections, show_sql)
            if with_evaluation:
                print("Preparing evaluation…", flush=True)
                results["evaluation"] = bench_evaluation(wrk, run, bases["project"], show_sql)
            return results
        finally:
            for server in servers:
                stop(server)


def main() -> None:
    """Parse the options, run the benchmark, print the table and write results.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint and app (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--only", action="append", choices=[e.name for e in ENDPOINTS] + ["evaluation"],
                        metavar="NAME",
                        help="run only this endpoint; repeat for several (default: all)")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of each project request")
    args = parser.parse_args()
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    endpoints = [e for e in ENDPOINTS if not args.only or e.name in args.only]
    with_evaluation = not args.only or "evaluation" in args.only
    # Turn a polite kill into an exception too, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("Terminated; the servers are stopped."))
    started = time.monotonic()
    try:
        results = bench(endpoints, args.duration, args.connections, args.show_sql, with_evaluation)
    except KeyboardInterrupt:
        sys.exit("Interrupted; the servers are stopped.")
    pairs = {name: row for name, row in results.items() if name != "evaluation"}
    if pairs:
        print_table(pairs)
    if "evaluation" in results:
        print(evaluation.summary(results["evaluation"]))
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nWritten to {RESULTS_PATH.relative_to(ROOT)}; ratio = project rps / bare rps. "
          f"The run took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
