"""The audit log of privileged acts: recorded in the act's own transaction, never changed afterwards.

Entries name people by id only; what else they keep is what the act needs to be understood later
(the name of an organization, a category or a survey as it was then, counts, settings).
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DDL, JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

import client_address
from accounts.models import Role, User
from db import enum_column, utcnow
from extensions import db


class AuditKind(enum.Enum):
    sign_in = "sign_in"
    sign_out = "sign_out"
    sign_in_failed = "sign_in_failed"
    account_created = "account_created"
    account_disabled = "account_disabled"
    account_enabled = "account_enabled"
    password_reset = "password_reset"
    sessions_ended = "sessions_ended"
    role_granted = "role_granted"
    role_removed = "role_removed"
    term_opened = "term_opened"
    term_ended = "term_ended"
    organization_created = "organization_created"
    organization_changed = "organization_changed"
    organization_deleted = "organization_deleted"
    register_imported = "register_imported"
    category_created = "category_created"
    category_changed = "category_changed"
    settings_changed = "settings_changed"
    survey_opened = "survey_opened"
    survey_closed = "survey_closed"
    survey_published = "survey_published"
    codes_issued = "codes_issued"
    case_reassigned = "case_reassigned"
    case_supervised = "case_supervised"


class AuditEntry(db.Model):
    """One privileged act. Rows are only ever inserted: the ORM and the database refuse the rest."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_id_at", "actor_id", "at"),
        Index("ix_audit_log_kind_at", "kind", "at"),
        Index("ix_audit_log_organization_id_at", "organization_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: UTC, like every time the app stores.
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Who acted; None for the command line, queued tasks and refused sign-ins. Users are disabled, not
    #: deleted: the key (no cascade) refuses to delete anyone who acted, so the log never loses its "who".
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[AuditKind] = mapped_column(enum_column(AuditKind))
    #: The organization acted in or on. No foreign key: an entry outlives the organization it names, and a
    #: key would make every organization undeletable (deleting refuses while any row refers to one).
    organization_id: Mapped[int | None]
    #: The client's address; None outside a request.
    origin: Mapped[str | None] = mapped_column(String(45))
    #: The id of what was acted on, its table given by the kind (SUBJECT_TABLES).
    subject_id: Mapped[int | None]
    #: What changed, by name; people only by id.
    details: Mapped[dict] = mapped_column(JSON, default=dict)


#: Which table the subject id of each kind refers to; kinds not listed have no subject.
SUBJECT_TABLES: dict[AuditKind, str] = {
    **dict.fromkeys((AuditKind.sign_in_failed, AuditKind.account_created, AuditKind.account_disabled,
                     AuditKind.account_enabled, AuditKind.password_reset, AuditKind.sessions_ended,
                     AuditKind.role_granted, AuditKind.role_removed, AuditKind.term_opened, AuditKind.term_ended),
                    "users"),
    **dict.fromkeys((AuditKind.organization_created, AuditKind.organization_changed,
                     AuditKind.organization_deleted), "organizations"),
    **dict.fromkeys((AuditKind.category_created, AuditKind.category_changed), "categories"),
    **dict.fromkeys((AuditKind.survey_opened, AuditKind.survey_closed, AuditKind.survey_published,
                     AuditKind.codes_issued), "surveys"),
    **dict.fromkeys((AuditKind.case_reassigned, AuditKind.case_supervised), "cases"),
}

APPEND_ONLY_MESSAGE = "audit_log is append-only"

# The database's own refusal, for anything that reaches it around the ORM. Kept as constants for the
# migration. Without a '%' or a ':' in them, they pass unchanged through DDL(), text() and the drivers.
POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = '{APPEND_ONLY_MESSAGE} (' || TG_OP || ' refused)',
        ERRCODE = 'insufficient_privilege';
END
$$
"""
POSTGRESQL_TRIGGER = (
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()"
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_refuse_change()",
)
SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
    for operation in ("UPDATE", "DELETE")
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete")

for _statement in (POSTGRESQL_FUNCTION, POSTGRESQL_TRIGGER):
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
for _statement in SQLITE_TRIGGERS:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))


class AuditLogIsAppendOnly(RuntimeError):
    """Something tried to change or delete an audit entry."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_entry_change(_mapper, _connection, target: AuditEntry) -> None:
    raise AuditLogIsAppendOnly(f"{APPEND_ONLY_MESSAGE}; refused to change entry {target.id}")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state: ORMExecuteState) -> None:
    """Refuse UPDATE and DELETE statements on the log sent through any session, ORM or Core."""
    table = getattr(state.statement, "table", None)
    if (state.is_update or state.is_delete) and getattr(table, "name", None) == AuditEntry.__tablename__:
        raise AuditLogIsAppendOnly(f"{APPEND_ONLY_MESSAGE}; refused {'UPDATE' if state.is_update else 'DELETE'}")


def record(kind: AuditKind, actor: User | None, *, organization_id: int | None = None, subject_id: int | None = None,
           details: dict | None = None, origin: str | None = None) -> AuditEntry:
    """Add an entry to the current transaction: it is written with the act, or not at all."""
    entry = AuditEntry(
        at=utcnow(), actor_id=actor.id if actor is not None else None, kind=kind,
        organization_id=organization_id, subject_id=subject_id,
        origin=origin if origin is not None else client_address.current.get(), details=details or {},
    )
    db.session.add(entry)
    return entry


def grants_of(user: User) -> dict[Role, int | None]:
    """Return the user's roles with the organization of each, to compare before and after a change."""
    return {grant.role: grant.organization.id if grant.organization else None for grant in user.grants}


def record_account_changes(actor: User | None, user: User, was_active: bool,
                           before: dict[Role, int | None]) -> None:
    """Record the account's being disabled or enabled, and each role it gained or lost (a moved role is both)."""
    if user.active != was_active:
        record(AuditKind.account_enabled if user.active else AuditKind.account_disabled, actor, subject_id=user.id)
    after = grants_of(user)
    for role, organization_id in before.items():
        if after.get(role, -1) != organization_id:
            _record_grant(AuditKind.role_removed, actor, user, role, organization_id)
    for role, organization_id in after.items():
        if before.get(role, -1) != organization_id:
            _record_grant(AuditKind.role_granted, actor, user, role, organization_id)


def _record_grant(kind: AuditKind, actor: User | None, user: User, role: Role, organization_id: int | None) -> None:
    record(kind, actor, organization_id=organization_id, subject_id=user.id, details={"role": role.value})
