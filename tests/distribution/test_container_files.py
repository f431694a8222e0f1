"""The Dockerfile and compose file have what a container of bellwire needs. No Docker daemon
runs in CI: test_installed_wheel.py runs the commands the Dockerfile runs; this checks the
rest of the file."""

from __future__ import annotations

import re

from dockerfile import COMPOSE, ROOT, copied_sources, env, healthcheck_command, instructions, one


def test_small_base_and_a_non_root_user() -> None:
    assert one("FROM").text == "python:3.11-slim"
    user = one("USER").text
    assert user not in ("root", "0", "0:0") and not user.startswith("root:")
    runs = " ".join(i.text for i in instructions() if i.name == "RUN")
    assert f"useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin {user}" in runs
    assert f"chown {user}:{user} /data" in runs
    # USER comes after every RUN: nothing runs as root at run time.
    names = [i.name for i in instructions()]
    assert names.index("USER") > max(n for n, name in enumerate(names) if name == "RUN")


def test_health_check_on_readyz() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"] and "/readyz" in command[2]
    assert "BELLWIRE_PORT" in command[2]


def test_data_in_a_volume_and_listening_on_every_interface() -> None:
    variables = env()
    assert variables["BELLWIRE_DATA_DIR"] == "/data"
    assert one("VOLUME").words() == ["/data"]
    assert variables["BELLWIRE_HOST"] == "0.0.0.0"
    assert one("EXPOSE").text == variables["BELLWIRE_PORT"] == "8080"
    assert one("CMD").words() == ["bellwire", "serve"]
    assert variables["PATH"].startswith("/opt/bellwire/bin:")


def test_the_build_runs_the_install_script_on_copied_files() -> None:
    install = one("RUN").text
    assert install.startswith("/src/scripts/install --venv /opt/bellwire")
    for sources, destination in copied_sources():
        assert destination.startswith("/src/")
        for source in sources:
            assert (ROOT / source).exists(), source
    # .dockerignore must not hide what the build copies.
    ignored = (ROOT / ".dockerignore").read_text().split()
    copied = {s for sources, _ in copied_sources() for s in sources}
    assert not copied & {i.rstrip("/") for i in ignored}


def test_compose_runs_one_node_with_its_volume() -> None:
    text = COMPOSE.read_text()
    section = text[text.index("\nservices:\n") : text.index("\nvolumes:\n")]
    services = re.findall(r"^  (\w[\w-]*):$", section, re.M)
    assert services == ["bellwire"]
    assert re.search(r"^    build: \.$", text, re.M)
    assert re.search(r'^      - "8080:8080"$', text, re.M)
    assert re.search(r"^      - bellwire-data:/data$", text, re.M)
    assert re.search(r"^volumes:\n  bellwire-data:$", text, re.M)
