"""What an import tells its caller: :class:`ImportReport` for a load, and
:class:`MalformedInputError` (with its ``line N: reason`` problems) for input that stops one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Problem = tuple[int, str]
"""A malformed row: its 1-based line in the file and what is wrong with it."""

MAX_LISTED_PROBLEMS = 20  # problems quoted in a MalformedInputError message


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


class MalformedInputError(ValueError):
    """The input cannot be loaded as it is; nothing was written.

    ``problems`` holds every malformed row found, as ``(line, reason)``; it is empty for
    problems with the file as a whole (empty file, missing column, undecodable text).
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def from_problems(cls, source: str, problems: Sequence[Problem]) -> MalformedInputError:
        count = len(problems)
        lines = [
            f"{source}: {count} malformed {plural(count, 'row')}; nothing was loaded "
            "(mediarec import ... --skip-invalid loads the valid rows and skips these)"
        ]
        lines += [f"  line {line}: {reason}" for line, reason in problems[:MAX_LISTED_PROBLEMS]]
        if count > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {count - MAX_LISTED_PROBLEMS} more")
        return cls("\n".join(lines), problems)


def refuse_unless_loadable(
    source: str, rows_read: int, problems: Sequence[Problem], *, skip_invalid: bool, no_rows: str
) -> None:
    """Stop an import before it writes anything: no data rows at all (``no_rows`` says so), or
    malformed rows unless they are to be skipped."""
    if rows_read == 0:
        raise MalformedInputError(no_rows)
    if problems and not skip_invalid:
        raise MalformedInputError.from_problems(source, problems)


@dataclass
class ImportReport:
    """What one import read and wrote."""

    source: str
    rows_read: int = 0  # data rows (ratings, CSV rows), malformed ones included
    users: int = 0  # MovieLens: users written; CSV: distinct users of the loaded rows
    items: int = 0  # MovieLens: items written; CSV: distinct items of the loaded rows
    events_stored: int = 0
    events_duplicate: int = 0  # events whose id the database already held (or seen twice)
    rejected: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    events_by_type: dict[str, int] = field(default_factory=dict)  # stored + duplicates
    items_created: int | None = None  # CSV: items that were not in the catalog yet
    row_label: str = "row"  # what a data row is, singular: "row", "rating"

    def summary(self) -> str:
        """One line for the CLI, e.g. ``loaded ml-100k: 100000 ratings -> 100000 view + 55375
        like events (0 duplicates), 943 users, 1682 items in 4.1 s``."""
        total = sum(self.events_by_type.values())
        events = " + ".join(f"{n} {kind}" for kind, n in self.events_by_type.items()) or "0"
        items = f"{self.items} {plural(self.items, 'item')}"
        if self.items_created is not None:
            items += f" ({self.items_created} new in the catalog)"
        skipped = ""
        if self.rejected:
            n = len(self.rejected)
            skipped = f"; {n} malformed {plural(n, 'row')} skipped"
        return (
            f"loaded {self.source}: {self.rows_read} {plural(self.rows_read, self.row_label)} "
            f"-> {events} {plural(total, 'event')} "
            f"({self.events_duplicate} {plural(self.events_duplicate, 'duplicate')}), "
            f"{self.users} {plural(self.users, 'user')}, {items}{skipped} "
            f"in {self.seconds:.1f} s"
        )
