"""Filing a request: checking it and its photos, the tracking code, where the photos are kept."""
from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from accounts.models import Organization, Role, User
from accounts.users import normalize_phone, PHONE_RE
from errors import NotFound, ValidationFailed
from extensions import db
from workflow.history import append_event
from workflow.machine import State
from workflow.models import Case, Category, Photo, Priority

TRACKING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
TRACKING_LENGTH = 10
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: The default pixel budget (`PHOTO_MAX_PIXELS`): a few kilobytes of PNG can decode to gigabytes.
MAX_PHOTO_PIXELS = 25_000_000
#: Photos are stored no larger than this on their long side.
MAX_PHOTO_SIDE = 2048
PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


def check_photo(upload: Upload, max_pixels: int = MAX_PHOTO_PIXELS) -> tuple[bytes, str]:
    """Return the photo downscaled, re-encoded without metadata, and its type, or raise ValidationFailed."""
    if len(upload.data) > MAX_PHOTO_BYTES:
        raise ValidationFailed({"photos": [_l("“%(name)s” is larger than 5 MB.", name=upload.filename)]})
    too_large = ValidationFailed({"photos": [_l(
        "“%(name)s” has more than %(megapixels)s megapixels; send a smaller photo.",
        name=upload.filename, megapixels=f"{max_pixels / 1_000_000:g}",
    )]})
    try:
        # open() reads the header only; no pixel is decoded before the size is checked.
        with Image.open(io.BytesIO(upload.data)) as probe:
            if probe.format not in PHOTO_FORMATS:
                raise UnidentifiedImageError
            width, height = probe.size
            if width * height > max_pixels:
                raise too_large
            probe.verify()
        with Image.open(io.BytesIO(upload.data)) as image:
            image_format = image.format
            image.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE))  # decodes JPEG at a reduced scale when it can
            # Re-encoding drops EXIF, which often carries the place a photo was taken.
            clean = Image.new(image.mode, image.size)
            if image.mode == "P":
                clean.putpalette(image.getpalette())
                if "transparency" in image.info:
                    clean.info["transparency"] = image.info["transparency"]
            clean.paste(image)
        out = io.BytesIO()
        clean.save(out, format=image_format)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own, larger limit; a warning only fails like this where warnings are errors (the tests).
        raise too_large from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationFailed(
            {"photos": [_l("“%(name)s” is not a JPEG, PNG or WebP image.", name=upload.filename)]}
        ) from None
    return out.getvalue(), PHOTO_FORMATS[image_format]


def _new_tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def file_case(
    resident: User | None,
    *,
    category_id: int,
    priority: Priority,
    title: str,
    description: str,
    address: str,
    contact_name: str,
    contact_phone: str,
    organization_id: int | None,
    photos: list[Upload],
    upload_dir: Path,
    now: datetime,
    max_pixels: int = MAX_PHOTO_PIXELS,
) -> Case:
    """File a service request with its photos; residents with an account default to their community."""
    errors: dict[str, list] = {}
    category = db.session.get(Category, category_id) if category_id else None
    if category is None or not category.active:
        errors["category"] = [_l("Choose one of the listed categories.")]
    if not description.strip():
        errors["description"] = [_l("Describe the problem.")]
    phone = normalize_phone(contact_phone)
    if not PHONE_RE.match(phone):
        errors["contact_phone"] = [_l("Enter a phone number we can call back.")]
    if resident is not None and organization_id is None:
        community = resident.organization_for(Role.resident)
        organization_id = community.id if community else None
    organization = db.session.get(Organization, organization_id) if organization_id else None
    if organization is None:
        errors["organization"] = [_l("Choose the community where the problem is.")]
    if len(photos) > MAX_PHOTOS:
        errors["photos"] = [_l("Attach at most %(n)d photos.", n=MAX_PHOTOS)]
    if errors:
        raise ValidationFailed(errors)
    cleaned = [check_photo(upload, max_pixels) for upload in photos]

    case = Case(
        tracking_code=_new_tracking_code(),
        category=category,
        priority=priority,
        title=title.strip(),
        description=description.strip(),
        address=address.strip(),
        contact_name=contact_name.strip(),
        contact_phone=phone,
        resident_id=resident.id if resident else None,
        organization=organization,
        state=State.submitted,
        submitted_at=now,
        respond_due_at=now + timedelta(hours=category.respond_hours(priority)),
        created_at=now,
    )
    db.session.add(case)
    db.session.flush()
    upload_dir.mkdir(parents=True, exist_ok=True)
    for data, content_type in cleaned:
        stored_name = secrets.token_hex(16)
        (upload_dir / stored_name).write_bytes(data)
        db.session.add(Photo(case=case, stored_name=stored_name, content_type=content_type, size=len(data)))
    append_event(case, "submit", None, State.submitted, actor=resident, now=now,
                 detail={"organization_id": organization.id}, changes_case=False)
    db.session.flush()
    return case


def find_by_tracking_code(code: str) -> Case:
    """Return the case with this tracking code, however it was typed, or raise NotFound."""
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    case = db.session.scalar(select(Case).where(Case.tracking_code == normalized)) if normalized else None
    if case is None:
        raise NotFound(_l("No request has this tracking code. Check it and try again."))
    return case


def get_photo(case_id: int, photo_id: int) -> Photo:
    """Return the case's photo or raise NotFound."""
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.case_id != case_id:
        raise NotFound(_l("There is no such photo."))
    return photo


def photo_path(photo: Photo, upload_dir: Path) -> Path:
    """Return where the photo's file is kept."""
    return upload_dir / photo.stored_name
