"""The REST shell: one signed request → authenticate → route → authorize → run → answer.

Everything protocol-shaped is delegated to pure modules (SigV4, the model-driven codec, the
policy engine, the domain rules); this module only orders the steps and maps failures:
an :class:`AwsError` is the client's answer, anything else is logged and answers 500.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDictProxy

from bellwire import ids
from bellwire.api.access import Access, Trace
from bellwire.api.operations import Operations, find
from bellwire.api.query import QueryShell
from bellwire.aws import arn as arns
from bellwire.aws import codec, sigv4
from bellwire.aws.content_encoding import decode_body
from bellwire.aws.errors import (
    AwsError,
    BadRequest,
    ServiceFailure,
    ServiceUnavailable,
    UnauthorizedClient,
    ValidationError,
)
from bellwire.domain.roles import INVALID_BEARER
from bellwire.iam.authenticate import Authenticator
from bellwire.iam.authorize import transport_facts
from bellwire.log_throttle import Throttle
from bellwire.metrics import Metrics
from bellwire.store.base import StoreClosed, StoreTimeout, StoreUnavailable

log = logging.getLogger(__name__)

BEARER_HEADER = "x-amz-chime-bearer"


def _check_bearer(operation: codec.Operation, bearer: str | None) -> None:
    """A bearer that is not an AppInstanceUser or bot ARN is Unauthorized, as AWS answers,
    before the model's pattern check would call it a BadRequest."""
    if bearer is None or "ChimeBearer" not in operation.model.input_shape.members:
        return
    parsed = arns.parse(bearer)
    if parsed is None or parsed.kind not in ("user", "bot"):
        raise UnauthorizedClient(INVALID_BEARER)


@dataclass(slots=True)  # not frozen: made per request, and frozen costs its __init__
class Request:
    """A REST request with its whole body, as aiohttp's connections and the server's own
    (``bellwire.rest_connection``) both hand it over."""

    method: str
    raw_path: str  # as sent, query included
    headers: CIMultiDictProxy[str]
    pairs: Sequence[tuple[str, str]]  # the headers in order, names as sent
    body: bytes
    remote: str | None
    secure: bool


def from_aiohttp(request: web.BaseRequest, body: bytes = b"") -> Request:
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
    return Request(
        request.method,
        request.raw_path,
        request.headers,
        pairs,
        body,
        request.remote,
        request.secure,
    )


def _scope_service(request: Request) -> str:
    """The service named by a request's SigV4 credential scope, without verifying anything."""
    credential = request.headers.get("Authorization", "").partition("Credential=")[2]
    if not credential:
        query = urllib.parse.parse_qs(request.raw_path.partition("?")[2])
        credential = query.get("X-Amz-Credential", [""])[0]
    parts = credential.split(",")[0].split("/")
    return parts[3].strip() if len(parts) > 3 else ""


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The body as sent, refused (BadRequest) past ``limit`` bytes, before or while reading."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BadRequest(f"The request body is {declared} bytes; the limit is {limit} bytes.")
    # StreamReader.read(n) returns what has arrived so far (up to n), not n bytes: loop to EOF.
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.read(limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"The request body exceeds the limit of {limit} bytes.")
    except (RequestPayloadError, ConnectionResetError) as exc:
        # The client framed its body wrongly, or left before sending it all: its mistake,
        # not a server failure (and, if it left, no one reads the answer).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "it ended early"
        raise BadRequest(f"The request body could not be read: {reason}") from None
    return b"".join(chunks)


