"""Configuration: production refuses weak secrets; Redis shares the login limits."""
from __future__ import annotations

import os

import pytest
from flask.sessions import SecureCookieSessionInterface
import redis

import config
from app import create_app
from extensions import db
from surveys.codes import hash_code
from tests.conftest import PASSWORD, Client

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_production_refuses_to_start_without_a_real_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(config.ProductionConfig)


def test_production_sets_secure_cookies_and_hsts(monkeypatch, tmp_path):
    secret = "x" * 40
    monkeypatch.setenv("SECRET_KEY", secret)
    production = type("Production", (config.ProductionConfig,), {
        "SECRET_KEY": secret, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}",
    })
    app = create_app(production)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def _redis_available() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


def test_login_limits_are_shared_through_redis(database_url, make):
    if not _redis_available():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"Redis is required in CI but {REDIS_URL} is unreachable")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    redis.Redis.from_url(REDIS_URL).flushdb()
    shared = type("Shared", (config.TestConfig,), {
        "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_STORAGE_URI": REDIS_URL,
    })
    make.user(username="target")
    make.user(username="bystander")
    first, second = create_app(shared), create_app(shared)
    first_client, second_client = Client(first.test_client()), Client(second.test_client())
    home = Client(first.test_client())
    try:
        home.login("target")
        home.logout()
        for _ in range(5):
            assert first_client.post("/login", {"username": "target", "password": "wrong"}).status_code == 422
        # Another worker process sees the same count.
        assert second_client.post("/login", {"username": "target", "password": PASSWORD}).status_code == 429
        assert second_client.post("/login", {"username": "bystander", "password": PASSWORD}).status_code == 303
        # ...and the device cookie the first one gave the account's own browser.
        device = home.raw.get_cookie("device", path="/login").value
        home_on_second = Client(second.test_client())
        home_on_second.raw.set_cookie("device", device, path="/login")
        assert home_on_second.post("/login", {"username": "target", "password": PASSWORD}).status_code == 303
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()
        for app in (first, second):
            with app.app_context():
                db.engine.dispose()


def _default_app(tmp_path, **settings):
    """An app as `create_app()` builds it for `make run`: no SECRET_KEY, CODE_KEY or BALLOT_KEY given."""
    default = type("Default", (config.Config,), {
        "SECRET_KEY": None, "CODE_KEY": None, "BALLOT_KEY": None, "DEVICE_KEY": None, "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'default.sqlite3'}", **settings,
    })
    return create_app(default)


def test_no_constant_key_signs_sessions_so_a_cookie_forged_with_the_old_one_opens_nothing(tmp_path, make):
    app = _default_app(tmp_path)
    assert len(app.config["SECRET_KEY"]) >= 32 and app.config["SECRET_KEY"] != "dev-only-insecure-key"
    with app.app_context():
        db.create_all()
        admin = make.admin()
        db.session.commit()
        user_id = admin.get_id()
        forger = type("Forger", (), {"secret_key": "dev-only-insecure-key", "config": app.config})()
        # A cookie session as Flask signs one: the sessions now live on the server, and neither opens anything.
        cookies = SecureCookieSessionInterface()
        forged = cookies.get_signing_serializer(forger).dumps({"_user_id": user_id, "_fresh": True})
        client = app.test_client()
        client.set_cookie(app.config["SESSION_COOKIE_NAME"], forged)
        response = client.get("/admin/users")
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
        db.engine.dispose()


def test_a_short_secret_key_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        _default_app(tmp_path, SECRET_KEY="short-and-guessable")


def test_rotating_the_session_key_keeps_every_issued_code_valid(tmp_path):
    first = _default_app(tmp_path, SECRET_KEY="a" * 40)
    rotated = _default_app(tmp_path, SECRET_KEY="b" * 40)
    assert first.config["CODE_HASH_KEY"] == rotated.config["CODE_HASH_KEY"]
    assert first.config["CODE_HASH_KEY"] not in (first.config["SECRET_KEY"].encode(), rotated.config["SECRET_KEY"].encode())
    assert hash_code("ABCD2345", first.config["CODE_HASH_KEY"]) == hash_code("ABCD2345", rotated.config["CODE_HASH_KEY"])
    assert first.config["BALLOT_BOX_KEY"] == rotated.config["BALLOT_BOX_KEY"] != first.config["CODE_HASH_KEY"]
    # Browsers the accounts signed in from stay trusted.
    assert first.config["DEVICE_COOKIE_KEY"] == rotated.config["DEVICE_COOKIE_KEY"]
    assert first.config["DEVICE_COOKIE_KEY"] not in (first.config["CODE_HASH_KEY"], first.config["BALLOT_BOX_KEY"])
