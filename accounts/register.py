"""The resident register (census): importing it, listing it, verifying residents against it."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts import audit
from accounts.models import Organization, OrgLevel, RegisterEntry, Role, RoleGrant, User
from accounts.organizations import organizations_in
from accounts.users import PHONE_RE, match_register_entry, normalize_phone, role_scope
from errors import ValidationFailed
from extensions import db

HEADER_ALIASES = {
    "name": "name", "姓名": "name",
    "phone": "phone", "电话": "phone", "手机": "phone", "手机号": "phone",
    "household": "household", "household or unit": "household", "unit": "household", "户": "household", "住址": "household", "户/单元": "household",
    "community": "community", "社区": "community",
    "township": "township", "街道": "township", "乡镇": "township", "街道/乡镇": "township",
    "district": "district", "区": "district", "区县": "district", "区/县": "district",
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


def register_scope(actor: User) -> Organization | None:
    """Return the subtree whose register the actor manages; None means everything (admin)."""
    return role_scope(actor, Role.member, _l("Only members and administrators manage the resident register."))


def _decode(data: bytes) -> str:
    # Spreadsheets on Chinese systems save CSV as GB18030 more often than UTF-8.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegisterImportFailed([RowError(1, _l("The file is neither UTF-8 nor GB18030 text."))])


class _Communities:
    """Find a community the actor manages by its name, and its township's and district's when given.

    Names are unique only among siblings, so a name alone must not pick one of several namesakes.
    """

    def __init__(self, scope: Organization | None) -> None:
        self.by_name: dict[str, list[Organization]] = defaultdict(list)
        for organization in organizations_in(scope):
            if organization.level == OrgLevel.community:
                self.by_name[organization.name].append(organization)

    def find(self, name: str, township: str = "", district: str = "") -> Organization:
        """Return the one community at this place, or raise the row's problem as ValueError."""
        candidates = [
            community for community in self.by_name.get(name, ())
            if township in ("", community.parent.name) and district in ("", community.parent.parent.name)
        ]
        place = " · ".join(part for part in (district, township, name) if part)
        if not candidates:
            raise ValueError(_l("“%(name)s” is not a community you manage", name=place))
        if len(candidates) > 1:
            raise ValueError(_l(
                "“%(name)s” is the name of more than one community you manage; "
                "add a township column (or district column) to say which", name=place,
            ))
        return candidates[0]


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """Yield each record with the line it starts on: a quoted field may hold line breaks."""
    first_line = reader.line_num + 1
    for cells in reader:
        yield first_line, cells
        first_line = reader.line_num + 1


def import_register(actor: User, data: bytes) -> ImportReport:
    """Import a CSV of residents all or nothing, then verify the accounts that match."""
    scope = register_scope(actor)
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    header = next(reader, None)
    if not header:
        raise RegisterImportFailed([RowError(1, _l("The file is empty."))])
    columns = [HEADER_ALIASES.get(h.strip().lower()) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RegisterImportFailed(
            [RowError(1, _l("The header must name the columns name, phone, household and community; missing: %(cols)s.", cols=", ".join(missing)))]
        )
    communities = _Communities(scope)
    errors: list[RowError] = []
    rows: dict[tuple[int, str, str], tuple[int, str]] = {}
    for line, raw in _records(reader):
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
        try:
            community = communities.find(row["community"], row.get("township", ""), row.get("district", ""))
        except ValueError as problem:
            problems.append(problem.args[0])
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

    existing = {
        tuple(row) for row in db.session.execute(
            select(RegisterEntry.community_id, RegisterEntry.phone, RegisterEntry.name).where(
                RegisterEntry.community_id.in_({key[0] for key in rows})
            )
        )
    }
    new_keys = [key for key in rows if key not in existing]
    db.session.add_all(
        RegisterEntry(community_id=c, phone=p, name=n, household=rows[(c, p, n)][1]) for c, p, n in new_keys
    )
    db.session.flush()
    verified = verify_pending_residents({key[0] for key in new_keys})
    report = ImportReport(added=len(new_keys), unchanged=len(rows) - len(new_keys), verified=verified)
    audit.record(audit.AuditKind.register_imported, actor, organization_id=scope.id if scope else None, details={
        "added": report.added, "unchanged": report.unchanged, "verified": report.verified,
        "communities": sorted({key[0] for key in rows}),
    })
    return report


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
