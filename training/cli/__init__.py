"""The ``mediarec`` command: the one place that registers every subcommand.

Each command group lives in its own module with a ``register(commands)`` function: ``data``
(migrate, seed, refresh), ``imports`` (import movielens-100k, import csv), ``serve``, ``train``,
``runs`` (evaluate, export, publish, runs, models), ``evaluation`` (simulate, evaluate-offline,
compare), ``reports`` (report), ``keys`` and ``benchmark``. Shared options
(``--db``, ``--quiet``) and the help layout are in ``options``. Modules import their heavy
dependencies inside the command functions, so ``mediarec --help`` starts in a blink.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from training.cli import (
    benchmark,
    data,
    evaluation,
    imports,
    keys,
    reports,
    runs,
    serve,
    train,
)
from training.cli.options import Command, Commands, HelpFormatter, apply_database_option

DESCRIPTION = (
    "mediarec's offline side: seed or import interaction data, train and publish a model, serve "
    "all routes locally, manage API keys, run benchmarks. Everything works on the embedded "
    "default (a local SQLite file and a local models folder) unless MEDIAREC_* variables or "
    "flags say otherwise. 'mediarec COMMAND --help' describes each command."
)

GROUPS = (data, imports, serve, train, runs, evaluation, reports, keys, benchmark)
"""Every command group, in the order ``mediarec --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mediarec", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = Commands(subparsers)
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_database_option(args)
    func: Command = args.func
    try:
        return func(args)
    except Exception as error:
        from functions.common.store.db import store_errors

        # a store no command could open (a server that is down, a wrong password) or one that
        # failed under it: the engine's message and exit 2, not a traceback
        if not isinstance(error, store_errors()):
            raise
        print(f"error: the store failed: {error}", file=sys.stderr)
        return 2
