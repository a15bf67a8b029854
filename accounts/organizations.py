"""The organization tree: district, township and community organizations."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import Column, String, Table, exists, func, literal, select, update

from accounts import audit
from accounts.models import REFERRER_NAMES, Organization, OrgLevel, User
from accounts.users import require_admin
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db


def organizations_in(scope: Organization | None) -> list[Organization]:
    """Return the organizations of a subtree (all for None), parents before children."""
    query = select(Organization).order_by(Organization.path)
    if scope is not None:
        query = query.where(Organization.path.startswith(scope.path))
    return list(db.session.scalars(query))


def get_organization_in_scope(organization_id: int, scope: Organization | None) -> Organization:
    """Return the organization with this id if it lies in the scope (None: anywhere)."""
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(_l("There is no such organization."))
    if scope is not None and not scope.contains(organization):
        raise PermissionDenied(_l("This organization is outside your area."))
    return organization


def _validate_parent(level: OrgLevel, parent: Organization | None) -> None:
    expected = level.parent_level
    if expected is None and parent is not None:
        raise ValidationFailed({"parent": [_l("A district committee has no parent organization.")]})
    if expected is not None and (parent is None or parent.level != expected):
        raise ValidationFailed(
            {"parent": [_l("Township committees belong to a district; communities to a township.")]}
        )


def _check_sibling_name(name: str, parent: Organization | None, exclude_id: int | None = None) -> None:
    query = select(Organization.id).where(
        Organization.name == name,
        Organization.parent_id.is_(None) if parent is None else Organization.parent_id == parent.id,
    )
    if exclude_id is not None:
        query = query.where(Organization.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise ValidationFailed({"name": [_l("An organization with this name exists already at this place.")]})


def create_organization(actor: User | None, *, name: str, level: OrgLevel, parent_id: int | None) -> Organization:
    """Add an organization under its parent (admins only; actor None for the command line)."""
    if actor is not None:
        require_admin(actor)
    name = name.strip()
    parent = db.session.get(Organization, parent_id) if parent_id else None
    _validate_parent(level, parent)
    _check_sibling_name(name, parent)
    organization = Organization(name=name, level=level, parent=parent)
    db.session.add(organization)
    db.session.flush()
    organization.path = f"{parent.path if parent else '/'}{organization.id}/"
    audit.record(audit.AuditKind.organization_created, actor, organization_id=organization.id,
                 subject_id=organization.id, details={"name": name, "level": level.value, "parent_id": parent_id})
    return organization


def update_organization(actor: User, organization: Organization, *, name: str, parent_id: int | None) -> Organization:
    """Rename an organization or move it under another parent of the right level."""
    require_admin(actor)
    name = name.strip()
    parent = db.session.get(Organization, parent_id) if parent_id else None
    _validate_parent(organization.level, parent)
    _check_sibling_name(name, parent, exclude_id=organization.id)
    changes = {key: [old, new] for key, old, new in (("name", organization.name, name),
                                                     ("parent_id", organization.parent_id, parent_id or None))
               if old != new}
    if changes:
        audit.record(audit.AuditKind.organization_changed, actor, organization_id=organization.id,
                     subject_id=organization.id, details={"name": name, "changes": changes})
    organization.name = name
    if parent is not organization.parent:
        old_path = organization.path
        new_path = f"{parent.path if parent else '/'}{organization.id}/"
        organization.parent = parent
        # Rewrite the prefix of the whole subtree in one statement.
        db.session.execute(
            update(Organization)
            .where(Organization.path.startswith(old_path))
            .values(path=literal(new_path, String) + func.substr(Organization.path, len(old_path) + 1))
            .execution_options(synchronize_session=False)
        )
        db.session.expire_all()
    db.session.flush()
    return organization


class _Listing:
    """Labels joined where the message is shown, so that each is in the reader's language."""

    SEPARATOR = _lp("list separator", ", ")

    def __init__(self, labels: list) -> None:
        self.labels = labels

    def __str__(self) -> str:
        return str(self.SEPARATOR).join(str(label) for label in self.labels)


def referrers_of_organizations() -> list[tuple[Table, Column]]:
    """Return every column, in any package's table, that holds an organization's id."""
    organization_id = Organization.__table__.c.id
    return [
        (table, key.parent)
        for table in db.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column is organization_id
    ]


def what_refers_to(organization: Organization) -> list:
    """Return, in words and each once, the kinds of rows that refer to the organization."""
    found = []
    for table, column in referrers_of_organizations():
        if db.session.scalar(select(exists().where(column == organization.id))):
            label = REFERRER_NAMES.get(table.name, table.name)
            # Compared by identity: comparing lazy strings would translate them here.
            if not any(label is seen for seen in found):
                found.append(label)
    return found


def delete_organization(actor: User, organization: Organization) -> None:
    """Remove an organization that nothing refers to, or say what does."""
    require_admin(actor)
    referrers = what_refers_to(organization)
    if referrers:
        raise Conflict(_l(
            "This organization cannot be deleted while these refer to it: %(referrers)s.", referrers=_Listing(referrers)
        ))
    audit.record(audit.AuditKind.organization_deleted, actor, organization_id=organization.id,
                 subject_id=organization.id, details={"name": organization.name, "level": organization.level.value})
    db.session.delete(organization)
    db.session.flush()
