"""Request categories and their time limits, managed by administrators."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from accounts.users import require_admin
from errors import NotFound, ValidationFailed
from extensions import db
from workflow.models import Category

DUPLICATE_NAME = _l("A category with this name exists already.")


@dataclass(frozen=True)
class CategoryFields:
    """A category as an administrator enters it: names, whether it is offered, time limits in hours."""

    name: str
    name_en: str
    active: bool
    urgent_respond_hours: int
    urgent_resolve_hours: int
    normal_respond_hours: int
    normal_resolve_hours: int


def all_categories() -> list[Category]:
    """Return every category, offered or not, in the order they were added."""
    return list(db.session.scalars(select(Category).order_by(Category.id)))


def active_categories() -> list[Category]:
    """Return the categories offered to residents filing a request."""
    return list(db.session.scalars(select(Category).where(Category.active).order_by(Category.id)))


def get_category(category_id: int) -> Category:
    """Return the category or raise NotFound."""
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound(_l("There is no such category."))
    return category


def create_category(actor: User, fields: CategoryFields) -> Category:
    """Add a category with its time limits; its name must be new."""
    return _save(actor, Category(), fields)


def update_category(actor: User, category: Category, fields: CategoryFields) -> Category:
    """Rename a category, change its time limits or stop offering it."""
    return _save(actor, category, fields)


def _save(actor: User, category: Category, fields: CategoryFields) -> Category:
    require_admin(actor)
    name = fields.name.strip()
    taken = select(Category.id).where(Category.name == name)
    if category.id is not None:
        taken = taken.where(Category.id != category.id)
    if db.session.scalar(taken) is not None:
        raise ValidationFailed({"name": [DUPLICATE_NAME]})
    wanted = {**asdict(fields), "name": name, "name_en": fields.name_en.strip()}
    created = category.id is None
    changes = {key: [getattr(category, key), value] for key, value in wanted.items()
               if created or getattr(category, key) != value}
    for key, value in wanted.items():
        setattr(category, key, value)
    db.session.add(category)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # The same name was saved by someone else between the check and the flush.
        raise ValidationFailed({"name": [DUPLICATE_NAME]}) from None
    if changes:
        audit.record(audit.AuditKind.category_created if created else audit.AuditKind.category_changed, actor,
                     subject_id=category.id, details={"name": name, "changes": changes})
    return category
