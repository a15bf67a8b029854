"""Accounts pages: login, throttling, language, admin screens, import, security."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accounts.models import Role, SecretaryTerm, User
from demo.people import DEMO_PASSWORD
from extensions import db
from tests.conftest import PASSWORD
from tests.helpers import build_urls, ids_for, soup

ROOT = Path(__file__).resolve().parents[2]


def test_login_and_logout(client, world):
    response = client.post("/login", {"username": "member", "password": PASSWORD, "next": "/account"})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert "Log out" in client.get("/").get_data(as_text=True)
    client._token = None
    assert client.logout().status_code == 303
    assert "Log in" in client.get("/").get_data(as_text=True)


def test_wrong_password_is_a_form_error(client, world):
    response = client.post("/login", {"username": "member", "password": "nope"})
    assert response.status_code == 422
    assert "wrong" in soup(response).select_one(".form-errors").get_text()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_login_does_not_redirect_off_site(client, world, target):
    response = client.post("/login", {"username": "member", "password": PASSWORD, "next": target})
    assert response.headers["Location"] == "/"


def test_login_throttled_per_account_while_others_still_log_in(client, world):
    statuses = [client.post("/login", {"username": "member", "password": "wrong"}).status_code for _ in range(6)]
    assert statuses[:5] == [422] * 5 and statuses[5] == 429
    blocked = client.post("/login", {"username": "member", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    assert client.post("/login", {"username": "resident", "password": PASSWORD}).status_code == 303


def test_login_throttled_per_ip_but_not_for_browsers_that_signed_in_before(app, client, world):
    app.config["LOGIN_LIMIT_PER_IP"] = "3 per hour"
    trusted = type(client)(app.test_client())  # at the same address
    trusted.login("resident")
    trusted.logout()
    for n in range(3):
        assert client.post("/login", {"username": f"nobody{n}", "password": "wrong"}).status_code == 422
    refused = client.post("/login", {"username": "resident", "password": PASSWORD})
    assert refused.status_code == 429 and 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert trusted.post("/login", {"username": "resident", "password": PASSWORD}).status_code == 303


def test_change_password_refuses_common_password_with_422(client, world):
    client.login("member")
    response = client.post("/account", {"current_password": PASSWORD, "new_password": "password1",
                                        "confirm": "password1"})
    assert response.status_code == 422
    assert soup(response).select_one("#new_password-error")


def test_resident_registration_is_verified_against_the_register(client, make, world):
    admin_client = type(client)(client.raw.application.test_client())
    admin_client.login("admin")
    csv_data = "name,phone,household,community\n张伟,13800001111,2-301,Spring\n".encode()
    response = admin_client.post("/register-entries/import", {"file": (io.BytesIO(csv_data), "register.csv")},
                                 content_type="multipart/form-data")
    assert response.status_code == 303
    response = client.post("/register", {"name": "张伟", "phone": "138 0000 1111", "community": world["community"].id,
                                         "password": "a-long-secret", "confirm": "a-long-secret"})
    assert response.status_code == 303
    assert "verified" in client.get("/").get_data(as_text=True)
    assert db.session.scalar(db.select(User).where(User.username == "13800001111")).is_verified


@pytest.mark.parametrize("password, says", [
    ("aaaaaaaa", "easy to guess"), (DEMO_PASSWORD, "demo"), ("13800002222ok", "name, login or phone number"),
])
def test_registration_refuses_a_guessable_password_at_the_field(client, world, password, says):
    users = db.session.scalar(db.select(db.func.count()).select_from(User))
    response = client.post("/register", {"name": "张伟", "phone": "138 0000 2222", "community": world["community"].id,
                                         "password": password, "confirm": password})
    assert response.status_code == 422
    assert says in soup(response).select_one("#password-error").get_text()
    assert soup(response).select_one("#password")["aria-invalid"] == "true"
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == users


def test_admin_create_and_reset_refuse_a_guessable_password_at_the_field(client, world):
    client.login("admin")
    created = client.post("/admin/users/new", {
        "username": "wang.xiuying", "name": "Wang Xiuying", "password": "wang.xiuying1", "active": "y",
    })
    assert created.status_code == 422
    assert "name, login or phone number" in soup(created).select_one("#password-error").get_text()
    assert not db.session.scalar(db.select(User).where(User.username == "wang.xiuying"))
    resident = world["resident"]
    before = resident.password_hash
    reset = client.post(f"/admin/users/{resident.id}/password", {"password": DEMO_PASSWORD})
    assert reset.status_code == 422
    assert "demo" in soup(reset).select_one("#password-error").get_text()
    db.session.refresh(resident)
    assert resident.password_hash == before


def test_registration_errors_come_back_beside_fields(client, world):
    response = client.post("/register", {"name": "", "phone": "abc", "community": "", "password": "x", "confirm": "y"})
    assert response.status_code == 422
    page = soup(response)
    for field in ("name", "phone", "community", "confirm"):
        assert page.select_one(f"#{field}-error"), field


def test_import_report_lists_bad_rows_and_imports_nothing(client, world):
    client.login("member")
    csv_data = "name,phone,household,community\n王芳,13911112222,1-101,Spring\n李强,12,1-102,Autumn\n".encode()
    response = client.post("/register-entries/import", {"file": (io.BytesIO(csv_data), "r.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in soup(response).select("#import-errors tbody tr")]
    assert rows[0][0] == "3" and "not a phone number" in rows[0][1] and "Autumn" in rows[0][1]
    assert "empty" in client.get("/register-entries").get_data(as_text=True)


def test_import_page_explains_the_columns_and_when_the_township_is_needed(client, world):
    client.login("member")
    help_text = soup(client.get("/register-entries/import")).select_one("#import-format").get_text(" ", strip=True)
    for column in ("name", "phone", "household", "community", "township", "district", "街道"):
        assert column in help_text, column


def test_import_refuses_non_csv_upload(client, world):
    client.login("admin")
    response = client.post("/register-entries/import", {"file": (io.BytesIO(b"\x89PNG"), "photo.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 422


def test_admin_creates_user_with_roles(client, world):
    client.login("admin")
    response = client.post("/admin/users/new", {
        "username": "new.member", "name": "New Member", "phone": "", "password": "a-long-secret", "active": "y",
        "is_member": "y", "member_org": world["community"].id,
    })
    assert response.status_code == 303
    user = db.session.scalar(db.select(User).where(User.username == "new.member"))
    assert user.organization_for(Role.member).id == world["community"].id


def test_admin_user_form_shows_role_errors_beside_the_role(client, world):
    client.login("admin")
    response = client.post("/admin/users/new", {
        "username": "x.y", "name": "X", "password": "a-long-secret", "is_evaluator": "y", "evaluator_org": "",
    })
    assert response.status_code == 422
    assert soup(response).select_one("#evaluator_org-error")


def test_admin_appoints_and_ends_terms(client, world, make):
    successor = make.user((Role.member, world["community"]), username="successor")
    client.login("admin")
    url = f"/admin/organizations/{world['community'].id}/terms"
    response = client.post(url, {"user": successor.id, "start_date": "2026-02-01"})
    assert response.status_code == 303
    terms = db.session.scalars(db.select(SecretaryTerm).order_by(SecretaryTerm.start_date)).all()
    assert terms[0].end_date.isoformat() == "2026-01-31" and terms[1].is_open
    bad = client.post(f"/admin/terms/{terms[1].id}/end", {"end_date": "2020-01-01"})
    assert bad.status_code == 422
    assert soup(bad).select_one(f"#end_date-{terms[1].id}-error")


def test_admin_deleting_an_organization_in_use_is_a_conflict(client, world):
    client.login("admin")
    response = client.post(f"/admin/organizations/{world['community'].id}/delete")
    assert response.status_code == 409
    assert "cannot be deleted" in response.get_data(as_text=True)


def test_admin_deleting_an_organization_cases_refer_to_says_so(client, world, make):
    community = make.organization(parent=world["township"], name="Winter")
    world["case"].organization_id = community.id
    db.session.commit()
    client.login("admin")
    response = client.post(f"/admin/organizations/{community.id}/delete")
    assert response.status_code == 409
    assert "cases" in soup(response).select_one("main").get_text()


def test_htmx_errors_come_back_as_fragments(client, world):
    client.login("admin")
    response = client.post(f"/admin/organizations/{world['community'].id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert response.get_data(as_text=True).lstrip().startswith('<div class="error-message"')
    assert response.headers["HX-Retarget"] == "#flashes"
    assert "HX-Request" in response.headers["Vary"]


def test_user_search_answers_htmx_with_the_results_fragment(client, world):
    client.login("admin")
    page = client.get("/admin/users?q=evaluator")
    assert soup(page).select_one("main #user-results") and soup(page).h1
    fragment = client.get("/admin/users?q=evaluator", headers={"HX-Request": "true", "HX-Target": "user-results"})
    root = soup(fragment).find()
    assert root["id"] == "user-results" and not soup(fragment).h1
    assert [a.get_text() for a in root.select("tbody a")] == [world["evaluator"].name]


def test_every_admin_route_needs_the_admin_role(app, client, world):
    urls = list(build_urls(app, {"GET", "POST"}, ids_for(world), prefix="admin."))
    assert len(urls) >= 10
    for endpoint, url in urls:
        response = client.get(url) if "GET" in app.url_map._rules_by_endpoint[endpoint][0].methods else client.post(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (endpoint, url)
    for username in ("resident", "member", "evaluator"):
        client.login(username)
        for endpoint, url in urls:
            methods = app.url_map._rules_by_endpoint[endpoint][0].methods
            response = client.get(url) if "GET" in methods else client.post(url)
            assert response.status_code == 403, (username, endpoint)
        client.logout()
    client.login("admin")
    for endpoint, url in urls:
        if "GET" in app.url_map._rules_by_endpoint[endpoint][0].methods:
            assert client.get(url).status_code == 200, endpoint


def test_evaluator_sees_only_their_subtree(client, world):
    client.login("evaluator")
    page = client.get("/organizations").get_data(as_text=True)
    assert "Spring" in page and "Autumn" not in page
    assert client.get(f"/organizations/{world['community'].id}").status_code == 200
    assert client.get(f"/organizations/{world['other_community'].id}").status_code == 403
    assert client.get("/organizations/99999").status_code == 404


def test_residents_cannot_see_the_register(client, world):
    client.login("resident")
    assert client.get("/register-entries").status_code == 403
    assert client.post("/register-entries/import").status_code == 403


def test_language_choice_is_remembered(client, world):
    response = client.post("/language", {"locale": "zh_Hans", "next": "/login"})
    assert response.headers["Location"] == "/login"
    assert soup(client.get("/login")).html["lang"] == "zh-Hans"
    assert client.post("/language", {"locale": "klingon"}).status_code == 422
