"""The accounts' queued work: clearing sign-ins and stored sessions that have run out, every hour."""
from __future__ import annotations

from flask import current_app
from huey import crontab

import session_store
from accounts import sessions
from accounts.auth import timeouts
from db import utcnow
from extensions import db, huey, writing


@huey.periodic_task(crontab(minute="7"), name="accounts.clear-expired-sessions")
def clear_expired_sessions() -> None:
    """Delete the sign-ins past their idle or absolute limit and the stored sessions past their expiry."""
    with writing():
        sessions.delete_expired(utcnow(), timeouts())
        db.session.commit()
    if isinstance(current_app.session_interface, session_store.DatabaseSessionInterface):
        session_store.delete_expired()
