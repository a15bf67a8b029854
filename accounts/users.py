"""User accounts: roles and their grants, passwords and login, verification against the register."""
from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from accounts import audit, passwords, sessions
from accounts.models import Organization, OrgLevel, RegisterEntry, Role, RoleGrant, User
from db import utcnow
from errors import NotFound, PermissionDenied, ValidationFailed
from extensions import db

PHONE_RE = re.compile(r"^\+?\d{7,15}$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def normalize_phone(raw: str) -> str:
    """Return the phone number with spaces, dashes and brackets removed."""
    return re.sub(r"[\s\-()]", "", raw or "")


def require_admin(actor: User) -> None:
    """Refuse anyone but an administrator."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only administrators may do this."))


def role_scope(actor: User, role: Role, refusal: str) -> Organization | None:
    """Return the subtree the actor acts on in this role; None means everything (admin); refuse anyone else."""
    if actor.is_admin:
        return None
    scope = actor.organization_for(role)
    if scope is None:
        raise PermissionDenied(refusal)
    return scope


def evaluator_scope(actor: User) -> Organization | None:
    """Return the subtree the actor may see as an evaluator; None means everything (admin)."""
    return role_scope(actor, Role.evaluator, _l("Only evaluators and administrators may see this."))


def check_password_policy(password: str, username: str = "", name: str = "", phone: str = "") -> list[str]:
    """Return what is wrong with a new password (empty when it is acceptable)."""
    if len(password) < passwords.MIN_LENGTH:
        return [_l("Use at least %(n)d characters.", n=passwords.MIN_LENGTH)]
    if len(password) > passwords.MAX_LENGTH:
        return [_l("Use at most %(n)d characters.", n=passwords.MAX_LENGTH)]
    if passwords.is_published(password):
        return [_l("This is the demo's published password; choose your own.")]
    if passwords.is_common(password):
        return [_l("This password is too common; choose one that is harder to guess.")]
    score, personal = passwords.guessability(password, [username, name, phone])
    if score >= passwords.MIN_SCORE:
        return []
    if personal:
        return [_l("Do not build your password from your name, login or phone number.")]
    return [_l("This password is easy to guess: make it longer, for example a few unrelated words.")]


def set_password(user: User, password: str, ph: PasswordHasher, field: str = "password") -> None:
    """Hash and store a new password, signing out the user's other sessions."""
    problems = check_password_policy(password, user.username, user.name, user.phone or "")
    if problems:
        raise ValidationFailed({field: problems})
    user.password_hash = ph.hash(password)
    user.session_version = (user.session_version or 0) + 1
    sessions.end_sign_ins(user.id)


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


def sign_out_everywhere(actor: User, user: User) -> int:
    """End every session of someone's account, as an administrator; return how many ended."""
    require_admin(actor)
    ended = sessions.end_sign_ins(user.id)
    audit.record(audit.AuditKind.sessions_ended, actor, subject_id=user.id, details={"sessions": ended})
    return ended


def reset_password(actor: User, user: User, password: str, ph: PasswordHasher) -> None:
    """Set a new password for someone else's account."""
    require_admin(actor)
    set_password(user, password, ph)
    audit.record(audit.AuditKind.password_reset, actor, subject_id=user.id)


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
    password: str = "",
    grants: list[GrantSpec],
    ph: PasswordHasher,
    password_hash: str | None = None,
) -> User:
    """Create an account with its roles (admins only; actor None for the command line).

    A `password_hash` is stored as given instead of checking and hashing `password`: the demo seed
    gives its published password, which the policy refuses for every account set up by hand.
    """
    if actor is not None:
        require_admin(actor)
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationFailed({"username": [_l("Use 3 to 64 lower-case letters, digits, dots, dashes or underscores.")]})
    if _username_taken(username):
        raise ValidationFailed({"username": [_l("This login is already taken.")]})
    user = User(username=username, name=name.strip(), phone=normalize_phone(phone or "") or None, password_hash="")
    if password_hash is None:
        set_password(user, password, ph)
    else:
        user.password_hash = password_hash
    user.grants = _check_grants(grants)
    db.session.add(user)
    db.session.flush()
    audit.record(audit.AuditKind.account_created, actor, subject_id=user.id)
    audit.record_account_changes(actor, user, True, {})
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
    lost_access = user.active and not active
    was_active, grants_before = user.active, audit.grants_of(user)
    user.active = active
    wanted = {g.role: g for g in _check_grants(grants)}
    for existing in list(user.grants):
        replacement = wanted.pop(existing.role, None)
        if replacement is None:
            user.grants.remove(existing)
            lost_access = True
        else:
            moved_to = replacement.organization.id if replacement.organization else None
            lost_access |= existing.organization_id != moved_to
            existing.organization = replacement.organization
    user.grants.extend(wanted.values())
    if lost_access:
        # A removed role or organization must not linger in a session opened under it.
        sessions.end_sign_ins(user.id)
    db.session.flush()
    audit.record_account_changes(actor, user, was_active, grants_before)
    match_register_entry(user)
    return user


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
    """Return the user with this id."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_l("There is no such user."))
    return user
