"""No invitation code in any log: the vote flow through the development server and through gunicorn."""
from __future__ import annotations

import http.cookiejar
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from werkzeug.serving import make_server

from config import BASE_DIR
from db import utcnow
from extensions import db
from surveys.codes import format_code
from tests.conftest import CSRF_RE
from tests.surveys.conftest import DAY, HOUR

GUNICORN = Path(sys.executable).parent / "gunicorn"
STARTUP_TIMEOUT_S = 30
#: gunicorn's own access-log format, with the request line and the Referer.
GUNICORN_DEFAULT_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None


class Browser:
    """A client that keeps cookies, sends the Referer a browser would, and follows no redirect."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)

    def request(self, path: str, data: dict | None = None, referer: str | None = None) -> tuple[int, str, str]:
        """Return the status, the body and the path of the Location header ('' when none)."""
        headers = {"Referer": self.base + referer} if referer else {}
        request = urllib.request.Request(self.base + path, data=urlencode(data).encode() if data is not None else None,
                                         headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                status, body, location = response.status, response.read(), response.headers.get("Location", "")
        except urllib.error.HTTPError as error:
            with error:
                status, body, location = error.code, error.read(), error.headers.get("Location", "")
        return status, body.decode(), urlsplit(location).path


def seed(sv, world) -> tuple[int, list[str], dict[str, str]]:
    """Open a survey of Spring with three codes; return its id, the codes and a full set of answers."""
    now = utcnow()
    survey = sv.opened(now=now, opens_at=now - HOUR, closes_at=now + 7 * DAY)
    codes = sv.codes(survey, world["community"], 3, now=now)
    seeded = survey.id, codes, sv.valid_answers(survey)
    db.session.rollback()  # leave the database to the server
    return seeded


def vote_flow(base: str, survey_id: int, codes: list[str], answers: dict[str, str]) -> None:
    """Vote twice by code, the ways a voter can: an old slip's ?code= link, a used slip again, a typed code."""
    first, second, _unused = codes
    voter = Browser(base)
    # A slip printed before the fragment: its link still works, and the code leaves the address at once.
    status, _, ballot = voter.request(f"/vote?code={format_code(first)}")
    assert (status, ballot) == (303, f"/vote/{survey_id}")
    status, page, _ = voter.request(ballot)
    assert status == 200 and f'value="{first}"' in page
    token = CSRF_RE.search(page).group(1)
    status, _, thanks = voter.request(ballot, {**answers, "code": first, "csrf_token": token}, referer=ballot)
    assert (status, thanks) == (303, "/vote/thanks")
    # The used slip again, in lower case: refused at its own address, where the next code is typed.
    used = f"/vote?code={first.lower()}"
    assert voter.request(used)[0] == 409
    status, _, ballot = voter.request("/vote", {"code": second.lower(), "csrf_token": token}, referer=used)
    assert (status, ballot) == (303, f"/vote/{survey_id}")
    assert voter.request(ballot, referer=used)[0] == 200
    status, _, thanks = voter.request(ballot, {**answers, "code": second, "csrf_token": token}, referer=ballot)
    assert (status, thanks) == (303, "/vote/thanks")


def spellings(codes: list[str]) -> set[str]:
    """Every way a code can be written: with or without its dash, in upper or lower case."""
    return {form(c) for code in codes for c in (code, format_code(code)) for form in (str, str.lower)}


def assert_no_code(text: str, codes: list[str], where: str) -> None:
    found = sorted(spelling for spelling in spellings(codes) if spelling in text)
    assert found == [], f"{where} holds {found}:\n{text}"


@contextmanager
def development_server(app):
    """Serve the app with Werkzeug's development server, as `flask run` does, on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, process: subprocess.Popen, output: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(base + "/vote/thanks", timeout=2) as response:
                response.read()
                return
        except OSError:  # refused or reset while the worker boots
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not start at {base}:\n{output.read_text(errors='replace')[-3000:]}")


@contextmanager
def gunicorn(database_url: str, folder: Path, *options: str):
    """Serve the test app with gunicorn, its settings file and access logging on; yield its base URL and logs."""
    port = free_port()
    logs = {name: folder / f"{name}.log" for name in ("access", "error", "output")}
    env = {**os.environ, "LIANXIN_TEST_DATABASE_URL": database_url}
    command = [
        str(GUNICORN), "-c", "gunicorn.conf.py", "--workers", "1", "--bind", f"127.0.0.1:{port}",
        "--access-logfile", str(logs["access"]), "--error-logfile", str(logs["error"]), "--log-level", "debug",
        *options, "tests.served:create_app()",
    ]
    with logs["output"].open("wb") as output:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, logs["output"])
        yield base, logs
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_development_server_logs_no_code(app, sv, world, caplog, capfd):
    survey_id, codes, answers = seed(sv, world)
    caplog.set_level(logging.DEBUG)

    with development_server(app) as base:
        vote_flow(base, survey_id, codes, answers)

    requests = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    # The request lines are there (coloured on a terminal), with the old slip's code redacted.
    assert any("GET /vote?code=[redacted] HTTP/1.1" in line for line in requests), requests
    assert any(f"POST /vote/{survey_id} HTTP/1.1" in line for line in requests), requests
    assert_no_code("\n".join(record.getMessage() for record in caplog.records), codes, "a log record")
    assert_no_code(caplog.text, codes, "the captured log")
    output = capfd.readouterr()
    assert_no_code(output.out + output.err, codes, "the server's output")


def test_gunicorn_logs_no_code(app, sv, world, tmp_path):
    survey_id, codes, answers = seed(sv, world)

    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path) as (base, logs):
        vote_flow(base, survey_id, codes, answers)

    access = logs["access"].read_text()
    # The documented format: the path without its query, no Referer.
    assert '"GET /vote HTTP/1.1" 303' in access and f'"POST /vote/{survey_id} HTTP/1.1" 303' in access
    assert "?" not in access and "code=" not in access
    for name, path in logs.items():
        assert_no_code(path.read_text(errors="replace"), codes, f"gunicorn's {name} log")


def test_gunicorn_with_its_default_access_log_format_still_logs_no_code(app, sv, world, tmp_path):
    """An operator who puts back the request line and the Referer gets the app's redaction."""
    survey_id, codes, answers = seed(sv, world)

    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, "--access-logformat", GUNICORN_DEFAULT_FORMAT
                  ) as (base, logs):
        vote_flow(base, survey_id, codes, answers)

    access = logs["access"].read_text()
    assert '"GET /vote?code=[redacted] HTTP/1.1" 303' in access
    assert '"http://127.0.0.1:' in access and '/vote?code=[redacted]"' in access
    for name, path in logs.items():
        assert_no_code(path.read_text(errors="replace"), codes, f"gunicorn's {name} log")
