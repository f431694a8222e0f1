"""The cross-node benchmark (bench/cross_node.py) keeps working: two real nodes on a PostgreSQL
database of their own and a private redis-server, every message reaches every session on both
nodes, and what arrives is the offered rate (an open loop on a fixed schedule)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bellwire.testing import TEST_POSTGRES_ENV, postgres_url
from bench.ab import ROOT


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_quick_run_delivers_every_message_on_both_nodes_at_the_offered_rate(
    tmp_path: Path,
) -> None:
    out = tmp_path / "cross-node.json"
    subprocess.run(
        [sys.executable, "-m", "bench.cross_node", "--quick", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, TEST_POSTGRES_ENV: postgres_url()},
        check=True,
        timeout=180,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    members, messages = result["members"], result["messages"]
    assert messages == int(result["offered_messages_per_s"] * 2.0)  # --quick: 2 seconds
    assert result["delivered"] == result["expected_deliveries"] == messages * members
    # Deliveries over the sending window: the offered rate, not less.
    offered = result["offered_messages_per_s"] * members
    assert 0.8 * offered <= result["deliveries_per_s"] <= 1.2 * offered
    for side in ("same_node", "other_node"):
        figures = result[side]
        assert figures["samples"] == messages * members // 2
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
