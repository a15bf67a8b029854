"""docs/workflow.md shows the workflow as declared: a stale diagram or table fails here."""
from __future__ import annotations

import re

from config import BASE_DIR
from workflow import machine

DOC = BASE_DIR / "docs" / "workflow.md"
REGENERATE = (
    "docs/workflow.md is out of date with workflow/machine.py. Regenerate it and paste the output over the old "
    "text:\n  .venv/bin/python -c \"from workflow import machine; print(machine.{function}())\""
)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_diagram_is_generated_from_the_declaration():
    blocks = re.findall(r"^```mermaid\n(.*?)\n```$", doc_text(), flags=re.M | re.S)
    assert len(blocks) == 1, "docs/workflow.md needs exactly one ```mermaid block"
    assert blocks[0] == machine.mermaid_diagram(), REGENERATE.format(function="mermaid_diagram")


def test_the_actions_table_is_generated_from_the_declaration():
    lines = doc_text().splitlines()
    header = machine.markdown_table().splitlines()[0]
    assert lines.count(header) == 1, "docs/workflow.md needs exactly one actions table"
    start = lines.index(header)
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    assert "\n".join(lines[start:end]) == machine.markdown_table(), REGENERATE.format(function="markdown_table")


def test_every_state_is_described_with_its_labels():
    text = doc_text()
    for state in machine.State:
        assert f"| {state.value} | {state.label} | {state.label_zh} |" in text, state


def test_the_page_says_how_to_regenerate():
    text = doc_text()
    for function in ("mermaid_diagram", "markdown_table"):
        assert f'.venv/bin/python -c "from workflow import machine; print(machine.{function}())"' in text


def test_the_page_names_only_modules_that_exist():
    named = set(re.findall(r"`(?:workflow/)?(\w+\.py)`", doc_text()))
    assert {"machine.py", "effects.py", "actions.py"} <= named
    assert sorted(name for name in named if not (BASE_DIR / "workflow" / name).is_file()) == []
