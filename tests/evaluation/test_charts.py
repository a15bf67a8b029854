import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from evaluation.charts import format_percent, pattern_defs, placeholder_bar, stacked_bar, text_alternative_bar
from evaluation.history_chart import HistoryPoint, history_chart, text_alternative_history

NS = {"svg": "http://www.w3.org/2000/svg"}
LABELS = ("满意", "基本满意", "不满意")


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def segments(svg: ET.Element) -> list[ET.Element]:
    return [r for r in svg.findall("svg:rect", NS) if r.get("fill", "").startswith("url(")]


def assert_accessible(svg: ET.Element) -> None:
    title = svg.find("svg:title", NS)
    desc = svg.find("svg:desc", NS)
    assert svg.get("role") == "img"
    assert title is not None and title.text
    assert desc is not None and desc.text
    assert svg.get("aria-labelledby") == title.get("id")
    assert svg.get("aria-describedby") == desc.get("id")


def assert_no_style(svg: ET.Element) -> None:
    assert not [el.tag for el in svg.iter() if "style" in el.attrib or el.tag.endswith("style")]


def test_stacked_bar_is_accessible_svg_without_inline_styles():
    bar = stacked_bar(6, 3, 1, labels=LABELS)
    assert isinstance(bar, Markup)
    svg = parse(bar)
    assert_accessible(svg)
    assert_no_style(svg)
    assert svg.find("svg:title", NS).text == "满意: 6 (60%); 基本满意: 3 (30%); 不满意: 1 (10%); N = 10"


@pytest.mark.parametrize("counts", [(6, 3, 1), (1, 1, 1), (0, 0, 7), (999, 1, 0), (1, 0, 1000), (2, 5, 0)])
def test_segment_widths_add_up_to_the_bar(counts):
    svg = parse(stacked_bar(*counts, labels=LABELS, width=160))
    widths = [float(r.get("width")) for r in segments(svg)]
    assert sum(widths) == pytest.approx(160, abs=1)
    # Every share with answers is drawn, however small.
    assert len(widths) == sum(1 for c in counts if c)


@given(st.tuples(*[st.integers(0, 10_000)] * 3).filter(any), st.integers(40, 400))
def test_segment_widths_add_up_for_any_counts(counts, width):
    svg = parse(stacked_bar(*counts, labels=LABELS, width=width))
    assert sum(float(r.get("width")) for r in segments(svg)) == pytest.approx(width, abs=1)


def test_segments_differ_by_pattern_and_carry_percentages():
    svg = parse(stacked_bar(5, 3, 2, labels=LABELS))
    fills = [r.get("fill") for r in segments(svg)]
    assert len(set(fills)) == 3
    assert [t.text for t in svg.findall("svg:text", NS)] == ["50%", "30%", "20%"]


def test_narrow_segment_has_no_label_but_the_title_has_it():
    svg = parse(stacked_bar(97, 2, 1, labels=LABELS))
    assert [t.text for t in svg.findall("svg:text", NS)] == ["97%"]
    assert "不满意: 1 (1%)" in svg.find("svg:title", NS).text


def test_percent_labels_add_up_to_100():
    rows = text_alternative_bar(1, 1, 1, labels=LABELS).rows
    assert sum(int(share.rstrip("%")) for _, _, share in rows) == 100


def test_zero_answers_render_a_neutral_bar():
    svg = parse(stacked_bar(0, 0, 0, labels=LABELS, empty_text="No answers"))
    assert_accessible(svg)
    assert not segments(svg)
    assert svg.find("svg:text", NS).text == "No answers"
    assert svg.find("svg:title", NS).text == "No answers"


def test_placeholder_bar_for_a_hidden_group_shows_only_its_text():
    svg = parse(placeholder_bar("fewer than 5 answers"))
    assert_accessible(svg)
    assert not segments(svg)
    assert not re.search(r"\d+%", ET.tostring(svg, encoding="unicode"))


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        stacked_bar(1, -1, 0, labels=LABELS)


def test_labels_are_escaped():
    bar = stacked_bar(1, 1, 1, labels=("<script>alert(1)</script>", "a&b", '"q"'), title="<b>x</b>")
    assert "<script>" not in bar and "<b>" not in bar
    svg = parse(bar)
    assert svg.find("svg:title", NS).text == "<b>x</b>"
    assert svg.find("svg:desc", NS).text.startswith("<script>alert(1)</script>: 1 (34%); a&b: 1")


def test_fifty_bars_and_the_pattern_defs_have_unique_ids_and_resolve():
    bars = [stacked_bar(i, 50 - i, i % 7, labels=LABELS) for i in range(50)]
    page = "<div>" + "".join(map(str, [pattern_defs(), *bars])) + "</div>"
    root = ET.fromstring(page)
    ids = Counter(el.get("id") for el in root.iter() if el.get("id"))
    assert [i for i, n in ids.items() if n > 1] == []
    referenced = {m for m in re.findall(r"url\(#([^)]+)\)", page)}
    assert referenced <= set(ids)
    assert_no_style(root)


def test_pattern_defs_are_hidden_from_assistive_technology():
    svg = parse(pattern_defs())
    assert svg.get("aria-hidden") == "true"
    assert len(svg.findall("svg:defs/svg:pattern", NS)) == 3


