"""Accounts, organizations, secretary terms and the resident register."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

from argon2 import PasswordHasher
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from accounts import passwords
from accounts.models import (
    Organization,
    OrgLevel,
    RegisterEntry,
    Role,
    RoleGrant,
    SecretaryTerm,
    User,
    utcnow,
)
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db

PHONE_RE = re.compile(r"^\+?\d{7,15}$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def normalize_phone(raw: str) -> str:
    """Return the phone number with spaces, dashes and brackets removed."""
    return re.sub(r"[\s\-()]", "", raw or "")


def is_valid_phone(raw: str) -> bool:
    return bool(PHONE_RE.match(normalize_phone(raw)))


# --- authorization -------------------------------------------------------------------

def require_admin(actor: User) -> None:
    if not actor.is_admin:
        raise PermissionDenied(_l("Only administrators may do this."))


def register_scope(actor: User) -> Organization | None:
    """Return the subtree whose register the actor manages; None means everything (admin)."""
    if actor.is_admin:
        return None
    member_org = actor.organization_for(Role.member)
    if member_org is None:
        raise PermissionDenied(_l("Only members and administrators manage the resident register."))
    return member_org


def evaluator_scope(actor: User) -> Organization | None:
    """Return the subtree the actor may see as an evaluator; None means everything (admin)."""
    if actor.is_admin:
        return None
    scope = actor.organization_for(Role.evaluator)
    if scope is None:
        raise PermissionDenied(_l("Only evaluators and administrators may see this."))
    return scope


def organizations_in(scope: Organization | None) -> list[Organization]:
    """Return the organizations of a subtree (all for None), parents before children."""
    query = select(Organization).order_by(Organization.path)
    if scope is not None:
        query = query.where(Organization.path.startswith(scope.path))
    return list(db.session.scalars(query))


def get_organization_in_scope(organization_id: int, scope: Organization | None) -> Organization:
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(_l("There is no such organization."))
    if scope is not None and not scope.contains(organization):
        raise PermissionDenied(_l("This organization is outside your area."))
    return organization


# --- passwords and login -------------------------------------------------------------

def check_password_policy(password: str, username: str = "", name: str = "") -> list[str]:
    """Return what is wrong with a new password (empty when it is acceptable)."""
    problems = []
    if len(password) < passwords.MIN_LENGTH:
        problems.append(_l("Use at least %(n)d characters.", n=passwords.MIN_LENGTH))
    elif len(password) > passwords.MAX_LENGTH:
        problems.append(_l("Use at most %(n)d characters.", n=passwords.MAX_LENGTH))
    elif passwords.is_common(password):
        problems.append(_l("This password is too common; choose one that is harder to guess."))
    elif password.lower() in {username.lower(), name.lower()} - {""}:
        problems.append(_l("Do not use your name or login as your password."))
    return problems


def set_password(user: User, password: str, ph: PasswordHasher, field: str = "password") -> None:
    """Hash and store a new password, signing out the user's other sessions."""
    problems = check_password_policy(password, user.username, user.name)
    if problems:
        raise ValidationFailed({field: problems})
    user.password_hash = ph.hash(password)
    user.session_version = (user.session_version or 0) + 1


def authenticate(username: str, password: str, ph: PasswordHasher) -> User | None:
    """Return the active user with these credentials, rehashing an outdated hash."""
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        ph.hash(password)  # same work as a real check, so timing does not reveal accounts
        return None
    if not passwords.verify(ph, user.password_hash, password) or not user.active:
        return None
    if ph.check_needs_rehash(user.password_hash):
        user.password_hash = ph.hash(password)
    user.last_login_at = utcnow()
    return user


def change_password(user: User, current: str, new: str, ph: PasswordHasher) -> None:
    """Change a user's own password after checking the current one."""
    if not passwords.verify(ph, user.password_hash, current):
        raise ValidationFailed({"current_password": [_l("This is not your current password.")]})
    set_password(user, new, ph, field="new_password")


# --- users ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GrantSpec:
    role: Role
    organization_id: int | None


