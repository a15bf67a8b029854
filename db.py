"""Column helpers every package shares: one form of time and of enums on both engines."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import Enum


def utcnow() -> datetime:
    """Return the current time as naive UTC, the one form both engines store alike."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def enum_column(enum_class: type[enum.Enum], name: str | None = None) -> Enum:
    """Store an enum by value as a short string with a CHECK, the same on every engine.

    `name` names the CHECK constraint; tables with two columns of one enum need it.
    """
    return Enum(
        enum_class,
        name=name or enum_class.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=max(20, *(len(m.value) for m in enum_class)),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
