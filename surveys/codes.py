"""Invitation codes: one-use, issued per community, stored only as a keyed hash."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from accounts import audit
from accounts.models import User
from errors import ValidationFailed
from extensions import db
from surveys.builder import check_manager
from surveys.models import Invitation, Survey

if TYPE_CHECKING:
    from surveys.ballots import BallotSurvey

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
MAX_CODES_PER_BATCH = 2000


def normalize_code(raw: str) -> str:
    """Return the code as stored and compared: upper case, letters and digits only."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def format_code(code: str) -> str:
    """Return the code as printed on a slip, in two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def hash_code(code: str, key: bytes) -> str:
    """Return the keyed hash under which a code is stored."""
    return hmac.new(key, normalize_code(code).encode(), hashlib.sha256).hexdigest()


def generate_codes(actor: User, survey: Survey, organization_id: int, count: int, key: bytes,
                   now: datetime) -> list[str]:
    """Create one-use codes for a target community; return them in plain text, which is never stored."""
    check_manager("issue_codes", actor, survey, now)
    target = next((t for t in survey.targets if t.organization_id == organization_id), None)
    if target is None:
        raise ValidationFailed({"organization": [_l("Choose one of the survey's communities.")]})
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise ValidationFailed({"count": [_l("Issue between 1 and %(n)d codes at a time.", n=MAX_CODES_PER_BATCH)]})
    # A set, so that a chance repeat within the batch cannot break the unique hash (and give one code twice).
    unique: set[str] = set()
    while len(unique) < count:
        unique.add("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
    codes = list(unique)
    db.session.add_all(Invitation(survey_id=survey.id, organization_id=organization_id, code_hash=hash_code(c, key))
                       for c in codes)
    target.codes_issued += count
    db.session.flush()
    audit.record(audit.AuditKind.codes_issued, actor, organization_id=organization_id, subject_id=survey.id,
                 details={"title": survey.title, "count": count})
    return codes


class CodeInvitation(NamedTuple):
    """An invitation code's row, as a ballot needs it."""

    id: int
    survey_id: int
    organization_id: int


_invitations = Invitation.__table__
_INVITATION_BY_HASH = select(
    _invitations.c.id, _invitations.c.survey_id, _invitations.c.organization_id, _invitations.c.code_hash
).where(_invitations.c.code_hash == bindparam("digest"))


def invitation_for_code(code: str, key: bytes) -> CodeInvitation:
    """Return the invitation of this code, whatever its survey, or refuse clearly."""
    digest = hash_code(code, key)
    row = db.session.execute(_INVITATION_BY_HASH, {"digest": digest}).one_or_none()
    # The lookup is by keyed hash, so timing says nothing about how much of a code was right.
    if row is None or not hmac.compare_digest(row.code_hash, digest):
        raise ValidationFailed({"code": [_l("This code is not valid. Check it against your slip.")]})
    return CodeInvitation(row.id, row.survey_id, row.organization_id)


def find_invitation(survey: Survey | BallotSurvey, code: str, key: bytes) -> CodeInvitation:
    """Return the survey's invitation for this code, or refuse clearly."""
    invitation = invitation_for_code(code, key)
    if invitation.survey_id != survey.id:
        raise ValidationFailed({"code": [_l("This code belongs to another survey.")]})
    return invitation