def _check_grants(grants: list[GrantSpec]) -> list[RoleGrant]:
    built = []
    for spec in grants:
        organization = db.session.get(Organization, spec.organization_id) if spec.organization_id else None
        if spec.role == Role.admin:
            organization = None
        elif organization is None:
            raise ValidationFailed({spec.role.value: [_l("Choose the organization for this role.")]})
        elif spec.role == Role.resident and organization.level != OrgLevel.community:
            raise ValidationFailed({spec.role.value: [_l("A resident belongs to a community.")]})
        built.append(RoleGrant(role=spec.role, organization=organization))
    return built


def _username_taken(username: str, exclude_id: int | None = None) -> bool:
    query = select(User.id).where(User.username == username)
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return db.session.scalar(query) is not None


def create_user(
    actor: User | None,
    *,
    username: str,
    name: str,
    phone: str | None,
    password: str,
    grants: list[GrantSpec],
    ph: PasswordHasher,
) -> User:
    """Create an account with its roles (admins only; actor None for the command line)."""
    if actor is not None:
        require_admin(actor)
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationFailed({"username": [_l("Use 3 to 64 lower-case letters, digits, dots, dashes or underscores.")]})
    if _username_taken(username):
        raise ValidationFailed({"username": [_l("This login is already taken.")]})
    user = User(username=username, name=name.strip(), phone=normalize_phone(phone or "") or None, password_hash="")
    set_password(user, password, ph)
    user.grants = _check_grants(grants)
    db.session.add(user)
    db.session.flush()
    match_register_entry(user)
    return user


def update_user(
    actor: User, user: User, *, name: str, phone: str | None, active: bool, grants: list[GrantSpec]
) -> User:
    """Change a user's details, status and roles."""
    require_admin(actor)
    if user.id == actor.id and (not active or not any(g.role == Role.admin for g in grants)):
        raise ValidationFailed({"active": [_l("You cannot deactivate yourself or remove your own admin role.")]})
    user.name = name.strip()
    user.phone = normalize_phone(phone or "") or None
    user.active = active
    wanted = {g.role: g for g in _check_grants(grants)}
    for existing in list(user.grants):
        replacement = wanted.pop(existing.role, None)
        if replacement is None:
            user.grants.remove(existing)
        else:
            existing.organization = replacement.organization
    user.grants.extend(wanted.values())
    db.session.flush()
    match_register_entry(user)
    return user


def reset_password(actor: User, user: User, password: str, ph: PasswordHasher) -> None:
    """Set a new password for someone else's account."""
    require_admin(actor)
    set_password(user, password, ph)


def register_resident(
    *, name: str, phone: str, community_id: int, password: str, ph: PasswordHasher
) -> User:
    """Create a resident's own account, logging in with their phone number."""
    community = db.session.get(Organization, community_id)
    if community is None or community.level != OrgLevel.community:
        raise ValidationFailed({"community": [_l("Choose your community.")]})
    username = normalize_phone(phone)
    if _username_taken(username):
        raise ValidationFailed({"phone": [_l("An account with this phone number exists already. Log in instead.")]})
    user = User(username=username, name=name.strip(), phone=username, password_hash="")
    set_password(user, password, ph)
    user.grants = [RoleGrant(role=Role.resident, organization=community)]
    db.session.add(user)
    db.session.flush()
    match_register_entry(user)
    return user


def search_users(query: str = "", role: Role | None = None, page: int = 1, per_page: int = 25):
    """Return one page of users matching a name, login or phone fragment and a role."""
    statement = select(User).order_by(User.name, User.id)
    if query:
        like = f"%{query.strip().lower()}%"
        statement = statement.where(
            or_(func.lower(User.name).like(like), User.username.like(like), User.phone.like(like))
        )
    if role is not None:
        statement = statement.where(User.grants.any(RoleGrant.role == role))
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_l("There is no such user."))
    return user


# --- organizations -------------------------------------------------------------------

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
    return organization


def update_organization(actor: User, organization: Organization, *, name: str, parent_id: int | None) -> Organization:
    """Rename an organization or move it under another parent of the right level."""
    require_admin(actor)
    name = name.strip()
    parent = db.session.get(Organization, parent_id) if parent_id else None
    _validate_parent(organization.level, parent)
    _check_sibling_name(name, parent, exclude_id=organization.id)
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


