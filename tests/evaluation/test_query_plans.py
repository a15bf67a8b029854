"""The evaluation's pages read rollups: their queries never scan the ballot tables, whatever their size.

test_table.py checks the closed table; these check the secretary page, whose comments are the one read
of ballot answers, and the live participation table.
"""
from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from evaluation.report import secretary_report
from evaluation.table import evaluation_table
from extensions import db
from surveys.models import Envelope, Survey
from tests.evaluation.builders import DAY, LATER, T0

#: Where answers are kept: sealed while the survey is open, as ballots once counted.
BALLOT_TABLES = ("survey_envelopes", "survey_ballots", "survey_ballot_answers")


@contextmanager
def captured_selects():
    """Collect the SELECT statements sent inside the block, with their parameters."""
    selects: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield selects
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)


def scans_of_ballots(statement: str, parameters) -> list[str]:
    """Return the lines of the statement's plan that read a ballot table from end to end."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        plan = [str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
        return [line for line in plan if any(line.startswith(f"SCAN {table}") for table in BALLOT_TABLES)]
    # On a few rows a sequential scan is cheapest whatever the indexes; with it ruled out, PostgreSQL still
    # chooses one only when no index serves the query.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
    return [line for line in plan if any(f"Seq Scan on {table}" in line for table in BALLOT_TABLES)]


def ballot_searches(statement: str, parameters) -> list[str]:
    """Return how the statement's plan finds rows of survey_ballots through an index: the conditions it seeks on."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        plan = [str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
        return [line for line in plan if line.startswith("SEARCH survey_ballots ")]
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = [row[0].strip() for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
    # An index scan's line names the table; the "Index Cond:" line after it gives what the index is searched by.
    return [f"{line} {following}" for line, following in zip(plan, plan[1:])
            if "Index" in line and "Scan" in line and " on survey_ballots " in f"{line} " and "Index Cond" in following]


def test_the_secretary_page_reads_ballot_answers_only_for_its_comments_and_through_indexes(ev, world):
    spring = world["community"]
    summer, _ = ev.community("Summer")
    survey = ev.survey([spring, summer])
    for n in range(10):
        ev.ballot(survey, spring, comment=f"Comment {n}")
        ev.ballot(survey, summer, comment=f"Another comment {n}")
    ev.close(survey)
    db.session.expire_all()

    with captured_selects() as selects:
        report = secretary_report(world["evaluator"], world["term"].id, LATER)

    assert any(breakdown.comments for breakdown in report.questions)  # the comments' query did run
    reading_ballots = [(s, p) for s, p in selects if any(table in s.lower() for table in BALLOT_TABLES)]
    assert len(reading_ballots) == 1, reading_ballots
    for statement, parameters in selects:
        assert not scans_of_ballots(statement, parameters), statement
    # The comments are one community's: the ballots are sought by survey and organization together, not read for
    # the whole survey and filtered.
    (statement, parameters), = reading_ballots
    searches = ballot_searches(statement, parameters)
    assert searches and all("organization_id" in search for search in searches), searches


def test_the_live_participation_table_never_reads_ballots(ev, world):
    spring = world["community"]
    survey = ev.survey([spring])
    for _ in range(3):
        ev.ballot(survey, spring)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Envelope)) == 3  # sealed, still to be counted

    with captured_selects() as selects:
        evaluation_table(world["evaluator"], db.session.get(Survey, survey.id), live_participation=True,
                         now=T0 + 2 * DAY)

    assert selects
    for statement, parameters in selects:
        assert not any(table in statement.lower() for table in BALLOT_TABLES), statement
        assert not scans_of_ballots(statement, parameters), statement
