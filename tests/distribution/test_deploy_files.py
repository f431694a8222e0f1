"""deploy/compose.yaml and deploy/haproxy.cfg agree with each other and with bellwire's
settings (docs/deployment.md), and both compose files follow the Compose Specification's
schema. No Docker daemon runs in CI; HAProxy checks its file when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile import COMPOSE, ROOT

from bellwire.config import Settings

DEPLOY = ROOT / "deploy"


def _seconds(cfg: str, name: str) -> float:
    match = re.search(rf"^    timeout {name} (\d+)s$", cfg, re.M)
    assert match, name
    return float(match.group(1))


def _services(compose: str) -> list[str]:
    section = compose[compose.index("\nservices:\n") : compose.index("\nnetworks:\n")]
    return re.findall(r"^  (\w[\w-]*):$", section, re.M)


def test_haproxy_sends_to_every_node_of_the_compose_file_and_checks_readyz() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    nodes = [s for s in _services((DEPLOY / "compose.yaml").read_text()) if s.startswith("node")]
    assert nodes == ["node1", "node2", "node3"]
    backends = dict(
        section.split("\n", 1) for section in re.split(r"^backend ", cfg, flags=re.M)[1:]
    )
    # Sessions need the bus: /readyz. REST and the console need only the store: /readyz/rest
    # (the console needs no backend of its own: any node answers its sign-ins).
    checks = {"nodes": "/readyz/rest", "sessions": "/readyz"}
    assert set(backends) == set(checks)
    for name, backend in backends.items():
        assert re.findall(r"^    server (\w+) (\w+):8080\b", backend, re.M) == [
            (n, n) for n in nodes
        ]
        assert f"    option httpchk GET {checks[name]}\n" in backend
        assert "    http-check expect status 200\n" in backend
        assert re.search(r"^    default-server check ", backend, re.M)
    assert "    use_backend sessions if { path /connect }\n" in cfg


def test_haproxy_timeouts_fit_the_servers_pings_and_keepalive() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    defaults = Settings()
    # A live session is never silent longer than a ping interval; a dead one is dropped by
    # bellwire after interval + timeout: the tunnel must outlast both.
    assert _seconds(cfg, "tunnel") > defaults.ping_interval_seconds + defaults.ping_timeout_seconds
    # The balancer closes idle keep-alive connections before bellwire does.
    assert _seconds(cfg, "http-keep-alive") < defaults.http_keepalive_timeout_seconds


def test_haproxy_asks_the_engines_dns_and_keeps_nodes_through_its_failures() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    section = cfg[cfg.index("\nresolvers engine\n") : cfg.index("\ndefaults\n")]
    # Docker's and Podman's DNS differ: read it from the container's resolv.conf.
    assert "    parse-resolv-conf\n" in section and "nameserver" not in section
    # A DNS that times out or refuses must not take every node out: the checks decide.
    for status in ("timeout", "refused", "other"):
        assert re.search(rf"^    hold {status} 1h$", section, re.M), status
    assert cfg.count(" resolvers engine ") == 2  # every backend's servers use it


def test_compose_nodes_share_store_bus_root_keys_and_name_the_balancer() -> None:
    compose = (DEPLOY / "compose.yaml").read_text()
    services = _services(compose)
    assert services == ["node1", "node2", "node3", "postgres", "redis", "haproxy"]
    assert re.search(r"^  node\d:\n    <<: \*bellwire\n", compose, re.M)
    anchor = compose[compose.index("x-bellwire: &bellwire") : compose.index("\nservices:\n")]
    for variable in (
        'BELLWIRE_STORE: "postgresql://',
        'BELLWIRE_BUS: "redis://:${REDIS_PASSWORD',
        "BELLWIRE_PUBLIC_ENDPOINT:",
        "BELLWIRE_ROOT_ACCESS_KEY_ID:",
        "BELLWIRE_ROOT_SECRET_ACCESS_KEY:",
    ):
        assert f"    {variable}" in anchor, variable
    assert re.search(r"^  build: \.\.", anchor, re.M)  # the project's own Dockerfile
    # Only the balancer publishes a port.
    assert compose.count("ports:") == 1
    assert re.search(
        r'^    ports:\n      - "8080:8080"', compose[compose.index("  haproxy:") :], re.M
    )


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_file() -> None:
    result = subprocess.run(
        ["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _compose_schema_errors(path: Path) -> str:
    """What the Compose Specification's JSON schema (vendored by check-jsonschema, so nothing
    is downloaded) finds wrong in ``path``; empty when it validates."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


@pytest.mark.parametrize("path", [DEPLOY / "compose.yaml", COMPOSE], ids=["cluster", "one node"])
def test_compose_files_follow_the_compose_specification(path: Path) -> None:
    assert _compose_schema_errors(path) == ""


def test_the_compose_schema_check_catches_a_misspelled_key(tmp_path: Path) -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert "    healthcheck:\n" in text
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace("    healthcheck:\n", "    healtcheck:\n", 1))
    assert "'healtcheck' was unexpected" in _compose_schema_errors(broken)
