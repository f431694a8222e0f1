"""A lean signed REST client for the load generator: raw HTTP/1.1 keep-alive over asyncio and a
SigV4 header signer that caches the signing key.

botocore's ``SigV4Auth`` costs far more CPU per request than the server's own verification, so
a load generator built on it would measure itself. ``Signer`` produces the same Authorization
header as botocore for the requests it builds; ``Signer.self_check`` compares the two on a
sample request at the start of every run (botocore is the oracle).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import unittest.mock
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


def _amz_date(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


class Signer:
    """SigV4 header signing for chime (identity and messaging share the signing name)."""

    def __init__(
        self, access_key_id: str, secret_access_key: str, region: str, service: str = "chime"
    ) -> None:
        self.access_key_id = access_key_id
        self.secret = secret_access_key
        self.region = region
        self.service = service
        self._key_date = ""
        self._inner: Any = None
        self._outer: Any = None
        self._stamp = 0
        self._stamp_text = ""
        self._paths: dict[str, str] = {}

    def _hmac(self, date: str, message: bytes) -> str:
        """HMAC-SHA256 with the day's signing key, from precomputed pad states (RFC 2104):
        OpenSSL's one-shot HMAC costs ~10 µs per call here, a hash-state copy well under 1."""
        if date != self._key_date:
            key = hmac.digest(("AWS4" + self.secret).encode(), date.encode(), "sha256")
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            padded = key.ljust(64, b"\0")
            self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
            self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
            self._key_date = date
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return str(outer.hexdigest())

    def _canonical_path(self, raw_path: str) -> str:
        canonical = self._paths.get(raw_path)
        if canonical is None:
            canonical = quote(raw_path, safe="/~")
            if len(self._paths) < 100_000:
                self._paths[raw_path] = canonical
        return canonical

    def now(self) -> str:
        second = int(time.time())
        if second != self._stamp:
            self._stamp = second
            self._stamp_text = _amz_date(datetime.fromtimestamp(second, UTC))
        return self._stamp_text

    def headers(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        host: str,
        body: bytes,
        extra: Sequence[tuple[str, str]] = (),
        amz_date: str | None = None,
    ) -> list[tuple[str, str]]:
        """The request headers, Authorization last. ``extra`` names are lower-case."""
        amz_date = amz_date or self.now()
        signed = sorted(
            [
                ("content-type", "application/json"),
                ("host", host),
                ("x-amz-date", amz_date),
                *extra,
            ]
        )
        names = ";".join(name for name, _ in signed)
        canonical_headers = "".join(f"{name}:{value.strip()}\n" for name, value in signed)
        canonical_query = "&".join(sorted(raw_query.split("&"))) if raw_query else ""
        canonical = "\n".join(
            (
                method,
                self._canonical_path(raw_path),
                canonical_query,
                canonical_headers,
                names,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{amz_date[:8]}/{self.region}/{self.service}/aws4_request"
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = self._hmac(amz_date[:8], to_sign.encode())
        authorization = (
            f"{ALGORITHM} Credential={self.access_key_id}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return [*signed, ("authorization", authorization)]

    def self_check(self, host: str) -> None:
        """Raise unless botocore signs a sample request exactly as this signer does."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        arn = "arn:aws:chime:us-east-1:123456789012:app-instance/abc/channel/def"
        path = f"/channels/{quote(arn, safe='')}/memberships"
        query = "operation=batch-create"
        body = b'{"MemberArns":["x"]}'
        bearer = "arn:aws:chime:us-east-1:123456789012:app-instance/abc/user/u1"
        moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        request = AWSRequest(
            method="POST",
            url=f"http://{host}{path}?{query}",
            data=body,
            headers={"Content-Type": "application/json", "x-amz-chime-bearer": bearer},
        )
        with unittest.mock.patch(
            "botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None)
        ):
            SigV4Auth(
                Credentials(self.access_key_id, self.secret), self.service, self.region
            ).add_auth(request)
        theirs = request.headers["Authorization"]
        ours = dict(
            self.headers(
                "POST",
                path,
                query,
                host,
                body,
                [("x-amz-chime-bearer", bearer)],
                amz_date=_amz_date(moment),
            )
        )["authorization"]
        if ours != theirs:
            raise AssertionError(f"bench signer disagrees with botocore:\n{ours}\n{theirs}")


class HttpError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class _Http(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_parse()

    def _try_parse(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        marker = head.find(b"\r\ncontent-length:")
        if marker < 0 and status not in (204, 304):  # those have no body (RFC 9110)
            raise RuntimeError("response without Content-Length")
        line_end = head.find(b"\r\n", marker + 2)
        length = (
            0 if marker < 0 else int(head[marker + 17 : line_end if line_end > 0 else len(head)])
        )
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.host_header = f"{host}:{port}"
        self._proto: _Http | None = None

    async def _connect(self) -> _Http:
        if self._proto is None or self._proto.lost:
            loop = asyncio.get_running_loop()
            _, proto = await loop.create_connection(_Http, self.host, self.port)
            self._proto = proto
        return self._proto

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout: float = 30.0,
    ) -> tuple[int, bytes]:
        proto = await self._connect()
        assert proto.transport is not None and proto.waiter is None
        lines = [f"{method} {target} HTTP/1.1"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(f"content-length: {len(body)}")
        proto.waiter = asyncio.get_running_loop().create_future()
        proto.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await asyncio.wait_for(proto.waiter, timeout)

    def close(self, *, abort: bool = True) -> None:
        """Reset the connection (``abort``), or end it with a FIN as a client that is done."""
        if self._proto is not None and self._proto.transport is not None:
            if abort:
                self._proto.transport.abort()
            else:
                self._proto.transport.close()
        self._proto = None


class Chime:
    """The few Chime SDK operations the benchmarks use, over one keep-alive connection."""

    def __init__(self, host: str, port: int, signer: Signer) -> None:
        self.conn = HttpConnection(host, port)
        self.signer = signer

    async def call(
        self,
        method: str,
        path: str,
        query: str = "",
        document: dict[str, Any] | None = None,
        bearer: str | None = None,
        expect: int = 200,
    ) -> dict[str, Any]:
        status, body = await self.raw(method, path, query, document, bearer)
        if status != expect:
            raise HttpError(status, body)
        result: dict[str, Any] = json.loads(body) if body else {}
        return result

    async def raw(
        self,
        method: str,
        path: str,
        query: str = "",
        document: dict[str, Any] | None = None,
        bearer: str | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes]:
        if body is None:
            body = json.dumps(document).encode() if document is not None else b""
        extra = [("x-amz-chime-bearer", bearer)] if bearer else []
        headers = self.signer.headers(method, path, query, self.conn.host_header, body, extra)
        target = f"{path}?{query}" if query else path
        return await self.conn.request(method, target, headers, body)

    # --- operations ------------------------------------------------------------------------------

    async def create_app_instance(self, name: str) -> str:
        out = await self.call(
            "POST",
            "/app-instances",
            document={"Name": name, "ClientRequestToken": uuid.uuid4().hex},
            expect=201,
        )
        return str(out["AppInstanceArn"])

    async def create_user(self, app: str, user_id: str) -> str:
        out = await self.call(
            "POST",
            "/app-instance-users",
            document={
                "AppInstanceArn": app,
                "AppInstanceUserId": user_id,
                "Name": user_id,
                "ClientRequestToken": uuid.uuid4().hex,
            },
            expect=201,
        )
        return str(out["AppInstanceUserArn"])

    async def create_channel(self, app: str, creator: str, name: str, members: list[str]) -> str:
        document: dict[str, Any] = {
            "AppInstanceArn": app,
            "Name": name,
            "ClientRequestToken": uuid.uuid4().hex,
        }
        if members:
            document["MemberArns"] = members[:10]
        out = await self.call("POST", "/channels", document=document, bearer=creator, expect=201)
        return str(out["ChannelArn"])

    async def add_members(self, channel: str, bearer: str, members: list[str]) -> None:
        for start in range(0, len(members), 100):
            out = await self.call(
                "POST",
                f"/channels/{quote(channel, safe='')}/memberships",
                "operation=batch-create",
                {"MemberArns": members[start : start + 100], "Type": "DEFAULT"},
                bearer=bearer,
            )
            if out.get("Errors"):
                raise RuntimeError(f"BatchCreateChannelMembership errors: {out['Errors'][:3]}")

    def message_body(self, content: str, sub_channel_id: str | None = None) -> bytes:
        document = {
            "Content": content,
            "Type": "STANDARD",
            "Persistence": "PERSISTENT",
            "ClientRequestToken": uuid.uuid4().hex,
        }
        if sub_channel_id is not None:
            document["SubChannelId"] = sub_channel_id
        return json.dumps(document).encode()

    async def send_message(self, channel_path: str, bearer: str, content: str) -> int:
        """SendChannelMessage; ``channel_path`` is ``/channels/<quoted arn>/messages``."""
        status, _ = await self.raw(
            "POST", channel_path, "", None, bearer, body=self.message_body(content)
        )
        return status

    async def list_messages(self, channel_path: str, bearer: str) -> int:
        status, _ = await self.raw("GET", channel_path, "max-results=10", None, bearer, body=b"")
        return status

    def close(self) -> None:
        self.conn.close()


def messages_path(channel: str) -> str:
    return f"/channels/{quote(channel, safe='')}/messages"
