"""Accounts: passwords, login, usernames, roles."""
from __future__ import annotations

import pytest

from accounts import passwords
from accounts.auth import password_hasher
from accounts.models import OrgLevel, Role
from accounts.users import (
    GrantSpec, authenticate, change_password, check_password_policy, create_user, register_resident, reset_password,
    update_user,
)
from demo import people
from demo.people import DEMO_PASSWORD
from errors import ValidationFailed
from extensions import db
from tests.conftest import PASSWORD


@pytest.mark.parametrize("password", ["short", "password123", "qwertyuiop"])
def test_weak_passwords_are_refused(password):
    assert check_password_policy(password)


def test_own_login_is_refused_as_password():
    assert check_password_policy("li.xiaoming", username="li.xiaoming")
    assert check_password_policy("a-sound-passphrase") == []


def messages(password: str, **inputs) -> list[str]:
    return [str(problem) for problem in check_password_policy(password, **inputs)]


@pytest.mark.parametrize("password", ["aaaaaaaa", "asdfghjkl;", "20262026", "beijing2026", "lianxin2026"])
def test_easily_guessed_passwords_are_refused(password):
    [problem] = messages(password)
    assert "easy to guess" in problem


@pytest.mark.parametrize("password, inputs", [
    ("zhao.mingyuan7", {"username": "zhao.mingyuan"}),
    ("Xiaoming Wang!", {"name": "Xiaoming Wang"}),
    ("13912345678ok", {"phone": "13912345678"}),
])
def test_own_login_name_and_phone_weaken_a_password(password, inputs):
    assert messages(password) == []
    [problem] = messages(password, **inputs)
    assert "name, login or phone number" in problem


@pytest.mark.parametrize("password", [DEMO_PASSWORD, DEMO_PASSWORD.upper()])
def test_the_published_demo_password_is_refused(password):
    [problem] = messages(password)
    assert "demo" in problem


def test_only_the_demo_seed_gives_accounts_the_demo_password(app):
    people.seed(password_hasher())
    db.session.commit()
    assert authenticate("member.chunhui", DEMO_PASSWORD, password_hasher()).username == "member.chunhui"
    with pytest.raises(ValidationFailed) as caught:
        create_user(None, username="copycat", name="N", phone=None, password=DEMO_PASSWORD, grants=[],
                    ph=password_hasher())
    assert "demo" in str(caught.value.errors["password"][0])


def test_every_way_of_setting_a_password_applies_the_policy(make):
    admin = make.admin()
    community = make.organization()
    user = make.user(username="li.chunhua", phone="13912345678")
    before = user.password_hash
    ph = password_hasher()
    # (field, setter, a password built from that account's own login or phone)
    attempts = [
        ("password", lambda bad: create_user(None, username="zhao.mingyuan", name="N", phone=None, password=bad,
                                             grants=[], ph=ph), "zhao.mingyuan7"),
        ("password", lambda bad: create_user(admin, username="zhao.mingyuan", name="N", phone=None, password=bad,
                                             grants=[], ph=ph), "zhao.mingyuan7"),
        ("password", lambda bad: register_resident(name="王芳", phone="139 1234 5678", community_id=community.id,
                                                   password=bad, ph=ph), "13912345678ok"),
        ("password", lambda bad: reset_password(admin, user, bad, ph), "13912345678ok"),
        ("new_password", lambda bad: change_password(user, PASSWORD, bad, ph), "13912345678ok"),
    ]
    for field, setter, personal in attempts:
        for bad in ("aaaaaaaa", DEMO_PASSWORD, personal):
            with pytest.raises(ValidationFailed) as caught:
                setter(bad)
            assert list(caught.value.errors) == [field], (field, bad)
    assert user.password_hash == before


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
