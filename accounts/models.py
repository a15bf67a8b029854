"""People, roles, the organization tree, secretary terms and the resident register."""
from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Table, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import enum_column, utcnow
from extensions import db


class OrgLevel(enum.Enum):
    district = "district"
    township = "township"
    community = "community"

    @property
    def parent_level(self) -> OrgLevel | None:
        return {OrgLevel.township: OrgLevel.district, OrgLevel.community: OrgLevel.township}.get(self)


class Role(enum.Enum):
    resident = "resident"
    member = "member"
    evaluator = "evaluator"
    admin = "admin"


class Organization(db.Model):
    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    level: Mapped[OrgLevel] = mapped_column(enum_column(OrgLevel))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    #: Ids from the root down, "/1/4/9/": a subtree is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Organization | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organization]] = relationship(back_populates="parent", order_by="Organization.name")

    def contains(self, other: Organization) -> bool:
        """Tell whether `other` is this organization or lies below it."""
        return other.path.startswith(self.path)

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


class RoleGrant(db.Model):
    """A role held by a user, with the organization it applies to.

    resident: the community they live in; member: the organization they serve;
    evaluator: the root of the subtree they may see; admin: none.
    """

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        CheckConstraint("(role = 'admin') = (organization_id IS NULL)", name="organization_matches_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)

    user: Mapped[User] = relationship(back_populates="grants")
    organization: Mapped[Organization | None] = relationship(lazy="joined")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-case login name; residents who register use their phone number.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    #: Preferred language; None follows the browser.
    locale: Mapped[str | None] = mapped_column(String(10))
    #: The register entry this resident matched; set means verified.
    register_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("register_entries.id", ondelete="SET NULL"), unique=True
    )
    #: Bumped when the password changes, which signs out every other session.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    register_entry: Mapped[RegisterEntry | None] = relationship()

    # Flask-Login's user protocol, written out so that the model imports no Flask.
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def grant(self, role: Role) -> RoleGrant | None:
        return next((g for g in self.grants if g.role == role), None)

    def has_role(self, role: Role) -> bool:
        return self.grant(role) is not None

    @property
    def roles(self) -> list[Role]:
        return [g.role for g in self.grants]

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.admin)

    @property
    def is_verified(self) -> bool:
        return self.register_entry_id is not None

    def organization_for(self, role: Role) -> Organization | None:
        grant = self.grant(role)
        return grant.organization if grant else None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class SecretaryTerm(db.Model):
    """A person's time as an organization's Party secretary; ratings attach to the term."""

    __tablename__ = "secretary_terms"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="ends_after_start"),
        # At most one open term per organization, enforced by the database itself.
        Index(
            "uq_secretary_terms_open_per_organization",
            "organization_id",
            unique=True,
            sqlite_where=text("end_date IS NULL"),
            postgresql_where=text("end_date IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    start_date: Mapped[date]
    end_date: Mapped[date | None]

    organization: Mapped[Organization] = relationship()
    user: Mapped[User] = relationship()

    @property
    def is_open(self) -> bool:
        return self.end_date is None


class RegisterEntry(db.Model):
    """One resident of a community as listed in the census register."""

    __tablename__ = "register_entries"
    __table_args__ = (UniqueConstraint("community_id", "phone", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    #: Digits only (a leading + kept), so matching ignores spaces and dashes.
    phone: Mapped[str] = mapped_column(String(20))
    household: Mapped[str] = mapped_column(String(120), default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Organization] = relationship()


#: What the rows of each table holding organization ids are, in words, by table name: a refused
#: deletion names them. Each package names its own tables beside its models.
REFERRER_NAMES: dict[str, object] = {}


def name_referrers(label, *tables: Table) -> None:
    """Say in words what the rows of these tables, which refer to organizations, are."""
    for table in tables:
        REFERRER_NAMES[table.name] = label


name_referrers(_l("sub-organizations"), Organization.__table__)
name_referrers(_l("people"), RoleGrant.__table__)
name_referrers(_l("secretary terms"), SecretaryTerm.__table__)
name_referrers(_l("register entries"), RegisterEntry.__table__)
