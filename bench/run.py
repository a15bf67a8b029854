"""Load the project and a bare Flask app side by side with wrk and report their ratios."""
from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import config
from app import create_app
from bench import evaluation, tally
from bench.data import HOST
from bench.endpoints import ENDPOINTS, INSERT, Endpoint, Run
from bench.harness import (
    ROOT,
    Feed,
    Side,
    Target,
    check,
    count_statements,
    ensure_wrk,
    free_port,
    log_in,
    measure,
    run_flask,
    start_gunicorn,
    stop,
    wait_until_up,
)
from bench.report import RESULTS_PATH, print_table, result, rounded, write_results
from db import utcnow
from extensions import db

#: The rate limits, raised so that they never answer 429 to the bench.
NO_LIMIT = "1000000 per minute"
#: Every limit the bench lifts: sign-in failures (each counter), registrations, anonymous filings, ballots.
LIFTED_LIMITS = ("LOGIN_LIMIT_PER_IP", "LOGIN_LIMIT_PER_ACCOUNT", "LOGIN_LIMIT_PER_ACCOUNT_AND_IP",
                 "LOGIN_LIMIT_PER_DEVICE", "REGISTER_LIMIT_PER_IP", "FILING_LIMIT_PER_IP", "BALLOT_LIMIT_PER_IP")


def bench_config(env: dict[str, str]) -> type[config.Config]:
    """Return the servers' configuration for the project app in this process, whatever was imported before."""
    names = ("RATELIMIT_STORAGE_URI", *LIFTED_LIMITS, "BALLOT_KEY")
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
            row |= {**rounded(page), "sql_statements": len(statements), "errors": page.errors}
        figures[str(size)] = row
    first, last = (figures[str(size)] for size in (evaluation.SIZES[0], evaluation.SIZES[-1]))
    ratio_of = "page" if "p50_ms" in last else "service"
    key = "p50_ms" if ratio_of == "page" else "service_p50_ms"
    return figures | {"ratio": round(last[key] / first[key], 3), "ratio_of": ratio_of}


def bench_tally(run: Run, ballots: int, command: str) -> dict:
    """Seal `ballots` envelopes in the 1,000 bench communities, time their tally and return the figures."""
    sealed = tally.build(run.app, utcnow(), ballots)
    print(f"  {sealed.envelopes:,} envelopes sealed and written in {sealed.setup_s:.0f} s "
          f"(sealing {sealed.seal_s:.0f} s); counting them…", flush=True)
    return tally.count(run.app, sealed, command)


def bench(endpoints: list[Endpoint], duration_s: int, connections: int, show_sql: bool = False,
          with_evaluation: bool = False, tally_ballots: int = 0, command: str = "") -> dict[str, dict]:
    """Set up a fresh demo database, serve both apps, load each endpoint pair and return the results.

    The tally runs last, with `tally_ballots` envelopes (none: left out); it needs neither server nor wrk.
    """
    serve = bool(endpoints) or with_evaluation
    wrk = ensure_wrk() if serve else ""
    with tempfile.TemporaryDirectory(prefix="lianxin-bench-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "SECRET_KEY": secrets.token_hex(20),
            # The run's own ballot-box key, for the servers and this process alike: never the instance folder's.
            "BALLOT_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "RATELIMIT_STORAGE_URI": "memory://",
            "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback: a Secure cookie would never come back
            # The limits would otherwise turn the bench's logins and ballots into 429s.
            **{name: NO_LIMIT for name in LIFTED_LIMITS},
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
            ) if serve else ():
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
            if tally_ballots:
                print("Preparing tally…", flush=True)
                results["tally"] = bench_tally(run, tally_ballots, command)
            return results
        finally:
            for server in servers:
                stop(server)


def main() -> None:
    """Parse the options, run the benchmark, print the table and write results.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint and app (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--only", action="append", choices=[e.name for e in ENDPOINTS] + ["evaluation", "tally"],
                        metavar="NAME",
                        help="run only this endpoint or section (evaluation, tally); repeat for several (default: all)")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of each project request")
    parser.add_argument("--tally-ballots", type=int, default=tally.BALLOTS, metavar="N",
                        help=f"sealed ballots the tally counts (default {tally.BALLOTS:,}; at least "
                             f"{evaluation.COMMUNITIES:,}, one per community)")
    args = parser.parse_args()
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    if args.tally_ballots < evaluation.COMMUNITIES:
        parser.error(f"--tally-ballots must be at least {evaluation.COMMUNITIES}")
    endpoints = [e for e in ENDPOINTS if not args.only or e.name in args.only]
    with_evaluation = not args.only or "evaluation" in args.only
    tally_ballots = args.tally_ballots if not args.only or "tally" in args.only else 0
    command = " ".join([".venv/bin/python -m bench.run", *sys.argv[1:]])
    # Turn a polite kill into an exception too, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("Terminated; the servers are stopped."))
    started = time.monotonic()
    try:
        results = bench(endpoints, args.duration, args.connections, args.show_sql, with_evaluation, tally_ballots,
                        command)
    except KeyboardInterrupt:
        sys.exit("Interrupted; the servers are stopped.")
    pairs = {name: row for name, row in results.items() if name not in ("evaluation", "tally")}
    if pairs:
        print_table(pairs)
    if "evaluation" in results:
        print(evaluation.summary(results["evaluation"]))
    if "tally" in results:
        print(tally.summary(results["tally"]))
    write_results(results)
    print(f"\nWritten to {RESULTS_PATH.relative_to(ROOT)}; ratio = project rps / bare rps. "
          f"The run took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
