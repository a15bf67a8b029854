"""The organization tree: levels, names, moves, deletion, scopes."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from accounts.models import REFERRER_NAMES, Organization, OrgLevel, Role, SecretaryTerm
from accounts.organizations import (
    create_organization,
    delete_organization,
    get_organization_in_scope,
    organizations_in,
    referrers_of_organizations,
    update_organization,
)
from accounts.users import evaluator_scope
from db import utcnow
from errors import Conflict, PermissionDenied, ValidationFailed
from extensions import db
from surveys.models import Survey, SurveyTarget
from workflow.models import Case, Category


def test_organization_levels_must_nest(make):
    district = make.organization(OrgLevel.district)
    with pytest.raises(ValidationFailed) as caught:
        create_organization(None, name="Lost", level=OrgLevel.community, parent_id=district.id)
    assert "parent" in caught.value.errors
    with pytest.raises(ValidationFailed):
        create_organization(None, name="Orphan", level=OrgLevel.township, parent_id=None)


def test_sibling_names_are_unique(make):
    township = make.organization(OrgLevel.township)
    make.organization(OrgLevel.community, parent=township, name="Spring")
    with pytest.raises(ValidationFailed) as caught:
        create_organization(None, name="Spring", level=OrgLevel.community, parent_id=township.id)
    assert "name" in caught.value.errors


def test_moving_a_township_moves_its_subtree(make):
    district_a = make.organization(OrgLevel.district)
    district_b = make.organization(OrgLevel.district)
    township = make.organization(OrgLevel.township, parent=district_a)
    community = make.organization(OrgLevel.community, parent=township)
    admin = make.admin()
    update_organization(admin, township, name=township.name, parent_id=district_b.id)
    db.session.commit()
    community = db.session.get(Organization, community.id)
    assert community.path == f"/{district_b.id}/{township.id}/{community.id}/"
    assert district_b.contains(community) and not district_a.contains(community)


def test_only_admins_change_organizations(make):
    community = make.organization()
    member = make.user((Role.member, community))
    with pytest.raises(PermissionDenied):
        update_organization(member, community, name="Renamed", parent_id=community.parent_id)


def test_organization_in_use_cannot_be_deleted(make):
    community = make.organization()
    make.user((Role.resident, community))
    with pytest.raises(Conflict):
        delete_organization(make.admin(), community)


def test_an_organization_nothing_refers_to_is_deleted(make):
    community = make.organization()
    delete_organization(make.admin(), community)
    db.session.commit()
    assert db.session.get(Organization, community.id) is None


def _refusal(admin, organization) -> str:
    with pytest.raises(Conflict) as caught:
        delete_organization(admin, organization)
    db.session.rollback()
    assert db.session.get(Organization, organization.id) is not None
    return str(caught.value.message)


def test_deleting_an_organization_with_cases_names_them(make):
    community = make.organization()
    category = Category(name="路灯", name_en="Street lights")
    db.session.add(category)
    db.session.flush()
    db.session.add(Case(
        tracking_code="T1", category_id=category.id, title="Lamp", description="Dark.", address="Gate 2",
        contact_name="王芳", contact_phone="13800000000", organization_id=community.id, respond_due_at=utcnow(),
    ))
    db.session.commit()
    message = _refusal(make.admin(), community)
    assert "cannot be deleted" in message and "cases" in message


def test_deleting_an_organization_a_survey_targets_names_the_surveys(make):
    community = make.organization()
    admin = make.admin()
    survey = Survey(title="Evaluation", opens_at=utcnow(), closes_at=utcnow() + timedelta(days=7),
                    owner_organization_id=community.parent_id, created_by_id=admin.id)
    survey.targets.append(SurveyTarget(organization_id=community.id))
    db.session.add(survey)
    db.session.commit()
    assert "surveys" in _refusal(admin, community)


def test_deleting_an_organization_with_secretary_terms_names_them(make):
    community = make.organization()
    elsewhere = make.user((Role.member, community.parent))
    db.session.add(SecretaryTerm(organization_id=community.id, user_id=elsewhere.id, start_date=date(2024, 1, 1)))
    db.session.commit()
    message = _refusal(make.admin(), community)
    assert "secretary terms" in message and "people" not in message


def test_every_table_that_refers_to_organizations_has_a_name_in_words(app):
    assert [table.name for table, _column in referrers_of_organizations() if table.name not in REFERRER_NAMES] == []


def test_evaluator_scope_is_a_subtree(make):
    district = make.organization(OrgLevel.district)
    township_a = make.organization(OrgLevel.township, parent=district)
    township_b = make.organization(OrgLevel.township, parent=district)
    inside = make.organization(parent=township_a)
    outside = make.organization(parent=township_b)
    evaluator = make.user((Role.evaluator, township_a))
    scope = evaluator_scope(evaluator)
    assert {o.id for o in organizations_in(scope)} == {township_a.id, inside.id}
    assert get_organization_in_scope(inside.id, scope) is inside
    with pytest.raises(PermissionDenied):
        get_organization_in_scope(outside.id, scope)
    with pytest.raises(PermissionDenied):
        evaluator_scope(make.user((Role.resident, inside)))
