"""Accounts services: organizations, terms, passwords, the register."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from accounts import services
from accounts.auth import password_hasher
from accounts.models import Organization, OrgLevel, RegisterEntry, Role, SecretaryTerm, User
from errors import Conflict, PermissionDenied, ValidationFailed
from extensions import db
from tests.conftest import PASSWORD


def test_organization_levels_must_nest(make):
    district = make.organization(OrgLevel.district)
    with pytest.raises(ValidationFailed) as caught:
        services.create_organization(None, name="Lost", level=OrgLevel.community, parent_id=district.id)
    assert "parent" in caught.value.errors
    with pytest.raises(ValidationFailed):
        services.create_organization(None, name="Orphan", level=OrgLevel.township, parent_id=None)


def test_sibling_names_are_unique(make):
    township = make.organization(OrgLevel.township)
    make.organization(OrgLevel.community, parent=township, name="Spring")
    with pytest.raises(ValidationFailed) as caught:
        services.create_organization(None, name="Spring", level=OrgLevel.community, parent_id=township.id)
    assert "name" in caught.value.errors


def test_moving_a_township_moves_its_subtree(make):
    district_a = make.organization(OrgLevel.district)
    district_b = make.organization(OrgLevel.district)
    township = make.organization(OrgLevel.township, parent=district_a)
    community = make.organization(OrgLevel.community, parent=township)
    admin = make.admin()
    services.update_organization(admin, township, name=township.name, parent_id=district_b.id)
    db.session.commit()
    community = db.session.get(Organization, community.id)
    assert community.path == f"/{district_b.id}/{township.id}/{community.id}/"
    assert district_b.contains(community) and not district_a.contains(community)


def test_only_admins_change_organizations(make):
    community = make.organization()
    member = make.user((Role.member, community))
    with pytest.raises(PermissionDenied):
        services.update_organization(member, community, name="Renamed", parent_id=community.parent_id)


def test_organization_in_use_cannot_be_deleted(make):
    community = make.organization()
    make.user((Role.resident, community))
    with pytest.raises(Conflict):
        services.delete_organization(make.admin(), community)


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
    assert services.open_term(community.id).id == new_term.id
    assert [t.user_id for t in services.terms_of(community)] == [second.id, first.id]


def test_secretary_must_be_a_member_and_start_after_the_current_term(make):
    community = make.organization()
    resident = make.user((Role.resident, community))
    with pytest.raises(ValidationFailed) as caught:
        services.appoint_secretary(None, community, resident, date(2025, 1, 1))
    assert "user" in caught.value.errors
    first = make.user((Role.member, community))
    second = make.user((Role.member, community))
    make.term(community, first, date(2025, 1, 1))
    with pytest.raises(ValidationFailed) as caught:
        services.appoint_secretary(None, community, second, date(2025, 1, 1))
    assert "start_date" in caught.value.errors


def test_term_cannot_end_before_it_starts_or_twice(make):
    community = make.organization()
    term = make.term(community, make.user((Role.member, community)), date(2025, 6, 1))
    admin = make.admin()
    with pytest.raises(ValidationFailed):
        services.end_term(admin, term, date(2025, 5, 31))
    services.end_term(admin, term, date(2025, 6, 1))
    with pytest.raises(Conflict):
        services.end_term(admin, term, date(2025, 7, 1))


@pytest.mark.parametrize("password", ["short", "password123", "qwertyuiop"])
def test_weak_passwords_are_refused(password):
    assert services.check_password_policy(password)


def test_own_login_is_refused_as_password():
    assert services.check_password_policy("li.xiaoming", username="li.xiaoming")
    assert services.check_password_policy("a-sound-passphrase") == []


def test_passwords_are_hashed_with_argon2id(make):
    user = make.user()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_authenticate_rehashes_outdated_hashes(make, app):
    user = make.user(username="rehash.me")
    weaker = services.passwords.hasher(2, 19456, 1)
    stronger = services.passwords.hasher(3, 19456, 1)
    user.password_hash = weaker.hash(PASSWORD)
    db.session.commit()
    assert services.authenticate("Rehash.Me", PASSWORD, stronger) is user
    assert "t=3" in user.password_hash
    assert services.authenticate("rehash.me", "wrong password", stronger) is None
    assert services.authenticate("nobody", PASSWORD, stronger) is None


def test_disabled_accounts_cannot_log_in(make):
    user = make.user(username="gone")
    user.active = False
    db.session.commit()
    assert services.authenticate("gone", PASSWORD, password_hasher()) is None


def test_changing_the_password_needs_the_current_one_and_signs_out_elsewhere(make):
    user = make.user()
    version = user.session_version
    with pytest.raises(ValidationFailed) as caught:
        services.change_password(user, "not it", "another-long-secret", password_hasher())
    assert "current_password" in caught.value.errors
    services.change_password(user, PASSWORD, "another-long-secret", password_hasher())
    assert user.session_version == version + 1


def test_username_must_be_unique_and_well_formed(make):
    make.user(username="taken")
    for bad in ("taken", "TAKEN", "x", "has space"):
        with pytest.raises(ValidationFailed) as caught:
            services.create_user(None, username=bad, name="N", phone=None, password=PASSWORD, grants=[],
                                 ph=password_hasher())
        assert "username" in caught.value.errors


def test_resident_grant_needs_a_community(make):
    township = make.organization(OrgLevel.township)
    with pytest.raises(ValidationFailed) as caught:
        make.user((Role.resident, township))
    assert "resident" in caught.value.errors


def test_admin_cannot_remove_own_admin_role(make):
    admin = make.admin()
    with pytest.raises(ValidationFailed):
        services.update_user(admin, admin, name=admin.name, phone=None, active=True, grants=[])


def test_update_user_replaces_roles(make):
    community = make.organization()
    admin = make.admin()
    user = make.user((Role.resident, community))
    services.update_user(
        admin, user, name="New Name", phone="138-0000-9999", active=True,
        grants=[services.GrantSpec(Role.member, community.id)],
    )
    db.session.commit()
    assert user.roles == [Role.member]
    assert user.phone == "13800009999"


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_register_import_verifies_matching_residents(make):
    community = make.organization(name="Spring")
    admin = make.admin()
    resident = services.register_resident(name="王芳", phone="139 1111 2222", community_id=community.id,
                                          password=PASSWORD, ph=password_hasher())
    assert not resident.is_verified
    report = services.import_register(admin, _csv(
        "name,phone,household,community",
        "王芳,13911112222,1-101,Spring",
        "李强,13911113333,1-102,Spring",
    ))
    db.session.commit()
    assert report.added == 2 and report.unchanged == 0 and report.verified == 1
    assert db.session.get(User, resident.id).is_verified
    again = services.import_register(admin, _csv("姓名,电话,户/单元,社区", "李强,13911113333,1-102,Spring"))
    assert (again.added, again.unchanged) == (0, 1)


def test_register_import_is_all_or_nothing_with_line_numbers(make):
    make.organization(name="Spring")
    admin = make.admin()
    with pytest.raises(services.RegisterImportFailed) as caught:
        services.import_register(admin, _csv(
            "name,phone,household,community",
            "王芳,13911112222,1-101,Spring",
            ",12,1-102,Spring",
            "李强,13911113333,1-103,Atlantis",
            "王芳,13911112222,1-101,Spring",
            "too,few",
        ))
    assert [e.line for e in caught.value.row_errors] == [3, 4, 5, 6]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegisterEntry)) == 0


def test_register_import_reads_gb18030_and_checks_the_header(make):
    make.organization(name="春晖社区")
    admin = make.admin()
    report = services.import_register(admin, "姓名,电话,户/单元,社区\n张伟,13800001111,2号楼,春晖社区\n".encode("gb18030"))
    assert report.added == 1
    with pytest.raises(services.RegisterImportFailed) as caught:
        services.import_register(admin, _csv("who,what", "a,b"))
    assert caught.value.row_errors[0].line == 1


def test_members_import_only_their_own_communities(make):
    township = make.organization(OrgLevel.township)
    mine = make.organization(parent=township, name="Mine")
    make.organization(name="Theirs")
    member = make.user((Role.member, mine))
    resident = make.user((Role.resident, mine))
    with pytest.raises(PermissionDenied):
        services.import_register(resident, _csv("name,phone,household,community", "A,13800000000,1,Mine"))
    with pytest.raises(services.RegisterImportFailed):
        services.import_register(member, _csv("name,phone,household,community", "A,13800000000,1,Theirs"))
    assert services.import_register(member, _csv("name,phone,household,community", "A,13800000000,1,Mine")).added == 1


def test_evaluator_scope_is_a_subtree(make):
    district = make.organization(OrgLevel.district)
    township_a = make.organization(OrgLevel.township, parent=district)
    township_b = make.organization(OrgLevel.township, parent=district)
    inside = make.organization(parent=township_a)
    outside = make.organization(parent=township_b)
    evaluator = make.user((Role.evaluator, township_a))
    scope = services.evaluator_scope(evaluator)
    assert {o.id for o in services.organizations_in(scope)} == {township_a.id, inside.id}
    assert services.get_organization_in_scope(inside.id, scope) is inside
    with pytest.raises(PermissionDenied):
        services.get_organization_in_scope(outside.id, scope)
    with pytest.raises(PermissionDenied):
        services.evaluator_scope(make.user((Role.resident, inside)))
