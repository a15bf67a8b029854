"""The seeded demo gives an evaluation table with a flagged secretary, one hidden under k, and a real trend."""
from __future__ import annotations

import sqlalchemy as sa

from accounts.models import Organization, SecretaryTerm, User
from db import utcnow
from evaluation.report import secretary_report
from evaluation.results import Hidden
from evaluation.scoring import ReviewFlag
from evaluation.table import evaluation_table
from extensions import db
from surveys.models import Survey, SurveyState


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _current_term(community: str) -> SecretaryTerm:
    return db.session.scalar(
        sa.select(SecretaryTerm).join(Organization, Organization.id == SecretaryTerm.organization_id)
        .where(Organization.name == community).order_by(SecretaryTerm.start_date.desc()).limit(1)
    )


def test_the_demo_evaluation_flags_hides_and_shows_a_real_trend(app):
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    now = utcnow()
    latest = db.session.scalars(
        sa.select(Survey).where(Survey.state == SurveyState.published).order_by(Survey.opens_at.desc())
    ).first()

    for viewer in ("eval.district", "admin"):
        rows = {row.organization.name: row for row in evaluation_table(_user(viewer), latest, now=now).rows}
        flagged = [name for name, row in rows.items() if row.rating is not None and row.rating.flag != ReviewFlag.NONE]
        assert flagged == ["石桥村"], viewer
        assert rows["石桥村"].rating.flag == ReviewFlag.CONFIRMED
        assert rows["石桥村"].rating.dissatisfied_interval[0] > 1 / 3
        hidden = {name: row.hidden for name, row in rows.items() if row.hidden is not None}
        # 西山镇's total is shown, so the next-smallest community there is hidden too.
        assert hidden == {"柳营社区": Hidden.FEW_ANSWERS, "西山村": Hidden.REMAINDER}, viewer
        assert rows["柳营社区"].rating is None

    report = secretary_report(_user("eval.donghu"), _current_term("春晖社区").id, now)
    assert [result.survey.id for result in report.history][-1] == latest.id
    trend = report.latest.trend
    assert trend is not None and trend.is_real_change
    low, high = trend.interval
    assert 0 < low < high and trend.difference > 0
