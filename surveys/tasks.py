"""The surveys' queued work: counting the ballots of a survey once it has closed."""
from __future__ import annotations

import logging
import random
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from huey import crontab

from db import utcnow
from errors import NotFound
from extensions import db, huey
from surveys import tally
from surveys.lifecycle import Phase, phase
from surveys.models import Survey
from surveys.sealing import BrokenSeal
from surveys.transitions import record_closing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TallyReport:
    communities: int
    ballots: int


def run_tally(survey_id: int, now: datetime, rng: random.Random | None = None) -> TallyReport:
    """Count a closed survey, committing community by community; running it again finishes a stopped count."""
    survey = db.session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(_l("There is no such survey."))
    if survey.counted_at is not None:
        return TallyReport(0, 0)
    tally.check_countable(survey, now)
    if phase(survey, now) is Phase.ended:
        record_closing(survey, now)
    communities, ballots = tally.count_survey(survey, current_app.config["BALLOT_BOX_KEY"], now,
                                              rng or secrets.SystemRandom(), commit=db.session.commit)
    return TallyReport(communities, ballots)


@huey.task(name="surveys.tally")
def tally_survey(survey_id: int) -> None:
    """Count one survey's ballots, queued when it is closed by hand."""
    run_tally(survey_id, utcnow())


@huey.periodic_task(crontab(minute="*"), name="surveys.tally-closed")
def tally_closed_surveys() -> None:
    """Count every survey whose closing time has passed."""
    now = utcnow()
    for survey_id in tally.needs_counting(now):
        try:
            run_tally(survey_id, now)
        except BrokenSeal:
            # One survey's unreadable envelope must not hold back the others; an operator acts on the log.
            db.session.rollback()
            logger.exception("Survey %s cannot be counted: an envelope or its key does not open", survey_id)
