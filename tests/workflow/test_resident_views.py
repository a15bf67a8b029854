"""Residents' pages: filing, my requests, tracking by code, answers, feedback, withdrawal."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from db import utcnow
from extensions import db
from tests.conftest import png_bytes
from tests.helpers import duplicate_ids, soup
from workflow.actions import ActionInput, parties_for, take_action
from workflow.filing import file_case, Upload
from workflow.machine import State
from workflow.models import Case, CaseEvent, Feedback, FeedbackOutcome, Priority

HTMX = {"HX-Request": "true", "HX-Target": "resident-case"}

#: Who takes each step, and what they give, to drive a case along the declaration.
STEPS = {
    "accept": ("member", lambda world: ActionInput()),
    "assign": ("member", lambda world: ActionInput(assignee_id=world["assignee"].id)),
    "start": ("assignee", lambda world: ActionInput()),
    "request_info": ("assignee", lambda world: ActionInput(question="Which lamp exactly?")),
    "resolve": ("assignee", lambda world: ActionInput(resolution="Replaced the bulb.")),
}
PATHS = {
    State.in_progress: ["accept", "assign", "start"],
    State.on_hold: ["accept", "assign", "start", "request_info"],
    State.resolved: ["accept", "assign", "start", "resolve"],
}


def drive(world, case: Case, state: State) -> Case:
    """Take the members' steps that bring a submitted case to the state."""
    for name in PATHS[state]:
        who, data = STEPS[name]
        user = world[who]
        take_action(case, name, actor=user, parties=parties_for(user, case), seen_version=None,
                    data=data(world), now=utcnow())
    db.session.commit()
    assert case.state == state
    return case


def anonymous_case(world, app) -> Case:
    """File a case without an account, as a visitor with only a phone number would."""
    case = file_case(
        None, category_id=world["category"].id, priority=Priority.normal, title="Pothole by the school",
        description="A deep hole.", address="School road", contact_name="Wang", contact_phone="13900000000",
        organization_id=world["community"].id, photos=[Upload(png_bytes("blue"), "hole.png")],
        upload_dir=Path(app.config["UPLOAD_FOLDER"]), now=utcnow(),
    )
    db.session.commit()
    return case


def filing(world, **changes) -> dict:
    data = {
        "category": str(world["category"].id), "priority": "normal", "title": "Bench broken",
        "description": "The bench by the pond lost a plank.", "address": "Pond", "contact_name": "Li",
        "contact_phone": "13700000000", "organization": str(world["community"].id),
    }
    data.update(changes)
    return data


def post_multipart(client, url: str, fields: dict):
    """Post a multipart form encoded in memory.

    The test client spools large uploads to a temporary file it never closes, which
    `filterwarnings = error` turns into a failure.
    """
    boundary, body = encode_multipart({**fields, "csrf_token": client.token(), "form_key": client.form_key()})
    return client._request("post", url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def track_url(case: Case, action: str = "") -> str:
    return f"/track/{case.tracking_code}" + (f"/{action}" if action else "")


# --- filing ------------------------------------------------------------------------------

def test_resident_files_into_their_community(client, world):
    client.login("resident")
    page = client.get("/requests/new")
    assert page.status_code == 200
    form = soup(page).select_one("main form")
    assert form.select_one("#contact_name")["value"] == world["resident"].name
    assert not form.select_one("#organization"), "a resident's request goes to their community"
    photo = (io.BytesIO(png_bytes()), "bench.png")
    response = client.post("/requests/new", {**filing(world, organization=""), "photos": [photo]})
    assert response.status_code == 303
    case = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert response.headers["Location"] == f"/track/{case.tracking_code}"
    assert case.resident_id == world["resident"].id
    assert case.organization_id == world["community"].id
    assert [e.action for e in case.events] == ["submit"] and len(case.photos) == 1
    mine = client.get("/requests/mine")
    assert mine.status_code == 200
    links = [a["href"] for a in soup(mine).select("main tbody a")]
    assert links == [f"/track/{case.tracking_code}", f"/track/{world['case'].tracking_code}"]


def test_visitor_files_without_an_account_and_gets_the_tracking_code(client, world):
    page = client.get("/requests/new")
    assert soup(page).select_one("#organization option[value='%d']" % world["community"].id)
    response = client.post("/requests/new", filing(world))
    assert response.status_code == 303
    case = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
    assert case.resident_id is None and case.organization_id == world["community"].id
    shown = client.get(response.headers["Location"])
    assert shown.status_code == 200
    assert soup(shown).select_one(".tracking-code").get_text() == case.tracking_code
    flashed = soup(shown).select_one("#flashes").get_text()
    assert case.tracking_code in flashed and "Write it down" in flashed


@pytest.mark.parametrize("changes, files, field", [
    ({"category": "99999"}, [], "category"),
    ({"description": ""}, [], "description"),
    ({}, [(b"\x89PNG" + b"0" * (6 * 1024 * 1024), "big.png")], "photos"),
    ({}, [(b"just some text\n", "notes.png")], "photos"),
    ({}, [(png_bytes(), f"p{n}.png") for n in range(4)], "photos"),
])
def test_bad_filing_is_refused_beside_the_field_and_stores_nothing(app, client, world, changes, files, field):
    before = (count(Case), count(CaseEvent), sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir()))
    data = filing(world, **changes)
    if files:
        data["photos"] = [FileStorage(io.BytesIO(content), name) for content, name in files]
    response = post_multipart(client, "/requests/new", data)
    assert response.status_code == 422
    assert soup(response).select_one(f"#{field}-error").get_text().strip()
    assert soup(response).select_one(f"#{field}")["aria-invalid"] == "true"
    assert (count(Case), count(CaseEvent), sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())) == before


