"""Sign-ins: each signed-in browser of a user, so that it can be listed, timed out and ended from anywhere.

A sign-in is checked on every request with the user (accounts/auth.py), so deleting its row ends
that session on every node at once, whatever store holds the session's data.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import DateTime, ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db

#: How stale `last_seen_at` may get before a request moves it: the idle timeout's precision.
SEEN_PRECISION = timedelta(minutes=1)
#: Longest device description kept (from the User-Agent header).
DEVICE_LENGTH = 200


class SignIn(db.Model):
    """One signed-in browser of a user, by a random id that only its session holds."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    device: Mapped[str] = mapped_column(String(DEVICE_LENGTH), default="")


class Timeouts(NamedTuple):
    idle: timedelta
    absolute: timedelta


class Expiry(NamedTuple):
    """Whether a sign-in has ended by time, and which limit ended it."""

    expired: bool
    idle: bool = False


_sign_ins = SignIn.__table__


def start_sign_in(user_id: int, device: str, now: datetime) -> str:
    """Record a new sign-in of the user; return its id, for the session to keep."""
    sign_in_id = secrets.token_urlsafe(32)
    db.session.execute(_sign_ins.insert().values(
        id=sign_in_id, user_id=user_id, created_at=now, last_seen_at=now, device=device[:DEVICE_LENGTH],
    ))
    return sign_in_id


def expiry(created_at: datetime, last_seen_at: datetime, now: datetime, timeouts: Timeouts) -> Expiry:
    """Tell whether a sign-in has run out: idle too long, or open longer than the absolute limit."""
    if now - created_at > timeouts.absolute:
        return Expiry(True)
    if now - last_seen_at > timeouts.idle:
        return Expiry(True, idle=True)
    return Expiry(False)


def needs_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= SEEN_PRECISION


def touch_statement(sign_in_id: str, now: datetime):
    """The statement that moves a sign-in's last-seen time, for the caller to run when it may write."""
    return update(_sign_ins).where(_sign_ins.c.id == sign_in_id).values(last_seen_at=now)


def end_statement(sign_in_id: str):
    """The statement that ends one sign-in, for the caller to run when it may write."""
    return delete(_sign_ins).where(_sign_ins.c.id == sign_in_id)


def end_sign_in(sign_in_id: str, user_id: int | None = None) -> bool:
    """End one sign-in (of this user, when given); return whether there was one."""
    statement = end_statement(sign_in_id)
    if user_id is not None:
        statement = statement.where(_sign_ins.c.user_id == user_id)
    return db.session.execute(statement).rowcount > 0


def end_sign_ins(user_id: int, keep: str | None = None) -> int:
    """End every sign-in of a user, but `keep`; return how many ended."""
    statement = delete(_sign_ins).where(_sign_ins.c.user_id == user_id)
    if keep is not None:
        statement = statement.where(_sign_ins.c.id != keep)
    return db.session.execute(statement).rowcount


def end_everyone() -> int:
    """End every sign-in of every user; return how many ended."""
    return db.session.execute(delete(_sign_ins)).rowcount


def active_sign_ins(user_id: int, now: datetime, timeouts: Timeouts) -> list[SignIn]:
    """Return the user's sign-ins that have not run out, the most recently seen first."""
    rows = db.session.scalars(select(SignIn).where(
        SignIn.user_id == user_id, SignIn.created_at > now - timeouts.absolute,
        SignIn.last_seen_at > now - timeouts.idle,
    ).order_by(SignIn.last_seen_at.desc()))
    return list(rows)


def delete_expired(now: datetime, timeouts: Timeouts) -> int:
    """Delete the sign-ins that have run out; return how many."""
    return db.session.execute(delete(_sign_ins).where(
        (_sign_ins.c.created_at <= now - timeouts.absolute) | (_sign_ins.c.last_seen_at <= now - timeouts.idle)
    )).rowcount
