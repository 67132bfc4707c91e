"""Every named query is asked for, every ask names a query that exists, and by literal names.

``sql/<file>.sql`` holds ``-- name:`` blocks (sql/README.md); code asks for one by (file, name):
``execute`` / ``fetch_all`` / ``fetch_one`` / ``fetch_tuples`` (conn, file, name, ...) of
functions/common/store/db.py, ``query(file, name)`` of functions/common/store/sql.py, or a whole
file with ``load_file(file)``. This test parses every .sql file but the migrations (applied by
file, not by name) and reads the code of functions/, training/ and scripts/ with :mod:`ast`.

A file or name argument must be a string literal, or a name for literals that grep finds beside
it: a constant (``CONSTANT = "name"``), an element of a constant tuple, list or dict looped over
or indexed (``for name in NAMES``, ``QUERIES[key]``, ``QUERIES.get(key, "name")``,
``for key, name in QUERIES.items()``). Anything built at run time (f-strings, concatenation, a
parameter) fails, and so does handing a query function on instead of calling it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from functions.common.store import sql
from tests.utils.paths import ROOT

PRODUCT = ("functions", "training", "scripts")
DB_MODULE = "functions.common.store.db"
SQL_MODULE = "functions.common.store.sql"
ROW_FUNCTIONS = {"execute", "fetch_all", "fetch_one", "fetch_tuples", "execute_each"}
"""(conn, file, name, ...)"""
QUERY_FUNCTIONS = {(DB_MODULE, f): (1, 2) for f in ROW_FUNCTIONS}  # positions of file, name
QUERY_FUNCTIONS |= {(SQL_MODULE, "query"): (0, 1), (SQL_MODULE, "load_file"): (0, None)}
QUERY_FUNCTIONS |= {(SQL_MODULE, "named"): (0, 1)}  # a Query, read by fetch_all_of/fetch_one_of
KEYWORDS = {"file": 0, "relative": 0, "name": 1}  # parameter names of the file and the name

TEST_ONLY = {
    (
        "datasets/seed",
        "table_counts",
    ): "tests/training/test_synthetic.py reads back what the seed wrote",
    (
        "datasets/seed",
        "event_by_id",
    ): "tests/training/test_synthetic.py reads back what the seed wrote",
}
"""Queries that only tests ask for (each must really be asked for by a test, and by no product
code: then it leaves this list)."""

Ask = tuple[str, str]


# -- the .sql files ----------------------------------------------------------------------------
def query_files(root: Path) -> dict[str, Path]:
    """``{file: path}``: every .sql file below ``root`` but migrations (``a/b.sql`` -> ``a/b``)."""
    return {
        path.relative_to(root).with_suffix("").as_posix(): path
        for path in sorted(root.rglob("*.sql"))
        if "migrations" not in path.relative_to(root).parts
    }


def parse_file(path: Path) -> set[str]:
    """The names a file defines, as the loader reads them; a ``-- name`` line the loader would
    not take for one (so that its query would silently join the one above) fails."""
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        if re.match(r"--\s*name\b", line) and not sql._NAME_LINE.fullmatch(line):
            raise AssertionError(f"{path}: the loader ignores {line!r}")
    return set(sql.parse_queries(text))


def defined_queries(root: Path) -> dict[str, set[str]]:
    """``{file: names}``. An engine's override file ``a/b.<engine>.sql`` (sql/README.md) may only
    redefine names of its portable ``a/b.sql``; it is not a file of its own."""
    files = {file: parse_file(path) for file, path in query_files(root).items()}
    portable = {file: names for file, names in files.items() if "." not in file}
    for file, names in files.items():
        if "." in file:
            base = file.split(".", 1)[0]
            if base not in files:  # one engine's own file (its schema bookkeeping)
                portable[base] = names
                continue
            extra = names - portable.get(base, set())
            assert not extra, f"sql/{file}.sql overrides what sql/{base}.sql lacks: {extra}"
    return portable


# -- the code ------------------------------------------------------------------------------------
@dataclass
class Scan:
    """What one module asks for, and what it does that the checks refuse."""

    asks: set[Ask] = field(default_factory=set)
    whole_files: set[str] = field(default_factory=set)
    built: list[str] = field(default_factory=list)  # file or name arguments built at run time
    handed_on: list[str] = field(default_factory=list)  # query functions used but not called


Element = str | tuple["Element", ...]


class _Module:
    """The query functions one module can name, and the bindings of its names by scope."""

    def __init__(self, tree: ast.Module, module: str) -> None:
        self.module = module
        self.functions: dict[str, tuple[str, str]] = {}  # local name -> (module, function)
        self.modules: dict[str, str] = {}  # local name -> the db or sql module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                for alias in node.names:
                    local = alias.asname or alias.name
                    dotted = f"{node.module}.{alias.name}"
                    if dotted in (DB_MODULE, SQL_MODULE):
                        self.modules[local] = dotted
                    elif (node.module, alias.name) in QUERY_FUNCTIONS:
                        self.functions[local] = (node.module or "", alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in (DB_MODULE, SQL_MODULE):
                        self.modules[alias.asname or alias.name] = alias.name
        for name in (f for m, f in QUERY_FUNCTIONS if m == module):  # the loader's own module
            self.functions[name] = (module, name)

    def query_function(self, func: ast.expr) -> tuple[str, str] | None:
        if isinstance(func, ast.Name):
            return self.functions.get(func.id)
        if isinstance(func, ast.Attribute):
            owner = ast.unparse(func.value)
            target = (self.modules.get(owner, owner), func.attr)
            return target if target in QUERY_FUNCTIONS else None
        return None


def _scope_bindings(scope: ast.AST) -> dict[str, list[tuple[ast.AST, ast.expr | None]]]:
    """``{name: [(binding node, the expression bound or None)]}`` in one scope (nested function
    and class bodies excluded); an expression of None means bound by something unresolvable."""
    found: dict[str, list[tuple[ast.AST, ast.expr | None]]] = {}

    def bind(target: ast.expr, node: ast.AST, value: ast.expr | None) -> None:
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                found.setdefault(name.id, []).append((node, value))

    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        for arg in ast.walk(scope.args):
            if isinstance(arg, ast.arg):
                found.setdefault(arg.arg, []).append((arg, None))
    body = scope.body if isinstance(scope.body, list) else [scope.body]
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(node.name, []).append((node, None))
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target, node, node.value if isinstance(target, ast.Name) else None)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            bind(node.target, node, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            bind(node.target, node, None)  # resolved through the loop (see _loop_values)
        elif isinstance(node, (ast.AugAssign, ast.withitem)) or (
            isinstance(node, ast.AnnAssign) and node.value is None
        ):
            target = node.optional_vars if isinstance(node, ast.withitem) else node.target
            if target is not None:
                bind(target, node, None)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = (alias.asname or alias.name).split(".")[0]
                found.setdefault(name, []).append((node, None))
        pending.extend(ast.iter_child_nodes(node))
    return found


class _Resolver:
    """The strings an argument can be, if literals that grep finds decide them; else None."""

    def __init__(self, scopes: list[ast.AST], bindings: dict[int, dict]) -> None:
        self.scopes = scopes  # innermost last
        self.bindings = bindings

    def _binding(self, name: str, depth: int) -> tuple[list, int] | None:
        for index in range(depth - 1, -1, -1):
            found = self.bindings[id(self.scopes[index])].get(name)
            if found:
                return found, index + 1
        return None

    def strings(self, node: ast.expr, depth: int | None = None) -> set[str] | None:
        depth = len(self.scopes) if depth is None else depth
        elements = self.elements(node, depth, as_value=True)
        if elements is None or not all(isinstance(e, str) for e in elements):
            return None
        return {e for e in elements if isinstance(e, str)}

    def elements(self, node: ast.expr, depth: int, as_value: bool = False) -> list[Element] | None:
        """``as_value``: what ``node`` evaluates to (one element); else what iterating it yields."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value] if as_value else None
        if isinstance(node, ast.Name):
            return self._name(node.id, depth, as_value)
        if isinstance(node, ast.IfExp) and as_value:
            body, orelse = (
                self.elements(node.body, depth, True),
                self.elements(node.orelse, depth, True),
            )
            return None if body is None or orelse is None else body + orelse
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = [self.elements(e, depth, as_value=True) for e in node.elts]
            if any(i is None for i in items):
                return None
            if not as_value:  # iterated: each element in turn
                return [e for i in items for e in i or ()]
            if all(i is not None and len(i) == 1 for i in items):  # one tuple of one choice each
                return [tuple(i[0] for i in items if i)]
            return None
        if isinstance(node, ast.Dict):  # iterated: its keys
            pairs = None if as_value else self._dict_pairs(node, depth)
            return None if pairs is None else [k for k, _ in pairs]
        if isinstance(node, ast.Subscript) and as_value:
            return self._dict_values(node.value, depth)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, owner = node.func.attr, node.func.value
            if method == "get" and as_value and len(node.args) == 2:
                values, default = (
                    self._dict_values(owner, depth),
                    self.elements(node.args[1], depth, True),
                )
                return None if values is None or default is None else values + default
            if method in ("keys", "values", "items") and not as_value and not node.args:
                pairs = self._dict_pairs(owner, depth)
                if pairs is None:
                    return None
                if method == "items":
                    return [(k, v) for k, v in pairs]
                return [k if method == "keys" else v for k, v in pairs]
        return None

    def _name(self, name: str, depth: int, as_value: bool) -> list[Element] | None:
        found = self._binding(name, depth)
        if found is None:
            return None
        bindings, scope_depth = found
        result: list[Element] = []
        for node, value in bindings:
            if value is not None:
                got = self.elements(value, scope_depth, as_value)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and as_value:
                got = self._loop_values(node, name, scope_depth)
            else:
                got = None
            if got is None:
                return None
            result.extend(got)
        return result

    def _loop_values(self, loop: ast.For | ast.AsyncFor | ast.comprehension, name: str, depth: int):
        """What the loop variable ``name`` takes: an element, or one position of each element."""
        elements = self.elements(loop.iter, depth)
        if elements is None:
            return None
        if isinstance(loop.target, ast.Name):
            return elements
        if isinstance(loop.target, ast.Tuple):
            names = [t.id if isinstance(t, ast.Name) else None for t in loop.target.elts]
            if name not in names:
                return None
            position = names.index(name)
            if not all(isinstance(e, tuple) and len(e) == len(names) for e in elements):
                return None
            return [e[position] for e in elements if isinstance(e, tuple)]
        return None

    def _dict_pairs(self, node: ast.expr, depth: int) -> list[tuple[Element, Element]] | None:
        while isinstance(node, ast.Name):  # a constant dict by its name
            found = self._binding(node.id, depth)
            if found is None or len(found[0]) != 1 or found[0][0][1] is None:
                return None
            node, depth = found[0][0][1], found[1]
        if not isinstance(node, ast.Dict) or None in node.keys:
            return None
        pairs = []
        for key, value in zip(node.keys, node.values, strict=True):
            other = isinstance(key, ast.Constant) and not isinstance(key.value, str)
            keys: list[Element] | None = [()] if other else self.elements(key, depth, True)
            values = self.elements(value, depth, True)
            if keys is None or values is None:
                return None
            pairs.extend((k, v) for k in keys for v in values)
        return pairs

    def _dict_values(self, node: ast.expr, depth: int) -> list[Element] | None:
        pairs = self._dict_pairs(node, depth)
        return None if pairs is None else [v for _, v in pairs]