def test_a_decompression_bomb_is_refused_beside_the_photos_and_stores_nothing(app, client, world):
    bomb = io.BytesIO()
    Image.new("1", (9400, 9400)).save(bomb, format="PNG")  # 11 KB, 88 megapixels decoded
    before = (count(Case), count(CaseEvent), sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir()))
    data = {**filing(world), "photos": [FileStorage(io.BytesIO(bomb.getvalue()), "bomb.png")]}
    response = post_multipart(client, "/requests/new", data)
    assert response.status_code == 422
    assert "more than 25 megapixels" in soup(response).select_one("#photos-error").get_text()
    assert (count(Case), count(CaseEvent), sorted(Path(app.config["UPLOAD_FOLDER"]).iterdir())) == before


def test_filing_keeps_to_the_pixel_budget_setting_and_stores_photos_downscaled(app, client, world):
    app.config["PHOTO_MAX_PIXELS"] = 2_000_000
    over = FileStorage(io.BytesIO(png_bytes(size=(2000, 1001))), "over.png")
    response = post_multipart(client, "/requests/new", {**filing(world), "photos": [over]})
    assert response.status_code == 422
    assert "more than 2 megapixels" in soup(response).select_one("#photos-error").get_text()
    app.config["PHOTO_MAX_PIXELS"] = 25_000_000
    wide = FileStorage(io.BytesIO(png_bytes(size=(4096, 1024))), "wide.png")
    assert post_multipart(client, "/requests/new", {**filing(world), "photos": [wide]}).status_code == 303
    case = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
    with Image.open(Path(app.config["UPLOAD_FOLDER"]) / case.photos[0].stored_name) as stored:
        assert stored.size == (2048, 512)


def test_filing_without_an_account_is_limited_per_address_counting_accepted_requests_only(app, client, world):
    app.config["FILING_LIMIT_PER_IP"] = "2 per hour"
    cases = db.session.scalar(select(func.count()).select_from(Case))
    assert [client.post("/requests/new", filing(world, description="")).status_code for _ in range(3)] == [422] * 3
    assert [client.post("/requests/new", filing(world)).status_code for _ in range(2)] == [303] * 2
    refused = client.post("/requests/new", filing(world))
    assert refused.status_code == 429 and 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert "sign in" in soup(refused).select_one("article p").get_text()
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases + 2


def test_signed_in_residents_are_never_held_up_by_the_filing_limit(app, client, world):
    app.config["FILING_LIMIT_PER_IP"] = "1 per hour"
    client.login("resident")
    assert [client.post("/requests/new", filing(world)).status_code for _ in range(3)] == [303] * 3
    anonymous = type(client)(app.test_client())  # at the same address
    assert anonymous.post("/requests/new", filing(world)).status_code == 303


def test_mine_needs_a_login(client, world):
    response = client.get("/requests/mine")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- tracking ----------------------------------------------------------------------------

