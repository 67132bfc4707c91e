"""Everything a user can call is documented: CLI subcommands and HTTP routes in the README."""

from __future__ import annotations

import argparse
import re

import pytest

from tests.utils.paths import ROOT
from training.cli import build_parser, main
from training.local.server import build_api

README = (ROOT / "README.md").read_text(encoding="utf-8")


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = subcommands(sub, f"{prefix}{name} ")
                found.extend(nested or [f"{prefix}{name}"])
    return found


@pytest.mark.parametrize("command", subcommands(build_parser()))
def test_every_cli_command_is_documented_and_has_help(command, capsys):
    assert f"mediarec {command}" in README
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    assert "usage: mediarec" in capsys.readouterr().out


def test_every_route_is_in_the_api_table():
    app = build_api()
    table = set(re.findall(r"^\| (GET|POST|DELETE|PUT|PATCH) \| `([^`]+)`", README, re.MULTILINE))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert routes == table


def test_readme_has_no_unfilled_markers():
    assert not re.search(r"\b[A-Z_]{6,}_TABLE\b|TODO|TBD", README)
