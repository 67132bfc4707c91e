"""Request bodies parsed as JSON within mediarec's limits, each violation a 4xx naming the field.

Python's ``json`` module accepts more than JSON and fails in ways that are not a client's error:
``NaN`` and ``Infinity`` (not JSON; stored as-is they make invalid JSON in the database),
``1e400`` (becomes ``inf``), an integer of more than 4,300 digits (``ValueError`` from ``int``,
which had answered 500), nesting deeper than the interpreter's recursion limit
(``RecursionError``, which had been reported as "not UTF-8 JSON"). This module parses with the
C scanner as usual and then walks the result once, so a body is refused (400) with the path of
the first offending value, e.g. ``items[3].attributes.score``:

- ``body_too_large`` (413): more than ``max_body_bytes``;
- ``invalid_json`` (400): empty, not UTF-8, not JSON, or holding ``NaN``/``Infinity``, a
  number too large for a double, or a string with a lone UTF-16 surrogate (``"\\ud800"``,
  which no UTF-8 text, SQLite row or response can carry);
- ``limit_exceeded`` (400): nesting deeper than ``max_json_depth``, or a number of more than
  ``max_number_digits`` digits before the point (``1e20`` and up, integer or not).

The walk costs about 0.3 ms for a 500-event batch (``mediarec benchmark ingest``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from functions.common.http.errors import ApiError


class _NonFinite:
    """What ``NaN``, ``Infinity`` and ``-Infinity`` parse to, so the walk can name their field."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class _Oversized:
    """An integer literal longer than the limit (parsed again only when ``int`` refused one)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


class _Offence(Exception):
    """A value the walk refuses; ``path`` grows as the walk unwinds."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.path: list[str | int] = []


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the request body exceeds {limit} bytes",
        [{"field": "body", "reason": f"larger than {limit} bytes"}],
    )


def _invalid(reason: str, field: str = "body") -> ApiError:
    return ApiError(
        400,
        "invalid_json",
        "the request body is not valid JSON",
        [{"field": field, "reason": reason}],
    )


def parse_json_body(raw: bytes, *, max_bytes: int, max_depth: int, max_digits: int) -> Any:
    """``raw`` as JSON, or :class:`ApiError` (400/413) naming the offending field."""
    if len(raw) > max_bytes:
        raise body_too_large(max_bytes)
    if not raw.strip():
        raise ApiError(
            400,
            "invalid_json",
            "the request body is empty; send JSON",
            [{"field": "body", "reason": "empty body"}],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("not UTF-8") from None
    try:
        value = _loads(text, max_depth, None)
    except _IntegerTooLong:  # past int()'s 4,300-digit limit: parse again to find which one
        value = _loads(text, max_depth, _bounded_int(max_digits))
    try:
        _walk(value, 0, max_depth, 10**max_digits, max_digits)
    except _Offence as offence:
        field = _field(offence.path)
        if offence.code == "invalid_json":
            raise _invalid(offence.reason, field) from None
        raise _limit(field, offence.reason) from None
    return value


class _IntegerTooLong(Exception):
    pass


def _loads(text: str, max_depth: int, parse_int: Any) -> Any:
    try:
        return json.loads(text, parse_constant=_NonFinite, parse_int=parse_int)
    except json.JSONDecodeError as error:
        raise _invalid(f"{error.msg} (line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise _limit("body", f"nested deeper than {max_depth} levels") from None
    except ValueError:
        if parse_int is None:
            raise _IntegerTooLong from None
        raise _invalid("a number the parser cannot read") from None


def _limit(field: str, reason: str) -> ApiError:
    return ApiError(
        400,
        "limit_exceeded",
        "the request body exceeds a limit",
        [{"field": field, "reason": reason}],
    )


def _bounded_int(max_digits: int) -> Any:
    def parse(literal: str) -> int | _Oversized:
        digits = len(literal.lstrip("-"))
        return _Oversized(digits) if digits > max_digits else int(literal)

    return parse


def _walk(value: Any, depth: int, max_depth: int, bound: int, max_digits: int) -> None:
    """Check every value once; scalars inline (a 1 MB array of numbers is one loop, not a call
    per number), containers by recursion, bounded by ``max_depth``."""
    if isinstance(value, dict):
        items: Any = value.items()
        keyed = True
    elif isinstance(value, list):
        items = enumerate(value)
        keyed = False
    else:
        if isinstance(value, str) and not value.isascii():
            _check_text(value, "")
        _check_scalar(value, bound, max_digits)
        return
    if depth >= max_depth:
        raise _Offence("limit_exceeded", f"nested deeper than {max_depth} levels")
    for key, child in items:
        if keyed and not key.isascii():
            _check_text(key, key)
        kind = type(child)
        if kind is str:
            if not child.isascii():
                _check_text(child, key)
            continue
        if (kind is int or kind is float) and -bound < child < bound:
            continue  # NaN and infinities fail the comparison and are checked below
        if child is None or kind is bool:
            continue
        try:
            if kind is dict or kind is list:
                _walk(child, depth + 1, max_depth, bound, max_digits)
            else:
                _check_scalar(child, bound, max_digits)
        except _Offence as offence:
            offence.path.append(key)
            raise


def _check_text(text: str, key: str | int) -> None:
    """A JSON string escape can hold half a UTF-16 pair, which no UTF-8 text (nor SQLite, nor a
    response) can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        offence = _Offence("invalid_json", "a lone UTF-16 surrogate (\\ud800-\\udfff) in a string")
        offence.path.append(key)
        raise offence from None


def _check_scalar(value: Any, bound: int, max_digits: int) -> None:
    if isinstance(value, int):
        if not -bound < value < bound:
            raise _Offence("limit_exceeded", f"a number of more than {max_digits} digits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Offence("invalid_json", "a number too large for a double")
        if not -bound < value < bound:
            raise _Offence("limit_exceeded", f"a number of more than {max_digits} digits")
    elif isinstance(value, _NonFinite):
        raise _Offence("invalid_json", f"{value.literal} is not JSON")
    elif isinstance(value, _Oversized):
        raise _Offence("limit_exceeded", f"a number of more than {max_digits} digits")


def _field(path: list[str | int]) -> str:
    """The walk's path (innermost first) as ``events[2].attributes.score``."""
    text = ""
    for part in reversed(path):
        if isinstance(part, int):
            text += f"[{part}]"
        else:  # a key as the client sent it, shortened, with no character a response cannot hold
            name = part[:64].encode("utf-8", "backslashreplace").decode("utf-8")
            text += f".{name}" if text else name
    return text or "body"
