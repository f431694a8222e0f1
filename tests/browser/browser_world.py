"""The browser suite's world: the bundled chat page, the https server that serves it from
another origin, and headless Chromium driven by playwright-core.

Nothing is skipped: without Debian's chromium (``scripts/test`` installs it), certutil, Node or
the npm registry, the tests fail and say why. No browser build is ever downloaded.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from node_packages import installed

JS_DIR = Path(__file__).parent / "js"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("BELLWIRE_CHROMIUM", "/usr/bin/chromium"))
FIREFOX = Path(os.environ.get("BELLWIRE_FIREFOX", "/usr/bin/firefox-esr"))
STEP_TIMEOUT = 30.0
SCREENSHOTS: list[Path] = []


def tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {why}")
    return path


# --- the page ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_modules() -> Path:
    tool("node", "the browser suite bundles its page and drives Chromium with Node 20+")
    return installed(JS_DIR, tool("npm", "the browser suite installs its packages with npm ci"))


@pytest.fixture(scope="session")
def site(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """index.html and the esbuild browser bundle of src/chat.js."""
    out = tmp_path_factory.mktemp("site")
    shutil.copy(JS_DIR / "src" / "index.html", out / "index.html")
    # Explicit main fields: with esbuild's default, a package that is also require()d (the
    # messaging client, by amazon-chime-sdk-js) resolves to its Node build.
    done = subprocess.run(
        [
            str(node_modules / ".bin" / "esbuild"),
            "src/chat.js",
            "--bundle",
            "--platform=browser",
            "--main-fields=browser,module,main",
            "--format=esm",
            # amazon-chime-sdk-js reads Node's `global` (its CSPMonitor), as its docs note for
            # every bundler.
            "--define:global=globalThis",
            f"--outfile={out / 'chat.js'}",
            "--log-level=warning",
        ],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"esbuild failed:\n{done.stdout}\n{done.stderr}")
    return out


@dataclass
class PageServer:
    url: str
    stop: Any


def serve_site(directory: Path, cert: Path, key: Path) -> PageServer:
    """A second https server, on another loopback port: the page's origin is not bellwire's."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)

    return PageServer(f"https://localhost:{httpd.server_address[1]}/", stop)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- the browser -----------------------------------------------------------------------------------


def trusting_home(home: Path, ca: Path) -> Path:
    """A HOME whose NSS database trusts ``ca``: what docs/browsers.md tells a developer to do."""
    certutil = tool("certutil", "install Debian's libnss3-tools (scripts/test does)")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    for args in (
        ["-N", "--empty-password"],
        ["-A", "-t", "C,,", "-n", "bellwire-dev", "-i", str(ca)],
    ):
        done = subprocess.run(
            [certutil, "-d", f"sql:{nssdb}", *args], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            pytest.fail(f"certutil {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return home


@dataclass
class Browser:
    """Headless Chromium behind drive.mjs: commands out, JSON events in, bounded waits."""

    proc: subprocess.Popen[str]
    # Screenshots of a browser other than Chromium are named after it (console-firefox-...).
    name: str = "chromium"
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def start_reading(self) -> None:
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "stdout-not-json", "line": line.rstrip()}
            with self._arrived:
                self.events.append(event)
                self._arrived.notify_all()
        with self._arrived:
            self.events.append({"event": "eof"})
            self._arrived.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def wait(self, kind: str, ident: int | None = None, timeout: float = STEP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for event in self.events:
                    if event["event"] == "eof":
                        pytest.fail(f"the browser driver exited\n{self.transcript()}")
                    if ident is None and event["event"] == kind:
                        return event
                    if ident is not None and event.get("id") == ident:
                        if event["event"] == "failed":
                            pytest.fail(f"browser: {event['message']}\n{self.transcript()}")
                        return event.get("value")
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"no {kind} from the browser in {timeout:.0f} s\n{self.transcript()}"
                    )
                self._arrived.wait(left)

    def command(self, cmd: str, timeout: float = STEP_TIMEOUT, **fields: Any) -> Any:
        ident = next(self._ids)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, "id": ident, **fields}) + "\n")
        self.proc.stdin.flush()
        return self.wait("result", ident, timeout)

    def call(self, fn: str, *args: Any, timeout: float = STEP_TIMEOUT) -> Any:
        """``await window.chat[fn](...args)`` in the page."""
        return self.command("call", timeout, fn=fn, args=list(args))

    def console(self, kind: str | None = None) -> list[str]:
        with self._arrived:
            return [
                e["text"]
                for e in self.events
                if e["event"] == "console" and (kind is None or e["type"] == kind)
            ]

    def page_errors(self) -> list[str]:
        with self._arrived:
            return [e["message"] for e in self.events if e["event"] == "pageerror"]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if self.name != "chromium":
            name = name.replace("-", f"-{self.name}-", 1) if "-" in name else f"{self.name}-{name}"
        path = ARTIFACTS / f"{name}.png"
        self.command("screenshot", path=str(path))
        SCREENSHOTS.append(path)
        print(f"browser screenshot: {path}")
        return path

    def transcript(self, last: int = 60) -> str:
        with self._arrived:
            lines = [json.dumps(e)[:400] for e in self.events[-last:]]
        return (
            "--- browser events\n"
            + "\n".join(lines)
            + "\n--- stderr\n"
            + "\n".join(self.stderr[-30:])
        )

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def chromium(node_modules: Path, tmp_path: Path) -> Iterator[Any]:
    """``launch(ca)``: headless Chromium trusting ``ca``, with a fresh profile."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser suite runs Debian's chromium, which "
            "scripts/test installs (apt-get install -y chromium libnss3-tools)"
        )
    started: list[Browser] = []

    def launch(ca: Path) -> Browser:
        home = trusting_home(tmp_path / f"home-{len(started)}", ca)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BELLWIRE_"))}
        env.update(
            HOME=str(home),
            BELLWIRE_CHROMIUM=str(CHROMIUM),
            BELLWIRE_PROFILE=str(tmp_path / f"profile-{len(started)}"),
            NO_PROXY="*",
            no_proxy="*",
        )
        proc = subprocess.Popen(
            [tool("node", "Node 20+ drives the browser"), "drive.mjs"],
            cwd=JS_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        browser = Browser(proc)
        browser.start_reading()
        started.append(browser)
        browser.wait("ready", timeout=60)
        return browser

    yield launch
    for browser in started:
        browser.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))