def delete_organization(actor: User, organization: Organization) -> None:
    """Remove an organization that nothing refers to yet."""
    require_admin(actor)
    in_use = (
        db.session.scalar(select(func.count()).select_from(Organization).where(Organization.parent_id == organization.id))
        or db.session.scalar(select(func.count()).select_from(RoleGrant).where(RoleGrant.organization_id == organization.id))
        or db.session.scalar(select(func.count()).select_from(SecretaryTerm).where(SecretaryTerm.organization_id == organization.id))
        or db.session.scalar(select(func.count()).select_from(RegisterEntry).where(RegisterEntry.community_id == organization.id))
    )
    if in_use:
        raise Conflict(_l("This organization still has sub-organizations, people, terms or register entries; it cannot be deleted."))
    db.session.delete(organization)
    db.session.flush()


# --- secretary terms -----------------------------------------------------------------

def terms_of(organization: Organization) -> list[SecretaryTerm]:
    return list(
        db.session.scalars(
            select(SecretaryTerm).where(SecretaryTerm.organization_id == organization.id).order_by(SecretaryTerm.start_date.desc())
        )
    )


def open_term(organization_id: int) -> SecretaryTerm | None:
    return db.session.scalar(
        select(SecretaryTerm).where(SecretaryTerm.organization_id == organization_id, SecretaryTerm.end_date.is_(None))
    )


def current_secretaries(organization_ids: list[int]) -> dict[int, SecretaryTerm]:
    """Return the open term of each given organization that has one."""
    if not organization_ids:
        return {}
    terms = db.session.scalars(
        select(SecretaryTerm)
        .where(SecretaryTerm.organization_id.in_(organization_ids), SecretaryTerm.end_date.is_(None))
        .options(joinedload(SecretaryTerm.user).lazyload(User.grants))
    )
    return {term.organization_id: term for term in terms}


def appoint_secretary(actor: User | None, organization: Organization, user: User, start_date: date) -> SecretaryTerm:
    """Open a secretary term; the current secretary's term ends the day before."""
    if actor is not None:
        require_admin(actor)
    member_org = user.organization_for(Role.member)
    if member_org is None or member_org.id != organization.id:
        raise ValidationFailed({"user": [_l("The secretary must be a member of this organization.")]})
    current = open_term(organization.id)
    if current is not None:
        if current.user_id == user.id:
            raise ValidationFailed({"user": [_l("This person is already the secretary.")]})
        if start_date <= current.start_date:
            raise ValidationFailed({"start_date": [_l("The new term must start after the current one began.")]})
        current.end_date = start_date - timedelta(days=1)
    term = SecretaryTerm(organization=organization, user=user, start_date=start_date)
    db.session.add(term)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(_l("Another secretary was appointed meanwhile. Reload and try again.")) from None
    return term


def end_term(actor: User, term: SecretaryTerm, end_date: date) -> SecretaryTerm:
    """Close an open secretary term on the given day."""
    require_admin(actor)
    if term.end_date is not None:
        raise Conflict(_l("This term has ended already."))
    if end_date < term.start_date:
        raise ValidationFailed({"end_date": [_l("A term cannot end before it starts.")]})
    term.end_date = end_date
    db.session.flush()
    return term


def get_term(term_id: int) -> SecretaryTerm:
    term = db.session.get(SecretaryTerm, term_id)
    if term is None:
        raise NotFound(_l("There is no such term."))
    return term


# --- resident register ---------------------------------------------------------------

HEADER_ALIASES = {
    "name": "name", "姓名": "name",
    "phone": "phone", "电话": "phone", "手机": "phone", "手机号": "phone",
    "household": "household", "household or unit": "household", "unit": "household", "户": "household", "住址": "household", "户/单元": "household",
    "community": "community", "社区": "community",
}
REQUIRED_COLUMNS = ("name", "phone", "household", "community")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass(frozen=True)
class ImportReport:
    added: int
    unchanged: int
    verified: int


class RegisterImportFailed(ValidationFailed):
    """A register file with bad rows; nothing was imported."""

    def __init__(self, row_errors: list[RowError]) -> None:
        super().__init__({"file": [_l("The file has errors; nothing was imported.")]})
        self.row_errors = row_errors


def _decode(data: bytes) -> str:
    # Spreadsheets on Chinese systems save CSV as GB18030 more often than UTF-8.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegisterImportFailed([RowError(1, _l("The file is neither UTF-8 nor GB18030 text."))])