def test_caller_chosen_id():
    svg = parse(stacked_bar(1, 2, 3, labels=LABELS, id="bar-7"))
    assert svg.get("id") == "bar-7"
    assert svg.get("aria-labelledby") == "bar-7-title"


POINTS = [
    HistoryPoint("2023 H1", 0.62, 0.52, 0.71, 2 / 3),
    HistoryPoint("2023 H2", None, threshold=2 / 3),
    HistoryPoint("2024 H1", 0.70, 0.61, 0.78, 2 / 3),
    HistoryPoint("2024 H2", 0.81, 0.72, 0.88, 2 / 3),
]


def history() -> ET.Element:
    return parse(
        history_chart(
            POINTS,
            title="Satisfaction of Wang Fang",
            y_label="Satisfaction rate",
            gap_note="fewer than 5 answers",
            threshold_label="Review line",
        )
    )


def test_history_chart_is_accessible_svg_without_inline_styles():
    svg = history()
    assert_accessible(svg)
    assert_no_style(svg)
    assert svg.find("svg:title", NS).text == "Satisfaction of Wang Fang"
    assert svg.find("svg:desc", NS).text.startswith("2023 H1: 62.0% (52.0%–71.0%); 2023 H2: fewer than 5 answers;")


def test_history_chart_leaves_a_gap_with_a_note():
    svg = history()
    # Two runs: the lone first point draws no line; the last two are joined.
    lines = svg.findall("svg:polyline", NS)
    assert len(lines) == 1
    assert len(lines[0].get("points").split()) == 2
    assert len(svg.findall(".//svg:circle", NS)) == 3
    texts = [t.text for t in svg.iter("{%s}text" % NS["svg"])]
    assert "* fewer than 5 answers" in texts


def test_history_chart_labels_values_axes_and_threshold():
    svg = history()
    texts = [t.text for t in svg.iter("{%s}text" % NS["svg"])]
    assert {"0%", "20%", "40%", "60%", "80%", "100%"} <= set(texts)
    assert {"62.0%", "70.0%", "81.0%", "Satisfaction rate", "2024 H2"} <= set(texts)
    assert "Review line (66.7%)" in texts
    # The line across the plot and its sample beside the label above it.
    dashed = [el for el in svg.iter() if el.get("stroke-dasharray")]
    assert len(dashed) == 2


def test_threshold_changes_draw_separate_runs():
    points = [HistoryPoint("a", 0.5, threshold=2 / 3), HistoryPoint("b", 0.5, threshold=0.7)]
    svg = parse(history_chart(points, title="t", y_label="y", threshold_label="Review line"))
    assert len([el for el in svg.iter() if el.get("stroke-dasharray")]) == 3
    assert "Review line (66.7%, 70.0%)" in [t.text for t in svg.iter("{%s}text" % NS["svg"])]


def test_history_chart_with_only_gaps_and_no_points():
    for points in ([HistoryPoint("a", None), HistoryPoint("b", None)], []):
        svg = parse(history_chart(points, title="t", y_label="y", gap_note="hidden"))
        assert_accessible(svg)
        assert not svg.findall("svg:polyline", NS)


def test_long_survey_labels_are_rotated_and_fit():
    points = [HistoryPoint(f"第{i}次社区党组织书记民主评议测评调查", 0.5) for i in range(8)]
    svg = parse(history_chart(points, title="t", y_label="y"))
    rotated = [t for t in svg.iter("{%s}text" % NS["svg"]) if "rotate(-30" in (t.get("transform") or "")]
    assert len(rotated) == 8
    assert all(t.text.endswith("…") for t in rotated)


def test_history_text_is_escaped():
    chart = history_chart([HistoryPoint("<script>", 0.5)], title="<t>", y_label="&y", gap_note="<n>")
    assert "<script>" not in chart and "<t>" not in chart
    assert parse(chart).find("svg:title", NS).text == "<t>"


@pytest.mark.parametrize(
    "point",
    [
        HistoryPoint("a", 1.2),
        HistoryPoint("a", 0.5, 0.6, 0.7),
        HistoryPoint("a", float("nan")),
        HistoryPoint("a", 0.5, threshold=2),
    ],
)
def test_history_rejects_values_outside_fractions(point):
    with pytest.raises(ValueError):
        history_chart([point], title="t", y_label="y")


def test_text_alternative_history_rows_for_a_table():
    alternative = text_alternative_history(POINTS, gap_note="fewer than 5 answers", threshold_label="Review line")
    assert alternative.rows == (
        ("2023 H1", "62.0%", "52.0%–71.0%", "66.7%"),
        ("2023 H2", "fewer than 5 answers", "", "66.7%"),
        ("2024 H1", "70.0%", "61.0%–78.0%", "66.7%"),
        ("2024 H2", "81.0%", "72.0%–88.0%", "66.7%"),
    )
    assert alternative.summary.endswith("; Review line: 66.7%")


def test_text_alternative_bar_rows_for_a_table():
    alternative = text_alternative_bar(6, 3, 1, labels=LABELS)
    assert alternative.rows == (("满意", "6", "60%"), ("基本满意", "3", "30%"), ("不满意", "1", "10%"))


def test_format_percent():
    assert format_percent(2 / 3, 1) == "66.7%"
    assert format_percent(0.05) == "5%"
