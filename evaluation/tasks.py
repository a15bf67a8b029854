"""The evaluation's queued work: the case figures of recent months, recomputed after every sweep."""
from __future__ import annotations

from datetime import datetime

from evaluation import case_figures
from extensions import db, huey
from workflow.signals import sweep_finished


@huey.task(name="evaluation.refresh-recent-case-figures")
def refresh_recent_case_figures(now: datetime) -> None:
    """Recompute this month's and last month's case figures."""
    case_figures.refresh_recent_months(now)
    db.session.commit()


@sweep_finished.connect
def _refresh_after_sweep(_sender, now: datetime) -> None:
    refresh_recent_case_figures(now)