def import_register(actor: User, data: bytes) -> ImportReport:
    """Import a CSV of residents all or nothing, then verify the accounts that match."""
    scope = register_scope(actor)
    reader = csv.reader(io.StringIO(_decode(data)))
    header = next(reader, None)
    if not header:
        raise RegisterImportFailed([RowError(1, _l("The file is empty."))])
    columns = [HEADER_ALIASES.get(h.strip().lower()) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RegisterImportFailed(
            [RowError(1, _l("The header must name the columns name, phone, household and community; missing: %(cols)s.", cols=", ".join(missing)))]
        )
    communities = {
        o.name: o for o in organizations_in(scope) if o.level == OrgLevel.community
    }
    errors: list[RowError] = []
    rows: dict[tuple[int, str, str], tuple[int, str]] = {}
    for line, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(header):
            errors.append(RowError(line, _l("Expected %(n)d columns, found %(m)d.", n=len(header), m=len(raw))))
            continue
        row = {col: cell.strip() for col, cell in zip(columns, raw) if col}
        problems = []
        if not row["name"] or len(row["name"]) > 80:
            problems.append(_l("the name is missing or longer than 80 characters"))
        phone = normalize_phone(row["phone"])
        if not PHONE_RE.match(phone):
            problems.append(_l("“%(phone)s” is not a phone number", phone=row["phone"]))
        if len(row["household"]) > 120:
            problems.append(_l("the household is longer than 120 characters"))
        community = communities.get(row["community"])
        if community is None:
            problems.append(_l("“%(name)s” is not a community you manage", name=row["community"]))
        if problems:
            errors.append(RowError(line, "; ".join(str(p) for p in problems)))
            continue
        key = (community.id, phone, row["name"])
        if key in rows:
            errors.append(RowError(line, _l("the same resident is on line %(line)d", line=rows[key][0])))
            continue
        rows[key] = (line, row["household"])
    if errors:
        raise RegisterImportFailed(errors)
    if not rows:
        raise RegisterImportFailed([RowError(2, _l("The file has no residents."))])

    existing = set(
        tuple(row) for row in db.session.execute(
            select(RegisterEntry.community_id, RegisterEntry.phone, RegisterEntry.name).where(
                RegisterEntry.community_id.in_({key[0] for key in rows})
            )
        )
    )
    new_keys = [key for key in rows if key not in existing]
    db.session.add_all(
        RegisterEntry(community_id=c, phone=p, name=n, household=rows[(c, p, n)][1]) for c, p, n in new_keys
    )
    db.session.flush()
    verified = verify_pending_residents({key[0] for key in new_keys})
    return ImportReport(added=len(new_keys), unchanged=len(rows) - len(new_keys), verified=verified)


def register_entries(scope: Organization | None, community_id: int | None = None, page: int = 1, per_page: int = 50):
    """Return one page of register entries in the scope, with their verified account if any."""
    statement = (
        select(RegisterEntry, User)
        .join(Organization, RegisterEntry.community_id == Organization.id)
        .outerjoin(User, User.register_entry_id == RegisterEntry.id)
        .order_by(Organization.name, RegisterEntry.household, RegisterEntry.name)
    )
    if scope is not None:
        statement = statement.where(Organization.path.startswith(scope.path))
    if community_id:
        statement = statement.where(RegisterEntry.community_id == community_id)
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = db.session.execute(statement.limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


def match_register_entry(user: User) -> bool:
    """Link a resident to their register entry (same community, name and phone), or unlink."""
    community = user.organization_for(Role.resident)
    entry = None
    if community is not None and user.phone:
        entry = db.session.scalar(
            select(RegisterEntry).where(
                RegisterEntry.community_id == community.id,
                RegisterEntry.phone == user.phone,
                RegisterEntry.name == user.name,
                ~select(User.id).where(User.register_entry_id == RegisterEntry.id, User.id != user.id).exists(),
            )
        )
    user.register_entry = entry
    db.session.flush()
    return entry is not None


def verify_pending_residents(community_ids: set[int]) -> int:
    """Verify the unverified residents of these communities who now match the register."""
    pending = db.session.scalars(
        select(User)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(
            RoleGrant.role == Role.resident,
            RoleGrant.organization_id.in_(community_ids),
            User.register_entry_id.is_(None),
        )
    )
    return sum(match_register_entry(user) for user in list(pending))
