"""What one REST request leaves behind: its access line, its metrics, and an authentication
failure's own line.

The access line is one pre-formatted record at ``info`` on the ``bellwire.access`` logger:
operation, status, latency, request id, principal and access key id, client address. Never a
secret: no signature, no session token, no secret key; the access key id is what AWS's own logs
show too. When ``info`` is off, a request costs one ``isEnabledFor`` check here.
"""

from __future__ import annotations

import logging
import time

from bellwire.aws.errors import AwsError
from bellwire.logs import quoted, token
from bellwire.metrics import Metrics

access_log = logging.getLogger("bellwire.access")
auth_log = logging.getLogger("bellwire.auth")

UNKNOWN = "unknown"  # the operation of a request no route or Action names


class Trace:
    """What is learnt about a request as it is handled, for its access line and metrics."""

    __slots__ = ("access_key_id", "authenticating", "error", "operation", "principal", "service")

    def __init__(self) -> None:
        self.service = ""  # chime, iam or sts once the credential scope says which
        self.operation = ""  # a model operation name, never a raw path
        self.principal = ""  # the principal's ARN once authenticated
        self.access_key_id = ""
        self.error = ""  # the error type of an error answer
        self.authenticating = False  # an error now is an authentication failure


class Access:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def record(
        self, trace: Trace, status: int, started: float, request_id: str, remote: str | None
    ) -> None:
        seconds = time.perf_counter() - started
        operation = trace.operation or UNKNOWN
        self._metrics.rest(trace.service or UNKNOWN, operation, status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return
        milliseconds = round(seconds * 1000.0, 2)
        access_log.info(
            "%s %d %.2fms request_id=%s principal=%s key=%s remote=%s%s",
            operation,
            status,
            milliseconds,
            request_id,
            trace.principal or "-",
            token(trace.access_key_id) if trace.access_key_id else "-",
            remote or "-",
            f" error={trace.error}" if trace.error else "",
            extra={
                "event": "request",
                "service": trace.service or UNKNOWN,
                "operation": operation,
                "status": status,
                "latency_ms": milliseconds,
                "request_id": request_id,
                "principal": trace.principal or None,
                "access_key_id": trace.access_key_id or None,
                "remote": remote,
                "error": trace.error or None,
            },
        )

    def auth_failed(self, trace: Trace, err: AwsError, request_id: str, remote: str | None) -> None:
        self._metrics.auth_failures.labels("rest", err.shape).inc()
        if not auth_log.isEnabledFor(logging.INFO):
            return
        auth_log.info(
            "authentication failed on %s: %s %s key=%s remote=%s request_id=%s",
            trace.operation or UNKNOWN,
            err.shape,
            quoted(err.message),
            token(trace.access_key_id) if trace.access_key_id else "-",
            remote or "-",
            request_id,
            extra={
                "event": "authentication_failed",
                "endpoint": "rest",
                "service": trace.service or UNKNOWN,
                "operation": trace.operation or UNKNOWN,
                "error": err.shape,
                "reason": err.message,
                "access_key_id": trace.access_key_id or None,
                "remote": remote,
                "request_id": request_id,
            },
        )
