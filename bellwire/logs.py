"""Where the server's log records go, and in which format: readable text or JSON Lines.

Records that describe something an operator counts (a REST request, a session's open and close,
an authentication failure) carry their facts as attributes (``extra=``) besides the message:
the text format shows the message only (which already says the same as ``key=value``), the JSON
format adds every such attribute as a member, so a log pipeline needs no parsing.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any, Final

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord has; anything else on a record was given through ``extra=``.
_STANDARD: Final = frozenset(
    [*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "taskName"]
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, the record's
    structured fields, and the exception's traceback if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in document and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, with the local time rendered once per second rather than per record."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._rendered = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._rendered = (
                second,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)),
            )
        return f"{self._rendered},{int(record.msecs):03d}"


def configure(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Send every record at ``level`` or above to ``stream`` (standard error) in ``fmt``.

    A server's records need no caller, thread or process names (the formats show none), and
    finding them is most of a record's cost: the logging HOWTO's "Optimization" switches turn
    that off for the process.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


_PLAIN: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+=,")


def token(text: str) -> str:
    """A client-given word (an access key id, a sessionId) as is if it is plain, else quoted."""
    return text if text and len(text) <= 200 and _PLAIN.issuperset(text) else quoted(text)


def quoted(text: str, limit: int = 200) -> str:
    """Client-controlled text in a text line: quoted and escaped, so it cannot forge a line."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return json.dumps(text)
