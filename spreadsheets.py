"""Text that spreadsheets show as text: a CSV or XLSX export must never hand them a formula to run."""
from __future__ import annotations

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

#: Leading characters that make Excel or LibreOffice read a text cell as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(text: str) -> str:
    """Prefix an apostrophe to text that a spreadsheet would run as a formula (for CSV)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def set_text(cell, text: str) -> None:
    """Store text in an openpyxl cell as text: openpyxl would otherwise save "=…" as a formula."""
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", text)
    cell.data_type = "s"
    if cell.value.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
