"""CSV and XLSX files of exactly the rows and cells an evaluation screen shows."""

import csv
import io
import numbers
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from evaluation.charts import format_percent
from spreadsheets import guard_formula, set_text

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ColumnKind = Literal["text", "int", "percent", "float"]
MAX_COLUMN_WIDTH = 60
SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Column:
    """A column of an export; percent values are fractions (0.667 shows as 66.7%)."""

    header: str
    kind: ColumnKind = "text"
    #: Digits after the point for percent and float columns, as on the screen.
    decimals: int = 1


Columns = Sequence[Column | str]


def to_csv(columns: Columns, rows: Iterable[Sequence[object]], *, notes: Sequence[str] = ()) -> bytes:
    """Return the table as UTF-8 CSV with a BOM, notes after one empty row."""
    spec = _columns(columns)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(guard_formula(c.header) for c in spec)
    for row in _checked(spec, rows):
        writer.writerow(_csv_cell(column, value) for column, value in zip(spec, row))
    if notes:
        writer.writerow([])
        writer.writerows([guard_formula(note)] for note in notes)
    # The BOM makes Excel on Chinese Windows read UTF-8 rather than GBK.
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(
    columns: Columns, rows: Iterable[Sequence[object]], *, sheet_title: str, notes: Sequence[str] = ()
) -> bytes:
    """Return the table as an XLSX workbook with a bold frozen header and notes under it."""
    spec = _columns(columns)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _sheet_title(sheet_title)
    widths = [_display_width(c.header) for c in spec]
    bold = Font(bold=True)
    for j, column in enumerate(spec, start=1):
        cell = sheet.cell(row=1, column=j)
        set_text(cell, column.header)
        cell.font = bold
        if column.kind != "text":
            cell.alignment = Alignment(horizontal="right", wrap_text=True)
    count = 0
    for i, row in enumerate(_checked(spec, rows), start=2):
        count += 1
        for j, (column, value) in enumerate(zip(spec, row), start=1):
            cell = sheet.cell(row=i, column=j)
            shown = _xlsx_cell(cell, column, value)
            widths[j - 1] = max(widths[j - 1], _display_width(shown))
    sheet.freeze_panes = "A2"
    if count:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(spec))}{count + 1}"
    for j, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(j)].width = min(width + 2, MAX_COLUMN_WIDTH)
    for k, note in enumerate(notes):
        cell = sheet.cell(row=count + 3 + k, column=1)
        set_text(cell, note)
        cell.font = Font(italic=True)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _columns(columns: Columns) -> list[Column]:
    return [c if isinstance(c, Column) else Column(c) for c in columns]


def _checked(spec: list[Column], rows: Iterable[Sequence[object]]) -> Iterable[Sequence[object]]:
    for row in rows:
        if len(row) != len(spec):
            raise ValueError(f"row has {len(row)} cells for {len(spec)} columns: {row!r}")
        yield row


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_number(column: Column, value: object) -> None:
    if column.kind == "int" and not isinstance(value, numbers.Integral):
        raise TypeError(f"column {column.header!r} holds integers, got {value!r}")


def cell_text(column: Column, value: object) -> str:
    """Return a cell as the screen shows it: percentages as "66.7%", floats to the column's decimals."""
    if value is None:
        return ""
    if column.kind != "text" and _is_number(value):
        _check_number(column, value)
        if column.kind == "percent":
            return format_percent(float(value), column.decimals)
        if column.kind == "float":
            return f"{float(value):.{column.decimals}f}"
        return str(int(value))
    return str(value)


def _csv_cell(column: Column, value: object) -> str:
    """Return what the screen shows; numbers unquoted, text guarded against formulas."""
    text = cell_text(column, value)
    return text if column.kind != "text" and _is_number(value) else guard_formula(text)


def _xlsx_cell(cell, column: Column, value: object) -> str:
    """Fill cell with value and return its text as displayed, for the column width."""
    if value is None:
        return ""
    if column.kind != "text" and _is_number(value):
        _check_number(column, value)
        if column.kind == "int":
            cell.value = int(value)
            cell.number_format = "0"
            return str(cell.value)
        cell.value = float(value)
        places = "." + "0" * column.decimals if column.decimals else ""
        if column.kind == "percent":
            cell.number_format = f"0{places}%"
            return format_percent(cell.value, column.decimals)
        cell.number_format = f"0{places}"
        return f"{cell.value:.{column.decimals}f}"
    text = str(value)
    set_text(cell, text)
    if column.kind != "text":
        # A marker such as "—" in a figure column lines up with the figures.
        cell.alignment = Alignment(horizontal="right")
    return text


def _sheet_title(title: str) -> str:
    """Return a sheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = SHEET_TITLE_FORBIDDEN.sub(" ", ILLEGAL_CHARACTERS_RE.sub("", title)).strip().strip("'")
    return cleaned[:31] or "Sheet1"


def _display_width(text: str) -> int:
    """Return the width in Excel character units; CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
