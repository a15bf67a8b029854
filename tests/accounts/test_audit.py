"""The audit log: each privileged act leaves its entry in the act's own transaction; no entry ever changes."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from accounts import organizations, register, terms, users
from accounts.audit import AuditEntry, AuditKind, AuditLogIsAppendOnly
from accounts.auth import password_hasher
from accounts.models import OrgLevel, Role
from accounts.users import GrantSpec
from db import utcnow
from evaluation import settings
from extensions import db
from surveys import codes, transitions
from surveys.builder import create_survey, set_targets
from surveys.models import Anonymity, SurveyKind
from surveys.tasks import run_tally
from tests.conftest import BOX_KEY
from workflow import categories, sweep
from workflow.actions import ActionInput, parties_for, take_action


def entries(kind: AuditKind | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if kind is not None:
        query = query.where(AuditEntry.kind == kind)
    return list(db.session.scalars(query))


def grants(user) -> list[GrantSpec]:
    return [GrantSpec(g.role, g.organization_id) for g in user.grants]


def edit_user(world, user, *, active=True, grants_=None) -> None:
    users.update_user(world["admin"], user, name=user.name, phone=user.phone, active=active,
                      grants=grants(user) if grants_ is None else grants_)


def category_fields(name: str, **changes) -> categories.CategoryFields:
    return categories.CategoryFields(**{
        "name": name, "name_en": name, "active": True, "urgent_respond_hours": 1, "urgent_resolve_hours": 24,
        "normal_respond_hours": 24, "normal_resolve_hours": 168, **changes,
    })


def act(world, action: str, actor: str, **data) -> None:
    case = world["case"]
    user = world[actor]
    take_action(case, action, actor=user, parties=parties_for(user, case), seen_version=case.version,
                data=ActionInput(**data), now=utcnow())


def open_evaluation(world):
    now = utcnow()
    survey = create_survey(
        world["evaluator"], title="Evaluation of the secretary", description="", kind=SurveyKind.democratic_evaluation,
        anonymity=Anonymity.anonymous, opens_at=now, closes_at=now + timedelta(days=7), min_group_size=5,
        owner_organization_id=None,
    )
    set_targets(world["evaluator"], survey, [world["community"].id])
    transitions.open_survey(world["evaluator"], survey, now, box_key=BOX_KEY)
    return survey


def close(world, survey) -> None:
    transitions.close_survey(world["evaluator"], survey, utcnow())


def publish(world, survey) -> None:
    close(world, survey)
    db.session.commit()
    run_tally(survey.id, utcnow(), random.Random(1))
    transitions.publish_survey(world["evaluator"], survey, utcnow())


#: Each act as a service call, then what its entry must say: (kind, actor, organization, subject), the last three
#: as functions of the world and what the act returned.
ACTS = {
    AuditKind.account_created: (
        lambda w, a: users.create_user(w["admin"], username="new.member", name="New", phone=None,
                                       password="a long new passphrase", grants=[], ph=password_hasher()),
        "admin", lambda w, r: None, lambda w, r: r.id),
    AuditKind.account_disabled: (
        lambda w, a: edit_user(w, w["other_resident"], active=False),
        "admin", lambda w, r: None, lambda w, r: w["other_resident"].id),
    AuditKind.account_enabled: (
        lambda w, a: (edit_user(w, w["other_resident"], active=False), edit_user(w, w["other_resident"])),
        "admin", lambda w, r: None, lambda w, r: w["other_resident"].id),
    AuditKind.password_reset: (
        lambda w, a: users.reset_password(w["admin"], w["member"], "a long new passphrase", password_hasher()),
        "admin", lambda w, r: None, lambda w, r: w["member"].id),
    AuditKind.sessions_ended: (
        lambda w, a: users.sign_out_everywhere(w["admin"], w["member"]),
        "admin", lambda w, r: None, lambda w, r: w["member"].id),
    AuditKind.role_granted: (
        lambda w, a: edit_user(w, w["resident"], grants_=grants(w["resident"]) + [
            GrantSpec(Role.evaluator, w["township"].id)]),
        "admin", lambda w, r: w["township"].id, lambda w, r: w["resident"].id),
    AuditKind.role_removed: (
        lambda w, a: edit_user(w, w["evaluator"], grants_=[]),
        "admin", lambda w, r: w["township"].id, lambda w, r: w["evaluator"].id),
    AuditKind.term_opened: (
        lambda w, a: terms.appoint_secretary(w["admin"], w["community"], w["assignee"], date(2025, 1, 1)),
        "admin", lambda w, r: w["community"].id, lambda w, r: w["assignee"].id),
    AuditKind.term_ended: (
        lambda w, a: terms.end_term(w["admin"], w["term"], date(2025, 1, 1)),
        "admin", lambda w, r: w["community"].id, lambda w, r: w["member"].id),
    AuditKind.organization_created: (
        lambda w, a: organizations.create_organization(w["admin"], name="Winter", level=OrgLevel.community,
                                                       parent_id=w["township"].id),
        "admin", lambda w, r: r.id, lambda w, r: r.id),
    AuditKind.organization_changed: (
        lambda w, a: organizations.update_organization(w["admin"], w["other_community"], name="Late autumn",
                                                       parent_id=w["township"].id),
        "admin", lambda w, r: w["other_community"].id, lambda w, r: w["other_community"].id),
    AuditKind.organization_deleted: (
        lambda w, a: organizations.delete_organization(w["admin"], w["district_spare"]),
        "admin", lambda w, r: w["district_spare"].id, lambda w, r: w["district_spare"].id),
    AuditKind.register_imported: (
        lambda w, a: register.import_register(w["member"], "name,phone,household,community\n"
                                                           "Wang Fang,13911112222,1-101,Spring\n".encode()),
        "member", lambda w, r: w["community"].id, lambda w, r: None),
    AuditKind.category_created: (
        lambda w, a: categories.create_category(w["admin"], category_fields("Water")),
        "admin", lambda w, r: None, lambda w, r: r.id),
    AuditKind.category_changed: (
        lambda w, a: categories.update_category(w["admin"], w["category"], category_fields("路灯", name_en="Lamps")),
        "admin", lambda w, r: None, lambda w, r: w["category"].id),
    AuditKind.settings_changed: (
        lambda w, a: settings.update_settings(w["admin"], theta_numerator=1, theta_denominator=2, shrink_m=5, weights={
            "survey_satisfaction": 0.4, "response_rate": 0.2, "resolution_rate": 0.2, "case_satisfaction_rate": 0.2,
        }, now=utcnow()),
        "admin", lambda w, r: None, lambda w, r: None),
    AuditKind.survey_opened: (
        lambda w, a: open_evaluation(w),
        "evaluator", lambda w, r: w["township"].id, lambda w, r: r.id),
    AuditKind.survey_closed: (
        lambda w, a: close(w, w["survey"]),
        "evaluator", lambda w, r: w["township"].id, lambda w, r: w["survey"].id),
    AuditKind.survey_published: (
        lambda w, a: publish(w, w["survey"]),
        "evaluator", lambda w, r: w["township"].id, lambda w, r: w["survey"].id),
    AuditKind.codes_issued: (
        lambda w, a: codes.generate_codes(w["evaluator"], w["survey"], w["community"].id, 3,
                                          a.config["CODE_HASH_KEY"], utcnow()),
        "evaluator", lambda w, r: w["community"].id, lambda w, r: w["survey"].id),
    AuditKind.case_reassigned: (
        lambda w, a: (act(w, "accept", "member"), act(w, "assign", "member", assignee_id=w["member"].id),
                      act(w, "assign", "member", assignee_id=w["assignee"].id)),
        "member", lambda w, r: w["community"].id, lambda w, r: w["case"].id),
    AuditKind.case_supervised: (
        lambda w, a: sweep.sweep(utcnow() + timedelta(days=3), sweep.TimeLimits()),
        None, lambda w, r: w["township"].id, lambda w, r: w["case"].id),
}


def test_every_kind_has_an_act_under_test():
    untested = set(AuditKind) - set(ACTS) - {AuditKind.sign_in, AuditKind.sign_out, AuditKind.sign_in_failed}
    assert untested == set()  # the sign-ins are tested through the login page (test_audit_views.py)


@pytest.fixture
def scene(world, make, app):
    """The world with an open evaluation of its community and a spare district nothing refers to."""
    world = dict(world, survey=open_evaluation(world), district_spare=make.organization(OrgLevel.district))
    db.session.commit()
    return world


@pytest.mark.parametrize("kind", list(ACTS), ids=lambda kind: kind.value)
def test_each_privileged_act_records_one_entry_saying_who_where_and_on_what(app, scene, kind):
    perform, actor, organization, subject = ACTS[kind]
    before = len(entries(kind))
    result = perform(scene, app)
    db.session.commit()
    [entry] = entries(kind)[before:]
    assert entry.actor_id == (scene[actor].id if actor else None)
    assert (entry.organization_id, entry.subject_id) == (organization(scene, result), subject(scene, result))
    assert entry.origin is None  # no request: a command or a task
    assert abs(entry.at - utcnow()) < timedelta(minutes=1)


def test_entries_name_people_only_by_id(app, scene):
    register.import_register(scene["member"], "name,phone,household,community\n"
                                              "Wang Fang,139 1111 2222,1-101,Spring\n".encode())
    edit_user(scene, scene["resident"], active=False)
    users.reset_password(scene["admin"], scene["member"], "a long new passphrase", password_hasher())
    db.session.commit()
    text = repr([(e.details, e.origin) for e in entries()])
    assert "Wang" not in text and "13911112222" not in text and "Person" not in text


def test_appointing_a_successor_ends_the_current_term_in_the_log_too(scene):
    terms.appoint_secretary(scene["admin"], scene["community"], scene["assignee"], date(2025, 1, 1))
    db.session.commit()
    [ended] = [e for e in entries(AuditKind.term_ended) if e.actor_id == scene["admin"].id]
    assert ended.subject_id == scene["member"].id and ended.details["end_date"] == "2024-12-31"


def test_a_moved_role_is_removed_in_one_organization_and_granted_in_the_other(scene):
    edit_user(scene, scene["evaluator"], grants_=[GrantSpec(Role.evaluator, scene["district"].id)])
    db.session.commit()
    [removed] = entries(AuditKind.role_removed)
    granted = entries(AuditKind.role_granted)[-1]
    assert (removed.organization_id, granted.organization_id) == (scene["township"].id, scene["district"].id)
    assert removed.details == granted.details == {"role": "evaluator"}


def test_saving_unchanged_settings_of_a_category_records_nothing(scene):
    before = len(entries())
    categories.update_category(scene["admin"], scene["category"], category_fields("路灯", name_en="Street lights"))
    db.session.commit()
    assert len(entries()) == before


def test_a_change_records_what_it_was_and_what_it_became(scene):
    categories.update_category(scene["admin"], scene["category"],
                                category_fields("路灯", name_en="Street lights", normal_resolve_hours=72))
    db.session.commit()
    [entry] = entries(AuditKind.category_changed)
    assert entry.details == {"name": "路灯", "changes": {"normal_resolve_hours": [168, 72]}}


def test_a_rolled_back_act_leaves_no_entry(scene):
    before = len(entries())
    organizations.create_organization(scene["admin"], name="Winter", level=OrgLevel.community,
                                      parent_id=scene["township"].id)
    db.session.flush()
    assert len(entries()) == before + 1  # written with the act...
    db.session.rollback()
    assert len(entries()) == before  # ...and gone with it


# --- append-only ---------------------------------------------------------------------------------------

@pytest.fixture
def entry(scene) -> AuditEntry:
    return entries()[-1]


def test_the_orm_refuses_to_change_an_entry(entry):
    entry.origin = "10.0.0.1"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()


def test_the_orm_refuses_to_delete_an_entry(entry):
    db.session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()


@pytest.mark.parametrize("statement", [
    sa.update(AuditEntry).values(origin="10.0.0.1"),
    sa.delete(AuditEntry),
    sa.update(AuditEntry.__table__).values(origin="10.0.0.1"),
    sa.delete(AuditEntry.__table__).where(AuditEntry.__table__.c.id > 0),
], ids=["orm-update", "orm-delete", "core-update", "core-delete"])
def test_the_session_refuses_update_and_delete_statements(entry, statement):
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(statement)


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET origin = '10.0.0.1'", "DELETE FROM audit_log"])
def test_the_database_refuses_raw_update_and_delete(entry, sql):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.engine.begin() as connection:
            connection.execute(sa.text(sql))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == len(entries())
    assert db.session.get(AuditEntry, entry.id).origin is None


def test_postgresql_refuses_to_truncate_the_log(entry):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE trigger covers a DELETE without WHERE")
    db.session.rollback()  # TRUNCATE would wait for the session's read lock on the table
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE audit_log"))


def test_someone_who_acted_cannot_be_deleted_only_disabled(scene):
    admin = scene["admin"]
    organizations.create_organization(admin, name="Winter", level=OrgLevel.community, parent_id=scene["township"].id)
    db.session.commit()
    db.session.delete(admin)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
