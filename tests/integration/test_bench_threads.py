"""The benchmarks' split of a server's CPU by thread (bench/procs.py, bench/run.py): the first
thread's clock alone, read from the kernel, against the whole process's."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import procs, run

# A process whose first thread sleeps while a second one spins for ``SPIN`` seconds of CPU.
SPIN = 0.6
CHILD = f"""
import threading, time
def spin():
    end = time.thread_time() + {SPIN}
    while time.thread_time() < end:
        pass
t = threading.Thread(target=spin)
t.start()
t.join()
print("done", flush=True)
time.sleep(30)
"""


def test_the_first_threads_cpu_is_told_apart_from_the_others() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "done"
            time.sleep(0.05)
            whole = procs.cpu_seconds(child.pid)
            first = procs.main_thread_cpu_seconds(child.pid)
        finally:
            child.kill()
    # The spinning thread has ended; its CPU stays in the process's total, not the first's.
    assert whole >= SPIN * 0.9
    assert first < whole - SPIN * 0.8


def test_a_durable_run_reports_the_event_loop_and_the_other_threads() -> None:
    rows = run._by_thread("durable sends x64", {"server_cpu": 0.96, "server_loop_cpu": 0.53})
    assert [(label, value) for label, value, *_ in rows] == [
        ("durable sends x64: server CPU, event loop", 0.53),
        ("durable sends x64: server CPU, other threads", 0.43),
    ]
    # A server of several processes has no one event loop: nothing is reported.
    assert run._by_thread("durable sends x64", {"server_cpu": 1.5}) == []
