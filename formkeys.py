"""One-time form keys: a form that appends carries a key, and only its first submission appends.

A key is issued with the page, to whoever the page was shown to, and stored only when a submission
claims it, in the same transaction as what the submission appends; a replay finds it claimed and is
shown the first submission's result. Issuing writes nothing: the key carries its issue time and a
MAC over who it was issued to, so a key from someone else's page, or older than the keys kept, is
refused before anything is read.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone

from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from errors import Conflict
from extensions import db

KEY_RE = re.compile(r"(?P<nonce>[A-Za-z0-9_-]{22})\.(?P<issued>[0-9]{1,12})\.(?P<mac>[A-Za-z0-9_-]{43})")
#: Keeps a form key's MAC apart from every other use of the secret key.
MAC_CONTEXT = b"lianxin form key"


class FormKey(db.Model):
    """A claimed form key: the first submission that carried it, and where its result is shown."""

    __tablename__ = "form_keys"

    nonce: Mapped[str] = mapped_column(String(22), primary_key=True)
    #: Where the first submission's result is shown; set in the claiming transaction, before it commits.
    result_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class AlreadySent(Conflict):
    """The form was sent before; its first submission's result is at `result_url`."""

    def __init__(self, result_url: str) -> None:
        super().__init__(_l("This form had already been sent."))
        self.result_url = result_url


def _seconds(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def _mac(secret: bytes, holder: str, nonce: str, issued: int) -> str:
    message = b"|".join((MAC_CONTEXT, holder.encode(), nonce.encode(), str(issued).encode()))
    return base64.urlsafe_b64encode(hmac.digest(secret, message, hashlib.sha256)).decode().rstrip("=")


def user_holder(user_id: int) -> str:
    """Name a signed-in user as the holder of the keys of the forms shown to them."""
    return f"user:{user_id}"


def session_holder(token: str) -> str:
    """Name a browser's session, by a random token it keeps, as the holder of its keys."""
    return f"session:{token}"


def issue(secret: bytes, holder: str, now: datetime) -> str:
    """Return a new key for a form shown to the holder."""
    nonce, issued = secrets.token_urlsafe(16), _seconds(now)
    return f"{nonce}.{issued}.{_mac(secret, holder, nonce, issued)}"


def nonce_of(key: str, secret: bytes, holder: str, now: datetime, max_age: timedelta) -> str | None:
    """Return the key's nonce if it was issued to the holder within max_age, else None."""
    match = KEY_RE.fullmatch(key or "")
    if match is None:
        return None
    nonce, issued = match["nonce"], int(match["issued"])
    if _seconds(now) - issued > max_age.total_seconds():
        return None
    if not hmac.compare_digest(match["mac"], _mac(secret, holder, nonce, issued)):
        return None
    return nonce


def _insert():
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    table = FormKey.__table__
    return insert(table).on_conflict_do_nothing(index_elements=[table.c.nonce]).returning(table.c.nonce)


def claim(nonce: str, now: datetime) -> None:
    """Claim the key for this submission, in the caller's transaction, or raise AlreadySent.

    A concurrent submission of the same key waits here until the first one commits (then it is a
    replay) or rolls back (then it is the first).
    """
    if db.session.execute(_insert(), {"nonce": nonce, "result_url": None, "created_at": now}).scalar() is None:
        raise AlreadySent(db.session.scalar(select(FormKey.result_url).where(FormKey.nonce == nonce)))


def settle(nonce: str, result_url: str) -> None:
    """Record where the result of the submission that claimed the key is shown."""
    db.session.execute(update(FormKey).where(FormKey.nonce == nonce).values(result_url=result_url))


def forget_claimed_before(cutoff: datetime) -> int:
    """Delete the keys claimed before the cutoff; no key issued before it is accepted any more. Return how many."""
    return db.session.execute(delete(FormKey).where(FormKey.created_at < cutoff)).rowcount
