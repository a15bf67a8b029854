"""The migrations build the models' schema from nothing, on both engines."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

import config
from app import create_app
from extensions import db
from tests.conftest import TEST_DATABASE_URL, _postgres_available


def _fresh_postgres_url() -> str:
    if not _postgres_available():
        pytest.skip("PostgreSQL unreachable") if __import__("os").environ.get("REQUIRE_POSTGRES") != "1" else pytest.fail(
            "PostgreSQL is required (REQUIRE_POSTGRES=1)"
        )
    url = sa.make_url(TEST_DATABASE_URL)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("DROP DATABASE IF EXISTS lianxin_migrations WITH (FORCE)"))
        connection.execute(sa.text("CREATE DATABASE lianxin_migrations"))
    engine.dispose()
    return url.set(database="lianxin_migrations").render_as_string(hide_password=False)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upgrade_then_check_then_downgrade(engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}" if engine == "sqlite" else _fresh_postgres_url()
    app = create_app(type("MigrationConfig", (config.TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        upgrade()
        check()  # raises if the models and the migrated schema differ
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        db.engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_migrated_audit_log_refuses_updates_and_deletes(engine, tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}" if engine == "sqlite" else _fresh_postgres_url()
    app = create_app(type("MigrationConfig", (config.TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO audit_log (at, kind, details) VALUES (CURRENT_TIMESTAMP, 'sign_in', '{}')"))
        for statement in ("UPDATE audit_log SET kind = 'sign_out'", "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as connection:
                connection.execute(sa.text(statement))
        assert db.session.scalar(sa.text("SELECT kind FROM audit_log")) == "sign_in"
        db.session.remove()
        db.engine.dispose()