class RestApi:
    def __init__(
        self,
        *,
        operations: Operations,
        authenticator: Authenticator,
        max_body_bytes: int,
        metrics: Metrics,
        router: codec.Router | None = None,
        query: QueryShell | None = None,
    ) -> None:
        self._operations = operations
        self._auth = authenticator
        self._max_body = max_body_bytes
        self._router = router or codec.default_router()
        # The query-protocol services (IAM, STS), told apart by the credential scope's service.
        self._query = query or QueryShell()
        self._access = Access(metrics)
        self._timeouts = Throttle(10.0)

    async def handle_aiohttp(self, request: web.BaseRequest) -> web.Response:
        """aiohttp's request, its body read here (or refused: then answered without it)."""
        try:
            body = await read_body(request, self._max_body)
        except BadRequest as refusal:
            return await self.handle(from_aiohttp(request), refusal)
        return await self.handle(from_aiohttp(request, body))

    async def handle(self, request: Request, refusal: BadRequest | None = None) -> web.Response:
        """The answer to ``request``; ``refusal``: its body could not be read."""
        started = time.perf_counter()
        request_id = ids.uuid_string()
        trace = Trace()
        response: web.Response
        try:
            response = await self._handle(request, refusal, request_id, trace)
        except AwsError as err:
            if trace.authenticating:
                self._name(request, trace)
                self._access.auth_failed(trace, err, request_id, request.remote)
            if err.is_fault:
                log.error(
                    "request %s: %s %s answered %d: %r",
                    request_id,
                    request.method,
                    request.raw_path,
                    err.status,
                    err,
                    exc_info=True,
                )
            response = self._error(err, request_id, trace)
        except StoreClosed:
            log.info("request %s refused: the server is shutting down", request_id)
            response = self._error(
                ServiceUnavailable("The server is shutting down."), request_id, trace
            )
        except StoreTimeout as exc:
            # Every request of an outage meets it: one line per 10 s, with the count.
            dropped = self._timeouts.allow("timeout", time.monotonic())
            if dropped is not None:
                more = f" ({dropped} more since the last line)" if dropped else ""
                log.warning("request %s refused: %s%s", request_id, exc, more)
            response = self._error(
                ServiceUnavailable(
                    "The service's database did not answer in time. A change it had begun may "
                    "still be applied: retry with the same ClientRequestToken."
                ),
                request_id,
                trace,
            )
        except StoreUnavailable as exc:
            # Nothing was committed (a batch is all or nothing): the SDKs retry a 503. The store
            # logs the outage itself (rate-limited); the access line records each 503.
            log.debug("request %s refused: the database is unavailable: %s", request_id, exc)
            response = self._error(
                ServiceUnavailable(
                    "The service's database is unavailable; nothing was changed. Retry later."
                ),
                request_id,
                trace,
            )
        except Exception:
            # The one record of a 500: its traceback, with the id the client was given.
            log.exception("request %s failed: %s %s", request_id, request.method, request.raw_path)
            response = self._error(
                ServiceFailure("The service has experienced an unexpected failure."),
                request_id,
                trace,
            )
        self._access.record(trace, response.status, started, request_id, request.remote)
        return response

    def unavailable(self, request: Request) -> web.Response:
        """503 ServiceUnavailable in the request's protocol, with ``Connection: close``: the
        answer to a request that arrives while the server drains (SDKs retry it)."""
        request_id = ids.uuid_string()
        err = ServiceUnavailable("The server is shutting down; retry on a new connection.")
        service = _scope_service(request)
        if service in self._query:
            response = self._query.error(service, err, request_id)
        else:
            status, headers, body = codec.serialize_error(err, request_id)
            response = web.Response(status=status, headers=headers, body=body)
        response.force_close()
        return response

    def _name(self, request: Request, trace: Trace) -> None:
        """Name the operation of a request refused before routing (for its log lines)."""
        if trace.operation or trace.service not in ("", "chime"):
            return
        path, _, query = request.raw_path.partition("?")
        with contextlib.suppress(AwsError, ValueError):
            trace.operation = self._router.match(request.method, path, query).operation.name

    def _error(self, err: AwsError, request_id: str, trace: Trace) -> web.Response:
        """The one path from an error to its answer, in the protocol of the request's service."""
        if trace.service in self._query:
            trace.error = err.query_code or err.shape
            return self._query.error(trace.service, err, request_id)
        trace.error = err.shape
        status, headers, body = codec.serialize_error(err, request_id)
        return web.Response(status=status, headers=headers, body=body)

    async def _handle(
        self, request: Request, refusal: BadRequest | None, request_id: str, trace: Trace
    ) -> web.Response:
        path, _, query = request.raw_path.partition("?")
        headers = request.pairs
        if refusal is not None:
            # An IAM or STS client reads XML errors: word the refusal its way.
            early = sigv4.scope_service(headers) or ""
            if early not in self._query:
                raise refusal
            trace.service = early
            raise ValidationError(refusal.message) from None
        body = request.body
        # The signature covers the body as sent (compressed or not); the application reads it
        # decoded (bellwire.aws.content_encoding).
        trace.authenticating = True
        signed = sigv4.parse_header_auth(request.method, path, query, headers, body)
        trace.access_key_id = signed.access_key_id
        encodings = request.headers.getall("Content-Encoding", ())
        facts = transport_facts(request.remote, request.secure)
        if signed.service in self._query:
            service = trace.service = signed.service
            principal = self._auth.check(signed, service=service)
            trace.authenticating = False
            trace.principal = principal.arn
            if path != "/":  # the models' requestUri; botocore always posts there
                raise ValidationError(f"{service.upper()} is served at /, not at {path[:256]}.")
            try:
                body = decode_body(body, encodings, self._max_body)
            except BadRequest as err:
                raise ValidationError(err.message) from None
            if request.method != "POST":
                raise ValidationError(
                    f"{request.method} is not supported: send a form-encoded POST."
                )
            name, params = self._query.codecs[service].parse(body)
            trace.operation = name  # a model operation name (parse refuses any other)
            registered = find(service, name)
            output = await self._operations.run(registered, principal, params, facts, request_id)
            return self._query.response(service, name, output, request_id)
        trace.service = "chime"
        principal = self._auth.check(signed, service="chime")
        trace.authenticating = False
        trace.principal = principal.arn
        body = decode_body(body, encodings, self._max_body)

        match = self._router.match(request.method, path, query)
        name = trace.operation = match.operation.name
        _check_bearer(match.operation, request.headers.get(BEARER_HEADER))
        params = codec.parse_request(match, query, request.headers, body)
        registered = find("chime", name)
        output = await self._operations.run(registered, principal, params, facts, request_id)
        status, out_headers, out_body = codec.serialize_response(match.operation, output)
        out_headers["x-amzn-RequestId"] = request_id
        return web.Response(status=status, headers=out_headers, body=out_body)
