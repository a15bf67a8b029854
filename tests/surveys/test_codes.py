"""Invitation codes: distinct and unambiguous, stored as keyed hashes, one ballot each."""
from __future__ import annotations

import hashlib
import secrets

import pytest
import sqlalchemy as sa

from errors import Conflict, ValidationFailed
from extensions import db
from surveys import ballots, transitions
from surveys.ballots import AlreadyParticipated
from surveys.codes import (
    CODE_ALPHABET, MAX_CODES_PER_BATCH, find_invitation, format_code, generate_codes, hash_code, normalize_code,
)
from surveys.models import Ballot, Invitation, Participation
from tests.surveys.conftest import DAY, HOUR, T0, count, messages, reloaded, stored_counts, target_of


def test_codes_are_distinct_short_and_unambiguous(sv, world):
    assert not set("0O1IL") & set(CODE_ALPHABET)
    survey = sv.opened()
    codes = sv.codes(survey, world["community"], 200)
    assert len(codes) == len(set(codes)) == 200
    assert all(len(c) == 8 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert format_code("K7QPM2XA") == "K7QP-M2XA"
    assert normalize_code(" k7qp-m2xa ") == "K7QPM2XA"


def test_a_chance_repeat_within_a_batch_still_gives_distinct_codes(sv, world, monkeypatch):
    survey = sv.opened()
    letters = iter("K7QPM2XA" "K7QPM2XA" "K7QPM2XB")
    with monkeypatch.context() as patch:
        patch.setattr(secrets, "choice", lambda alphabet: next(letters))
        codes = sv.codes(survey, world["community"], 2)
    assert sorted(codes) == ["K7QPM2XA", "K7QPM2XB"]
    assert target_of(survey, world["community"]).codes_issued == 2


def test_only_keyed_hashes_of_codes_are_stored(sv, world, app):
    survey = sv.opened()
    codes = sv.codes(survey, world["community"], 20)
    hashes = set(db.session.scalars(sa.select(Invitation.code_hash).where(Invitation.survey_id == survey.id)))
    assert hashes == {hash_code(c, sv.key) for c in codes}
    assert all(len(h) == 64 for h in hashes)
    assert not hashes & {hashlib.sha256(c.encode()).hexdigest() for c in codes}  # keyed, not a bare hash
    assert hash_code(codes[0], b"another key") != hash_code(codes[0], sv.key)

    # No column of any table holds a code, in any spelling.
    spellings = {s for c in codes for s in (c, c.lower(), format_code(c), format_code(c).lower())}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    text = str(value)
                    assert not any(s in text for s in spellings), f"a code appears in {table.name}"


def test_find_invitation_accepts_lower_case_and_dashes_and_refuses_others(sv, world):
    survey = sv.opened()
    other = sv.opened(title="Another")
    code = sv.codes(survey, world["summer"])[0]
    foreign = sv.codes(other, world["community"])[0]
    for spelling in (code, code.lower(), format_code(code), format_code(code).lower(),
                     f" {code[:4]} {code[4:]} "):
        invitation = find_invitation(survey, spelling, sv.key)
        assert (invitation.survey_id, invitation.organization_id) == (survey.id, world["summer"].id)
    for wrong, message in ((foreign, "another survey"), ("ABCD-EFGH", "not valid"), ("", "not valid"),
                           (code[:7], "not valid"), (code + "A", "not valid")):
        with pytest.raises(ValidationFailed) as refused:
            find_invitation(survey, wrong, sv.key)
        assert message in messages(refused.value, "code"), wrong
    with pytest.raises(ValidationFailed):
        find_invitation(survey, code, b"another key")


def test_a_code_gives_exactly_one_ballot_for_its_community(sv, world):
    survey = sv.opened()
    code = sv.codes(survey, world["summer"])[0]
    ballot = sv.vote(survey, sv.by_code(survey, code))
    assert (ballot.organization_id, ballot.sealed) == (world["summer"].id, True)
    participation = db.session.scalars(sa.select(Participation)).one()
    assert (participation.invitation_id, participation.resident_id) == (sv.by_code(survey, code).invitation.id, None)
    before = stored_counts()
    for spelling in (code, format_code(code).lower()):
        with pytest.raises(AlreadyParticipated):
            ballots.submit_ballot(survey, sv.by_code(survey, spelling), sv.valid_answers(survey), T0 + 2 * HOUR)
        db.session.rollback()
    assert stored_counts() == before
    assert ballots.has_participated(survey, sv.by_code(survey, code))
    # The code's holder and a resident of the same community are separate voters.
    sv.vote(survey, world["summer_voter"])
    assert (stored_counts()["envelopes"], stored_counts()["participations"]) == (2, 2)
    survey = count(survey, T0 + 7 * DAY)
    assert db.session.execute(sa.select(Ballot.organization_id, sa.func.count()).group_by(Ballot.organization_id)
                              ).all() == [(world["summer"].id, 2)]


def test_codes_issued_are_counted_on_their_target(sv, world):
    survey = sv.opened()
    sv.codes(survey, world["community"], 5)
    sv.codes(reloaded(survey), world["community"], 3)
    survey = reloaded(survey)
    assert (target_of(survey, world["community"]).codes_issued, target_of(survey, world["summer"]).codes_issued) == (8, 0)
    summary = {p.target.organization_id: p for p in ballots.participation_summary(survey)}
    assert summary[world["community"].id].eligible == 8 + 1  # the codes and "voter", the one verified resident
    assert summary[world["summer"].id].eligible == 1
    sv.vote(survey, world["voter"])
    summary = {p.target.organization_id: p for p in ballots.participation_summary(reloaded(survey))}
    assert (summary[world["community"].id].ballots, summary[world["community"].id].turnout) == (1, 1 / 9)
    assert summary[world["summer"].id].turnout == 0


def test_codes_are_refused_for_a_closed_survey_another_community_or_a_silly_count(sv, world):
    survey = sv.opened(closes_at=T0 + DAY)
    for wrong, field in (({"organization_id": world["other_community"].id}, "organization"),
                         ({"count": 0}, "count"), ({"count": MAX_CODES_PER_BATCH + 1}, "count")):
        arguments = {"organization_id": world["community"].id, "count": 1, **wrong}
        with pytest.raises(ValidationFailed) as refused:
            generate_codes(world["evaluator"], survey, key=sv.key, now=T0, **arguments)
        assert set(refused.value.errors) == {field}
    with pytest.raises(Conflict):  # closed by its time
        generate_codes(world["evaluator"], survey, world["community"].id, 1, sv.key, T0 + DAY)
    transitions.close_survey(world["evaluator"], survey, T0 + HOUR)
    db.session.commit()
    with pytest.raises(Conflict):
        generate_codes(world["evaluator"], reloaded(survey), world["community"].id, 1, sv.key, T0 + HOUR)
    db.session.rollback()
    assert stored_counts()["invitations"] == 0
    assert target_of(survey, world["community"]).codes_issued == 0
