"""Logs: a `code=` value is redacted from every record the app, the development server and gunicorn write."""
from __future__ import annotations

import logging
import re
import runpy

import pytest

import config
import logs
from app import create_app

CODE = "K7QP-M2XA"
#: gunicorn's atoms that carry the query string: the request line, the query, the Referer, any raw header.
QUERY_ATOMS = re.compile(r"%\((r|q|f|\{[^}]*\}i)\)s")


@pytest.mark.parametrize(("line", "expected"), [
    (f'"GET /vote?code={CODE} HTTP/1.1" 303 -', '"GET /vote?code=[redacted] HTTP/1.1" 303 -'),
    (f"GET /vote?lang=en&code={CODE.lower()}&x=1", "GET /vote?lang=en&code=[redacted]&x=1"),
    (f"GET /track?CODE={CODE.replace('-', '')}", "GET /track?CODE=[redacted]"),
    (f"Referer: http://host/vote?code={CODE}#top", "Referer: http://host/vote?code=[redacted]#top"),
    (f"POST /language next=%2Fvote%3Fcode%3D{CODE}%26a%3D1", "POST /language next=%2Fvote%3Fcode%3D[redacted]%26a%3D1"),
    ("GET /vote HTTP/1.1", "GET /vote HTTP/1.1"),
    ("barcode=1 zipcode=2", "barcode=1 zipcode=2"),
])
def test_redact_replaces_the_value_of_every_code_parameter(line, expected):
    assert logs.redact(line) == expected


def test_the_filter_rewrites_a_record_with_a_code_and_keeps_the_others_as_they_are():
    with_code = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s "%s" %s',
                                  ("127.0.0.1", f"GET /vote?code={CODE} HTTP/1.1", 303), None)
    without = logging.LogRecord("app", logging.INFO, __file__, 1, "Exception on %s", ("/vote",), None)
    assert logs.RedactCodes().filter(with_code) and logs.RedactCodes().filter(without)
    assert with_code.getMessage() == '127.0.0.1 "GET /vote?code=[redacted] HTTP/1.1" 303'
    assert (without.msg, without.args) == ("Exception on %s", ("/vote",))


def test_the_filter_redacts_a_traceback_too():
    try:
        raise ValueError(f"bad link /vote?code={CODE}")
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "Failed", (), __import__("sys").exc_info())
    logs.RedactCodes().filter(record)
    text = logging.Formatter().format(record)
    assert "ValueError: bad link /vote?code=[redacted]" in text and CODE not in text


def test_create_app_installs_the_filter_on_the_loggers_that_write_requests(tmp_path):
    root_handler = logging.StreamHandler()
    logging.getLogger().addHandler(root_handler)
    try:
        app = create_app(type("LogTestConfig", (config.TestConfig,), {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'logs.sqlite3'}"}))
        for name in ("werkzeug", "gunicorn.access", "gunicorn.error", app.logger.name):
            assert any(isinstance(f, logs.RedactCodes) for f in logging.getLogger(name).filters), name
        assert any(isinstance(f, logs.RedactCodes) for f in root_handler.filters)
        # Creating another app adds no second filter.
        create_app(type("LogTestConfig", (config.TestConfig,), {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'logs.sqlite3'}"}))
        assert sum(isinstance(f, logs.RedactCodes) for f in logging.getLogger("werkzeug").filters) == 1
    finally:
        logging.getLogger().removeHandler(root_handler)


def test_the_gunicorn_access_log_format_leaves_query_strings_and_referers_out():
    settings = runpy.run_path(str(config.BASE_DIR / "gunicorn.conf.py"))
    access_format = settings["access_log_format"]
    assert "%(U)s" in access_format and "%(m)s" in access_format
    assert QUERY_ATOMS.findall(access_format) == []


def test_a_malformed_record_is_left_to_the_handler():
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "%s and %s", ("one",), None)
    assert logs.RedactCodes().filter(record)
