"""`flask demo seed`: the district once, and never into a real database."""
from __future__ import annotations

import sqlalchemy as sa

from accounts.models import Organization, OrgLevel, RegisterEntry, Role, SecretaryTerm, User
from demo import people as demo
from extensions import db


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_demo_seed_builds_the_district_once(runner):
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "Demo data created" in result.output and demo.DEMO_PASSWORD in result.output
    counts = {model: _count(model) for model in (Organization, User, SecretaryTerm, RegisterEntry)}
    levels = db.session.scalars(sa.select(Organization.level)).all()
    assert (levels.count(OrgLevel.district), levels.count(OrgLevel.township), levels.count(OrgLevel.community)) == (1, 2, 6)
    residents = db.session.scalars(sa.select(User).where(User.grants.any(role=Role.resident))).all()
    assert len(residents) >= 60 and all(r.is_verified for r in residents)
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(SecretaryTerm).where(SecretaryTerm.end_date.is_not(None))
    ) == 1

    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0 and "nothing added" in again.output
    assert {model: _count(model) for model in counts} == counts
    for account in demo.demo_accounts():
        assert account.username in again.output


def test_demo_seed_if_empty_leaves_a_real_database_alone(runner, make):
    make.admin()
    result = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert result.exit_code == 0 and "not added" in result.output
    assert _count(Organization) == 0
