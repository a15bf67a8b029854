"""docs/surveys.md shows the survey lifecycle as declared: a stale diagram or table fails here."""
from __future__ import annotations

import re

from config import BASE_DIR
from surveys import lifecycle

DOC = BASE_DIR / "docs" / "surveys.md"
REGENERATE = (
    "docs/surveys.md is out of date with surveys/lifecycle.py. Regenerate it and paste the output over the old "
    "text:\n  .venv/bin/python -c \"from surveys import lifecycle; print(lifecycle.{function}())\""
)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_diagram_is_generated_from_the_declaration():
    blocks = re.findall(r"^```mermaid\n(.*?)\n```$", doc_text(), flags=re.M | re.S)
    assert len(blocks) == 1, "docs/surveys.md needs exactly one ```mermaid block"
    assert blocks[0] == lifecycle.mermaid_diagram(), REGENERATE.format(function="mermaid_diagram")


def test_the_transitions_table_is_generated_from_the_declaration():
    lines = doc_text().splitlines()
    header = lifecycle.markdown_table().splitlines()[0]
    assert lines.count(header) == 1, "docs/surveys.md needs exactly one transitions table"
    start = lines.index(header)
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    assert "\n".join(lines[start:end]) == lifecycle.markdown_table(), REGENERATE.format(function="markdown_table")


def test_every_phase_and_party_is_described():
    text = doc_text()
    for phase in lifecycle.Phase:
        assert f"| {phase.value} | {phase.status} |" in text, phase
    for party in lifecycle.Party:
        assert f"*{party.value}*" in text, party


def test_the_page_says_how_to_regenerate():
    text = doc_text()
    for function in ("mermaid_diagram", "markdown_table"):
        assert f'.venv/bin/python -c "from surveys import lifecycle; print(lifecycle.{function}())"' in text


def test_the_page_names_only_modules_that_exist():
    named = set(re.findall(r"`surveys/(\w+\.py)`", doc_text()))
    assert {"lifecycle.py", "transitions.py", "ballots.py"} <= named
    assert sorted(name for name in named if not (BASE_DIR / "surveys" / name).is_file()) == []
