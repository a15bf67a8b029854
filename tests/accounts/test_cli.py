"""Command-line tasks: administrator creation."""
from __future__ import annotations

import sqlalchemy as sa

from accounts.models import User
from extensions import db


def test_create_admin(runner):
    result = runner.invoke(args=["users", "create-admin", "chief", "--password", "a-long-secret"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(User).where(User.username == "chief")).is_admin
    weak = runner.invoke(args=["users", "create-admin", "weak", "--password", "password"])
    assert weak.exit_code != 0 and "common" in weak.output