WRAPPERS = {(DB_MODULE, f) for f in (*ROW_FUNCTIONS, "fetch_all_of", "fetch_one_of")}
WRAPPERS |= {(SQL_MODULE, "query"), (SQL_MODULE, "named")}
WRAPPERS |= {("functions.common.store.postgres_engine", "prefetch")}
"""The loader's own functions, which pass their callers' file and name on (the engine's
prefetch runs the Query tuples that sql.named made, literal names and all)."""


def scan_source(text: str, module: str) -> Scan:
    tree = ast.parse(text)
    names = _Module(tree, module)
    scan = Scan()
    bindings: dict[int, dict] = {}
    called: set[int] = set()

    def walk(node: ast.AST, scopes: list[ast.AST]) -> Iterator[tuple[ast.Call, list[ast.AST]]]:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            bindings[id(node)] = _scope_bindings(node)
            scopes = [*scopes, node]
        if isinstance(node, ast.Call):
            yield node, scopes
        for child in ast.iter_child_nodes(node):
            yield from walk(child, scopes)

    for call, scopes in walk(tree, []):
        target = names.query_function(call.func)
        if target is None:
            continue
        called.add(id(call.func))
        inside = {(module, s.name) for s in scopes if isinstance(s, ast.FunctionDef)}
        if inside & WRAPPERS:
            continue
        where = f"{module}:{call.lineno}"
        positions = QUERY_FUNCTIONS[target]
        arguments: list[ast.expr | None] = [None, None]
        for index, position in enumerate(positions):
            if position is not None and position < len(call.args):
                arguments[index] = call.args[position]
        for keyword in call.keywords:
            if keyword.arg in KEYWORDS:
                arguments[KEYWORDS[keyword.arg]] = keyword.value
        resolver = _Resolver(scopes, bindings)
        file_arg, name_arg = arguments
        files = resolver.strings(file_arg) if file_arg is not None else None
        if files is None:
            scan.built.append(f"{where}: file {ast.unparse(file_arg) if file_arg else '?'}")
            continue
        if positions[1] is None:
            scan.whole_files |= files
            continue
        queries = resolver.strings(name_arg) if name_arg is not None else None
        if queries is None:
            scan.built.append(f"{where}: name {ast.unparse(name_arg) if name_arg else '?'}")
            continue
        scan.asks |= {(f, q) for f in files for q in queries}
    owners = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):  # ``load_file.cache_clear`` is no query, ``f = fetch_all`` is
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            if id(node) in called or id(node) in owners:
                continue
            if names.query_function(node) is not None:
                scan.handed_on.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return scan


