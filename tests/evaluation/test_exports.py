import codecs
import csv
import io

import pytest
from openpyxl import load_workbook

from evaluation.exports import Column, to_csv, to_xlsx

HIDDEN = "少于5份答卷"
COLUMNS = [
    Column("组织"),
    Column("书记"),
    Column("N", "int"),
    Column("满意率", "percent"),
    Column("综合得分", "float", decimals=2),
    Column("排名", "int"),
]
ROWS = [
    ["幸福社区", "王芳", 42, 0.8095238095, 0.7712, 1],
    ["和平社区", "李强", 3, HIDDEN, None, None],
    ["=HYPERLINK(\"http://x\")", "@SUM(A1)", 10, 0.5, 0.5, 2],
]
NOTES = ["少于 5 份答卷的行不显示数字。", "-- generated"]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_round_trips_with_bom_and_chinese_text():
    lines = read_csv(to_csv(COLUMNS, ROWS[:2]))
    assert lines == [
        ["组织", "书记", "N", "满意率", "综合得分", "排名"],
        ["幸福社区", "王芳", "42", "81.0%", "0.77", "1"],
        ["和平社区", "李强", "3", HIDDEN, "", ""],
    ]


def test_csv_writes_numbers_unquoted():
    text = to_csv(COLUMNS, ROWS[:1]).decode("utf-8-sig")
    assert text.splitlines()[1] == "幸福社区,王芳,42,81.0%,0.77,1"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_csv_guards_formula_text(text):
    lines = read_csv(to_csv(["a", "b"], [[text, "ok"]]))
    assert lines[1] == ["'" + text, "ok"]


def test_csv_guards_headers_and_notes_but_not_numbers():
    lines = read_csv(to_csv(["=a", Column("n", "int"), Column("p", "percent")], [["x", -3, -0.05]], notes=NOTES))
    assert lines[0] == ["'=a", "n", "p"]
    assert lines[1] == ["x", "-3", "-5.0%"]
    assert lines[2] == []
    assert lines[3:] == [[NOTES[0]], ["'" + NOTES[1]]]


def test_csv_strings_are_plain_text_columns():
    assert read_csv(to_csv(["a"], [[1], [None], [2.5]]))[1:] == [["1"], [""], ["2.5"]]


def test_rows_must_match_the_columns():
    with pytest.raises(ValueError):
        to_csv(["a", "b"], [["only one"]])
    with pytest.raises(ValueError):
        to_xlsx(["a", "b"], [["only one"]], sheet_title="t")


def test_int_columns_refuse_fractions():
    with pytest.raises(TypeError):
        to_csv([Column("n", "int")], [[2.5]])


def load(data: bytes):
    return load_workbook(io.BytesIO(data)).active


def test_xlsx_values_equal_the_rows():
    sheet = load(to_xlsx(COLUMNS, ROWS, sheet_title="评议结果"))
    assert sheet.title == "评议结果"
    values = [list(r) for r in sheet.iter_rows(min_row=1, max_row=len(ROWS) + 1, values_only=True)]
    assert values[0] == [c.header for c in COLUMNS]
    assert values[1:] == ROWS


def test_xlsx_header_is_bold_and_frozen():
    sheet = load(to_xlsx(COLUMNS, ROWS, sheet_title="t"))
    assert all(cell.font.bold for cell in sheet[1])
    assert not sheet["A2"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F4"


def test_xlsx_number_formats_follow_the_columns():
    sheet = load(to_xlsx(COLUMNS, ROWS, sheet_title="t"))
    assert sheet["D2"].number_format == "0.0%"
    assert sheet["E2"].number_format == "0.00"
    assert sheet["C2"].number_format == "0"
    # A suppressed cell is the marker text, never a number.
    assert sheet["D3"].value == HIDDEN and sheet["D3"].data_type == "s"
    assert sheet["E3"].value is None


def test_xlsx_percent_without_decimals():
    sheet = load(to_xlsx([Column("p", "percent", decimals=0)], [[0.5]], sheet_title="t"))
    assert sheet["A2"].number_format == "0%"


def test_xlsx_stores_formula_text_as_text():
    sheet = load(to_xlsx(COLUMNS, ROWS, sheet_title="t"))
    cell = sheet["A4"]
    assert cell.value == ROWS[2][0]
    assert cell.data_type == "s"
    assert cell.quotePrefix


def test_xlsx_notes_below_the_table():
    sheet = load(to_xlsx(COLUMNS, ROWS, sheet_title="t", notes=NOTES))
    assert [sheet.cell(row=r, column=1).value for r in range(5, 8)] == [None, *NOTES]
    assert sheet["A7"].data_type == "s"


def test_xlsx_column_widths_fit_chinese_text():
    sheet = load(to_xlsx(COLUMNS, ROWS, sheet_title="t"))
    assert sheet.column_dimensions["A"].width >= len("=HYPERLINK(\"http://x\")")
    assert sheet.column_dimensions["D"].width >= 2 * len(HIDDEN)


@pytest.mark.parametrize(
    ("title", "expected"),
    [("a/b:c*d?e[f]g\\h", "a b c d e f g h"), ("x" * 40, "x" * 31), ("[]", "Sheet1")],
)
def test_xlsx_sheet_titles_are_made_valid(title, expected):
    assert load(to_xlsx(["a"], [], sheet_title=title)).title == expected


def test_xlsx_drops_control_characters():
    sheet = load(to_xlsx(["a"], [["bell\x07 text"]], sheet_title="t"))
    assert sheet["A2"].value == "bell text"


def test_empty_table_still_has_its_header():
    sheet = load(to_xlsx(COLUMNS, [], sheet_title="t", notes=NOTES))
    assert [c.value for c in sheet[1]] == [c.header for c in COLUMNS]
    assert sheet.auto_filter.ref is None
    assert read_csv(to_csv(COLUMNS, []))[0] == [c.header for c in COLUMNS]
