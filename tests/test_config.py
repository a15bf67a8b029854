"""Configuration: production refuses weak secrets; Redis shares the login limits."""
from __future__ import annotations

import os

import pytest
import redis

import config
from app import create_app
from extensions import db
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
    try:
        for _ in range(5):
            assert first_client.post("/login", {"username": "target", "password": "wrong"}).status_code == 422
        # Another worker process sees the same count.
        assert second_client.post("/login", {"username": "target", "password": PASSWORD}).status_code == 429
        assert second_client.post("/login", {"username": "bystander", "password": PASSWORD}).status_code == 303
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()
        for app in (first, second):
            with app.app_context():
                db.engine.dispose()
