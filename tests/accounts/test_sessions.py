"""Server-side sessions: logout, password change, role removal and an administrator end them everywhere."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, update

import config
from accounts.audit import AuditEntry, AuditKind
from accounts.sessions import SignIn
from app import create_app
from db import utcnow
from extensions import db
from session_store import StoredSession
from tests.conftest import PASSWORD, Client
from tests.helpers import soup

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
COOKIE = "session"
CHROME_ON_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/126.0.0.0 Mobile Safari/537.36")


def _copy(app, client: Client) -> Client:
    """Return a second browser holding a copy of the client's session cookie, as a thief would."""
    thief = Client(app.test_client())
    thief.raw.set_cookie(COOKIE, client.raw.get_cookie(COOKIE).value)
    return thief


def _signed_in(response) -> bool:
    return response.status_code == 200


def _sign_ins(username_id: int) -> list[SignIn]:
    return list(db.session.scalars(select(SignIn).where(SignIn.user_id == username_id)))


def test_a_cookie_copied_before_logout_is_worthless_after_it(app, client, world):
    client.login("member")
    thief = _copy(app, client)
    assert _signed_in(thief.get("/cases"))
    client.logout()
    response = thief.get("/cases")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_cookie_holds_only_a_random_id_and_the_data_stays_on_the_server(app, client, world):
    client.login("member")
    value = client.raw.get_cookie(COOKIE).value
    assert len(value) == 43 and "." not in value
    stored = db.session.get(StoredSession, value)
    assert stored is not None and stored.expires_at > utcnow()


def test_signing_in_gives_a_new_session_id(app, client, world):
    client.get("/login")
    planted = client.raw.get_cookie(COOKIE).value
    client.login("member")
    assert client.raw.get_cookie(COOKIE).value != planted
    assert db.session.get(StoredSession, planted) is None


def test_sessions_end_after_the_idle_timeout(app, client, world):
    client.login("member")
    idle = app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1)
    db.session.execute(update(SignIn).values(last_seen_at=utcnow() - idle))
    db.session.commit()
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "period of inactivity" in client.get("/login").get_data(as_text=True)
    assert _sign_ins(world["member"].id) == []


def test_sessions_end_after_the_absolute_timeout_however_active(app, client, world):
    client.login("member")
    long_ago = utcnow() - app.config["SESSION_ABSOLUTE_TIMEOUT"] - timedelta(minutes=1)
    db.session.execute(update(SignIn).values(created_at=long_ago))
    db.session.commit()
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "longest allowed time" in client.get("/login").get_data(as_text=True)


def test_activity_moves_last_seen_at_most_once_a_minute(app, client, world):
    client.login("member")
    a_while_ago = utcnow() - timedelta(minutes=5)
    db.session.execute(update(SignIn).values(last_seen_at=a_while_ago))
    db.session.commit()
    assert _signed_in(client.get("/account"))
    first = _sign_ins(world["member"].id)[0].last_seen_at
    assert first > a_while_ago
    assert _signed_in(client.get("/account"))
    db.session.expire_all()
    assert _sign_ins(world["member"].id)[0].last_seen_at == first


def test_password_change_signs_out_other_sessions(app, client, world):
    other = Client(app.test_client())
    other.login("member")
    client.login("member")
    response = client.post("/account", {"current_password": PASSWORD, "new_password": "fresh-long-secret-words",
                                        "confirm": "fresh-long-secret-words"})
    assert response.status_code == 303
    assert _signed_in(client.get("/account"))
    assert other.get("/account").status_code == 302
    assert len(_sign_ins(world["member"].id)) == 1


