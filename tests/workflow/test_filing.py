"""Filing a request: its deadline, its organization, the tracking code, the checks on its input."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from errors import NotFound, ValidationFailed
from extensions import db
from tests.workflow.conftest import events_of, HOUR, T0
from workflow.actions import parties_for
from workflow.filing import (
    check_photo, file_case, find_by_tracking_code, TRACKING_ALPHABET, TRACKING_LENGTH, Upload,
)
from workflow.machine import Party, State
from workflow.models import Category, Priority


@pytest.mark.parametrize("priority, respond_hours", [(Priority.normal, 24), (Priority.urgent, 1)])
def test_filing_sets_the_respond_deadline_from_category_and_priority(flow, world, priority, respond_hours):
    case = flow.file(priority=priority, now=T0)
    assert case.state == State.submitted
    assert case.submitted_at == T0
    assert case.respond_due_at == T0 + respond_hours * HOUR
    assert case.resolve_due_at is None
    assert case.organization_id == world["community"].id  # the resident's own community
    assert case.version == 1
    [event] = events_of(case)
    assert (event.action, event.from_state, event.to_state, event.actor_id) == (
        "submit", None, State.submitted, world["resident"].id)
    assert event.case_version == case.version


def test_filing_uses_the_category_s_own_limits(flow):
    category = Category(name="漏水", name_en="Leaks", normal_respond_hours=48, urgent_respond_hours=2)
    db.session.add(category)
    db.session.commit()
    assert flow.file(category=category, now=T0).respond_due_at == T0 + 48 * HOUR
    assert flow.file(category=category, now=T0, priority=Priority.urgent).respond_due_at == T0 + 2 * HOUR


def test_filing_without_an_account_needs_an_organization_and_gets_a_tracking_code(flow, world):
    case = flow.file(None)
    assert case.resident_id is None and case.organization_id == world["community"].id
    assert len(case.tracking_code) == TRACKING_LENGTH
    assert set(case.tracking_code) <= set(TRACKING_ALPHABET)
    assert find_by_tracking_code(case.tracking_code.lower()) == case
    with pytest.raises(NotFound):
        find_by_tracking_code("NOSUCHCODE")
    assert parties_for(None, case, holds_tracking_code=True) == {Party.owner}
    assert parties_for(None, case) == frozenset()


def test_filing_checks_its_input(flow, world, app):
    inactive = Category(name="旧", name_en="Old", active=False)
    db.session.add(inactive)
    db.session.commit()
    with pytest.raises(ValidationFailed) as caught:
        file_case(
            None, category_id=inactive.id, priority=Priority.normal, title="", description=" ", address="",
            contact_name="", contact_phone="12", organization_id=None, photos=[],
            upload_dir=Path(app.config["UPLOAD_FOLDER"]), now=T0,
        )
    assert set(caught.value.errors) == {"category", "description", "contact_phone", "organization"}


def bomb_png(width: int, height: int) -> bytes:
    """Return a PNG of a few kilobytes that decodes to width × height pixels."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG")
    return out.getvalue()


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


# 9,400²: under Pillow's own warning (89 MP); 10,000²: past it; 13,500²: past Pillow's hard limit (179 MP).
@pytest.mark.parametrize("side", [9400, 10000, 13500])
def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded(monkeypatch, side):
    bomb = bomb_png(side, side)
    assert len(bomb) < 100_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the pixels were decoded"))
    with pytest.raises(ValidationFailed) as caught:
        check_photo(Upload(bomb, "bomb.png"))
    [message] = caught.value.errors["photos"]
    assert "bomb.png" in str(message) and "25 megapixels" in str(message)


def test_the_pixel_budget_is_the_caller_s(app):
    photo = Upload(encoded(Image.new("RGB", (200, 100), "red"), "PNG"), "small.png")
    assert check_photo(photo, max_pixels=20_000)[1] == "image/png"
    with pytest.raises(ValidationFailed) as caught:
        check_photo(photo, max_pixels=19_999)
    assert "0.019999 megapixels" in str(caught.value.errors["photos"][0])
    assert app.config["PHOTO_MAX_PIXELS"] == 25_000_000


@pytest.mark.parametrize("size, stored", [((3000, 1000), (2048, 683)), ((1200, 4096), (600, 2048)),
                                          ((640, 480), (640, 480))])
def test_photos_are_stored_at_most_2048_pixels_on_the_long_side_without_metadata(size, stored):
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[0x8825] = {2: (31.0, 14.0, 2.0)}  # GPS latitude
    photo = encoded(Image.new("RGB", size, "green"), "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(photo)).getexif()
    data, content_type = check_photo(Upload(photo, "wide.jpg"))
    with Image.open(io.BytesIO(data)) as kept:
        assert (kept.format, kept.size, content_type) == ("JPEG", stored, "image/jpeg")
        assert max(kept.size) <= 2048
        assert not kept.getexif() and "exif" not in kept.info


def test_a_palette_photo_keeps_its_colours_and_transparency():
    image = Image.new("P", (50, 50), 1)
    image.putpalette([0, 0, 0] + [200, 30, 40] * 255)
    data, _type = check_photo(Upload(encoded(image, "PNG", transparency=0), "red.png"))
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.convert("RGB").getpixel((10, 10)) == (200, 30, 40)
        assert kept.info["transparency"] == 0
