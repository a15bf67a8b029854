"""Secretary terms: one open term, successors, ending."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError

from accounts.models import Role, SecretaryTerm
from accounts.terms import appoint_secretary, end_term, open_term, terms_of
from errors import Conflict, ValidationFailed
from extensions import db


def test_database_allows_one_open_term_per_organization(make):
    community = make.organization()
    first = make.user((Role.member, community))
    second = make.user((Role.member, community))
    make.term(community, first)
    db.session.add(SecretaryTerm(organization_id=community.id, user_id=second.id, start_date=date(2025, 1, 1)))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_appointing_a_successor_ends_the_current_term(make):
    community = make.organization()
    first = make.user((Role.member, community))
    second = make.user((Role.member, community))
    old_term = make.term(community, first, date(2023, 3, 1))
    new_term = make.term(community, second, date(2026, 1, 1))
    assert old_term.end_date == date(2025, 12, 31)
    assert open_term(community.id).id == new_term.id
    assert [t.user_id for t in terms_of(community)] == [second.id, first.id]


def test_secretary_must_be_a_member_and_start_after_the_current_term(make):
    community = make.organization()
    resident = make.user((Role.resident, community))
    with pytest.raises(ValidationFailed) as caught:
        appoint_secretary(None, community, resident, date(2025, 1, 1))
    assert "user" in caught.value.errors
    first = make.user((Role.member, community))
    second = make.user((Role.member, community))
    make.term(community, first, date(2025, 1, 1))
    with pytest.raises(ValidationFailed) as caught:
        appoint_secretary(None, community, second, date(2025, 1, 1))
    assert "start_date" in caught.value.errors


def test_term_cannot_end_before_it_starts_or_twice(make):
    community = make.organization()
    term = make.term(community, make.user((Role.member, community)), date(2025, 6, 1))
    admin = make.admin()
    with pytest.raises(ValidationFailed):
        end_term(admin, term, date(2025, 5, 31))
    end_term(admin, term, date(2025, 6, 1))
    with pytest.raises(Conflict):
        end_term(admin, term, date(2025, 7, 1))
