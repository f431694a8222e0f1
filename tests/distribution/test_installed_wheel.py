"""The built wheel, installed the way the container image installs it, serves real clients.

This runs what the Dockerfile runs, outside Docker (CI has no daemon): the COPY'd files into a
temporary /src, its RUN ``scripts/install --venv`` (which builds the wheel and installs it with
constraints.txt into a fresh virtual environment), then its CMD with its ENV (on loopback and
a free port) and its HEALTHCHECK. A boto3 call, a messaging session and ``bellwire.client`` are
then used from that environment, away from the source tree.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from dockerfile import ROOT, copied_sources, env, healthcheck_command, one

from bellwire import __version__

SMOKE = r"""
import asyncio, json, pathlib, sys
import boto3
import bellwire
from bellwire.client import Established, MessagingSession

data_dir, url = pathlib.Path(sys.argv[1]), sys.argv[2]
keys = json.loads((data_dir / "root-credentials.json").read_text())
kwargs = dict(endpoint_url=url, region_name="us-east-1",
              aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"])
identity = boto3.client("chime-sdk-identity", **kwargs)
app = identity.create_app_instance(Name="smoke")["AppInstanceArn"]
user = identity.create_app_instance_user(
    AppInstanceArn=app, AppInstanceUserId="alice", Name="Alice")["AppInstanceUserArn"]

async def connect() -> str:
    async with MessagingSession(user, boto_session=boto3.Session(
            aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"]),
            region="us-east-1", endpoint_url=url) as session:
        async for item in session:
            if isinstance(item, Established):
                return item.session_id
    raise AssertionError("no session")

package = pathlib.Path(bellwire.__file__).parent
print(json.dumps({
    "apps": [a["AppInstanceArn"] for a in identity.list_app_instances()["AppInstances"]],
    "app": app,
    "session": asyncio.run(connect()),
    "package": str(package),
    "py_typed": (package / "py.typed").exists(),
}))
"""


def _readme_boto3_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (example,) = [b for b in blocks if "create_app_instance(" in b and "import boto3" in b]
    assert example.count("AKIA...") == 1 and example.count('aws_secret_access_key="..."') == 1
    return example


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _inside(path: str, root: Path) -> Path:
    """An absolute path of the image, under *root* here."""
    return root / path.lstrip("/")


@pytest.mark.timeout(600)  # a fresh virtual environment: pip resolves and installs every wheel
def test_the_wheel_installed_as_the_image_installs_it_serves_clients(tmp_path: Path) -> None:
    image = tmp_path / "image"
    for sources, destination in copied_sources():
        target = _inside(destination, image)
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    target if not destination.endswith("/") else target / origin.name,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
            else:
                final = target / origin.name if destination.endswith("/") else target
                final.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, final)

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BELLWIRE_", "AWS_"))}
    install = one("RUN").text.split(" && ")[0]
    argv = [
        str(_inside(w, image)) if w.startswith(("/src", "/opt")) else w
        for w in shlex.split(install)
    ]
    done = subprocess.run(argv, env=clean, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    venv = _inside("/opt/bellwire", image)
    assert not (venv / "bin/python").resolve().is_relative_to(ROOT)

    # The image's ENV, with its paths under the temporary root; loopback and a free port here.
    variables = {
        key: value.replace("/opt/bellwire", str(venv)).replace("$PATH", clean["PATH"])
        for key, value in env().items()
    }
    data_dir = _inside(variables["BELLWIRE_DATA_DIR"], image)
    data_dir.mkdir(mode=0o700)
    port = _free_port()
    variables.update(
        BELLWIRE_HOST="127.0.0.1", BELLWIRE_PORT=str(port), BELLWIRE_DATA_DIR=str(data_dir)
    )
    run_env = {**clean, **variables}
    command = one("CMD").words()
    executable = shutil.which(command[0], path=run_env["PATH"])
    assert executable == str(venv / "bin" / command[0])

    version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"bellwire {__version__}"

    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("w") as o, err.open("w") as e:
        server = subprocess.Popen(
            [executable, *command[1:]], env=run_env, cwd=data_dir, stdout=o, stderr=e
        )
    try:
        health = healthcheck_command()
        health[0] = str(shutil.which(health[0], path=run_env["PATH"]))
        assert health[0] == str(venv / "bin/python")
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, err.read_text()
            probe = subprocess.run(health, env=run_env, capture_output=True, timeout=30)
            if probe.returncode == 0:
                break
            assert time.monotonic() < deadline, probe.stderr
            time.sleep(0.2)

        smoke = subprocess.run(
            [health[0], "-c", SMOKE, str(data_dir), f"http://127.0.0.1:{port}"],
            env=run_env,
            cwd=tmp_path,  # away from the source tree: the installed package is used
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert smoke.returncode == 0, smoke.stderr
        result = json.loads(smoke.stdout)
        assert result["apps"] == [result["app"]]
        assert result["session"]
        assert Path(result["package"]).is_relative_to(venv)
        assert result["py_typed"] is True

        # The README's boto3 example, as written, in that environment.
        keys = json.loads((data_dir / "root-credentials.json").read_text())
        example = _readme_boto3_example()
        example = example.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
        example = example.replace('"AKIA..."', repr(keys["AccessKeyId"]))
        example = example.replace(
            'aws_secret_access_key="..."', "aws_secret_access_key=" + repr(keys["SecretAccessKey"])
        )
        readme = subprocess.run(
            [health[0], "-c", example],
            env=run_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert readme.returncode == 0, readme.stderr
        assert readme.stdout == "Alice Hello, Bob!\n"
    finally:
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends
        status = server.wait(60)
    assert status == 0, err.read_text()
    assert "export AWS_ACCESS_KEY_ID=" in out.read_text()  # the first start's banner
    assert "Traceback" not in err.read_text()
