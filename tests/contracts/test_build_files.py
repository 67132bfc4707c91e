"""The build files tell the truth: what they cite exists, and what the code imports is declared.

* Every ``tests/<path>.py`` (or ``tests/<path>.py::name``) that a file of the repository mentions,
  README and docs included, is a file that exists, and ``name`` is defined in it.
* Every third-party package imported anywhere (at the top or inside a function) is declared in
  pyproject.toml where the importing room gets it: functions/ in ``[project.dependencies]`` (the
  Lambda layer), training/ there or in the ``train`` / ``serve`` extras, scripts/ and tests/ in
  anything pyproject declares, ``dev`` included. Only a distribution named there counts: one that
  a declared package happens to pull in (starlette through fastapi, PyYAML through moto[s3],
  aws-xray-sdk through aws-lambda-powertools[tracer]) is declared when the code imports it.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from tests.utils.paths import ROOT

FIRST_PARTY = {"functions", "training", "tests", "scripts"}
# Which parts of pyproject each room may import from: "" is [project.dependencies], the rest extras.
ROOMS: dict[str, tuple[str, ...]] = {
    "functions": ("",),
    "training": ("", "train", "serve", "peers"),
    "scripts": ("*",),
    "tests": ("*",),
}

# A path under tests/ ending in .py, not part of a longer path, with an optional ::name::name.
CITATION = re.compile(r"(?<![\w./-])(tests/[\w./-]*?\w\.py)(?!\w)((?:::\w+)*)")


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """``"aws-lambda-powertools[tracer]>=3.0"`` -> ``"aws-lambda-powertools"``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    return normalise(match.group(1))


def declared(requirements: list[str]) -> set[str]:
    """The distributions named, not what they pull in (through their extras or otherwise)."""
    return {requirement_name(requirement) for requirement in requirements}


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@cache
def allowed_distributions(room: str) -> frozenset[str]:
    project = pyproject()
    parts = {"": project["dependencies"], **project["optional-dependencies"]}
    names = ROOMS[room]
    if names == ("*",):
        names = tuple(parts)
    missing = set(names) - set(parts)
    assert not missing, f"pyproject.toml declares no extra {sorted(missing)} (for {room}/)"
    return frozenset().union(*(declared(parts[name]) for name in names))


def runtime_provided() -> set[str]:
    """The distributions the layer leaves to Lambda's python3.12 runtime (functions/Makefile)."""
    text = (ROOT / "functions" / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^RUNTIME_PROVIDED\s*:?=(.*)$", text, re.MULTILINE)
    assert match, "functions/Makefile no longer sets RUNTIME_PROVIDED"
    return {normalise(name) for name in match.group(1).split()}


def imported_roots(path: Path) -> set[str]:
    """The top-level names of every absolute import in ``path``, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def third_party(roots: set[str]) -> set[str]:
    return {r for r in roots if r not in sys.stdlib_module_names and r not in FIRST_PARTY}


@cache
def import_owners() -> dict[str, list[str]]:
    """Import name -> the installed distributions that provide it."""
    return importlib.metadata.packages_distributions()


def undeclared_imports(path: Path, allowed: set[str]) -> list[str]:
    """``module (distribution)`` for each third-party import of ``path`` that ``allowed`` lacks."""
    owners = import_owners()
    problems = []
    for module in sorted(third_party(imported_roots(path))):
        distributions = {normalise(d) for d in owners.get(module, [])}
        if not distributions:
            problems.append(f"{module} (installed by no distribution: declare and install it)")
        elif not distributions & allowed:
            problems.append(f"{module} ({', '.join(sorted(distributions))})")
    return problems


def python_files(room: str) -> list[Path]:
    return sorted(p for p in (ROOT / room).rglob("*.py") if "__pycache__" not in p.parts)


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def allowed_for(room: str) -> set[str]:
    allowed = set(allowed_distributions(room))
    if room == "functions":
        # boto3 and botocore are imported lazily for s3:// model bundles. Lambda's runtime provides
        # them, so the layer leaves them out (functions/Makefile, RUNTIME_PROVIDED; decisions.md,
        # "The layer leaves out what the Lambda runtime provides") and [project.dependencies],
        # which must match the layer's requirements.txt, cannot name them.
        # test_the_runtime_provided_sdk_is_declared_for_local_use checks that they are declared.
        allowed |= runtime_provided()
    return allowed


@pytest.mark.parametrize("path", [p for room in ROOMS for p in python_files(room)], ids=_ids)
def test_every_imported_package_is_declared_for_its_room(path):
    room = path.relative_to(ROOT).parts[0]
    problems = undeclared_imports(path, allowed_for(room))
    where = " or ".join(f"[{name or 'project.dependencies'}]" for name in ROOMS[room])
    assert not problems, f"{_ids(path)} imports undeclared {problems}; declare in {where}"


def test_the_runtime_provided_sdk_is_declared_for_local_use():
    """What functions/ may import without declaring it (the runtime's SDK) is still installed
    by the extras, for training, the tests and make build-check."""
    owners = import_owners()
    used = set()
    for path in python_files("functions"):
        for module in third_party(imported_roots(path)):
            used |= {normalise(d) for d in owners.get(module, [])}
    leaned_on = (used & runtime_provided()) - allowed_distributions("functions")
    assert leaned_on <= allowed_distributions("tests"), leaned_on


def test_the_import_check_catches_an_undeclared_package(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import json\nfrom functions.common import clock\n"
        "def f():\n    import yaml\n    import not_a_package_anyone_ships\n"
    )
    problems = undeclared_imports(bad, {"numpy"})
    assert problems == [
        "not_a_package_anyone_ships (installed by no distribution: declare and install it)",
        "yaml (pyyaml)",
    ]
    assert undeclared_imports(bad, allowed_distributions("tests")) == problems[:1]


def repository_files() -> list[Path]:
    """Tracked files and new ones git does not ignore (README.md and docs/ among them)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def defines(path: Path, names: list[str]) -> bool:
    """Whether ``path`` defines ``names[0]`` at the top, ``names[1]`` inside it, and so on."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for name in names:
        found = [
            node
            for node in body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name == name
        ]
        if not found:
            return False
        body = found[0].body
    return True


def stale_citations(text: str) -> list[str]:
    problems = []
    for match in CITATION.finditer(text):
        cited, names = match.group(1), [n for n in match.group(2).split("::") if n]
        path = ROOT / cited
        if not path.is_file():
            problems.append(f"{match.group(0)} (no such file)")
        elif names and not defines(path, names):
            problems.append(f"{match.group(0)} (no {'::'.join(names)} in {cited})")
    return problems


def test_every_cited_test_file_exists():
    problems = []
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            problems += [f"{_ids(path)}:{number}: {p}" for p in stale_citations(line)]
    assert not problems, "cited tests that do not exist:\n" + "\n".join(problems)


def test_the_citation_check_reads_paths_and_test_names():
    here = "tests/contracts/test_build_files.py"
    assert stale_citations(f"see {here}::test_every_cited_test_file_exists.") == []
    assert stale_citations(f"({here}::test_the_citation_check_reads_paths_and_test_names)") == []
    assert stale_citations(f"`{here}::no_such_test`") == [
        f"{here}::no_such_test (no no_such_test in {here})"
    ]
    gone = "tests/" + "no_such_folder/test_gone.py"
    assert stale_citations(f"{gone} checks it") == [f"{gone} (no such file)"]
    # Part of another path (a vendored package's tests), or not Python: not a citation.
    assert stale_citations("numpy/_core/tests/_natype.py, tests/data.pyc, tests/*.py") == []
