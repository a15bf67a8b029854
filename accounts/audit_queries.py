"""Reading the audit log: filters, pages newest first, and the logins its entries name."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, func, select

from accounts.audit import SUBJECT_TABLES, AuditEntry, AuditKind
from accounts.models import Organization, User
from extensions import db


@dataclass(frozen=True)
class AuditFilters:
    actor_id: int | None = None
    kind: AuditKind | None = None
    #: Entries in this organization's subtree.
    organization: Organization | None = None
    #: From this UTC time on, and before that one.
    since: datetime | None = None
    until: datetime | None = None


class AuditRow(NamedTuple):
    entry: AuditEntry
    actor_login: str | None
    organization_name: str | None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    per_page: int
    #: Logins of the people the entries act on, by id.
    logins: dict[int, str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _filtered(filters: AuditFilters) -> Select:
    statement = (
        select(AuditEntry, User.username, Organization.name)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .outerjoin(Organization, Organization.id == AuditEntry.organization_id)
    )
    if filters.actor_id is not None:
        statement = statement.where(AuditEntry.actor_id == filters.actor_id)
    if filters.kind is not None:
        statement = statement.where(AuditEntry.kind == filters.kind)
    if filters.organization is not None:
        statement = statement.where(Organization.path.startswith(filters.organization.path))
    if filters.since is not None:
        statement = statement.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        statement = statement.where(AuditEntry.at < filters.until)
    return statement


def _newest_first(statement: Select) -> Select:
    return statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def audit_page(filters: AuditFilters, page: int = 1, per_page: int = 50) -> AuditPage:
    """Return one page of the entries that pass the filters, newest first."""
    statement = _filtered(filters)
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = [AuditRow(*row) for row in db.session.execute(
        _newest_first(statement).limit(per_page).offset((page - 1) * per_page)
    )]
    return AuditPage(rows, total, page, per_page, logins_named_by([row.entry for row in rows]))


def audit_rows(filters: AuditFilters, limit: int) -> tuple[list[AuditRow] | None, dict[int, str]]:
    """Return every entry that passes the filters, newest first, with the logins they name: an export.

    More than `limit` entries return None: one file must not take the server's memory.
    """
    rows = [AuditRow(*row) for row in db.session.execute(_newest_first(_filtered(filters)).limit(limit + 1))]
    if len(rows) > limit:
        return None, {}
    return rows, logins_named_by([row.entry for row in rows])


def people_named_by(entry: AuditEntry) -> list[int]:
    """Return the ids of the people an entry acts on: its subject, or the assignees of a reassignment."""
    people = [entry.subject_id] if SUBJECT_TABLES.get(entry.kind) == "users" and entry.subject_id else []
    if entry.kind == AuditKind.case_reassigned:
        people += [entry.details.get("from_assignee_id"), entry.details.get("to_assignee_id")]
    return [person for person in people if isinstance(person, int)]


def logins_named_by(entries: list[AuditEntry]) -> dict[int, str]:
    """Return the login of each person the entries act on, in one query."""
    wanted = {person for entry in entries for person in people_named_by(entry)}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def find_login(login: str) -> User | None:
    """Return the account with this login, as typed at sign-in (any case, spaces around)."""
    return db.session.scalar(select(User).where(User.username == login.strip().lower()))
