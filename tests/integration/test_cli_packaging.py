"""The ``bellwire`` command as an operator meets it: --version, --help, flags, environment,
the first-start banner, and an operation that a newer botocore model adds."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bellwire import __version__, cli, config

MESSAGING_MODEL = Path(botocore.__file__).parent / "data/chime-sdk-messaging/2021-05-15"
IAM_MODEL = Path(botocore.__file__).parent / "data/iam/2010-05-08"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BELLWIRE_", "AWS_"))}
    env.update(extra)
    return env


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    out: Path
    err: Path

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        return self.out.read_text(), self.err.read_text()


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


def _serve(
    started: list[Served],
    data_dir: Path,
    port: int,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> Served:
    """``bellwire serve`` as a subprocess; returns once /readyz answers or the process ends."""
    out = data_dir.parent / f"serve-{port}-{time.monotonic_ns()}.out"
    err = out.with_suffix(".err")
    argv = [sys.executable, "-m", "bellwire", "serve", "--host", host]
    argv += ["--port", str(port), "--data-dir", str(data_dir)]
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(argv, env=env or _clean_env(), stdout=o, stderr=e, text=True)
    served = Served(proc, f"http://127.0.0.1:{port}", out, err)
    started.append(served)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(served.url + "/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return served
        except OSError:
            pass
        time.sleep(0.05)
    return served


# --- version, help, flags --------------------------------------------------------------------


def test_version_flag_names_the_installed_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bellwire", "--version"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"bellwire {__version__}"
    assert metadata.version("bellwire") == __version__


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_parser_refuses_abbreviations_and_shows_defaults() -> None:
    parsers = list(_parsers(cli.build_parser()))
    assert len(parsers) > 10
    for parser in parsers:
        assert parser.allow_abbrev is False, parser.prog
        help_text = parser.format_help()
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, [], "==SUPPRESS=="):
                assert f"default: {action.default}" in " ".join(help_text.split()), (
                    parser.prog,
                    action.dest,
                )


def test_a_prefix_never_selects_another_flag(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("serve", "checkconfig"):
        with pytest.raises(SystemExit) as exited:
            cli.main([command, "--store-read", "3"])
        assert exited.value.code == 2
        assert "unrecognized arguments: --store-read" in capsys.readouterr().err
    # the full flag still works
    assert cli.main(["checkconfig", "--store-readers", "3"]) == 0
    assert "store_readers = 3" in capsys.readouterr().out


def test_store_is_its_own_flag_not_a_prefix_of_store_readers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/bellwire"
    assert cli.main(["checkconfig", "--store", url]) == 0
    out = capsys.readouterr().out
    assert f"store = {url}" in out and "store_readers = 1" in out
    # a value that is no store URL is refused by name, not handed to --store-readers
    assert cli.main(["checkconfig", "--store", "3"]) == 2
    assert "store must be empty (SQLite) or a postgresql:// URL" in capsys.readouterr().err


def test_serve_help_shows_every_setting_default() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bellwire", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_env(COLUMNS="1000"),
    )
    assert done.returncode == 0
    text = done.stdout
    assert "(default: 8080; env BELLWIRE_PORT)" in text
    for name, field in config.FIELDS.items():
        if field.metadata.get("secret") or "default" in field.metadata["help"]:
            continue
        default = getattr(config.Settings(), name)
        shown = "none" if default in (None, "") else str(default)
        assert f"(default: {shown}; env BELLWIRE_{name.upper()})" in text, name


# --- unknown BELLWIRE_* variables -------------------------------------------------------------


def test_unknown_environment_variables_get_a_suggestion() -> None:
    warnings = config.unknown_environment(
        {
            "BELLWIRE_STORE_READER": "2",
            "BELLWIRE_PORT": "1",
            "BELLWIRE_CONFIG": "x.toml",
            "BELLWIRE_URL": "http://x",  # read by the interop scripts
            "BELLWIRE_FROBNICATE": "yes",
            "OTHER_STORE_READER": "1",
        }
    )
    assert warnings == [
        "unknown environment variable BELLWIRE_FROBNICATE is ignored",
        "unknown environment variable BELLWIRE_STORE_READER is ignored "
        "(did you mean BELLWIRE_STORE_READERS?)",
    ]


def test_checkconfig_warns_of_a_misspelled_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BELLWIRE_PROT", "9000")
    assert cli.main(["checkconfig"]) == 0
    captured = capsys.readouterr()
    assert "BELLWIRE_PROT is ignored (did you mean BELLWIRE_PORT?)" in captured.err
    assert "port = 8080" in captured.out


def test_serve_warns_of_a_misspelled_variable_at_start(
    tmp_path: Path, served: list[Served]
) -> None:
    running = _serve(served, tmp_path / "data", _free_port(), _clean_env(BELLWIRE_LOG_LEVL="debug"))
    assert running.proc.poll() is None, running.stop()
    _, err = running.stop()
    assert "BELLWIRE_LOG_LEVL is ignored (did you mean BELLWIRE_LOG_LEVEL?)" in err


# --- the first-start banner --------------------------------------------------------------------


def test_banner_waits_for_the_first_start_that_listens(
    tmp_path: Path, served: list[Served]
) -> None:
    data_dir = tmp_path / "data"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # The first start generates the keys, then cannot listen: the port is in use.
        failed = _serve(served, data_dir, port)
        assert failed.proc.wait(30) == 1
        out, err = failed.stop()
        assert "cannot start" in err
        assert "export AWS_ACCESS_KEY_ID" not in out
    keys = json.loads((data_dir / "root-credentials.json").read_text())
    assert keys["Shown"] is False

    # The next start that listens shows them, and records that it did.
    first = _serve(served, data_dir, port)
    assert first.proc.poll() is None, first.stop()
    out, _ = first.stop()
    assert f"export AWS_ACCESS_KEY_ID={keys['AccessKeyId']}" in out
    assert f"export AWS_SECRET_ACCESS_KEY={keys['SecretAccessKey']}" in out
    stored = json.loads((data_dir / "root-credentials.json").read_text())
    assert stored == {**keys, "Shown": True}
    assert (data_dir / "root-credentials.json").stat().st_mode & 0o777 == 0o600

    # Never again.
    again = _serve(served, data_dir, _free_port())
    assert again.proc.poll() is None, again.stop()
    out, _ = again.stop()
    assert keys["SecretAccessKey"] not in out


def test_the_first_start_on_every_address_names_one_a_client_can_use(
    tmp_path: Path, served: list[Served]
) -> None:
    # As in the container image: listening on 0.0.0.0, which is not where a client connects.
    port = _free_port()
    first = _serve(served, tmp_path / "data", port, host="0.0.0.0")
    assert first.proc.poll() is None, first.stop()
    out, _ = first.stop()
    assert f'endpoint_url="http://localhost:{port}"' in out
    assert "0.0.0.0" not in out.split("From boto3:")[1]


# --- an operation that a newer botocore model adds ------------------------------------------------


def _serve_newer_model(
    tmp_path: Path,
    served: list[Served],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    model: dict[str, Any],
) -> tuple[Served, Any]:
    """Serve with ``model`` (service/api-version ``where``) put where botocore's loader looks
    first, and a boto3 client that reads the same model."""
    home = tmp_path / "home"
    target = home / ".aws/models" / where
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    key, secret = "AKIANEWERMODELTEST01", "newer-model-secret-key-0123456789abcdefgh"
    env = _clean_env(
        HOME=str(home),
        BELLWIRE_ROOT_ACCESS_KEY_ID=key,
        BELLWIRE_ROOT_SECRET_ACCESS_KEY=secret,
    )
    running = _serve(served, tmp_path / "data", _free_port(), env)
    assert running.proc.poll() is None, running.stop()
    # This process imported botocore long ago (its loader took ~ then): the client is told by
    # AWS_DATA_PATH, which botocore sessions read when they are created.
    monkeypatch.setenv("AWS_DATA_PATH", str(home / ".aws/models"))
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )
    client = session.client(
        where.split("/")[0],
        endpoint_url=running.url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    return running, client


def test_an_operation_of_a_newer_model_answers_a_modeled_error(
    tmp_path: Path, served: list[Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A botocore release may add operations to the API version bellwire serves. Here a copy
    of the model with one extra operation is put where botocore's loader looks first
    (``~/.aws/models``) for both the server and the client, as a newer botocore would ship it."""
    model = json.loads(gzip.decompress((MESSAGING_MODEL / "service-2.json.gz").read_bytes()))
    model["operations"]["FrobnicateChannel"] = {
        "name": "FrobnicateChannel",
        "http": {
            "method": "POST",
            "requestUri": "/channels/{channelArn}/frobnicate",
            "responseCode": 200,
        },
        "input": {"shape": "FrobnicateChannelRequest"},
        "output": {"shape": "FrobnicateChannelResponse"},
        "errors": [{"shape": "BadRequestException"}, {"shape": "ServiceFailureException"}],
    }
    model["shapes"]["FrobnicateChannelRequest"] = {
        "type": "structure",
        "required": ["ChannelArn"],
        "members": {
            "ChannelArn": {"shape": "ChimeArn", "location": "uri", "locationName": "channelArn"}
        },
    }
    model["shapes"]["FrobnicateChannelResponse"] = {
        "type": "structure",
        "members": {"ChannelArn": {"shape": "ChimeArn"}},
    }
    running, messaging = _serve_newer_model(
        tmp_path, served, monkeypatch, "chime-sdk-messaging/2021-05-15", model
    )
    channel = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"
    with pytest.raises(ClientError) as caught:
        messaging.frobnicate_channel(ChannelArn=channel)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "BadRequestException"
    assert "FrobnicateChannel is not supported by this server" in error["Error"]["Message"]
    _, err = running.stop()
    assert "Traceback" not in err


def test_an_iam_operation_of_a_newer_model_answers_a_modeled_error(
    tmp_path: Path, served: list[Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above for the query protocol: an IAM operation the registry has never heard of is
    InvalidAction (400, in XML), not a 500."""
    model = json.loads(gzip.decompress((IAM_MODEL / "service-2.json.gz").read_bytes()))
    model["operations"]["FrobnicateUser"] = {
        "name": "FrobnicateUser",
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "FrobnicateUserRequest"},
        "errors": [{"shape": "NoSuchEntityException"}],
    }
    model["shapes"]["FrobnicateUserRequest"] = {
        "type": "structure",
        "required": ["UserName"],
        "members": {"UserName": {"shape": "userNameType"}},
    }
    running, iam = _serve_newer_model(tmp_path, served, monkeypatch, "iam/2010-05-08", model)
    with pytest.raises(ClientError) as caught:
        iam.frobnicate_user(UserName="alice")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "InvalidAction"
    assert "FrobnicateUser is not supported by this server" in error["Error"]["Message"]
    assert iam.list_users()["Users"] == []  # the server answers on
    _, err = running.stop()
    assert "Traceback" not in err
