"""`mediarec keys create | list | revoke`: a key is printed once, listed without its secret,
refused by the functions once revoked."""

from __future__ import annotations

import stat

import pytest

from functions.common.http.api_keys import key_cache
from functions.recommend.app import handler as recommend
from training.cli import main
from training.local.lambda_invoke import http_event, invoke


def test_create_list_revoke(capsys, tmp_path):
    assert main(["keys", "create", "--scope", "read", "--scope", "ingest", "--name", "web"]) == 0
    out = capsys.readouterr().out
    key = next(line for line in out.splitlines() if line.startswith("mrk_"))
    assert "not shown again" in out and "ingest, read" in out
    assert invoke(recommend, http_event("GET", "/recommendations/u1", api_key=key))[0] == 200

    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key[:16] in listed and key not in listed and key.split("_", 2)[2] not in listed
    assert "web" in listed and "ingest,read" in listed and "active" in listed

    assert main(["keys", "revoke", key]) == 0  # the whole key works too, and is not echoed
    revoked = capsys.readouterr().out
    assert key[:16] in revoked and key not in revoked
    key_cache.clear()  # as a container does once its cache period is over
    assert invoke(recommend, http_event("GET", "/recommendations/u1", api_key=key))[0] == 401
    assert main(["keys", "revoke", key[:16]]) == 2  # already revoked
    assert "no active key" in capsys.readouterr().err


def test_key_file_and_reuse(capsys, tmp_path):
    path = tmp_path / "demo-key"
    args = ["keys", "create", "--scope", "admin", "--key-file", str(path), "--reuse", "--key-only"]
    assert main(args) == 0
    first = capsys.readouterr().out.strip()
    assert path.read_text().strip() == first and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == first  # reused while valid
    assert main(["keys", "revoke", first[:16]]) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.strip() != first  # a revoked one is replaced


def test_unknown_scope_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["keys", "create", "--scope", "root"])
    assert "invalid choice" in capsys.readouterr().err
