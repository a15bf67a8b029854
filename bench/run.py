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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from accounts.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_PATH = BENCH_DIR / "results.json"
REPORT_LUA = BENCH_DIR / "report.lua"
HOST = "127.0.0.1"
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
    """One request wrk repeats: method, path, form body, and text a correct answer contains."""

    method: str
    path: str
    body: str = ""
    expect: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A project request and the bare request doing the least work for the same job.

    `project` None measures the bare request alone, as a baseline for later write endpoints;
    `login_as` names the demo user whose signed-in session the project request carries.
    """

    name: str
    project: Target | None
    bare: Target
    login_as: str | None = None


ENDPOINTS = [
    Endpoint("login_page", Target("GET", "/login", expect='name="csrf_token"'), Target("GET", "/static-page")),
    Endpoint(
        "home_page",
        Target("GET", "/", expect='id="organization-table"'),
        Target("GET", "/rows", expect="<table>"),
        login_as="eval.district",
    ),
    Endpoint("insert", None, Target("POST", "/insert", body="note=bench")),
]


@dataclass(frozen=True)
class Side:
    """Where and how one app is loaded for an endpoint."""

    base: str
    target: Target
    cookie: str = ""


@dataclass(frozen=True)
class Slice:
    """What wrk reports for one short run."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int


@dataclass(frozen=True)
class Figures:
    """One side's figures over all its slices."""

    rps: float
    p50_ms: float
    p95_ms: float
    errors: int


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


def log_in(base: str, username: str) -> str:
    """Log in as a demo user and return the Cookie header of the signed-in session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/login", timeout=10) as response:
        match = CSRF_RE.search(response.read().decode())
    if match is None:
        sys.exit("The login page has no CSRF token.")
    form = urlencode({"username": username, "password": DEMO_PASSWORD, "csrf_token": match.group(1)}).encode()
    # Success answers 303 to the home page, which the opener follows.
    with opener.open(base + "/login", data=form, timeout=30) as response:
        if response.geturl() != base + "/":
            sys.exit(f"Logging in as {username} failed (ended at {response.geturl()}).")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def check(side: Side) -> None:
    """Send the request once and stop unless it succeeds without a redirect with the expected text."""
    target = side.target
    headers = {"Content-Type": FORM_TYPE, "Cookie": side.cookie} if side.cookie else {"Content-Type": FORM_TYPE}
    data = target.body.encode() if target.body else None
    request = urllib.request.Request(side.base + target.path, data=data, headers=headers, method=target.method)
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as response:
            text = response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        sys.exit(f"{target.method} {side.base}{target.path} answered {error.code}, not 2xx.")
    if target.expect not in text:
        sys.exit(f"{target.method} {side.base}{target.path} does not contain {target.expect!r}.")


def load(wrk: str, side: Side, duration_s: int, connections: int) -> Slice:
    """Load one side with wrk for a while and return what it reports."""
    # One wrk thread: enough for a Flask app, and it leaves the CPUs to the servers.
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration_s}s", "-s", str(REPORT_LUA)]
    if side.cookie:
        command += ["-H", f"Cookie: {side.cookie}"]
    command.append(side.base + side.target.path)
    if side.target.method != "GET":
        command += ["--", side.target.method, side.target.body, FORM_TYPE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60)
    if done.returncode != 0:
        sys.exit(f"wrk failed on {side.base}{side.target.path}:\n{done.stderr}")
    report = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    return Slice(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        p50_ms=report["p50_us"] / 1000,
        p95_ms=report["p95_us"] / 1000,
        errors=sum(report["errors"].values()),
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
    )


def measure(wrk: str, sides: list[Side], duration_s: int, connections: int) -> list[Figures]:
    """Check and warm up each side, then load them in turns and return their figures."""
    for side in sides:
        check(side)
        load(wrk, side, WARMUP_S, connections)
    slices: list[list[Slice]] = [[] for _ in sides]
    # Short turns, so load from anything else on the machine falls on both sides alike.
    for length in slice_lengths(duration_s):
        for side, runs in zip(sides, slices):
            runs.append(load(wrk, side, length, connections))
    figures = [combine(runs) for runs in slices]
    for side, side_figures in zip(sides, figures):
        if side_figures.errors:
            print(f"warning: {side_figures.errors} socket errors, timeouts or 4xx/5xx on {side.target.path}",
                  file=sys.stderr)
    return figures


def result(project: Figures | None, bare: Figures) -> dict[str, float | int | None]:
    """Return one endpoint's entry of results.json."""
    if project is None:
        return {**_rounded(bare), "ratio": None, "errors": bare.errors}
    return {
        **_rounded(project),
        "ratio": round(project.rps / bare.rps, 4),
        **{f"bare_{key}": value for key, value in _rounded(bare).items()},
        "errors": project.errors + bare.errors,
    }


