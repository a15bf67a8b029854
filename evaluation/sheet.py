"""The evaluation table as cells: the screen shows them, the CSV and the XLSX write the same ones.

No Flask and no request locale here: every word arrives translated in SheetLabels, which the view makes once per
request, and the notes arrive written.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from evaluation import exports, scoring
from evaluation.charts import format_percent
from evaluation.results import GradeCounts, Hidden, Rating
from evaluation.table import EvaluationRow, EvaluationTable, TownshipTotal

#: What a cell shows when there is no figure: the export writes the same mark.
NO_FIGURE = "—"
#: The grade flags in the order they are named; a tuple, as iterating the enum costs more than a row's other cells.
GRADE4_FLAGS = tuple(scoring.Grade4Flag)


@dataclass(frozen=True)
class TableColumn:
    """A column of the evaluation table: its export spec and the sort key its header applies, if any."""

    key: str
    spec: exports.Column
    sort: str | None = None


class SheetRow(NamedTuple):
    """A row's cells, column by column, as the exports write them and as the screen shows them."""

    #: What the export writes: numbers, texts or markers.
    values: tuple[object, ...]
    #: What the screen shows, the way the CSV writes it.
    texts: tuple[str, ...]
    #: The table's row or township total the cells come from, for the links and charts around them.
    source: EvaluationRow | TownshipTotal


