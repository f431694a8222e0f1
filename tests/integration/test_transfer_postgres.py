"""``bellwire export`` / ``import`` on PostgreSQL, and ``backup``'s refusal there.

The commands find the database as the server does (``store`` from the flags, TOML or
``BELLWIRE_STORE``); each test's databases are created with random names and dropped after.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_transfer import api_view, assert_same, populate, without_header

from bellwire.cli import main
from bellwire.testing import RunningServer, temporary_database


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    with temporary_database() as first, temporary_database() as second:
        yield first, second


def _export(monkeypatch: pytest.MonkeyPatch, url: str, out: Path) -> list[dict[str, Any]]:
    monkeypatch.setenv("BELLWIRE_STORE", url)
    assert main(["export", "-o", str(out), "--include-secrets", "--progress", "never"]) == 0
    return [json.loads(line) for line in out.read_text("utf-8").splitlines()]


def test_export_then_import_between_postgresql_databases(
    databases: tuple[str, str],
    bellwire_server_factory: Callable[..., RunningServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first_url, second_url = databases
    server = bellwire_server_factory(data_dir=tmp_path / "a", store=first_url)
    populate(server)
    records = _export(monkeypatch, first_url, tmp_path / "all.jsonl")
    assert {"channel_message", "iam_access_key"} <= {r["type"] for r in records}

    monkeypatch.setenv("BELLWIRE_STORE", second_url)
    imported = ["import", str(tmp_path / "all.jsonl"), "--progress", "never"]
    assert main(imported) == 0
    copy = bellwire_server_factory(data_dir=tmp_path / "b", store=second_url)
    assert_same(api_view(server, readers="all"), api_view(copy, readers="all"))
    again = _export(monkeypatch, second_url, tmp_path / "again.jsonl")
    assert without_header(again) == without_header(records)

    # A node is connected to the target now: the import refuses rather than race it.
    capsys.readouterr()
    monkeypatch.setenv("BELLWIRE_STORE", second_url)
    assert main(imported) == 2
    assert "bellwire nodes are connected to this database" in capsys.readouterr().err


def test_backup_points_to_pg_dump_on_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BELLWIRE_STORE", "postgresql://postgres@127.0.0.1:5432/bellwire")
    assert main(["backup", str(tmp_path / "copy")]) == 2
    err = capsys.readouterr().err
    assert "back it up with pg_dump" in err and "docs/operations-data.md" in err
    assert not (tmp_path / "copy").exists()