def python_files(*folders: str) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def scan_all(folders: tuple[str, ...]) -> Scan:
    total = Scan()
    for path in python_files(*folders):
        scan = scan_source(path.read_text(encoding="utf-8"), module_of(path))
        total.asks |= scan.asks
        total.whole_files |= scan.whole_files
        total.built += scan.built
        total.handed_on += scan.handed_on
    return total


def unused(defined: dict[str, set[str]], scan: Scan) -> set[Ask]:
    return {
        (file, name)
        for file, names in defined.items()
        for name in names
        if (file, name) not in scan.asks and file not in scan.whole_files
    }


def unknown(defined: dict[str, set[str]], scan: Scan) -> set[Ask]:
    asks = scan.asks | {(file, "*") for file in scan.whole_files}
    return {(f, n) for f, n in asks if f not in defined or (n != "*" and n not in defined[f])}


@pytest.fixture(scope="module")
def defined() -> dict[str, set[str]]:
    return defined_queries(sql.sql_dir())


@pytest.fixture(scope="module")
def product() -> Scan:
    return scan_all(PRODUCT)


# -- the checks -----------------------------------------------------------------------------------
def test_query_names_are_literals_at_every_call(product):
    assert not product.built, "query names built at run time (use literals):\n" + "\n".join(
        product.built
    )
    assert not product.handed_on, "query functions used but not called:\n" + "\n".join(
        product.handed_on
    )


