"""The audit log's page and exports for administrators, and the sign-ins it records from the login page."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from accounts.audit import AuditEntry, AuditKind
from accounts.models import OrgLevel
from accounts.organizations import create_organization
from extensions import db
from tests.conftest import PASSWORD
from tests.helpers import duplicate_ids, soup

AUDIT_URLS = ("/admin/audit", "/admin/audit/export.csv", "/admin/audit/export.xlsx")


def entries(kind: AuditKind) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.kind == kind).order_by(AuditEntry.id)))


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def descriptions(response) -> list[str]:
    return [row.select("td")[-1].get_text(" ", strip=True) for row in soup(response).select("#audit-entries tbody tr")]


# --- sign-ins ------------------------------------------------------------------------------------------

def test_signing_in_and_out_is_recorded_with_the_address(client, world):
    client.login("member")
    client.logout()
    [signed_in], [signed_out] = entries(AuditKind.sign_in), entries(AuditKind.sign_out)
    member = world["member"]
    assert (signed_in.actor_id, signed_out.actor_id) == (member.id, member.id)
    assert signed_in.origin == signed_out.origin == "127.0.0.1"


def test_a_refused_sign_in_names_the_account_by_id_and_never_keeps_what_was_typed(client, world):
    assert client.post("/login", {"username": " Member ", "password": "wrong password"}).status_code == 422
    assert client.post("/login", {"username": "13800000000", "password": "wrong password"}).status_code == 422
    known, unknown = entries(AuditKind.sign_in_failed)
    assert (known.actor_id, known.subject_id, known.origin) == (None, world["member"].id, "127.0.0.1")
    assert (unknown.subject_id, unknown.details, unknown.origin) == (None, {}, "127.0.0.1")


def test_a_disabled_account_refused_at_sign_in_is_named(client, world):
    world["other_resident"].active = False
    db.session.commit()
    assert client.post("/login", {"username": "other.resident", "password": PASSWORD}).status_code == 422
    [refused] = entries(AuditKind.sign_in_failed)
    assert refused.subject_id == world["other_resident"].id


def test_an_act_through_a_page_records_the_clients_address(client, world):
    client.login("admin")
    response = client.post("/admin/organizations/new",
                           {"name": "Winter", "level": "community", "parent": world["township"].id})
    assert response.status_code == 303
    [created] = [e for e in entries(AuditKind.organization_created) if e.actor_id == world["admin"].id]
    assert created.origin == "127.0.0.1"


# --- who may read it -----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", AUDIT_URLS)
@pytest.mark.parametrize("who", ["member", "evaluator", "resident"])
def test_only_administrators_read_the_log(client, world, who, url):
    client.login(who)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", AUDIT_URLS)
def test_visitors_are_sent_to_log_in(client, world, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_administrators_menu_links_to_the_log(client, world):
    client.login("admin")
    assert soup(client.get("/")).select_one('nav a[href="/admin/audit"]') is not None


# --- the page ------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(client, world):
    """An administrator signed in after a few acts: an organization added in the township and one elsewhere."""
    create_organization(world["admin"], name="Winter", level=OrgLevel.community, parent_id=world["township"].id)
    create_organization(world["admin"], name="=HYPERLINK(\"http://evil.example\")", level=OrgLevel.community,
                        parent_id=world["other_community"].parent_id)
    db.session.commit()
    client.login("admin")
    return client


def test_the_page_lists_entries_newest_first_in_sentences(admin_client, world):
    response = admin_client.get("/admin/audit")
    assert response.status_code == 200 and duplicate_ids(response) == []
    said = descriptions(response)
    assert said[0] == "admin signed in."
    assert said[1] == 'admin added the organization =HYPERLINK("http://evil.example").'
    assert said[2] == "admin added the organization Winter."
    assert "The system added the organization Spring." in said  # the test factories act as the command line


def test_the_page_filters_by_kind_actor_organization_and_period(app, admin_client, world):
    today = datetime.now(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])).date()  # the days the page speaks of
    by_admin = admin_client.get("/admin/audit", query_string={"actor": "admin", "kind": "organization_created"})
    assert descriptions(by_admin) == ['admin added the organization =HYPERLINK("http://evil.example").',
                                      "admin added the organization Winter."]
    in_township = admin_client.get("/admin/audit", query_string={
        "actor": "ADMIN ", "organization": world["township"].id, "since": today.isoformat(),
        "until": today.isoformat()})
    assert descriptions(in_township) == ["admin added the organization Winter."]
    yesterday = admin_client.get("/admin/audit", query_string={"until": (today - timedelta(days=2)).isoformat()})
    assert descriptions(yesterday) == ["No entry passes these filters."]


def test_the_period_runs_from_midnight_to_midnight_where_the_app_keeps_time(admin_client, world):
    # Asia/Shanghai is UTC+8: 15:58 UTC is 23:58 of the same day there, 16:02 UTC is 00:02 of the next.
    for minute, name in ((58, "Before midnight"), (62, "After midnight")):
        db.session.add(AuditEntry(at=datetime(2025, 3, 1, 15) + timedelta(minutes=minute),
                                  kind=AuditKind.organization_created, details={"name": name}))
    db.session.commit()
    response = admin_client.get("/admin/audit", query_string={"since": "2025-03-02", "until": "2025-03-02"})
    assert descriptions(response) == ["The system added the organization After midnight."]
    response = admin_client.get("/admin/audit", query_string={"since": "2025-03-01", "until": "2025-03-01"})
    assert descriptions(response) == ["The system added the organization Before midnight."]


def test_the_page_shows_what_changed(admin_client, world):
    admin_client.post(f"/admin/organizations/{world['other_community'].id}/edit",
                      {"name": "Late autumn", "parent": world["other_community"].parent_id})
    response = admin_client.get("/admin/audit", query_string={"kind": "organization_changed"})
    assert descriptions(response) == ["admin changed the organization Late autumn. name: Autumn → Late autumn"]


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"actor": "nobody.here"}, "actor", "There is no account with this login."),
    ({"kind": "coup"}, "kind", "Not a valid choice"),
    ({"organization": "abc"}, "organization", "Invalid Choice"),
    ({"organization": "999999"}, "organization", "Not a valid choice"),
    ({"since": "yesterday"}, "since", "Not a valid date"),
    ({"since": "2025-03-02", "until": "2025-03-01"}, "until", "The end of the period comes before its start."),
    ({"page": "0"}, "page", "Number must be between 1 and"),
])
def test_bad_filters_are_refused_with_a_message(admin_client, world, query, field, message):
    for url in AUDIT_URLS:
        response = admin_client.get(url, query_string=query)
        assert response.status_code == 422, url
        page = soup(response)
        assert page.select_one("#audit-entries") is None
        shown = page.select_one(f"#{field}-error" if field != "page" else ".form-errors")
        assert message in shown.get_text(), url


def test_pages_hold_fifty_entries_and_keep_the_filters(admin_client, world):
    for n in range(60):
        create_organization(world["admin"], name=f"Spare {n}", level=OrgLevel.district, parent_id=None)
    db.session.commit()
    first = admin_client.get("/admin/audit", query_string={"kind": "organization_created", "actor": "admin"})
    assert len(descriptions(first)) == 50
    next_link = soup(first).select_one('a[rel="next"]')["href"]
    assert "kind=organization_created" in next_link and "actor=admin" in next_link
    second = admin_client.get(next_link)
    assert len(descriptions(second)) == 12 and descriptions(second)[-1] == "admin added the organization Winter."


# --- the exports ---------------------------------------------------------------------------------------

def test_the_csv_holds_exactly_the_filtered_entries_with_formulas_defused(admin_client, world):
    response = admin_client.get("/admin/audit/export.csv", query_string={"kind": "organization_created",
                                                                          "actor": "admin"})
    header, *rows = csv_rows(response)
    assert header == ["Time (UTC)", "What", "Who", "From address", "Organization", "Description", "What changed",
                      "Details"]
    assert [(row[1], row[2], row[4]) for row in rows] == [
        ("Organization added", "admin", "'=HYPERLINK(\"http://evil.example\")"),
        ("Organization added", "admin", "Winter"),
    ]
    assert rows[1][5] == "admin added the organization Winter."
    assert rows[1][7].startswith('{"level": "community", "name": "Winter"')
    assert "attachment" in response.headers["Content-Disposition"]


def test_the_xlsx_holds_the_same_entries_as_text(admin_client, world):
    response = admin_client.get("/admin/audit/export.xlsx", query_string={"kind": "organization_created",
                                                                           "actor": "admin"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[0][1] == "What"
    evil = sheet.cell(row=2, column=5)
    assert evil.value.startswith("=HYPERLINK") and evil.data_type == "s" and evil.quotePrefix


def test_an_export_too_large_asks_for_narrower_filters(admin_client, world, monkeypatch):
    monkeypatch.setattr("accounts.audit_views.MAX_EXPORT_ROWS", 1)
    response = admin_client.get("/admin/audit/export.csv")
    assert response.status_code == 422
    assert "at most 1 entries" in soup(response).select_one(".form-errors").get_text()
