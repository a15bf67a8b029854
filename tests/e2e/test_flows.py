"""Whole tasks done in the browser: organizations, secretaries, the register and login throttling."""
from __future__ import annotations

import uuid

from limits import parse
from playwright.sync_api import expect

TOWNSHIP = "东湖街道党工委"
COMMUNITY = "春晖社区"
COMMUNITY_CHOICE = f"{TOWNSHIP} · {COMMUNITY}"
CSV_HEADER = "name,phone,household,community\n"
NEW_PASSWORD = "lantern-orchard-e2e"


def unique() -> str:
    return uuid.uuid4().hex[:8]


def unique_phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


def main_nav(page):
    return page.get_by_role("navigation", name="Main")


def csv_file(rows: list[tuple[str, str, str, str]]) -> dict:
    text = CSV_HEADER + "".join(",".join(row) + "\n" for row in rows)
    return {"name": "register.csv", "mimeType": "text/csv", "buffer": text.encode()}


def import_register(page, rows: list[tuple[str, str, str, str]]) -> None:
    """Upload rows as a CSV file from the import page."""
    page.get_by_label("CSV file").set_input_files(csv_file(rows))
    page.get_by_role("button", name="Import", exact=True).click()


def open_import_page(page) -> None:
    main_nav(page).get_by_role("link", name="Resident register").click()
    page.get_by_role("button", name="Import from CSV").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import the resident register")


def test_admin_adds_a_community_and_appoints_its_secretary(page, log_in):
    """A new community gets a member, who becomes its secretary in the organization tree."""
    suffix = unique()
    community, username, full_name = f"E2E社区 {suffix}", f"e2e.sec.{suffix}", f"E2E Secretary {suffix}"
    log_in(page, "admin")

    main_nav(page).get_by_role("link", name="Organization tree").click()
    page.get_by_role("link", name=f"Add below {TOWNSHIP}").click()
    page.get_by_label("Organization name").fill(community)
    page.get_by_label("Level").select_option(label="Community or village organization")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(f"Organization “{community}” added.")

    main_nav(page).get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("button", name="New account").click()
    page.get_by_label("Login", exact=True).fill(username)
    page.get_by_label("Full name").fill(full_name)
    page.get_by_label("Initial password").fill(NEW_PASSWORD)
    page.get_by_role("switch", name="Member").check()
    page.get_by_label("Organization served").select_option(label=community)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(f"Account “{username}” created.")

    main_nav(page).get_by_role("link", name="Organization tree").click()
    page.get_by_role("link", name=f"Secretary terms {community}").click()
    page.get_by_label("New secretary").select_option(label=f"{full_name} ({username})")
    page.get_by_label("Term starts on").fill("2026-03-01")
    page.get_by_role("button", name="Appoint").click()
    expect(page.get_by_role("status")).to_have_text("Secretary appointed.")

    main_nav(page).get_by_role("link", name="Organization tree").click()
    row = page.get_by_role("row").filter(has_text=community)
    expect(row).to_contain_text("Community organization")
    expect(row).to_contain_text(full_name)


def test_resident_on_an_imported_register_is_verified_at_registration(page, new_page, log_in):
    """Residents imported from a CSV file are verified as soon as they register."""
    suffix = unique()
    residents = [(f"E2E居民甲{suffix}", unique_phone()), (f"E2E居民乙{suffix}", unique_phone())]
    log_in(page, "admin")
    open_import_page(page)
    import_register(page, [(name, phone, "9号楼 101", COMMUNITY) for name, phone in residents])
    expect(page.get_by_role("status")).to_have_text(
        "2 residents imported. 0 were listed already. 0 accounts are now verified."
    )

    name, phone = residents[0]
    resident = new_page()
    resident.goto("/")
    main_nav(resident).get_by_role("link", name="Create an account").click()
    resident.get_by_label("Full name").fill(name)
    resident.get_by_label("Mobile phone number").fill(phone)
    resident.get_by_label("Your community").select_option(label=COMMUNITY_CHOICE)
    resident.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    resident.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    resident.get_by_role("button", name="Create account").click()
    expect(resident.get_by_role("status")).to_have_text(
        "Welcome! Your account matches the community register and is verified."
    )
    expect(resident.get_by_text("Your account is verified against the community register")).to_be_visible()


def test_register_import_with_a_bad_row_imports_nothing(page, log_in):
    """A bad row is reported with its line number and the good rows are not imported."""
    suffix = unique()
    good = (f"E2E居民丙{suffix}", unique_phone(), "9号楼 102", COMMUNITY)
    bad = (f"E2E居民丁{suffix}", "12ab", "9号楼 103", COMMUNITY)
    log_in(page, "admin")
    open_import_page(page)
    import_register(page, [good, bad])

    report = page.get_by_role("alert").filter(has=page.get_by_role("table"))
    expect(report.get_by_role("heading")).to_have_text("1 problem found; nothing was imported")
    error_row = report.get_by_role("row").filter(has=page.get_by_role("cell", name="3", exact=True))
    expect(error_row).to_contain_text("“12ab” is not a phone number")
    expect(page.get_by_text("The file has errors; nothing was imported.")).to_be_visible()

    import_register(page, [good])
    expect(page.get_by_role("status")).to_have_text(
        "1 resident imported. 0 were listed already. 0 accounts are now verified."
    )


def test_login_throttling_holds_up_one_account_only(app, page, log_in):
    """Past its limit of wrong passwords an account must wait; another still logs in from the same browser."""
    allowed = parse(app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"]).amount
    for attempt in range(allowed + 1):
        page.goto("/login")
        page.get_by_label("Login or phone number").fill("eval.donghu")
        page.get_by_label("Password").fill(f"wrong-password-{attempt}")
        with page.expect_response(lambda r: r.request.method == "POST") as response:
            page.get_by_role("button", name="Log in").click()
        assert response.value.status == (429 if attempt == allowed else 422)
    expect(page.get_by_role("heading", level=1)).to_have_text("Too many attempts (429)")
    expect(page.get_by_text("Too many wrong passwords have been tried. Please try again in 1 minute.")).to_be_visible()

    log_in(page, "sec.guihua")