def test_tracking_page_shows_only_the_public_timeline(app, client, world):
    case = drive(world, world["case"], State.in_progress)
    member = world["member"]
    take_action(case, "comment", actor=member, parties=parties_for(member, case),
                seen_version=None, data=ActionInput(text="Secret staff note", public=False),
                now=utcnow())
    take_action(case, "comment", actor=member, parties=parties_for(member, case),
                seen_version=None, data=ActionInput(text="We are on our way", public=True),
                now=utcnow())
    db.session.commit()
    response = client.get(track_url(case))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "We are on our way" in text and "Secret staff note" not in text
    # Residents deal with the organization; members' names stay inside it.
    assert world["assignee"].name not in text and member.name not in text
    assert world["community"].name in soup(response).select_one(".timeline").get_text()
    assert case.contact_phone not in text
    photo = case.photos[0]
    assert client.get(f"/cases/{case.id}/photos/{photo.id}").status_code == 200


def test_unknown_tracking_code_is_404(client, world):
    response = client.get("/track/NOSUCHCODE")
    assert response.status_code == 404
    assert "No request has this tracking code" in response.get_data(as_text=True)


def test_find_by_code_redirects_or_says_not_found(client, world):
    code = world["case"].tracking_code
    typed = f" {code[:5].lower()}-{code[5:].lower()} "
    found = client.get("/track", query_string={"code": typed})
    assert found.status_code == 303 and found.headers["Location"] == f"/track/{code}"
    missing = client.get("/track", query_string={"code": "NOSUCHCODE"})
    assert missing.status_code == 404
    assert "No request has this tracking code" in soup(missing).select_one("#code-error").get_text()
    assert client.get("/track").status_code == 200


# --- acting on a request -----------------------------------------------------------------

def test_code_holder_answers_the_question_on_hold(app, client, world):
    case = drive(world, anonymous_case(world, app), State.on_hold)
    page = client.get(track_url(case))
    assert "Which lamp exactly?" in soup(page).select_one(".resident-answer").get_text()
    response = client.post(track_url(case, "answer"), {"version": case.version, "note": "The one by gate 2."})
    assert response.status_code == 303 and response.headers["Location"] == track_url(case)
    db.session.refresh(case)
    assert case.state == State.in_progress
    assert case.events[-1].action == "resume" and case.events[-1].note == "The one by gate 2."
    assert case.events[-1].actor_id is None


def test_empty_answer_is_422_beside_the_field(app, client, world):
    case = drive(world, anonymous_case(world, app), State.on_hold)
    response = client.post(track_url(case, "answer"), {"version": case.version, "note": ""})
    assert response.status_code == 422
    assert soup(response).select_one("#answer-note-error")
    db.session.refresh(case)
    assert case.state == State.on_hold


def test_code_holder_gives_satisfied_feedback_and_the_case_closes(app, client, world):
    case = drive(world, anonymous_case(world, app), State.resolved)
    response = client.post(track_url(case, "feedback"),
                           {"version": case.version, "solved": "yes", "satisfaction": "satisfied"})
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == State.closed
    assert [(f.round, f.outcome, f.solved) for f in case.feedback] == [(1, FeedbackOutcome.confirmed, True)]


def test_dissatisfied_feedback_with_a_comment_reopens(app, client, world):
    case = drive(world, anonymous_case(world, app), State.resolved)
    response = client.post(track_url(case, "feedback"), {
        "version": case.version, "solved": "yes", "satisfaction": "dissatisfied", "comment": "It flickers again.",
    })
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == State.in_progress and case.round == 2
    assert [(f.round, f.outcome, f.comment) for f in case.feedback] == [
        (1, FeedbackOutcome.reopened, "It flickers again.")
    ]


def test_not_solved_without_a_comment_is_422_and_changes_nothing(app, client, world):
    case = drive(world, anonymous_case(world, app), State.resolved)
    version = case.version
    response = client.post(track_url(case, "feedback"),
                           {"version": version, "solved": "no", "satisfaction": "basically_satisfied"})
    assert response.status_code == 422
    assert soup(response).select_one("#feedback-comment-error")
    assert soup(response).select_one("#feedback-solved-2").has_attr("checked")
    assert duplicate_ids(response) == []
    db.session.refresh(case)
    assert case.state == State.resolved and case.version == version and count(Feedback) == 0


