"""The import rules of DESIGN.md section 1 and the Lambda dependency list."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from tests.utils.paths import ROOT

FUNCTIONS = ROOT / "functions"
APPS = ("ingest", "recommend", "metrics")
TRAINING_ONLY = {"torch", "pandas", "matplotlib", "tqdm", "implicit", "onnx", "training"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", python_files(FUNCTIONS), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_never_import_training_only_packages(path):
    roots = {name.split(".")[0] for name in imports_of(path)}
    assert not roots & TRAINING_ONLY, f"{path} imports {roots & TRAINING_ONLY}"


@pytest.mark.parametrize("path", python_files(FUNCTIONS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_imports_another_and_common_imports_no_app(path):
    package = path.relative_to(FUNCTIONS).parts[0]
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] == "functions" and len(parts) > 1 and parts[1] in APPS:
            assert parts[1] == package, f"{path} imports {name}"


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\[<>=!~ ;]", r.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for r in requirements
        if r.strip() and not r.strip().startswith("#")
    }


def test_lambda_requirements_match_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    layer = (FUNCTIONS / "requirements.txt").read_text().splitlines()
    assert _names(layer) == _names(project["dependencies"])
    assert not _names(layer) & TRAINING_ONLY
    assert all("==" in line for line in layer if line and not line.startswith("#"))


def test_torch_is_pinned_where_it_appears():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    every = [r for extra in project["optional-dependencies"].values() for r in extra]
    torch = [r for r in every if _names([r]) == {"torch"}]
    assert torch and all(r == "torch==2.13.0" for r in torch)


def test_no_sql_outside_sql_files():
    statement = re.compile(
        r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|INDEX))\b"
    )
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files(FUNCTIONS)
        if statement.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"SQL text in Python: {offenders} (put it in sql/*.sql)"
