"""The REST shell: one signed request → authenticate → route → authorize → run → answer.

Everything protocol-shaped is delegated to pure modules (SigV4, the model-driven codec, the
policy engine, the domain rules); this module only orders the steps and maps failures:
an :class:`AwsError` is the client's answer, anything else is logged and answers 500.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from bellwire import __version__, ids
from bellwire.api.access import Access, Trace
from bellwire.aws import arn as arns
from bellwire.aws import codec, sigv4
from bellwire.aws.content_encoding import decode_body
from bellwire.aws.errors import (
    AwsError,
    BadRequest,
    ServiceFailure,
    ServiceUnavailable,
    UnauthorizedClient,
)
from bellwire.domain.operation import Call, Result
from bellwire.domain.operations import REGISTRY
from bellwire.domain.roles import INVALID_BEARER
from bellwire.iam.authenticate import Authenticator
from bellwire.iam.authorize import Facts, authorize, transport_facts
from bellwire.iam.errors import ValidationError
from bellwire.iam.principal import Principal
from bellwire.metrics import Metrics
from bellwire.store.base import Store, StoreClosed

log = logging.getLogger(__name__)

# Members naming the resource an operation acts on (spec §6): IAM checks chime:<Operation> on
# each of them and on the bearer. Members naming *other* users (MemberArn, ModeratorArns...)
# are governed by the bearer's channel role instead, as AWS's documented user policies imply.
RESOURCE_MEMBERS = (
    "ChannelArn",
    "AppInstanceArn",
    "AppInstanceUserArn",
    "AppInstanceBotArn",
    "ChannelFlowArn",
    "ResourceARN",
    "ChimeBearer",
)


class QueryHandler(Protocol):
    """A query-protocol service (IAM, STS), dispatched by the credential scope's service. It
    writes its own (XML) errors, including the authentication failures of its requests."""

    async def __call__(
        self,
        principal: Principal,
        method: str,
        body: bytes,
        request_id: str,
        facts: Facts,
        trace: Trace | None = None,
    ) -> web.Response: ...

    def error(self, err: AwsError, request_id: str) -> web.Response: ...


BEARER_HEADER = "x-amz-chime-bearer"


def _check_bearer(operation: codec.Operation, bearer: str | None) -> None:
    """A bearer that is not an AppInstanceUser or bot ARN is Unauthorized, as AWS answers,
    before the model's pattern check would call it a BadRequest."""
    if bearer is None or "ChimeBearer" not in operation.model.input_shape.members:
        return
    parsed = arns.parse(bearer)
    if parsed is None or parsed.kind not in ("user", "bot"):
        raise UnauthorizedClient(INVALID_BEARER)


def _scope_service(request: web.BaseRequest) -> str:
    """The service named by a request's SigV4 credential scope, without verifying anything."""
    credential = request.headers.get("Authorization", "").partition("Credential=")[2]
    if not credential:
        credential = request.query.get("X-Amz-Credential", "")
    parts = credential.split(",")[0].split("/")
    return parts[3].strip() if len(parts) > 3 else ""