def test_removing_a_role_signs_the_user_out_everywhere(app, client, world):
    client.login("member")
    db.session.expire_all()
    member = world["member"]
    admin = Client(app.test_client())
    admin.login("admin")
    response = admin.post(f"/admin/users/{member.id}/edit", {
        "name": member.name, "phone": member.phone or "", "active": "y",
        "is_resident": "y", "resident_org": str(world["community"].id),
    })
    assert response.status_code == 303, response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_an_administrator_signs_a_user_out_everywhere(app, client, world):
    client.login("member")
    second = Client(app.test_client())
    second.login("member")
    admin = Client(app.test_client())
    admin.login("admin")
    response = admin.post(f"/admin/users/{world['member'].id}/sign-out")
    assert response.status_code == 303
    assert "2 sessions" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get("/account").status_code == 302 and second.get("/account").status_code == 302
    assert _signed_in(admin.get("/account"))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.kind == AuditKind.sessions_ended))
    assert (entry.actor_id, entry.subject_id, entry.details) == (world["admin"].id, world["member"].id, {"sessions": 2})


def test_only_administrators_sign_others_out(app, client, world):
    client.login("member")
    assert client.post(f"/admin/users/{world['resident'].id}/sign-out").status_code == 403


def test_the_account_page_lists_sessions_and_signs_one_out(app, client, world):
    phone = Client(app.test_client())
    phone.raw.environ_base["HTTP_USER_AGENT"] = CHROME_ON_ANDROID
    phone.login("member")
    client.login("member")
    page = soup(client.get("/account"))
    rows = page.select("#sessions ~ table tbody tr")
    assert len(rows) == 2
    assert "Chrome Mobile · Android" in rows[0].get_text() + rows[1].get_text()
    assert "This browser" in page.get_text()
    forms = page.select("#sessions ~ table form")
    assert len(forms) == 1  # this browser signs out by logging out
    response = client.post(forms[0]["action"])
    assert response.status_code == 303
    assert phone.get("/account").status_code == 302
    assert _signed_in(client.get("/account"))


def test_nobody_ends_a_session_that_is_not_theirs(app, client, world):
    other = Client(app.test_client())
    other.login("resident")
    sign_in = _sign_ins(world["resident"].id)[0].id
    client.login("member")
    assert client.post(f"/account/sessions/{sign_in}/end").status_code == 404
    assert _signed_in(other.get("/account"))


def test_sign_out_everywhere_else_keeps_this_browser(app, client, world):
    others = [Client(app.test_client()) for _ in range(2)]
    for other in others:
        other.login("member")
    client.login("member")
    assert client.post("/account/sessions/end-others").status_code == 303
    assert all(other.get("/account").status_code == 302 for other in others)
    assert _signed_in(client.get("/account"))


def test_the_hourly_task_clears_run_out_sign_ins_and_sessions(app, client, world):
    from accounts.tasks import clear_expired_sessions

    client.login("member")
    db.session.execute(update(SignIn).values(last_seen_at=utcnow() - timedelta(days=1)))
    db.session.execute(update(StoredSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    clear_expired_sessions.call_local()
    assert db.session.scalar(select(SignIn.id)) is None
    assert db.session.scalar(select(StoredSession.id)) is None


@pytest.fixture
def redis_app(app):
    """The same app with its sessions in Redis, as several nodes keep them."""
    redis_config = type("RedisSessions", (config.TestConfig,), {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SESSION_REDIS_URL": REDIS_URL,
    })
    redis_app = create_app(redis_config)
    try:
        redis_app.session_interface.client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"Redis is required in CI but {REDIS_URL} is unreachable")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    yield redis_app
    redis_app.session_interface.client.flushdb()
    with redis_app.app_context():
        db.engine.dispose()  # its own pool: closed here, not by the garbage collector in a later test


def test_sessions_in_redis_end_everywhere_too(redis_app, world):
    with redis_app.app_context():
        client = Client(redis_app.test_client())
        client.login("member")
        key = "lianxin:session:" + client.raw.get_cookie(COOKIE).value
        assert redis_app.session_interface.client.exists(key)
        thief = _copy(redis_app, client)
        assert _signed_in(thief.get("/account"))
        client.logout()
        assert thief.get("/account").status_code == 302
        assert not redis_app.session_interface.client.exists(key)
