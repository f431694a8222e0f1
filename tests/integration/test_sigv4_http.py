"""SigV4 header authentication over real HTTP: every refusal is a 403 and leaves no trace.

Signatures are computed by botocore's own ``SigV4Auth`` (the clock patched where a test needs
another time), then the request is sent byte for byte with ``http.client``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bellwire.testing import RunningServer

CREATE = "/app-instances"


def _body(name: str = "sigv4") -> bytes:
    return json.dumps({"Name": name, "ClientRequestToken": f"sigv4-{name}"}).encode()


def _utc_naive(delta: timedelta) -> datetime:
    return (datetime.now(UTC) + delta).replace(tzinfo=None)


def _assert_refused(response: Any, error: str, status: int = 403) -> None:
    assert response.status == status, (response.status, response.body)
    assert response.error_type == error, response.headers
    assert response.message


def test_a_correctly_signed_request_is_accepted(raw: Any, dump: Any) -> None:
    """The control: the same helper, signed right, creates the app instance."""
    before = len(dump()["app_instances"])
    response = raw("POST", CREATE, _body("control"))
    assert response.status == 201, response.body
    assert response.json()["AppInstanceArn"].startswith("arn:aws:chime:")
    assert len(dump()["app_instances"]) == before + 1


def test_unsigned_request_is_missing_a_token(unsigned: Any, unchanged: Any) -> None:
    with unchanged():
        response = unsigned("POST", CREATE, _body(), {"Content-Type": "application/json"})
    _assert_refused(response, "MissingAuthenticationTokenException")


def test_wrong_secret_is_an_invalid_signature(raw: Any, unchanged: Any) -> None:
    with unchanged():
        response = raw("POST", CREATE, _body(), secret_key="not-the-secret")
    _assert_refused(response, "InvalidSignatureException")
    assert "signature" in response.message.lower()


def test_unknown_access_key_is_unrecognized(raw: Any, unchanged: Any) -> None:
    with unchanged():
        response = raw("POST", CREATE, _body(), access_key="AKIAUNKNOWNKEY000000")
    _assert_refused(response, "UnrecognizedClientException")


@pytest.mark.parametrize("minutes", [-20, 20], ids=["20-min-past", "20-min-future"])
def test_request_outside_the_clock_skew_is_refused(raw: Any, unchanged: Any, minutes: int) -> None:
    with unchanged():
        response = raw("POST", CREATE, _body(), when=_utc_naive(timedelta(minutes=minutes)))
    _assert_refused(response, "InvalidSignatureException")
    expected = "Signature expired" if minutes < 0 else "Signature not yet current"
    assert response.message.startswith(expected), response.message


def test_request_within_the_clock_skew_is_accepted(raw: Any) -> None:
    response = raw(
        "POST", CREATE, _body("ten-minutes-late"), when=_utc_naive(timedelta(minutes=-10))
    )
    assert response.status == 201, response.body


def test_body_tampered_after_signing(signer: Any, unsigned: Any, unchanged: Any) -> None:
    body = _body("original")
    headers = signer("POST", CREATE, body, headers={"Content-Type": "application/json"})
    tampered = _body("tampered")
    with unchanged():
        response = unsigned("POST", CREATE, tampered, headers)
    _assert_refused(response, "InvalidSignatureException")


def test_bearer_header_tampered_after_signing(
    signer: Any, unsigned: Any, unchanged: Any, arn_path: Any
) -> None:
    channel = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"
    path = f"/channels/{arn_path(channel)}"
    headers = signer(
        "GET",
        path,
        headers={
            "x-amz-chime-bearer": "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/u1"
        },
    )
    headers["x-amz-chime-bearer"] = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/u2"
    with unchanged():
        response = unsigned("GET", path, b"", headers)
    _assert_refused(response, "InvalidSignatureException")


def test_query_tampered_after_signing(signer: Any, unsigned: Any, unchanged: Any) -> None:
    headers = signer("GET", "/app-instances?max-results=5")
    with unchanged():
        response = unsigned("GET", "/app-instances?max-results=6", b"", headers)
    _assert_refused(response, "InvalidSignatureException")


def test_wrong_region_in_scope_is_refused(raw: Any, unchanged: Any) -> None:
    with unchanged():
        response = raw("POST", CREATE, _body(), region="eu-west-1")
    _assert_refused(response, "InvalidSignatureException")
    assert "us-east-1" in response.message or "region" in response.message.lower()


def test_wrong_service_in_scope_is_refused(raw: Any, unchanged: Any) -> None:
    with unchanged():
        response = raw("POST", CREATE, _body(), service="s3")
    assert response.status in (400, 403), response.body
    assert response.error_type in ("InvalidSignatureException", "IncompleteSignatureException")
    assert "chime" in response.message or "service" in response.message.lower()


def test_garbled_authorization_header(signer: Any, unsigned: Any, unchanged: Any) -> None:
    headers = signer("POST", CREATE, _body(), headers={"Content-Type": "application/json"})
    headers["Authorization"] = "AWS4-HMAC-SHA256 this is not a signature"
    with unchanged():
        response = unsigned("POST", CREATE, _body(), headers)
    assert response.status in (400, 403)
    assert response.error_type in ("IncompleteSignatureException", "InvalidSignatureException")
    assert response.message


def test_boto3_with_a_wrong_secret_gets_a_client_error(
    server: RunningServer, unchanged: Any
) -> None:
    client = server.client("chime-sdk-identity", aws_secret_access_key="wrong-secret")
    with unchanged(), pytest.raises(ClientError) as info:
        client.create_app_instance(Name="nope")
    err = info.value.response
    assert err["Error"]["Code"] == "InvalidSignatureException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_with_an_unknown_key_gets_a_client_error(
    server: RunningServer, unchanged: Any
) -> None:
    client = server.client("chime-sdk-messaging", aws_access_key_id="AKIAUNKNOWNKEY000001")
    with unchanged(), pytest.raises(ClientError) as info:
        client.get_messaging_session_endpoint()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("header", ["x-amz-chime-bearer", "x-amz-meta-anything"])
def test_x_amz_header_added_after_signing_is_refused(
    signer: Any, unsigned: Any, unchanged: Any, header: str
) -> None:
    """AWS's SigV4 rule: every x-amz-* header sent must be signed. Without it, anyone on the
    path could add a bearer to a signed request."""
    body = _body("unsigned-header")
    headers = signer("POST", CREATE, body, headers={"Content-Type": "application/json"})
    headers[header] = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/u1"
    with unchanged():
        response = unsigned("POST", CREATE, body, headers)
    _assert_refused(response, "IncompleteSignatureException", status=400)
    assert f"not signed: {header}" in response.message


def test_unsigned_x_amz_date_is_refused(signer: Any, unsigned: Any, unchanged: Any) -> None:
    """x-amz-date must be signed: the signature is checked against the clock through it."""
    body = _body("unsigned-date")
    headers = signer("POST", CREATE, body, headers={"Content-Type": "application/json"})
    auth = headers["Authorization"]
    assert "x-amz-date" in auth
    # Re-sign without x-amz-date, as a client that adds the date after signing would.
    headers_no_date = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    stripped = auth.replace(";x-amz-date", "").replace("x-amz-date;", "")
    with unchanged():
        response = unsigned("POST", CREATE, body, {**headers_no_date, "Authorization": stripped})
    _assert_refused(response, "IncompleteSignatureException", status=400)
    assert "not signed: x-amz-date" in response.message


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("chime-sdk-identity", "UnrecognizedClientException", 403),
        ("iam", "InvalidClientTokenId", 403),
        ("sts", "InvalidClientTokenId", 403),
    ],
)
def test_session_token_beside_a_long_term_key_is_refused(
    server: RunningServer, unchanged: Any, service: str, code: str, status: int
) -> None:
    """A security token belongs only with temporary credentials: beside the root key (or an
    IAM user's key) AWS answers "The security token included in the request is invalid"."""
    client = server.client(service, aws_session_token="forged-or-stale-token")
    call = {
        "chime-sdk-identity": lambda: client.create_app_instance(Name="with-a-token"),
        "iam": lambda: client.create_user(UserName="with-a-token"),
        "sts": lambda: client.get_caller_identity(),
    }[service]
    with unchanged(), pytest.raises(ClientError) as info:
        call()
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "security token" in info.value.response["Error"]["Message"]