def _rounded(figures: Figures) -> dict[str, float]:
    """Round the figures to what the measurement can tell apart."""
    return {"rps": round(figures.rps, 1), "p50_ms": round(figures.p50_ms, 2), "p95_ms": round(figures.p95_ms, 2)}


def print_table(results: dict[str, dict]) -> None:
    """Print the figures as a table."""
    print(f"\n{'endpoint':<14}{'rps':>10}{'p50 ms':>10}{'p95 ms':>10}{'bare rps':>10}{'ratio':>8}")
    for name, row in results.items():
        bare_rps = f"{row['bare_rps']:.1f}" if "bare_rps" in row else "—"
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "—"
        print(f"{name:<14}{row['rps']:>10.1f}{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}{bare_rps:>10}{ratio:>8}")


def bench(endpoints: list[Endpoint], duration_s: int, connections: int) -> dict[str, dict]:
    """Set up a fresh demo database, serve both apps, load each endpoint pair and return the results."""
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="lianxin-bench-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "SECRET_KEY": secrets.token_hex(20),
            "RATELIMIT_STORAGE_URI": "memory://",
            "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback: a Secure cookie would never come back
            # The login limits would otherwise turn the bench's logins into 429s.
            "LOGIN_LIMIT_PER_IP": "1000000 per minute",
            "LOGIN_LIMIT_PER_ACCOUNT": "1000000 per minute",
        }
        print("Preparing the demo database…", flush=True)
        run_flask(env, "db", "upgrade")
        run_flask(env, "demo", "seed")
        project_base, bare_base = f"http://{HOST}:{free_port()}", f"http://{HOST}:{free_port()}"
        servers: list[subprocess.Popen] = []
        try:
            for spec, base, ready_path in (
                ("app:create_app()", project_base, "/login"),
                ("bench.bare_app:create_app()", bare_base, "/static-page"),
            ):
                log_path = Path(tmp) / f"{spec.partition(':')[0]}.log"
                servers.append(start_gunicorn(spec, int(base.rsplit(":", 1)[1]), env, log_path))
                wait_until_up(base, ready_path, servers[-1], log_path)
            results = {}
            for endpoint in endpoints:
                print(f"Loading {endpoint.name} for {duration_s}s per app…", flush=True)
                sides = [Side(bare_base, endpoint.bare)]
                if endpoint.project is not None:
                    cookie = log_in(project_base, endpoint.login_as) if endpoint.login_as else ""
                    sides.insert(0, Side(project_base, endpoint.project, cookie))
                figures = measure(wrk, sides, duration_s, connections)
                results[endpoint.name] = result(figures[0] if endpoint.project else None, figures[-1])
            return results
        finally:
            for server in servers:
                stop(server)


def main() -> None:
    """Parse the options, run the benchmark, print the table and write results.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint and app (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--only", action="append", choices=[e.name for e in ENDPOINTS], metavar="NAME",
                        help="run only this endpoint; repeat for several (default: all)")
    args = parser.parse_args()
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    endpoints = [e for e in ENDPOINTS if not args.only or e.name in args.only]
    # Turn a polite kill into an exception too, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("Terminated; the servers are stopped."))
    try:
        results = bench(endpoints, args.duration, args.connections)
    except KeyboardInterrupt:
        sys.exit("Interrupted; the servers are stopped.")
    print_table(results)
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nWritten to {RESULTS_PATH.relative_to(ROOT)}; ratio = project rps / bare rps.")


if __name__ == "__main__":
    main()
