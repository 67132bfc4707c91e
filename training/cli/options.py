"""What every ``mediarec`` subcommand shares: the help layout, ``--db`` and ``--quiet``.

Each command group module has a ``register(commands)`` function that adds its subcommands through
:meth:`Commands.add`, so every subcommand gets the same help formatter (which shows each flag's
default) and the shared options by name instead of re-declaring them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


class HelpFormatter(argparse.HelpFormatter):
    """Shows ``(default: X)`` after a flag's help, unless the help already names its default or
    there is nothing to show (no default, or a switch that is off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            default in (None, False, argparse.SUPPRESS)
            or "default" in text
            or not action.option_strings
            or isinstance(default, list)
        ):
            return text
        shown = str(default).replace("%", "%%")
        return f"{text} (default: {shown})"


def _database_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the store: a SQLite file, or sqlite:///path or postgresql://... (default: "
        "$MEDIAREC_DATABASE_URL, else $MEDIAREC_DB_PATH, else data/mediarec.sqlite)",
    )
    return parent


def _progress_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--quiet", action="store_true", help="no progress bar")
    return parent


DATABASE = _database_options()
"""``--db PATH``: every subcommand that opens the database."""
PROGRESS = _progress_options()
"""``--quiet``: every subcommand that draws a progress bar."""


class Commands:
    """A subcommand level of the parser (``mediarec COMMAND`` or ``mediarec keys ACTION``)."""

    def __init__(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self._subparsers = subparsers

    def add(
        self,
        name: str,
        help: str,
        *,
        func: Command | None = None,
        description: str | None = None,
        parents: Sequence[argparse.ArgumentParser] = (DATABASE,),
    ) -> argparse.ArgumentParser:
        """A subcommand ``name`` whose help line is ``help``; ``func`` runs it. ``parents`` are
        shared options (default ``--db``; pass ``(DATABASE, PROGRESS)`` to add ``--quiet``)."""
        parser = self._subparsers.add_parser(
            name,
            help=help,
            description=description or help[:1].upper() + help[1:] + ".",
            parents=list(parents),
            formatter_class=HelpFormatter,
        )
        if func is not None:
            parser.set_defaults(func=func)
        return parser

    def group(
        self,
        name: str,
        help: str,
        *,
        dest: str,
        metavar: str = "ACTION",
        description: str | None = None,
    ) -> Commands:
        """A subcommand with its own subcommands (``mediarec keys create``); ``metavar`` names
        them in its usage line and errors (``mediarec import FORMAT``)."""
        parser = self.add(name, help, description=description, parents=())
        return Commands(parser.add_subparsers(dest=dest, required=True, metavar=metavar))


def apply_database_option(args: argparse.Namespace) -> None:
    """``--db`` wins over ``$MEDIAREC_DATABASE_URL`` and ``$MEDIAREC_DB_PATH`` for everything
    this process opens: a URL becomes the database URL, a path the SQLite file."""
    target = getattr(args, "db", None)
    if target:
        from functions.common.settings import DATABASE_URL_SCHEMES

        if str(target).startswith(DATABASE_URL_SCHEMES):
            os.environ["MEDIAREC_DATABASE_URL"] = str(target)
        else:
            os.environ.pop("MEDIAREC_DATABASE_URL", None)
            os.environ["MEDIAREC_DB_PATH"] = str(target)
        from functions.common.caches import reset_all

        reset_all()


def add_window_options(parser: argparse.ArgumentParser, span: str) -> None:
    """``--from`` and ``--to``, a window of logged traffic; ``span`` names the default length
    (``24 h``, ``7 days``), which :func:`window_of` applies."""
    parser.add_argument(
        "--from", dest="from_", metavar="TIME", help=f"ISO-8601 or epoch (default: to - {span})"
    )
    parser.add_argument("--to", metavar="TIME", help="ISO-8601 or epoch, exclusive (default: now)")


def window_of(args: argparse.Namespace, span_ms: int) -> tuple[int, int]:
    """(start, end) in epoch ms from ``--from``/``--to``: end defaults to now (inclusive of
    this millisecond), start to end - ``span_ms``. ValueError for an unreadable time."""
    from functions.common import clock

    end = clock.parse_timestamp_text(args.to) if args.to else clock.now_ms() + 1
    start = clock.parse_timestamp_text(args.from_) if args.from_ else end - span_ms
    return start, end
