"""The app a test serves with gunicorn: TestConfig on the database it names in LIANXIN_TEST_DATABASE_URL."""
from __future__ import annotations

import os

import config
from app import create_app as create


def create_app():
    """Create the test app on the database the test gave, for `gunicorn 'tests.served:create_app()'`."""
    settings = {"SQLALCHEMY_DATABASE_URI": os.environ["LIANXIN_TEST_DATABASE_URL"]}
    return create(type("ServedTestConfig", (config.TestConfig,), settings))
