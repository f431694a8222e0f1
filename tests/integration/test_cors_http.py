"""CORS over real HTTP: preflights before authentication, allowances on every answer.

The browser itself is exercised in tests/browser; here the headers are checked exactly, on
every route family (both Chime services, IAM/STS at ``/``, ``/connect``, health, operator and
unknown paths) and on every kind of answer (success, codec 400, SigV4 403, 404, 405, 503).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
ORIGIN = "https://app.example"
SDK_HEADERS = (
    "amz-sdk-invocation-id,amz-sdk-request,authorization,content-type,x-amz-chime-bearer,"
    "x-amz-content-sha256,x-amz-date,x-amz-security-token,x-amz-user-agent"
)
EXPOSED = {"x-amzn-requestid", "x-amzn-errortype", "x-amzn-errormessage", "date"}
PATHS = [
    "/app-instances",
    "/app-instance-users/arn%3Aaws%3Achime%3Aus-east-1%3A123456789012%3Aapp-instance%2Fx",
    "/channels",
    "/channels/arn%3Aaws%3Achime/messages?max-results=5",
    "/endpoints/messaging-session",
    "/",
    "/connect",
    "/healthz",
    "/readyz",
    "/readyz/rest",
    "/admin/sessions/close",
    "/no/such/route",
]


def preflight(method: str = "POST", origin: str = ORIGIN) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": SDK_HEADERS,
    }


def exposed(headers: dict[str, str]) -> set[str]:
    return {h.strip().lower() for h in headers.get("access-control-expose-headers", "").split(",")}


@pytest.mark.parametrize("path", PATHS)
def test_preflight_is_answered_before_authentication(
    unsigned: Callable[..., Any], unchanged: Callable[[], Any], path: str
) -> None:
    with unchanged():
        response = unsigned("OPTIONS", path, b"", preflight())
    assert response.status == 200, (response.status, response.body)
    h = response.headers
    assert h["access-control-allow-origin"] == "*"
    assert h["access-control-allow-headers"] == SDK_HEADERS
    assert {"GET", "POST", "PUT", "DELETE"} <= set(h["access-control-allow-methods"].split(","))
    assert int(h["access-control-max-age"]) >= 600
    assert "access-control-allow-credentials" not in h


def test_options_without_preflight_headers_is_not_a_preflight(
    unsigned: Callable[..., Any],
) -> None:
    """Only a browser's preflight skips authentication; a bare OPTIONS is an unsigned call."""
    response = unsigned("OPTIONS", "/channels", b"", {"Origin": ORIGIN})
    assert response.status == 403, response.body
    assert response.error_type == "MissingAuthenticationTokenException"
    assert response.headers["access-control-allow-origin"] == "*"


def check_actual(response: Any, status: int, error_type: str | None = None) -> None:
    assert response.status == status, (response.status, response.body)
    assert response.headers["access-control-allow-origin"] == "*"
    assert exposed(response.headers) >= EXPOSED, response.headers
    if error_type is not None:
        assert response.error_type == error_type


def test_success_carries_allow_origin_and_exposed_headers(raw: Callable[..., Any]) -> None:
    body = json.dumps({"Name": "cors", "ClientRequestToken": "cors-success"})
    response = raw("POST", "/app-instances", body, headers={"Origin": ORIGIN})
    check_actual(response, 201)
    assert response.headers["x-amzn-requestid"]


def test_codec_error_carries_the_headers(raw: Callable[..., Any]) -> None:
    response = raw("POST", "/app-instances", "{not json", headers={"Origin": ORIGIN})
    check_actual(response, 400, "BadRequestException")


def test_signature_error_carries_the_headers(unsigned: Callable[..., Any]) -> None:
    response = unsigned("GET", "/app-instances", b"", {"Origin": ORIGIN})
    check_actual(response, 403, "MissingAuthenticationTokenException")


def test_unknown_route_and_wrong_method_carry_the_headers(raw: Callable[..., Any]) -> None:
    check_actual(raw("GET", "/no/such/route", headers={"Origin": ORIGIN}), 404)
    check_actual(raw("PATCH", "/app-instances", headers={"Origin": ORIGIN}), 405)


def test_iam_and_sts_answers_carry_the_headers(raw: Callable[..., Any]) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN}
    ok = raw(
        "POST", "/", "Action=GetCallerIdentity&Version=2011-06-15", headers=form, service="sts"
    )
    check_actual(ok, 200)
    assert b"GetCallerIdentityResult" in ok.body
    bad = raw("POST", "/", "Action=GetUser&Version=2010-05-08&UserName=nobody", headers=form,
              service="iam")  # fmt: skip
    check_actual(bad, 404)


def test_health_answers_carry_the_headers(unsigned: Callable[..., Any]) -> None:
    for path in ("/healthz", "/readyz", "/readyz/rest"):
        check_actual(unsigned("GET", path, b"", {"Origin": ORIGIN}), 200)


def test_a_server_side_failure_carries_the_headers(bellwire_server: Any) -> None:
    """A 5xx is an answer the page must be able to read too (here: the store has closed)."""
    from botocore.exceptions import ClientError

    client = bellwire_server.client("chime-sdk-identity", config=NO_RETRY)
    client.meta.events.register(
        "before-sign.*", lambda request, **_: request.headers.__setitem__("Origin", ORIGIN)
    )
    bellwire_server.run(bellwire_server.server.store.close())
    with pytest.raises(ClientError) as failure:
        client.list_app_instances()
    meta = failure.value.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 503
    headers = meta["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "ServiceUnavailableException"
    assert headers["access-control-allow-origin"] == "*"
    assert exposed(headers) >= EXPOSED
    client.close()
