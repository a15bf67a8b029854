"""Accounts: passwords, login, usernames, roles."""
from __future__ import annotations

import pytest

from accounts import passwords
from accounts.auth import password_hasher
from accounts.models import OrgLevel, Role
from accounts.users import GrantSpec, authenticate, change_password, check_password_policy, create_user, update_user
from errors import ValidationFailed
from extensions import db
from tests.conftest import PASSWORD


@pytest.mark.parametrize("password", ["short", "password123", "qwertyuiop"])
def test_weak_passwords_are_refused(password):
    assert check_password_policy(password)


def test_own_login_is_refused_as_password():
    assert check_password_policy("li.xiaoming", username="li.xiaoming")
    assert check_password_policy("a-sound-passphrase") == []


def test_passwords_are_hashed_with_argon2id(make):
    user = make.user()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_authenticate_rehashes_outdated_hashes(make, app):
    user = make.user(username="rehash.me")
    weaker = passwords.hasher(2, 19456, 1)
    stronger = passwords.hasher(3, 19456, 1)
    user.password_hash = weaker.hash(PASSWORD)
    db.session.commit()
    assert authenticate("Rehash.Me", PASSWORD, stronger) is user
    assert "t=3" in user.password_hash
    assert authenticate("rehash.me", "wrong password", stronger) is None
    assert authenticate("nobody", PASSWORD, stronger) is None


def test_disabled_accounts_cannot_log_in(make):
    user = make.user(username="gone")
    user.active = False
    db.session.commit()
    assert authenticate("gone", PASSWORD, password_hasher()) is None


def test_changing_the_password_needs_the_current_one_and_signs_out_elsewhere(make):
    user = make.user()
    version = user.session_version
    with pytest.raises(ValidationFailed) as caught:
        change_password(user, "not it", "another-long-secret", password_hasher())
    assert "current_password" in caught.value.errors
    change_password(user, PASSWORD, "another-long-secret", password_hasher())
    assert user.session_version == version + 1


def test_username_must_be_unique_and_well_formed(make):
    make.user(username="taken")
    for bad in ("taken", "TAKEN", "x", "has space"):
        with pytest.raises(ValidationFailed) as caught:
            create_user(None, username=bad, name="N", phone=None, password=PASSWORD, grants=[],
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
        update_user(admin, admin, name=admin.name, phone=None, active=True, grants=[])


def test_update_user_replaces_roles(make):
    community = make.organization()
    admin = make.admin()
    user = make.user((Role.resident, community))
    update_user(
        admin, user, name="New Name", phone="138-0000-9999", active=True,
        grants=[GrantSpec(Role.member, community.id)],
    )
    db.session.commit()
    assert user.roles == [Role.member]
    assert user.phone == "13800009999"
