"""py-spy sampling of the server during a measured window (``python -m bench.run --profile``).

py-spy runs ``--nonblocking`` (the server is not paused at each sample) and writes collapsed
stacks; ``summarize`` turns them into the functions with the most samples on top of the stack
(self) and anywhere in it (total), as percentages of the samples of active threads.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def record(
    pid: int, seconds: float, out: Path, core: int | None, rate: int = 250, gil: bool = False
) -> dict[str, Any]:
    """Sample ``pid`` for ``seconds``; returns the summary (also written next to ``out``).
    With ``gil``, only the thread holding the GIL is sampled: the Python CPU, without the time
    threads spend in SQLite, system calls or waiting for the GIL."""
    binary = py_spy()
    if binary is None:
        return {"error": "py-spy not installed (pip install py-spy==0.4.3)"}
    argv = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--nonblocking",
        "--threads",
        "--format",
        "raw",
        "--output",
        str(out),
        *(["--gil"] if gil else []),
    ]
    if core is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(core), *argv]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), seconds + 30.0)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return {"error": "py-spy did not finish"}
    if proc.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed: {stderr.decode(errors='replace')[-300:]}"}
    summary = summarize(out)
    out.with_suffix(".txt").write_text(render(summary))
    return summary


def _function(frame: str) -> str:
    # "name (path/to/file.py:123)" -> "name (file.py)"; lines differ, functions do not.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarize(raw: Path, top: int = 25) -> dict[str, Any]:
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        body = [f for f in frames if not f.startswith(("thread", "process"))]
        if not body:
            continue
        samples += count
        threads[thread] += count
        self_counts[_function(body[-1])] += count
        for function in {_function(f) for f in body}:
            total_counts[function] += count

    def pct(n: int) -> float:
        return round(100.0 * n / samples, 1) if samples else 0.0

    return {
        "samples": samples,
        "threads": {name: pct(n) for name, n in threads.most_common(8)},
        "self": [[name, pct(n)] for name, n in self_counts.most_common(top)],
        "total": [[name, pct(n)] for name, n in total_counts.most_common(top + 15)],
    }


def render(summary: dict[str, Any]) -> str:
    lines = [f"samples: {summary.get('samples')}", "", "threads:"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary.get("threads", {}).items()]
    lines += ["", "self (on top of the stack):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary.get("self", [])]
    lines += ["", "total (anywhere in the stack):"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary.get("total", [])]
    return "\n".join(lines) + "\n"
