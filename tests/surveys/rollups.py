"""Reading and recounting a survey's rollups, to check what the ballots wrote (results never need this)."""
from __future__ import annotations

from sqlalchemy import delete, func, select

from extensions import db
from surveys.ballots import ANSWERED
from surveys.models import Ballot, BallotAnswer, QuestionType, Rollup, Survey


def rollup_counts(survey: Survey) -> dict[tuple[int, int, str], int]:
    """Return {(community id, question id, option): count} for a survey."""
    return {
        (r.organization_id, r.question_id, r.option): r.count
        for r in db.session.scalars(select(Rollup).where(Rollup.survey_id == survey.id))
    }


def rebuild_rollups(survey: Survey) -> None:
    """Recount a survey's rollups from its ballots."""
    # An ORM delete, so that rollups already loaded in the session go too and the new rows do not clash with them.
    db.session.execute(delete(Rollup).where(Rollup.survey_id == survey.id))
    question_types = {q.id: q.type for q in survey.questions}
    rows = db.session.execute(
        select(Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value, func.count())
        .join(BallotAnswer, BallotAnswer.ballot_id == Ballot.id).where(Ballot.survey_id == survey.id)
        .group_by(Ballot.organization_id, BallotAnswer.question_id, BallotAnswer.value)
    ).all()
    for organization_id, question_id, value, count in rows:
        option = ANSWERED if question_types[question_id] == QuestionType.free_text else value
        db.session.add(Rollup(survey_id=survey.id, organization_id=organization_id, question_id=question_id,
                              option=option, count=count))
    db.session.flush()