def test_every_query_asked_for_exists(defined, product):
    assert not unknown(defined, product), f"asked for but not in sql/: {unknown(defined, product)}"


def included(root: Path) -> set[Ask]:
    """``(file, name)`` of every ``{{name}}`` / ``{{file:name}}`` inside a query (the loader puts
    that query's text there: functions/common/store/sql.py)."""
    found: set[Ask] = set()
    for file, path in query_files(root).items():
        base = file.split(".", 1)[0]
        for match in sql._INCLUDE.finditer(path.read_text(encoding="utf-8")):
            found.add((match.group(1) or base, match.group(2)))
    return found


def test_every_included_query_exists(defined):
    missing = {ask for ask in included(sql.sql_dir()) if ask[1] not in defined.get(ask[0], ())}
    assert not missing, f"{{{{...}}}} names queries that are not in sql/: {missing}"


def test_every_named_query_is_asked_for(defined, product):
    never = unused(defined, product) - set(TEST_ONLY) - included(sql.sql_dir())
    assert not never, f"named queries no code asks for (remove them): {sorted(never)}"


def test_the_test_only_queries_are_still_that(defined, product):
    tests = scan_all(("tests",))
    for ask in TEST_ONLY:
        assert ask[1] in defined.get(ask[0], set()), f"{ask} is no longer defined"
        assert ask not in product.asks, f"{ask} is asked for by the product: drop it from TEST_ONLY"
        assert ask in tests.asks, f"{ask} is asked for by no test either: remove the query"


def test_the_checks_catch_violations(tmp_path):
    """The checks really read the calls: each kind of violation is found, each allowed form
    passes."""
    (tmp_path / "room").mkdir()
    (tmp_path / "room" / "topic.sql").write_text(
        "-- name: used\nSELECT 1;\n-- name: unused\nSELECT 2;\n-- name: looped\nSELECT 3;\n"
    )
    (tmp_path / "room" / "topic.pg.sql").write_text("-- name: used\nSELECT 1;\n")
    defined = defined_queries(tmp_path)
    assert defined == {"room/topic": {"used", "unused", "looped"}}
    scan = scan_source(
        """
from functions.common.store import db as dbmod, sql
from functions.common.store.db import execute as run, fetch_one
LOOPED = ("looped",)
BY_KIND = {"a": "used", "b": "looped"}
def good(conn, kind):
    fetch_one(conn, "room/topic", "used")
    sql.query(relative="room/topic", name=BY_KIND.get(kind, "used"))
    for name in LOOPED:
        dbmod.execute(conn, "room/topic", name)
    for _, name in BY_KIND.items():
        run(conn, "room/topic", name)
def bad(conn, kind, name):
    fetch_one(conn, "room/topic", f"{kind}_used")
    fetch_one(conn, "room/" + kind, "used")
    run(conn, "room/topic", name)
    sql.query("room/topic", "missing")
    return dbmod.fetch_all
""",
        "example",
    )
    assert len(scan.built) == 3 and scan.handed_on == ["example:18: dbmod.fetch_all"]
    assert unknown(defined, scan) == {("room/topic", "missing")}
    assert unused(defined, scan) == {("room/topic", "unused")}
    (tmp_path / "room" / "topic.pg.sql").write_text("-- name: other\nSELECT 1;\n")
    with pytest.raises(AssertionError, match="overrides"):
        defined_queries(tmp_path)
    (tmp_path / "room" / "topic.pg.sql").write_text("-- name: bad-name\nSELECT 1;\n")
    with pytest.raises(AssertionError, match="ignores"):
        defined_queries(tmp_path)
