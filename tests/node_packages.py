"""``npm ci`` for the suites that run the official JavaScript clients, once per lockfile."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

NPM_CI_TIMEOUT = 600.0


def installed(js_dir: Path, npm: str) -> Path:
    """``npm ci`` in ``js_dir`` unless its node_modules came from exactly this lockfile; a
    registry that cannot be reached fails the suite loudly rather than skipping it."""
    stamp = js_dir / "node_modules" / ".bellwire-installed"
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((js_dir / name).read_bytes())
    if stamp.is_file() and stamp.read_text().strip() == digest.hexdigest():
        return js_dir / "node_modules"
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=js_dir,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`npm ci` in {js_dir} did not finish in {NPM_CI_TIMEOUT:.0f} s:\n{exc.output}")
    if done.returncode != 0:
        pytest.fail(
            f"`npm ci` in {js_dir} failed (exit {done.returncode}); is the npm registry "
            f"reachable?\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    stamp.write_text(digest.hexdigest() + "\n")
    return js_dir / "node_modules"
