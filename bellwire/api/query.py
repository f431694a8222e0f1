"""The aiohttp side of the query protocol (IAM, STS): the pure codec of ``bellwire.aws.query``
turned into responses. Requests reach it through the REST shell (``bellwire.api.rest``), which
tells the services apart by the SigV4 credential scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bellwire.aws.errors import AwsError
from bellwire.aws.model import IAM, STS
from bellwire.aws.query import CONTENT_TYPE, QueryCodec


class QueryShell:
    """One pure codec per query-protocol service, keyed by the credential scope's service."""

    def __init__(self, services: tuple[str, ...] = (IAM, STS)) -> None:
        self.codecs: dict[str, QueryCodec] = {name: QueryCodec(name) for name in services}

    def __contains__(self, service: object) -> bool:
        return service in self.codecs

    def response(
        self, service: str, operation: str, output: Mapping[str, Any], request_id: str
    ) -> web.Response:
        body = self.codecs[service].serialize(operation, output, request_id)
        return web.Response(
            status=200,
            body=body,
            content_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )

    def error(self, service: str, err: AwsError, request_id: str) -> web.Response:
        status, body = self.codecs[service].serialize_error(err, request_id)
        return web.Response(
            status=status,
            body=body,
            content_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )
