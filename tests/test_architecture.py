"""The house's structure: layers one way, modules a newcomer can hold, domain modules free of Flask."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from config import BASE_DIR

PACKAGES = ("accounts", "workflow", "surveys", "evaluation", "demo")
BASE_MODULES = ("config", "extensions", "db", "keys", "errors", "security", "logs", "i18n", "responses", "worker",
                "session_store", "formkeys", "client_address", "spreadsheets", "inputs")
#: The web layer: requests, forms, commands and the queue's app context. Every other module is domain code.
WEB_LAYER = re.compile(r"(^|_)views\.py$|^(forms|cli|auth|tasks)\.py$")
FLASK_PACKAGES = {"flask", "flask_login", "flask_wtf", "werkzeug"}
#: flask_babel's lazy markers only: the message is translated where it is shown, not in the domain.
LAZY_BABEL = {"lazy_gettext", "lazy_pgettext", "lazy_ngettext"}
MAX_LINES = 400


def modules(package: str) -> list[Path]:
    return sorted((BASE_DIR / package).rglob("*.py"))


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """Return (module, imported names) for every import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=BASE_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_name_every_package():
    settings = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(settings["root_packages"]) == sorted(PACKAGES)
    (contract,) = settings["contracts"]
    layered = {name.strip() for layer in contract["layers"] for name in layer.split("|")}
    assert layered == set(PACKAGES)


def test_the_base_modules_import_no_package_above_them():
    for name in BASE_MODULES:
        for module, _names in imports(BASE_DIR / f"{name}.py"):
            assert module.split(".")[0] not in PACKAGES, f"{name}.py imports {module}"


def test_no_module_outgrows_what_a_newcomer_can_hold():
    too_long = {
        str(path.relative_to(BASE_DIR)): lines
        for package in PACKAGES for path in modules(package)
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_domain_modules_import_no_flask_and_format_nothing_in_the_requests_locale():
    domain = [path for package in PACKAGES for path in modules(package) if not WEB_LAYER.search(path.name)]
    assert len(domain) > 20
    for path in domain:
        for module, names in imports(path):
            where = f"{path.relative_to(BASE_DIR)} imports {module}"
            assert module.split(".")[0] not in FLASK_PACKAGES, where
            if module == "flask_babel":
                assert set(names) <= LAZY_BABEL, f"{where}: {sorted(set(names) - LAZY_BABEL)}"


def test_the_architecture_page_names_only_packages_and_modules_that_exist():
    text = (BASE_DIR / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:[a-z_]+/)+(?:[a-z_]+\.(?:py|html|md))?)`", text))
    assert len(named) > 20
    missing = sorted(name for name in named if not (BASE_DIR / name).exists())
    assert missing == []
    for package in PACKAGES:
        assert f"`{package}/`" in text, package
    for module in BASE_MODULES:
        assert f"`{module}.py`" in text and (BASE_DIR / f"{module}.py").exists(), module


def layers_diagram() -> str:
    """Draw the layers of the import-linter contract as a Mermaid flowchart: each layer may use those below."""
    settings = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = [["app.py"]] + [[name.strip() for name in layer.split("|")] for layer in settings["contracts"][0]["layers"]]
    layers.append(["base"])
    lines = ["flowchart TD"]
    for upper, lower in zip(layers, layers[1:]):
        lines += [f"    {a.replace('.py', '')}[{a}] --> {b}[{b}]" for a in upper for b in lower]
    return "\n".join(lines)


def test_the_architecture_diagram_is_drawn_from_the_contracts():
    text = (BASE_DIR / "docs" / "architecture.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```mermaid\n(.*?)\n```$", text, flags=re.M | re.S)
    assert blocks == [layers_diagram()], "regenerate: .venv/bin/python -c 'from tests.test_architecture import " \
                                         "layers_diagram; print(layers_diagram())'"
