"""Fixtures of the interop suites: one TLS server per module, and servers a test restarts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tlsworld import Tls, World, make_test_ca, make_world

from bellwire.testing import RunningServer, start_server

# The integration suite's helpers (cluster, ws_helpers, server_process...) serve these suites too.
sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_test_ca(tmp_path_factory.mktemp("tls"))


# --- servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One TLS server for the module; every test makes its own app instance and users."""
    running = start_server(tmp_path_factory.mktemp("bellwire"), tls_cert=tls.cert, tls_key=tls.key)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def servers(tls: Tls) -> Iterator[list[RunningServer]]:
    """Servers a test starts itself (to restart one); all are stopped afterwards."""
    started: list[RunningServer] = []
    yield started
    for running in reversed(started):
        running.stop()


@pytest.fixture
def world(server: RunningServer, tls: Tls) -> Iterator[World]:
    made = make_world(server, tls)
    yield made
    made.close()
