"""Filing a request: its deadline, its organization, the tracking code, the checks on its input."""
from __future__ import annotations

from pathlib import Path

import pytest

from errors import NotFound, ValidationFailed
from extensions import db
from tests.workflow.conftest import events_of, HOUR, T0
from workflow.actions import parties_for
from workflow.filing import file_case, find_by_tracking_code, TRACKING_ALPHABET, TRACKING_LENGTH
from workflow.machine import Party, State
from workflow.models import Category, Priority


@pytest.mark.parametrize("priority, respond_hours", [(Priority.normal, 24), (Priority.urgent, 1)])
def test_filing_sets_the_respond_deadline_from_category_and_priority(flow, world, priority, respond_hours):
    case = flow.file(priority=priority, now=T0)
    assert case.state == State.submitted
    assert case.submitted_at == T0
    assert case.respond_due_at == T0 + respond_hours * HOUR
    assert case.resolve_due_at is None
    assert case.organization_id == world["community"].id  # the resident's own community
    assert case.version == 1
    [event] = events_of(case)
    assert (event.action, event.from_state, event.to_state, event.actor_id) == (
        "submit", None, State.submitted, world["resident"].id)
    assert event.case_version == case.version


def test_filing_uses_the_category_s_own_limits(flow):
    category = Category(name="漏水", name_en="Leaks", normal_respond_hours=48, urgent_respond_hours=2)
    db.session.add(category)
    db.session.commit()
    assert flow.file(category=category, now=T0).respond_due_at == T0 + 48 * HOUR
    assert flow.file(category=category, now=T0, priority=Priority.urgent).respond_due_at == T0 + 2 * HOUR


def test_filing_without_an_account_needs_an_organization_and_gets_a_tracking_code(flow, world):
    case = flow.file(None)
    assert case.resident_id is None and case.organization_id == world["community"].id
    assert len(case.tracking_code) == TRACKING_LENGTH
    assert set(case.tracking_code) <= set(TRACKING_ALPHABET)
    assert find_by_tracking_code(case.tracking_code.lower()) == case
    with pytest.raises(NotFound):
        find_by_tracking_code("NOSUCHCODE")
    assert parties_for(None, case, holds_tracking_code=True) == {Party.owner}
    assert parties_for(None, case) == frozenset()


def test_filing_checks_its_input(flow, world, app):
    inactive = Category(name="旧", name_en="Old", active=False)
    db.session.add(inactive)
    db.session.commit()
    with pytest.raises(ValidationFailed) as caught:
        file_case(
            None, category_id=inactive.id, priority=Priority.normal, title="", description=" ", address="",
            contact_name="", contact_phone="12", organization_id=None, photos=[],
            upload_dir=Path(app.config["UPLOAD_FOLDER"]), now=T0,
        )
    assert set(caught.value.errors) == {"category", "description", "contact_phone", "organization"}
