"""The demo seed's surveys: published evaluations with a flagged, a hidden and a trending community, and codes."""
from __future__ import annotations

import re
from fractions import Fraction

import sqlalchemy as sa

from accounts.models import Organization
from db import utcnow
from evaluation.scoring import ReviewFlag, is_real_change, newcombe_difference_interval, review_flag
from extensions import db
from surveys.ballots import ANSWERED, Voter, has_participated
from surveys.codes import find_invitation
from surveys.lifecycle import Phase, phase
from surveys.models import Ballot, Envelope, Participation, QuestionType, Survey, SurveyKind, SurveyState
from tests.surveys.rollups import rebuild_rollups, rollup_counts

CODE_LINE = re.compile(r"^  (\S+)\s+([A-Z2-9]{4}-[A-Z2-9]{4})$", re.MULTILINE)


def quarter(moment) -> int:
    return moment.year * 4 + (moment.month - 1) // 3


def overall(survey: Survey, community: str) -> tuple[int, int, int]:
    """Return (satisfied, basically, dissatisfied) on the overall question, from the rollups."""
    question = survey.questions[0]
    assert question.type == QuestionType.rating3
    organization_id = db.session.scalar(sa.select(Organization.id).where(Organization.name == community))
    counts = rollup_counts(survey)
    return tuple(counts.get((organization_id, question.id, option), 0)
                 for option in ("satisfied", "basically_satisfied", "dissatisfied"))


def per_community(model, survey: Survey) -> dict[int, int]:
    """Return how many rows of the table (envelopes, ballots, participations) the survey has, by community."""
    return dict(db.session.execute(
        sa.select(model.organization_id, sa.func.count()).where(model.survey_id == survey.id)
        .group_by(model.organization_id)).all())


def test_demo_seed_runs_surveys_and_prints_unused_codes(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output

    earlier, later, current = db.session.scalars(sa.select(Survey).order_by(Survey.opens_at)).all()
    assert [s.state for s in (earlier, later, current)] == [SurveyState.published] * 2 + [SurveyState.open]
    assert earlier.kind == later.kind == SurveyKind.democratic_evaluation
    now = utcnow()
    for survey, back in ((earlier, 2), (later, 1)):
        assert quarter(now) - quarter(survey.opens_at) == back == quarter(now) - quarter(survey.published_at)
        start = survey.opens_at
        assert survey.title == f"{start.year}年第{'一二三四'[(start.month - 1) // 3]}季度党组织书记民主评议"
    assert phase(current, now) is Phase.open and current.owner_organization.name == "东湖街道党工委"
    for survey in (earlier, later):
        # Published from the tally: every envelope became one ballot, and the survey's key is gone.
        assert survey.counted_at is not None and survey.counted_at < survey.published_at
        assert survey.sealed_private_key is None and per_community(Envelope, survey) == {}
        assert per_community(Ballot, survey) == per_community(Participation, survey) == \
            {t.organization_id: t.ballots for t in survey.targets if t.ballots}
    # The open survey's ballots are still sealed: nothing counted.
    assert current.counted_at is None and current.sealed_private_key is not None
    assert per_community(Envelope, current) == per_community(Participation, current) != {}
    assert (per_community(Ballot, current), rollup_counts(current)) == ({}, {})
    for survey in (earlier, later):
        counts = rollup_counts(survey)
        rebuild_rollups(survey)
        assert rollup_counts(survey) == counts
    db.session.rollback()

    ballots = {t.organization.name: t.ballots for t in later.targets}
    assert ballots["柳营社区"] < later.min_group_size == 5
    assert sum(overall(later, "柳营社区")) < 5
    assert all(12 <= n <= 20 for name, n in ballots.items() if name != "柳营社区"), ballots

    s, b, d = overall(later, "石桥村")
    assert Fraction(d, s + b + d) > Fraction(1, 3)
    assert review_flag(d, s + b + d) == ReviewFlag.CONFIRMED

    before, after = overall(earlier, "春晖社区"), overall(later, "春晖社区")
    assert (sum(before[:2]) / sum(before), sum(after[:2]) / sum(after)) == (0.4, 0.9)
    assert is_real_change(newcombe_difference_interval(sum(before[:2]), sum(before), sum(after[:2]), sum(after)))
    comment = later.questions[-1]
    chunhui = next(t.organization_id for t in later.targets if t.organization.name == "春晖社区")
    assert rollup_counts(later)[(chunhui, comment.id, ANSWERED)] >= 10

    heading = result.output.index(f"Invitation codes for the open survey «{current.title}»")
    printed = CODE_LINE.findall(result.output[heading:])
    assert len(printed) == len({code for _, code in printed}) == 15
    assert {t.organization.name for t in current.targets} == {name for name, _ in printed}
    key = app.config["CODE_HASH_KEY"]
    for community, code in printed:
        invitation = find_invitation(current, code, key)
        assert db.session.get(Organization, invitation.organization_id).name == community
        assert has_participated(current, Voter(invitation=invitation)) is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Participation).where(
        Participation.survey_id == current.id, Participation.invitation_id.is_not(None))) == 0

    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0 and "nothing added" in again.output
    assert "shown when the demo was created" in again.output and not CODE_LINE.search(again.output)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 3
