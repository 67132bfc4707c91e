"""Reading a delimited text file as records: the delimiter guessed from the header, every
non-blank record with the line it starts on, and decoding errors that name their line."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.datasets.report import MalformedInputError
from training.datasets.validation import first_clause

if TYPE_CHECKING:
    from tqdm import tqdm

CSV_DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(header_line: str) -> str:
    """The one of , ; TAB | that the header line uses most (ties: in that order)."""
    counts = [(header_line.count(d), -i, d) for i, d in enumerate(CSV_DELIMITERS)]
    best = max(counts)
    if best[0] == 0:
        raise MalformedInputError(
            f"cannot tell the delimiter from the header {header_line[:200]!r} "
            "(none of , ; TAB |); pass --delimiter (mediarec import csv)"
        )
    return best[2]


def first_line(path: Path, encoding: str) -> str:
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for text in handle:
                if text.strip():
                    return text
    except UnicodeDecodeError as error:
        raise _encoding_error(path, encoding, error) from None
    raise MalformedInputError(f"{path} is empty")


def _encoding_error(path: Path, encoding: str, error: Exception) -> MalformedInputError:
    """The error for a file that does not decode, naming its first undecodable line.

    Text files decode in blocks, so the failing line is found again byte line by byte line.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 0
    with path.open("rb") as handle:
        try:
            for line, raw in enumerate(handle, start=1):  # noqa: B007 (used after the loop)
                decoder.decode(raw)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
    return MalformedInputError(
        f"{path}: line {line} is not {encoding} text ({first_clause(error)}); "
        "pass the file's encoding (e.g. mediarec import csv --encoding latin-1)"
    )


def csv_records(
    path: Path, encoding: str, delimiter: str, bar: tqdm[Any] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Every non-blank record (the header first) with the 1-based line it starts on."""
    line = 0
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(_counted(handle, bar), delimiter=delimiter)
            for record in reader:
                start, line = line + 1, reader.line_num
                if len(record) > 1 or (record and record[0].strip()):
                    yield start, record
    except UnicodeDecodeError as error:
        raise _encoding_error(path, encoding, error) from None
    except csv.Error as error:
        raise MalformedInputError(f"{path}: line {line + 1}: {error}") from None


def _counted(lines: Iterable[str], bar: tqdm[Any] | None) -> Iterator[str]:
    """``lines``, advancing ``bar`` by their length every 64 KB or so."""
    if bar is None:
        yield from lines
        return
    pending = 0
    for text in lines:
        pending += len(text)
        if pending >= 65_536:
            bar.update(pending)
            pending = 0
        yield text
    bar.update(pending)