def resources_of(params: Mapping[str, Any]) -> list[str]:
    found = [params[m] for m in RESOURCE_MEMBERS if isinstance(params.get(m), str)]
    return list(dict.fromkeys(found)) or ["*"]


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
        store: Store,
        authenticator: Authenticator,
        region: str,
        account_id: str,
        endpoint_host: Callable[[], str],
        max_body_bytes: int,
        metrics: Metrics,
        router: codec.Router | None = None,
    ) -> None:
        self._store = store
        self._auth = authenticator
        self._region = region
        self._account_id = account_id
        self._endpoint_host = endpoint_host
        self._max_body = max_body_bytes
        self._router = router or codec.default_router()
        self.query_services: dict[str, QueryHandler] = {}
        self._access = Access(metrics)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = ids.uuid_string()
        trace = Trace()
        response: web.StreamResponse
        try:
            response = await self._handle(request, request_id, trace)
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

    def unavailable(self, request: web.BaseRequest) -> web.Response:
        """503 ServiceUnavailable in the request's protocol, with ``Connection: close``: the
        answer to a request that arrives while the server drains (SDKs retry it)."""
        request_id = ids.uuid_string()
        err = ServiceUnavailable("The server is shutting down; retry on a new connection.")
        query_service = self.query_services.get(_scope_service(request))
        if query_service is not None:
            response = query_service.error(err, request_id)
        else:
            status, headers, body = codec.serialize_error(err, request_id)
            response = web.Response(status=status, headers=headers, body=body)
        response.force_close()
        return response

    def _name(self, request: web.BaseRequest, trace: Trace) -> None:
        """Name the operation of a request refused before routing (for its log lines)."""
        if trace.operation or trace.service not in ("", "chime"):
            return
        path, _, query = request.raw_path.partition("?")
        with contextlib.suppress(AwsError, ValueError):
            trace.operation = self._router.match(request.method, path, query).operation.name

    def _error(self, err: AwsError, request_id: str, trace: Trace) -> web.Response:
        trace.error = err.shape
        status, headers, body = codec.serialize_error(err, request_id)
        return web.Response(status=status, headers=headers, body=body)

    async def _handle(
        self, request: web.BaseRequest, request_id: str, trace: Trace
    ) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        headers: Sequence[tuple[str, str]] = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers
        ]
        try:
            body = await read_body(request, self._max_body)
        except BadRequest as err:
            # An IAM or STS client reads XML errors: word the refusal its way.
            early = self.query_services.get(sigv4.scope_service(headers) or "")
            if early is None:
                raise
            trace.service = sigv4.scope_service(headers) or ""
            trace.error = "ValidationError"
            return early.error(ValidationError(err.message), request_id)
        # The signature covers the body as sent (compressed or not); the application reads it
        # decoded (bellwire.aws.content_encoding).
        trace.authenticating = True
        signed = sigv4.parse_header_auth(request.method, path, query, headers, body)
        trace.access_key_id = signed.access_key_id
        encodings = request.headers.getall("Content-Encoding", ())
        query_service = self.query_services.get(signed.service)
        facts = transport_facts(request.remote, request.secure)
        if query_service is not None:
            trace.service = signed.service
            try:
                principal = self._auth.check(signed, service=signed.service)
            except AwsError as err:
                self._access.auth_failed(trace, err, request_id, request.remote)
                trace.authenticating = False
                trace.error = err.query_code or err.shape
                return query_service.error(err, request_id)
            trace.authenticating = False
            trace.principal = principal.arn
            try:
                if path != "/":  # the models' requestUri; botocore always posts there
                    raise ValidationError(
                        f"{signed.service.upper()} is served at /, not at {path[:256]}."
                    )
                try:
                    body = decode_body(body, encodings, self._max_body)
                except BadRequest as err:
                    raise ValidationError(err.message) from None
            except AwsError as err:
                trace.error = err.query_code or err.shape
                return query_service.error(err, request_id)
            return await query_service(principal, request.method, body, request_id, facts, trace)
        trace.service = "chime"
        principal = self._auth.check(signed, service="chime")
        trace.authenticating = False
        trace.principal = principal.arn
        body = decode_body(body, encodings, self._max_body)

        match = self._router.match(request.method, path, query)
        name = trace.operation = match.operation.name
        _check_bearer(match.operation, request.headers.get(BEARER_HEADER))
        params = codec.parse_request(match, query, request.headers, body)
        authorize(principal, f"chime:{name}", resources_of(params), facts)
        output = await self.call(name, params, request_id)
        status, out_headers, out_body = codec.serialize_response(match.operation, output)
        out_headers["x-amzn-RequestId"] = request_id
        return web.Response(status=status, headers=out_headers, body=out_body)

    async def call(self, name: str, params: dict[str, Any], request_id: str = "") -> dict[str, Any]:
        """Run one operation in a store transaction; events are published by the store's
        after-commit hook, before this returns."""
        if name == "GetMessagingSessionEndpoint":
            return {"Endpoint": {"Url": self._endpoint_host()}}
        registered = REGISTRY.get(name)
        if registered is None:
            # An operation of the installed botocore's model that this version does not
            # implement (a newer botocore adds some): the model's BadRequest, as for the
            # features of unsupported.py, never a 500.
            raise BadRequest(f"{name} is not supported by this server (bellwire {__version__}).")
        # Millisecond timestamps (as AWS keeps them): a timestamp a client got back (a JS Date, a
        # botocore datetime) then names the same instant exactly in not-before/not-after.
        call = Call(self._region, self._account_id, round(time.time(), 3), request_id)

        def unit(tx: Any) -> Result:
            return registered.fn(tx, call, params)

        result = await (self._store.write(unit) if registered.writes else self._store.read(unit))
        return result.output