def test_feedback_on_a_case_not_resolved_is_409(app, client, world):
    case = anonymous_case(world, app)
    response = client.post(track_url(case, "feedback"),
                           {"version": case.version, "solved": "yes", "satisfaction": "satisfied"})
    assert response.status_code == 409
    assert count(Feedback) == 0


def test_code_holder_withdraws(app, client, world):
    case = anonymous_case(world, app)
    assert "Withdraw this request" in client.get(track_url(case)).get_data(as_text=True)
    response = client.post(track_url(case, "withdraw"), {"version": case.version})
    assert response.status_code == 303
    db.session.refresh(case)
    assert case.state == State.withdrawn


def test_stranger_with_the_code_cannot_act_on_a_case_filed_with_an_account(client, world):
    case = world["case"]
    page = client.get(track_url(case))
    assert page.status_code == 200 and not soup(page).select("#resident-case form")
    assert client.post(track_url(case, "withdraw"), {"version": case.version}).status_code == 403
    client.login("other.resident")
    assert client.post(track_url(case, "comment"), {"version": case.version, "text": "Me too"}).status_code == 403
    client.logout()
    client.login("member")
    assert client.post(track_url(case, "withdraw"), {"version": case.version}).status_code == 403
    db.session.refresh(case)
    assert case.state == State.submitted and [e.action for e in case.events] == ["submit"]


def test_owner_acts_on_their_case_when_logged_in(client, world):
    case = world["case"]
    client.login("resident")
    page = client.get(track_url(case))
    assert soup(page).select_one("#comment-text")
    response = client.post(track_url(case, "comment"), {"version": case.version, "text": "Still dark tonight."})
    assert response.status_code == 303
    db.session.refresh(case)
    event = case.events[-1]
    assert (event.action, event.public, event.actor_id) == ("comment", True, world["resident"].id)


def test_stale_version_is_409_with_the_fresh_partial(app, client, world):
    case = drive(world, anonymous_case(world, app), State.on_hold)
    stale = case.version - 1
    response = client.post(track_url(case, "answer"), {"version": stale, "note": "Gate 2."}, headers=HTMX)
    assert response.status_code == 409
    root = soup(response).find()
    assert root["id"] == "resident-case" and "<html" not in response.get_data(as_text=True)
    assert "changed by someone else" in root.select_one("[role=alert]").get_text()
    assert root.select_one(f"input[name=version][value='{case.version}']")
    page = client.post(track_url(case, "answer"), {"version": stale, "note": "Gate 2."})
    assert page.status_code == 409 and soup(page).select_one("main #resident-case")
    db.session.refresh(case)
    assert case.state == State.on_hold


def test_htmx_gets_the_fragment_and_no_js_gets_a_redirect(app, client, world):
    case = anonymous_case(world, app)
    fragment = client.post(track_url(case, "comment"), {"version": case.version, "text": "Please hurry."},
                           headers=HTMX)
    assert fragment.status_code == 200
    text = fragment.get_data(as_text=True)
    root = soup(fragment).find()
    assert root["id"] == "resident-case" and "<html" not in text
    assert "Please hurry." in root.select_one(".timeline").get_text()
    assert root.select_one("[role=status]")
    invalid = client.post(track_url(case, "comment"), {"version": case.version, "text": ""}, headers=HTMX)
    assert invalid.status_code == 422 and soup(invalid).find()["id"] == "resident-case"
    assert soup(invalid).select_one("#comment-text-error")
    plain = client.post(track_url(case, "comment"), {"version": case.version, "text": "Again."})
    assert plain.status_code == 303 and plain.headers["Location"] == track_url(case)


# --- every page --------------------------------------------------------------------------

def test_resident_pages_have_no_duplicate_ids(app, client, world):
    on_hold = drive(world, anonymous_case(world, app), State.on_hold)
    resolved = drive(world, anonymous_case(world, app), State.resolved)
    anonymous_pages = ["/requests/new", "/track", "/track?code=NOSUCHCODE", track_url(world["case"]),
                       track_url(on_hold), track_url(resolved)]
    for url in anonymous_pages:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert duplicate_ids(response) == [], url
    client.login("resident")
    for url in ["/requests/new", "/requests/mine", track_url(world["case"])]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert duplicate_ids(response) == [], url