@dataclass(frozen=True)
class Sheet:
    """The evaluation table as cells: the page renders these, the exports write them."""

    columns: tuple[TableColumn, ...]
    rows: tuple[SheetRow, ...]
    totals: tuple[SheetRow, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class SheetLabels:
    """The words of the cells, translated by the caller once rather than once per row."""

    #: Column headers by column key.
    headers: Mapping[str, str]
    #: Why figures are withheld, with the survey's k filled in.
    hidden: Mapping[Hidden, str]
    #: The secretary cell of a community without a secretary.
    vacant: str
    flags: Mapping[scoring.ReviewFlag | scoring.Grade4Flag, str]
    #: The community cell of a township total, given its number of communities.
    township_total: Callable[[int], str]


def table_columns(headers: Mapping[str, str]) -> tuple[TableColumn, ...]:
    """Return the evaluation table's columns under the given headers."""
    percent = "percent"
    return (
        TableColumn("township", exports.Column(headers["township"])),
        TableColumn("community", exports.Column(headers["community"]), "name"),
        TableColumn("secretary", exports.Column(headers["secretary"])),
        TableColumn("n", exports.Column(headers["n"], "int")),
        TableColumn("turnout", exports.Column(headers["turnout"], percent), "turnout"),
        TableColumn("answers", exports.Column(headers["answers"])),
        TableColumn("satisfaction", exports.Column(headers["satisfaction"], percent), "satisfaction"),
        TableColumn("dissatisfied", exports.Column(headers["dissatisfied"], percent), "dissatisfied"),
        TableColumn("interval", exports.Column(headers["interval"])),
        TableColumn("flag", exports.Column(headers["flag"])),
        TableColumn("response_rate", exports.Column(headers["response_rate"], percent)),
        TableColumn("resolution_rate", exports.Column(headers["resolution_rate"], percent)),
        TableColumn("case_satisfaction", exports.Column(headers["case_satisfaction"], percent)),
        TableColumn("composite", exports.Column(headers["composite"], "float", 3), "composite"),
        TableColumn("rank", exports.Column(headers["rank"], "int"), "rank"),
    )


def interval_text(interval: scoring.Interval) -> str:
    """Return an interval of fractions as percentages, e.g. "14.5%–51.9%"."""
    low, high = interval
    return f"{format_percent(low, 1)}–{format_percent(high, 1)}"


def flag_text(rating: Rating | None, grade4: GradeCounts | None,
              labels: Mapping[scoring.ReviewFlag | scoring.Grade4Flag, str]) -> str:
    """Name the review flags of a result, or NO_FIGURE when there is none."""
    names = []
    if rating is not None and rating.flagged:
        names.append(labels[rating.flag])
    if grade4 is not None and grade4.flags:
        names.extend(labels[flag] for flag in GRADE4_FLAGS if flag in grade4.flags)
    return "; ".join(names) or NO_FIGURE


def _survey_values(rating: Rating | None, hidden_text: str | None, labels: SheetLabels,
                   grade4: GradeCounts | None = None) -> dict[str, object]:
    """Return the cells of a 满意/基本满意/不满意 result: the figures, or why they are withheld."""
    if rating is None:
        return {"n": hidden_text or NO_FIGURE, "answers": NO_FIGURE, "satisfaction": NO_FIGURE,
                "dissatisfied": NO_FIGURE, "interval": NO_FIGURE, "flag": NO_FIGURE}
    return {
        "n": rating.n,
        "answers": f"{rating.satisfied} / {rating.basically_satisfied} / {rating.dissatisfied}",
        "satisfaction": rating.satisfaction_rate,
        "dissatisfied": rating.dissatisfied_share,
        "interval": interval_text(rating.dissatisfied_interval),
        "flag": flag_text(rating, grade4, labels.flags),
    }


def _or_mark(value):
    return NO_FIGURE if value is None else value


def _row_values(row: EvaluationRow, labels: SheetLabels) -> dict[str, object]:
    values = _survey_values(row.rating, labels.hidden[row.hidden] if row.hidden else None, labels, row.grade4)
    cases = row.cases
    rates = (cases.response_rate, cases.resolution_rate, cases.satisfaction_rate) if cases else (None, None, None)
    score = row.composite.score if row.composite else None
    values.update(
        township=row.township.name if row.township else NO_FIGURE,
        community=row.organization.name,
        secretary=row.secretary_name or labels.vacant,
        turnout=_or_mark(row.turnout),
        response_rate=_or_mark(rates[0]), resolution_rate=_or_mark(rates[1]), case_satisfaction=_or_mark(rates[2]),
        composite=_or_mark(score), rank=_or_mark(row.rank),
    )
    return values


def _total_values(total: TownshipTotal, labels: SheetLabels) -> dict[str, object]:
    return {
        "township": total.township.name,
        "community": labels.township_total(total.communities),
        "secretary": NO_FIGURE,
        "turnout": _or_mark(total.turnout),
        # A total is shown only from k valid answers; below, no figure of it is.
        **_survey_values(total.rating, None if total.rating else labels.hidden[Hidden.FEW_ANSWERS], labels),
        "response_rate": NO_FIGURE, "resolution_rate": NO_FIGURE, "case_satisfaction": NO_FIGURE,
        "composite": NO_FIGURE, "rank": NO_FIGURE,
    }


def _cell_text(spec: exports.Column, value: object) -> str:
    """Return exports.cell_text(spec, value), answering the table's usual cells without its general checks.

    A page formats some fifteen thousand cells; texts, the table's ints and floats go the short way.
    """
    kind, cls = spec.kind, value.__class__
    if cls is str:
        return value
    if cls is float and kind == "percent":
        return format_percent(value, spec.decimals)
    if cls is float and kind == "float":
        return f"{value:.{spec.decimals}f}"
    if cls is int and kind == "int":
        return str(value)
    return exports.cell_text(spec, value)


class _SheetRows:
    """Turns the cells of rows, given by column key, into SheetRows for the given columns."""

    def __init__(self, columns: tuple[TableColumn, ...]) -> None:
        self.values_of = operator.itemgetter(*(column.key for column in columns))
        self.specs = tuple(column.spec for column in columns)

    def __call__(self, by_key: dict[str, object], source: EvaluationRow | TownshipTotal) -> SheetRow:
        values = self.values_of(by_key)
        # Texts as they are; the rest as exports.cell_text writes them.
        return SheetRow(values, tuple([value if value.__class__ is str else _cell_text(spec, value)
                                       for spec, value in zip(self.specs, values)]), source)


def table_sheet(table: EvaluationTable, labels: SheetLabels, notes: tuple[str, ...]) -> Sheet:
    """Return the table's header, rows, township totals and notes as the screen and the exports show them."""
    columns = table_columns(labels.headers)
    sheet_row = _SheetRows(columns)
    return Sheet(
        columns=columns,
        rows=tuple([sheet_row(_row_values(row, labels), row) for row in table.rows]),
        totals=tuple([sheet_row(_total_values(total, labels), total) for total in table.totals]),
        notes=notes,
    )


def export_rows(sheet: Sheet) -> list[list[object]]:
    """Return the values of the rows and then the totals, as the exports write them."""
    return [list(row.values) for row in (*sheet.rows, *sheet.totals)]
