"""Serving and loading the two apps: gunicorn, wrk, logging in, checking answers, counting statements."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import event

from bench.data import HOST, USER_AGENT, Request
from demo.people import DEMO_PASSWORD
from extensions import db

ROOT = Path(__file__).resolve().parent.parent
REPORT_LUA = ROOT / "bench" / "report.lua"
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
