"""The import rules between the rooms (DESIGN.md section 1) and the Lambda dependency list.

functions/common: the basics (settings, clock, caches, vocabulary) import nothing of ours, except
settings, which registers its cache with caches; store imports the basics; http and serving import
the basics and store, never each other. No function imports another; nothing under functions/
imports training/. training/: the core (top-level modules) imports only the core; datasets the
core; local nothing else of training; benchmarks anything but the CLI; the CLI anything. Imports
are absolute (a test refuses relative ones); ``importlib.import_module`` calls are not read.
"""

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


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports too); ``from a import b`` counts
    as ``a.b`` when ``b`` is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _is_module(f"{node.module}.{alias.name}")
            )
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


# The rooms of functions/common and what each may import (besides the standard library and
# third-party packages). The basics are modules of functions/common itself, each with its own list.
BASICS: dict[str, set[str]] = {
    "functions.common": set(),
    "functions.common.clock": set(),
    "functions.common.caches": set(),
    "functions.common.vocabulary": set(),
    "functions.common.settings": {"functions.common.caches"},
}
COMMON_ROOMS: dict[str, set[str]] = {
    "basics": set(),
    "store": {"basics"},
    "http": {"basics", "store"},
    "serving": {"basics", "store"},
}
TRAINING_ROOMS: dict[str, set[str]] = {
    "core": {"core"},
    "datasets": {"core", "datasets"},
    "local": {"local"},
    "benchmarks": {"core", "datasets", "local", "simulation", "benchmarks"},
    "simulation": {"core", "datasets", "local", "simulation"},
    "cli": {"core", "datasets", "local", "benchmarks", "simulation", "cli"},
}


def common_room(module: str) -> str | None:
    """``functions.common.store.db`` -> ``store``; a basic module -> ``basics``; else None."""
    if module in BASICS:
        return "basics"
    parts = module.split(".")
    if parts[:2] == ["functions", "common"] and len(parts) > 2 and parts[2] in COMMON_ROOMS:
        return parts[2]
    return None


def training_room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "training":
        return None
    if len(parts) > 1 and parts[1] in TRAINING_ROOMS:
        return parts[1]
    return "core"


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def common_violations(module: str, imported: set[str]) -> list[str]:
    """What ``module`` (of functions/common) imports against the rooms' rules."""
    room = common_room(module)
    if room is None:
        return [f"{module} is in no room of functions/common"]
    problems = []
    for name in sorted(imported):
        if name.split(".")[0] != "functions" or name == module:
            continue
        target = common_room(name)
        if target is None:
            problems.append(f"{module} imports {name}, outside functions/common")
        elif room == "basics" and target == "basics":
            if name not in BASICS[module] and name != "functions.common":
                problems.append(f"{module} (a basic module) imports {name}")
        elif target != room and target not in COMMON_ROOMS[room]:
            problems.append(f"{module} ({room}) imports {name} ({target})")
    return problems


def training_violations(module: str, imported: set[str]) -> list[str]:
    room = training_room(module)
    assert room is not None, module
    allowed = TRAINING_ROOMS[room] | {room}
    return [
        f"{module} ({room}) imports {name} ({training_room(name)})"
        for name in sorted(imported)
        if training_room(name) not in (None, *allowed)
    ]


def test_the_rooms_match_the_folders():
    """Every folder of functions/common is a room with rules, and every module of it is in one."""
    folders = {p.name for p in (FUNCTIONS / "common").iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(COMMON_ROOMS) - {"basics"}
    loose = {p.stem for p in (FUNCTIONS / "common").glob("*.py")} - {"__init__"}
    assert {f"functions.common.{name}" for name in loose} == set(BASICS) - {"functions.common"}
    folders = {p.name for p in (ROOT / "training").iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(TRAINING_ROOMS) - {"core"}


@pytest.mark.parametrize("path", python_files(FUNCTIONS / "common"), ids=_ids)
def test_each_room_of_common_imports_only_the_rooms_below_it(path):
    assert not common_violations(module_of(path), imports_of(path))


@pytest.mark.parametrize("path", python_files(ROOT / "training"), ids=_ids)
def test_each_room_of_training_imports_only_what_it_may(path):
    assert not training_violations(module_of(path), imports_of(path))


@pytest.mark.parametrize(
    "path", python_files(FUNCTIONS) + python_files(ROOT / "training"), ids=_ids
)
def test_no_relative_imports(path):
    """The rules read absolute imports only, so there are no others (``from ..x import y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative, f"{path}: relative imports on lines {relative}"


@pytest.mark.parametrize("path", python_files(FUNCTIONS), ids=_ids)
def test_functions_never_import_training_only_packages(path):
    roots = {name.split(".")[0] for name in imports_of(path)}
    assert not roots & TRAINING_ONLY, f"{path} imports {roots & TRAINING_ONLY}"


@pytest.mark.parametrize("path", python_files(FUNCTIONS), ids=_ids)
def test_no_function_imports_another_and_common_imports_no_app(path):
    package = path.relative_to(FUNCTIONS).parts[0]
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] == "functions" and len(parts) > 1 and parts[1] in APPS:
            assert parts[1] == package, f"{path} imports {name}"


@pytest.mark.parametrize(
    "module, source, caught",
    [
        ("functions.common.store.db", "from functions.common.http import errors", True),
        ("functions.common.http.app", "from functions.common.serving import bundle", True),
        ("functions.common.serving.bundle", "import functions.common.http.schemas", True),
        ("functions.common.clock", "from functions.common import settings", True),
        ("functions.common.caches", "from functions.common.settings import get_settings", True),
        ("functions.common.store.db", "from functions.recommend import logic", True),
        ("functions.common.http.app", "from functions.common.store import db", False),
        ("functions.common.settings", "from functions.common import caches", False),
        ("training.datasets.csv_log", "from training.cli import imports", True),
        ("training.split", "from training.datasets import movielens", True),
        ("training.local.server", "from training import pipeline", True),
        ("training.cli.data", "from training.datasets.synthetic import world", False),
    ],
)
def test_the_rules_catch_a_violation(tmp_path, module, source, caught):
    """The checks above really catch one: the same functions, on a file with one bad import
    (inside a function, as lazy imports are)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    " + source + "\n")
    check = common_violations if module.startswith("functions") else training_violations
    assert bool(check(module, imports_of(bad))) is caught


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
