"""The log formats: JSON Lines with the records' structured fields, and quoting of client text."""

import io
import json
import logging

from bellwire import logs


def _emit(fmt: str, record: logging.LogRecord) -> str:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    switches = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    process_wide = {name: getattr(logging, name) for name in switches}
    try:
        logs.configure("info", fmt, stream)
        logging.getLogger(record.name).handle(record)
    finally:
        for name, old in process_wide.items():
            setattr(logging, name, old)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    return stream.getvalue()


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "bellwire.access", logging.INFO, __file__, 1, "%s %d", ("CreateChannel", 201), None
    )
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_message_and_the_structured_fields() -> None:
    line = _emit("json", _record(operation="CreateChannel", status=201, latency_ms=1.5))
    assert line.endswith("\n") and line.count("\n") == 1
    document = json.loads(line)
    assert document["message"] == "CreateChannel 201"
    assert (document["level"], document["logger"]) == ("info", "bellwire.access")
    assert document["timestamp"].endswith("Z") and "T" in document["timestamp"]
    assert (document["operation"], document["status"], document["latency_ms"]) == (
        "CreateChannel",
        201,
        1.5,
    )
    assert "args" not in document and "msg" not in document and "exc_info" not in document


def test_json_lines_include_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "bellwire", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    document = json.loads(_emit("json", record))
    assert "RuntimeError: boom" in document["exception"]


def test_text_lines_show_the_message_only() -> None:
    record = _record(operation="CreateChannel")
    line = _emit("text", record)
    assert line.rstrip().endswith(" INFO bellwire.access: CreateChannel 201")
    assert "operation" not in line
    stamp = logging.Formatter().formatTime(record)  # the stdlib's own rendering
    assert line.startswith(stamp + " INFO ")


def test_client_text_cannot_forge_a_line() -> None:
    assert logs.quoted('bad\nINFO forged "x"') == '"bad\\nINFO forged \\"x\\""'
    assert logs.token("AKIAEXAMPLE") == "AKIAEXAMPLE"
    assert logs.token("arn:aws:chime:us-east-1:1:app-instance/a/user/b") == (
        "arn:aws:chime:us-east-1:1:app-instance/a/user/b"
    )
    assert logs.token("two words") == '"two words"'
    assert len(logs.quoted("x" * 1000)) < 210
