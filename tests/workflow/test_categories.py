"""Categories and their time limits: administrators add and change them; names are unique."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from errors import NotFound, PermissionDenied, ValidationFailed
from extensions import db
from workflow import categories
from workflow.models import Category


def fields(**overrides) -> categories.CategoryFields:
    values = {"name": "绿化", "name_en": "Greenery", "active": True, "urgent_respond_hours": 2,
              "urgent_resolve_hours": 48, "normal_respond_hours": 24, "normal_resolve_hours": 240}
    return categories.CategoryFields(**(values | overrides))


def stored() -> list[tuple[str, str]]:
    db.session.rollback()
    return [tuple(row) for row in db.session.execute(sa.select(Category.name, Category.name_en).order_by(Category.id))]


def test_an_administrator_adds_a_category_with_its_time_limits(world):
    category = categories.create_category(world["admin"], fields(name=" 绿化 "))
    assert category.id is not None  # flushed
    db.session.commit()
    assert (category.name, category.urgent_resolve_hours, category.normal_resolve_hours) == ("绿化", 48, 240)
    assert categories.active_categories() == categories.all_categories() == [world["category"], category]


def test_the_caller_commits(world):
    categories.create_category(world["admin"], fields())
    assert stored() == [("路灯", "Street lights")]


def test_a_duplicate_name_is_refused_on_the_name_field_and_nothing_is_stored(world):
    with pytest.raises(ValidationFailed) as caught:
        categories.create_category(world["admin"], fields(name="路灯 "))
    assert list(caught.value.errors) == ["name"]
    assert "exists already" in caught.value.message
    assert stored() == [("路灯", "Street lights")]


def test_a_duplicate_that_appears_before_the_flush_is_refused_the_same_way(world):
    # Another request's category with the name, not yet visible when the name was checked.
    db.session.add(Category(name="绿化", name_en="Green"))
    with db.session.no_autoflush, pytest.raises(ValidationFailed) as caught:
        categories.create_category(world["admin"], fields())
    assert list(caught.value.errors) == ["name"]
    assert stored() == [("路灯", "Street lights")]


def test_renaming_onto_another_category_s_name_is_refused_and_nothing_changes(world):
    greenery = categories.create_category(world["admin"], fields())
    db.session.commit()
    with pytest.raises(ValidationFailed) as caught:
        categories.update_category(world["admin"], greenery, fields(name="路灯", name_en="Lamps"))
    assert list(caught.value.errors) == ["name"]
    assert stored() == [("路灯", "Street lights"), ("绿化", "Greenery")]


def test_an_update_keeps_its_own_name_and_changes_the_rest(world):
    category = world["category"]
    categories.update_category(world["admin"], category, fields(name="路灯", name_en="Lamps", active=False,
                                                                urgent_respond_hours=3))
    db.session.commit()
    assert stored() == [("路灯", "Lamps")]
    assert (category.active, category.urgent_respond_hours) == (False, 3)
    assert categories.active_categories() == []


@pytest.mark.parametrize("who", ["member", "evaluator", "resident"])
def test_only_administrators_manage_categories(world, who):
    with pytest.raises(PermissionDenied):
        categories.create_category(world[who], fields())
    with pytest.raises(PermissionDenied):
        categories.update_category(world[who], world["category"], fields(name="x"))
    assert stored() == [("路灯", "Street lights")]


def test_a_missing_category_is_not_found(world):
    assert categories.get_category(world["category"].id) == world["category"]
    with pytest.raises(NotFound):
        categories.get_category(999_999)
