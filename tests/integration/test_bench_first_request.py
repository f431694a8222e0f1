"""The first-request benchmark (bench/first_request.py): its three kinds of request are answered
200 by a real server, one connection each or all on one, and its summary reads the runs of
A B B A rounds as it says."""

from __future__ import annotations

import subprocess

from bellwire.testing import RunningServer
from bench import first_request
from bench.ab import ROOT
from bench.rest import Chime, Signer


async def test_every_request_is_answered_on_fresh_and_kept_alive_connections(
    bellwire_server: RunningServer,
) -> None:
    s = bellwire_server
    signer = Signer(s.access_key_id, s.secret_access_key, s.region)
    chime = Chime("127.0.0.1", s.port, signer)
    try:
        app = await chime.create_app_instance("first-request")
    finally:
        chime.close()
    signed = first_request.signed_describe(signer, app)
    for build, fresh in ((signed, True), (first_request.healthz, True), (signed, False)):
        latencies, statuses = await first_request.requests(s.port, build, 7, 2, fresh)
        assert statuses == {200: 7}
        assert len(latencies) == 7 and all(ns > 0 for ns in latencies)


def test_the_base_is_the_tree_before_the_front() -> None:
    ref = first_request.before_front()
    ls = ["git", "-C", str(ROOT), "cat-file", "-e"]
    assert subprocess.run([*ls, f"{ref}:bellwire/front.py"], capture_output=True).returncode
    assert not subprocess.run([*ls, f"{ref}:bellwire/server.py"], capture_output=True).returncode


def test_the_summary_is_the_ratio_of_medians_with_each_rounds_ratio() -> None:
    def run(cpu: float) -> dict[str, dict[str, float]]:
        return {
            s: {"server_cpu_us": cpu, "p50_ms": 1.0, "p99_ms": 2.0} for s in first_request.SCENARIOS
        }

    rounds = [
        {"A": [run(100), run(100)], "B": [run(110), run(110)]},
        {"A": [run(100), run(100)], "B": [run(90), run(100)]},
    ]
    cell = first_request.summarize(rounds)["fresh signed"]["server_cpu_us"]
    assert (cell["A"], cell["B"]) == (100, 105)
    assert cell["round_ratios"] == [1.1, 0.95] and cell["ratio"] == 1.025
    text = first_request.report(
        {
            "base": "x^",
            "this": "checkout",
            "rounds": 2,
            "in_flight": 1,
            "cpu_busy": [0.1, 0.3],
            "summary": first_request.summarize(rounds),
        }
    )
    assert "fresh signed" in text and "1.02" in text and "max 30%" in text
