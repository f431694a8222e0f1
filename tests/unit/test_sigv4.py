"""bellwire.aws.sigv4 against the spec's JS vector, AWS's SigV4 test suite and botocore's signer."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwire.aws import sigv4
from bellwire.aws.errors import (
    AwsError,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
)

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# --- spec §2.3: the URL amazon-chime-sdk-js presigned ---------------------------------------

JS_HOST = "node001.ue1.ws-messaging.chime.aws"
JS_DATE = utc("20261125T094323Z")
JS_TOKEN = "IQoJb3JpZ2luX2VjE+abc/def=="
JS_PARAMS = {
    "X-Amzn-User-Agent": "node-NaN",
    "X-Amzn-Version": "3.32.0",
    "prefetch-on": "connect",
    "prefetch-sort-by": "unread",
    "sessionId": "1234567890",
    "userArn": "arn:aws:chime:us-east-1:123456789012:app-instance/abc-123/user/user-1",
}
JS_URL = (
    "wss://node001.ue1.ws-messaging.chime.aws/connect?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIDEXAMPLE%2F20261125%2Fus-east-1%2Fchime%2Faws4_request"
    "&X-Amz-Date=20261125T094323Z&X-Amz-Expires=10"
    "&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2Babc%2Fdef%3D%3D&X-Amz-SignedHeaders=host"
    "&X-Amzn-User-Agent=node-NaN&X-Amzn-Version=3.32.0&prefetch-on=connect"
    "&prefetch-sort-by=unread&sessionId=1234567890"
    "&userArn=arn%3Aaws%3Achime%3Aus-east-1%3A123456789012%3Aapp-instance%2Fabc-123%2Fuser%2Fuser-1"
    "&X-Amz-Signature=9a857399c9006231162ad618e07f253b3770ddddedd3bcdbd03be76af184ee23"
)
JS_QUERY = urlsplit(JS_URL).query


def verify_connect(
    query: str = JS_QUERY,
    *,
    now: datetime = JS_DATE + timedelta(seconds=2),
    secret: str = SECRET,
    host: str = JS_HOST,
    **kwargs: Any,
) -> sigv4.SignedRequest:
    req = sigv4.parse_presigned_query("GET", "/connect", query, host)
    sigv4.verify(req, secret, now=now, region="us-east-1", **kwargs)
    return req


def test_presign_reproduces_the_js_sdk_url_byte_for_byte() -> None:
    url = sigv4.presign_connect_url(
        host=JS_HOST,
        access_key_id=AKID,
        secret_access_key=SECRET,
        session_token=JS_TOKEN,
        region="us-east-1",
        params=JS_PARAMS,
        now=JS_DATE,
    )
    assert url == JS_URL


def test_js_vector_verifies_and_exposes_the_signed_parameters() -> None:
    req = verify_connect()
    assert (req.access_key_id, req.region, req.service) == (AKID, "us-east-1", "chime")
    assert req.security_token == JS_TOKEN
    assert req.expires == 10 and req.presigned
    assert dict(req.query)["userArn"] == JS_PARAMS["userArn"]
    assert dict(req.query)["sessionId"] == "1234567890"


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(0),
        timedelta(seconds=10),
        timedelta(seconds=10) + sigv4.DEFAULT_MAX_SKEW,  # the last accepted instant
        -sigv4.DEFAULT_MAX_SKEW,  # the client's clock is 15 min ahead of ours
    ],
)
def test_js_vector_verifies_inside_its_window(offset: timedelta) -> None:
    verify_connect(now=JS_DATE + offset)


def test_js_vector_is_refused_after_expiry() -> None:
    with pytest.raises(InvalidSignature) as info:
        verify_connect(now=JS_DATE + timedelta(minutes=15, seconds=11))
    assert info.value.message == (
        "Signature expired: 20261125T094323Z + X-Amz-Expires 10 s = 20261125T094333Z is now "
        "earlier than 20261125T094334Z (20261125T095834Z - 15 min.)"
    )
    # A tighter allowance is the operator's choice.
    with pytest.raises(InvalidSignature, match="Signature expired"):
        verify_connect(now=JS_DATE + timedelta(seconds=41), max_skew=timedelta(seconds=30))


def test_js_vector_is_refused_when_dated_too_far_in_the_future() -> None:
    with pytest.raises(InvalidSignature) as info:
        verify_connect(now=JS_DATE - timedelta(minutes=15, seconds=1))
    assert info.value.message == (
        "Signature not yet current: 20261125T094323Z is still later than 20261125T094322Z "
        "(20261125T092822Z + 15 min.)"
    )


def test_js_vector_is_refused_with_a_wrong_secret() -> None:
    with pytest.raises(InvalidSignature) as info:
        verify_connect(secret=SECRET[:-1] + "X")
    assert info.value.message == sigv4.SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("sessionId=1234567890", "sessionId=1234567891"),
        ("user%2Fuser-1", "user%2Fuser-2"),
        ("X-Amz-Expires=10", "X-Amz-Expires=11"),
        ("prefetch-sort-by=unread", "prefetch-sort-by=last-message-timestamp"),
        ("&prefetch-on=connect", ""),
        ("&sessionId=", "&extra=1&sessionId="),
        ("%2Babc", "%2Babd"),  # the session token
        ("AKIDEXAMPLE%2F", "AKIDEXAMPLF%2F"),
        ("9a857399", "9a857398"),  # the signature itself
    ],
)
def test_js_vector_is_refused_when_tampered(old: str, new: str) -> None:
    assert old in JS_QUERY
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_connect(JS_QUERY.replace(old, new, 1))


def test_js_vector_is_refused_on_another_host_or_path() -> None:
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_connect(host="node002.ue1.ws-messaging.chime.aws")
    req = sigv4.parse_presigned_query("GET", "/connect2", JS_QUERY, JS_HOST)
    with pytest.raises(InvalidSignature, match="does not match"):
        sigv4.verify(req, SECRET, now=JS_DATE, region="us-east-1")


def test_host_case_does_not_matter_because_the_js_sdk_lowercases_it() -> None:
    verify_connect(host=JS_HOST.upper())


def test_unsigned_payload_signature_does_not_verify() -> None:
    # The JS SDK hashes the empty payload; a signer that used UNSIGNED-PAYLOAD must be refused.
    req = sigv4.parse_presigned_query("GET", "/connect", JS_QUERY, JS_HOST)
    assert req.canonical_request.endswith("\n" + sigv4.EMPTY_SHA256)
    unsigned = req.canonical_request.rsplit("\n", 1)[0] + "\nUNSIGNED-PAYLOAD"
    digest = hashlib.sha256(unsigned.encode()).hexdigest()
    sts = f"AWS4-HMAC-SHA256\n{req.amz_date}\n{req.credential_scope}\n{digest}"
    key = sigv4.derive_signing_key(SECRET, req.date, req.region, req.service)
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    assert signature != req.signature
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_connect(JS_QUERY.replace(req.signature, signature))


def js_query(**params: str) -> str:
    """The query of a connect URL presigned as the JS SDK does, at JS_DATE, without a token."""
    url = sigv4.presign_connect_url(
        host=JS_HOST,
        access_key_id=AKID,
        secret_access_key=SECRET,
        session_token=None,
        region="us-east-1",
        params=params,
        now=JS_DATE,
    )
    return urlsplit(url).query


def test_js_encode_uri_component_characters_are_accepted_either_way() -> None:
    # encodeURIComponent leaves ! ' ( ) * alone where SigV4 escapes them; the JS SDK signs them raw.
    query = js_query(sessionId="a(b)*!'c", userArn="arn:aws:chime:us-east-1:1:app-instance/x")
    assert "sessionId=a(b)*!'c" in query
    req = verify_connect(query)
    assert req.js_canonical_request is not None
    assert dict(req.query)["sessionId"] == "a(b)*!'c"
    # A proxy that re-escapes them does not change what was signed.
    verify_connect(query.replace("(", "%28").replace("*", "%2A"))
    # Each alone, raw, escaped and escaped in lower case, gives the second canonical form; a
    # URL without any has only the one (it is not built).
    for session_id in ("s(1)", "s)1", "s!1", "s*1", "s'1"):
        raw = js_query(sessionId=session_id)
        escaped = raw.replace("(", "%28").replace(")", "%29").replace("!", "%21")
        escaped = escaped.replace("*", "%2A").replace("'", "%27")
        for form in (raw, escaped, escaped.replace("%2A", "%2a")):
            assert verify_connect(form).js_canonical_request is not None, form
    assert verify_connect(js_query(sessionId="s-1")).js_canonical_request is None


presign_keys = st.text(max_size=10).filter(lambda k: k not in sigv4._PRESIGN_NAMES)


@settings(max_examples=60, deadline=None)
@given(
    params=st.dictionaries(presign_keys, st.text(max_size=12), max_size=6),
    token=st.none() | st.text(min_size=1, max_size=40),
    host=st.sampled_from(["localhost:8443", "Node001.Example.COM", "[::1]:9000"]),
)
def test_presign_round_trips_through_verify(
    params: dict[str, str], token: str | None, host: str
) -> None:
    url = sigv4.presign_connect_url(
        host=host,
        access_key_id=AKID,
        secret_access_key=SECRET,
        session_token=token,
        region="eu-central-1",
        params=params,
        now=JS_DATE,
        scheme="ws",
    )
    split = urlsplit(url)
    assert url.startswith(f"ws://{host}/connect?")
    req = sigv4.parse_presigned_query("GET", split.path, split.query, host)
    sigv4.verify(req, SECRET, now=JS_DATE, region="eu-central-1")
    assert req.security_token == token
    signed = {k: v for k, v in req.query if k not in sigv4._PRESIGN_NAMES}
    assert signed == params


# --- AWS's published SigV4 test suite --------------------------------------------------------

SUITE = json.loads(
    (Path(__file__).parent / "data" / "sigv4" / "aws4_testsuite.json").read_text("utf-8")
)
SUITE_DATE = utc(SUITE["config"]["amz_date"])


def suite_request(case: dict[str, Any]) -> sigv4.SignedRequest:
    headers = [(name, value) for name, value in case["headers"]]
    headers.append(("Authorization", case["authz"]))
    return sigv4.parse_header_auth(
        case["method"], case["path"], case["query"], headers, case["body"].encode()
    )


# The suite's case of a session token added after signing: AWS documents that some services
# accept the token unsigned; bellwire requires every x-amz-* header signed (every Chime client
# signs the token), so this one is refused.
TOKEN_ADDED_AFTER = "post-sts-header-after"


@pytest.mark.parametrize(
    "case",
    [c for c in SUITE["cases"] if c["name"] != TOKEN_ADDED_AFTER],
    ids=lambda case: case["name"],
)
def test_aws_test_suite(case: dict[str, Any]) -> None:
    req = suite_request(case)
    assert req.canonical_request == case["creq"]
    assert req.string_to_sign == case["sts"]
    # The published signature is in the Authorization header: verify() recomputes it.
    sigv4.verify(req, SECRET, now=SUITE_DATE, region="us-east-1", service="service")
    with pytest.raises(InvalidSignature):
        sigv4.verify(req, SECRET.lower(), now=SUITE_DATE, region="us-east-1", service="service")


def test_suite_session_token_is_exposed() -> None:
    (case,) = [c for c in SUITE["cases"] if c["name"] == "post-sts-header-before"]
    assert suite_request(case).security_token == case["headers"][-1][1]


def test_suite_session_token_added_after_signing_is_refused() -> None:
    (case,) = [c for c in SUITE["cases"] if c["name"] == TOKEN_ADDED_AFTER]
    with pytest.raises(IncompleteSignature, match="x-amz-security-token"):
        suite_request(case)


def test_signing_key_matches_the_aws_documentation_example() -> None:
    # docs.aws.amazon.com "Examples of how to derive a signing key for Signature Version 4".
    key = sigv4.derive_signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    hits = sigv4.derive_signing_key.cache_info().hits
    sigv4.derive_signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert sigv4.derive_signing_key.cache_info().hits == hits + 1


# --- botocore's signer as an oracle ----------------------------------------------------------

ENDPOINT = "https://messaging-chime.us-east-1.amazonaws.com"
NOW = utc("20240101T000000Z")
CHANNEL_ARN = "arn:aws:chime:us-east-1:123456789012:app-instance/abc/channel/ch-1"
BEARER_ARN = "arn:aws:chime:us-east-1:123456789012:app-instance/abc/user/u 1"
STS_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDH+token/with+plus=="


@dataclasses.dataclass(frozen=True)
class Wire:
    """A request as the server sees it on the wire."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def parse(self) -> sigv4.SignedRequest:
        return sigv4.parse_header_auth(
            self.method, self.path, self.query, list(self.headers), self.body
        )

    def verify(
        self, *, now: datetime = NOW, region: str | frozenset[str] = "us-east-1", **kwargs: Any
    ) -> sigv4.SignedRequest:
        req = self.parse()
        sigv4.verify(req, SECRET, now=now, region=region, **kwargs)
        return req

    def with_header(self, name: str, value: str) -> Wire:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return dataclasses.replace(self, headers=(*kept, (name, value)))

    def without_header(self, name: str) -> Wire:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return dataclasses.replace(self, headers=kept)


def botocore_wire(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    token: str | None = None,
    when: datetime = NOW,
    service: str = "chime",
    region: str = "us-east-1",
) -> Wire:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {}, params=params)
    signer = SigV4Auth(Credentials(AKID, SECRET, token), service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        signer.add_auth(request)
    prepared = request.prepare()
    split = urlsplit(prepared.url)
    wire_headers = [(name, str(value)) for name, value in prepared.headers.items()]
    # What the HTTP client and a proxy add after signing: not signed, must not matter.
    wire_headers += [("Host", split.netloc), ("X-Forwarded-For", "10.0.0.1")]
    return Wire(method, split.path, split.query, tuple(wire_headers), prepared.body or b"")


def send_channel_message() -> Wire:
    return botocore_wire(
        "POST",
        f"{ENDPOINT}/channels/{percent_encode(CHANNEL_ARN)}/messages",
        body=json.dumps({"Content": "héllo", "Type": "STANDARD"}).encode(),
        headers={"Content-Type": "application/json", "x-amz-chime-bearer": BEARER_ARN},
        token=STS_TOKEN,
    )


def test_botocore_rest_json_request_with_an_arn_in_the_path() -> None:
    wire = send_channel_message()
    assert "%3A" in wire.path
    req = wire.verify()
    assert "/channels/arn%253Aaws%253Achime%253Aus-east-1" in req.canonical_request
    assert req.security_token == STS_TOKEN
    assert req.signed_headers == (
        "content-type",
        "host",
        "x-amz-chime-bearer",
        "x-amz-date",
        "x-amz-security-token",
    )


def test_botocore_query_with_repeated_keys_spaces_and_unicode() -> None:
    query = percent_encode_sequence(
        [("operation", "search"), ("b", "2"), ("b", "1"), ("sp ace", "x y+z"), ("ሴ", "✓~")]
    )
    wire = botocore_wire("GET", f"{ENDPOINT}/channels?{query}")
    req = wire.verify()
    assert req.query == (
        ("operation", "search"),
        ("b", "2"),
        ("b", "1"),
        ("sp ace", "x y+z"),
        ("ሴ", "✓~"),
    )


def test_botocore_params_are_sent_form_encoded_with_plus_for_space() -> None:
    wire = botocore_wire("GET", f"{ENDPOINT}/channels", params={"max-results": "5", "q": "a b"})
    assert "q=a+b" in wire.query
    assert ("q", "a b") in wire.verify().query


def test_botocore_declared_content_sha256_is_honoured_when_it_matches() -> None:
    body = b'{"Name":"x"}'
    digest = hashlib.sha256(body).hexdigest()
    wire = botocore_wire(
        "POST", f"{ENDPOINT}/channels", body=body, headers={"X-Amz-Content-SHA256": digest}
    )
    assert wire.verify().canonical_request.endswith("\n" + digest)
    with pytest.raises(InvalidSignature) as info:
        dataclasses.replace(wire, body=b'{"Name":"y"}').verify()
    assert info.value.message == (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


def test_botocore_iam_and_sts_scopes() -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    wire = botocore_wire(
        "POST", "https://sts.amazonaws.com/", body=body, headers=headers, service="sts"
    )
    wire.verify(service="sts")
    with pytest.raises(InvalidSignature) as info:
        wire.verify()
    assert info.value.message == "Credential should be scoped to correct service: 'chime'."


def _replace_header(name: str, value: Callable[[str], str]) -> Callable[[Wire], Wire]:
    def tamper(wire: Wire) -> Wire:
        (old,) = [v for k, v in wire.headers if k.lower() == name]
        return wire.with_header(name, value(old))

    return tamper


TAMPERINGS: dict[str, Callable[[Wire], Wire]] = {
    "method": lambda w: dataclasses.replace(w, method="PUT"),
    "path": lambda w: dataclasses.replace(w, path=w.path.replace("ch-1", "ch-2")),
    "path-decoded": lambda w: dataclasses.replace(w, path=w.path.replace("%3A", ":")),
    "query-added": lambda w: dataclasses.replace(w, query="max-results=1"),
    "body": lambda w: dataclasses.replace(w, body=w.body.replace(b"STANDARD", b"CONTROL")),
    "bearer": _replace_header("x-amz-chime-bearer", lambda v: v.replace("u 1", "u 2")),
    "content-type": _replace_header("content-type", lambda v: "text/plain"),
    "host": _replace_header("host", lambda v: "evil.example.com"),
    "token": _replace_header("x-amz-security-token", lambda v: v + "x"),
    "date-same-day": _replace_header("x-amz-date", lambda v: v[:-3] + "01Z"),
    "signature": _replace_header(
        "authorization", lambda v: v[:-1] + ("0" if v[-1] != "0" else "1")
    ),
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_botocore_request_is_refused_when_tampered(tamper: Callable[[Wire], Wire]) -> None:
    wire = send_channel_message()
    wire.verify()
    with pytest.raises(InvalidSignature) as info:
        tamper(wire).verify()
    assert info.value.message == sigv4.SIGNATURE_MISMATCH


def test_botocore_request_missing_a_signed_header_is_refused() -> None:
    with pytest.raises(InvalidSignature) as info:
        send_channel_message().without_header("x-amz-chime-bearer").verify()
    assert info.value.message == (
        "The header 'x-amz-chime-bearer' is listed in SignedHeaders but is not present in the "
        "request."
    )


def test_unsigned_headers_may_be_added_or_removed() -> None:
    wire = send_channel_message()
    wire.with_header("User-Agent", "proxy/1.0").without_header("X-Forwarded-For").verify()
    # x-amzn-* is not x-amz-*: botocore never signs X-Amzn-Trace-Id, a load balancer adds it.
    wire.with_header("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793").verify()


class _SignsOnly(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, told to leave some headers out of the signature: a valid signature
    over a request that carries unsigned x-amz-* headers."""

    def __init__(self, credentials: Credentials, skip: set[str]) -> None:
        super().__init__(credentials, "chime", "us-east-1")
        self._skip = skip

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        for name in self._skip:
            del headers[name]
        return headers


@pytest.mark.parametrize(
    "unsigned", ["x-amz-date", "x-amz-chime-bearer", "x-amz-security-token", "x-amz-anything"]
)
def test_x_amz_headers_sent_but_not_signed_are_refused(unsigned: str) -> None:
    """AWS's rule: x-amz-date and every x-amz-* header sent must be signed; the signature below
    is otherwise valid."""
    url = f"{ENDPOINT}/channels/{percent_encode(CHANNEL_ARN)}"
    headers = {"x-amz-chime-bearer": BEARER_ARN, "x-amz-anything": "1"}
    request = AWSRequest(method="GET", url=url, headers=headers)
    signer = _SignsOnly(Credentials(AKID, SECRET, STS_TOKEN), {unsigned})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        signer.add_auth(request)
    prepared = request.prepare()
    split = urlsplit(prepared.url)
    wire_headers = [(k, str(v)) for k, v in prepared.headers.items()] + [("Host", split.netloc)]
    wire = Wire("GET", split.path, split.query, tuple(wire_headers), b"")
    signed = dict(wire.headers)["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert unsigned not in signed.split(";")
    with pytest.raises(IncompleteSignature) as info:
        wire.verify()
    assert info.value.message == (
        f"There were headers present in the request which were not signed: {unsigned}. "
        "Every x-amz-* header sent must be in SignedHeaders."
    )
    # The same request with every header signed is accepted.
    botocore_wire("GET", url, headers=headers, token=STS_TOKEN).verify()


segments = st.one_of(st.text(max_size=10), st.sampled_from(["", ".", "..", "%", "a+b"]))
query_pairs = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=5)


@settings(max_examples=75, deadline=None)
@given(
    path=st.lists(segments, max_size=5),
    pairs=query_pairs,
    body=st.binary(max_size=64),
    token=st.none() | st.just(STS_TOKEN),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_botocore_oracle_generated_requests(
    path: list[str], pairs: list[tuple[str, str]], body: bytes, token: str | None, method: str
) -> None:
    raw_path = "/" + "/".join(percent_encode(segment) for segment in path)
    query = percent_encode_sequence(pairs)
    url = f"{ENDPOINT}{raw_path}" + (f"?{query}" if query else "")
    wire = botocore_wire(method, url, body=body, token=token, headers={"x-amz-chime-bearer": "b"})
    req = wire.verify()
    assert req.query == tuple(pairs)
    with pytest.raises(InvalidSignature):
        dataclasses.replace(wire, body=body + b"!").verify()
    with pytest.raises(InvalidSignature):
        dataclasses.replace(wire, query=wire.query + "&x=1").verify()


# --- errors and their messages ---------------------------------------------------------------


def test_missing_authentication_token() -> None:
    for query in ("", "max-results=5"):
        with pytest.raises(MissingAuthenticationToken) as info:
            sigv4.parse_header_auth("GET", "/channels", query, [("Host", "h")], b"")
        assert info.value.message == "Missing Authentication Token"
    with pytest.raises(MissingAuthenticationToken):
        sigv4.parse_presigned_query("GET", "/connect", "sessionId=1", JS_HOST)


def test_presigned_parameters_on_a_rest_request_are_refused() -> None:
    with pytest.raises(IncompleteSignature, match="only accepted on the messaging session"):
        sigv4.parse_header_auth("GET", "/channels", JS_QUERY, [("Host", JS_HOST)], b"")


def wire_with_auth(authorization: str | None = None, **headers: str) -> Wire:
    wire = send_channel_message()
    if authorization is not None:
        wire = wire.with_header("Authorization", authorization)
    for name, value in headers.items():
        wire = wire.with_header(name.replace("_", "-"), value)
    return wire


VALID_AUTH = dict(send_channel_message().headers)["Authorization"]
CREDENTIAL = f"Credential={AKID}/20240101/us-east-1/chime/aws4_request"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (
            wire_with_auth("Bearer abc"),
            "Unsupported AWS 'algorithm': 'Bearer'. Only 'AWS4-HMAC-SHA256' is supported.",
        ),
        (
            wire_with_auth(f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host;x-amz-date"),
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            wire_with_auth("AWS4-HMAC-SHA256 Signature=abc"),
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            wire_with_auth(f"{VALID_AUTH}, Signature=abc"),
            "Authorization header has more than one 'Signature' parameter.",
        ),
        (
            wire_with_auth().without_header("X-Amz-Date"),
            "Authorization header requires existence of a 'X-Amz-Date' header.",
        ),
        (
            wire_with_auth(X_Amz_Date="2024-01-01T00:00:00Z"),
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", "
            "got '2024-01-01T00:00:00Z'.",
        ),
        (
            wire_with_auth(X_Amz_Date="20240230T000000Z"),
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", "
            "got '20240230T000000Z'.",
        ),
        (
            wire_with_auth(
                VALID_AUTH.replace("SignedHeaders=content-type;host;", "SignedHeaders=")
            ),
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            wire_with_auth(VALID_AUTH.replace("content-type;host", "Content-Type;host")),
            "SignedHeaders must be a ';'-separated list of lower-case header names, got "
            "'Content-Type;host;x-amz-chime-bearer;x-amz-date;x-amz-security-token'.",
        ),
        (
            wire_with_auth(VALID_AUTH.replace("/us-east-1/chime", "/chime")),
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{AKID}/20240101/chime/aws4_request'.",
        ),
        (
            wire_with_auth(VALID_AUTH.replace("aws4_request", "aws5_request")),
            "Credential should be scoped with a valid terminator: 'aws4_request', not "
            "'aws5_request'.",
        ),
        (
            wire_with_auth(VALID_AUTH.replace(f"{AKID}/", "/")),
            "Credential must name an access key id, a region and a service, got "
            "'/20240101/us-east-1/chime/aws4_request'.",
        ),
        (
            botocore_wire(
                "POST",
                f"{ENDPOINT}/channels",
                body=b"{}",
                headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
            ),
            "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is not accepted: this service requires a "
            "signed payload, the hex SHA-256 of the request body.",
        ),
    ],
)
def test_incomplete_signature(wire: Wire, message: str) -> None:
    with pytest.raises(IncompleteSignature) as info:
        wire.verify()
    assert info.value.message == message
    assert info.value.status == 400


def test_repeated_authorization_or_date_headers_are_refused() -> None:
    wire = send_channel_message()
    auth = dict(wire.headers)["Authorization"]
    doubled = dataclasses.replace(wire, headers=(*wire.headers, ("authorization", auth)))
    with pytest.raises(IncompleteSignature, match="more than one Authorization header"):
        doubled.parse()
    doubled = dataclasses.replace(wire, headers=(*wire.headers, ("X-AMZ-DATE", "20240101T000000Z")))
    with pytest.raises(IncompleteSignature, match="more than one 'x-amz-date' header"):
        doubled.parse()


def test_scope_date_must_match_x_amz_date() -> None:
    wire = wire_with_auth(X_Amz_Date="20240102T000000Z")
    with pytest.raises(InvalidSignature) as info:
        wire.parse()
    assert info.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20240101' != '20240102', from '20240102T000000Z'."
    )


def test_region_must_be_one_this_server_answers_for() -> None:
    wire = send_channel_message()
    wire.verify(region=frozenset({"eu-central-1", "us-east-1"}))
    req = wire.parse()
    with pytest.raises(InvalidSignature) as info:
        sigv4.verify(req, SECRET, now=NOW, region="eu-central-1")
    assert info.value.message == (
        "Credential should be scoped to a valid region, not 'us-east-1'. "
        "This server accepts 'eu-central-1'."
    )
    with pytest.raises(InvalidSignature, match="accepts 'eu-central-1', 'eu-west-1'"):
        sigv4.verify(req, SECRET, now=NOW, region={"eu-west-1", "eu-central-1"})


def test_signature_expired_and_not_yet_current() -> None:
    wire = send_channel_message()
    wire.verify(now=NOW + timedelta(minutes=15))
    wire.verify(now=NOW - timedelta(minutes=15))
    with pytest.raises(InvalidSignature) as info:
        wire.verify(now=utc("20240101T003000Z"))
    assert info.value.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z "
        "(20240101T003000Z - 15 min.)"
    )
    with pytest.raises(InvalidSignature) as info:
        wire.verify(now=utc("20231231T233000Z"))
    assert info.value.message == (
        "Signature not yet current: 20240101T000000Z is still later than 20231231T234500Z "
        "(20231231T233000Z + 15 min.)"
    )
    with pytest.raises(InvalidSignature, match=r"\(20240101T000100Z - 30 s\.\)"):
        wire.verify(now=utc("20240101T000100Z"), max_skew=timedelta(seconds=30))


def test_signature_mismatch_message() -> None:
    req = send_channel_message().parse()
    with pytest.raises(InvalidSignature) as info:
        sigv4.verify(req, "not-the-secret", now=NOW, region="us-east-1")
    assert info.value.message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method."
    )
    assert info.value.status == 403
    non_ascii = dataclasses.replace(req, signature="é" * 64)
    with pytest.raises(InvalidSignature):
        sigv4.verify(non_ascii, SECRET, now=NOW, region="us-east-1")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", "only supports"),
        ("X-Amz-Expires=10", "X-Amz-Expires=0", "got '0'"),
        ("X-Amz-Expires=10", "X-Amz-Expires=604801", "from 1 to 604800"),
        ("X-Amz-Expires=10", "X-Amz-Expires=-5", "got '-5'"),
        ("X-Amz-Expires=10", "X-Amz-Expires=%D9%A1", "whole number"),  # Arabic-Indic digit 1
        ("X-Amz-Expires=10", "X-Amz-Expires=" + "9" * 5000, "whole number"),
        ("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3Bx-a", "must be 'host'"),
        ("X-Amz-Date=20261125T094323Z", "X-Amz-Date=20261125", "ISO8601 Long Format"),
        ("&X-Amz-Date=20261125T094323Z", "", "missing: X-Amz-Date"),
        ("&X-Amz-Expires=10&", "&", "missing: X-Amz-Expires"),
        ("sessionId=", "X-Amz-Date=20261125T094323Z&sessionId=", "more than one 'X-Amz-Date'"),
        ("%2Fus-east-1", "", "exactly 5 slash-delimited elements"),
    ],
)
def test_presigned_form_errors(old: str, new: str, message: str) -> None:
    assert old in JS_QUERY
    with pytest.raises(IncompleteSignature, match=message):
        sigv4.parse_presigned_query("GET", "/connect", JS_QUERY.replace(old, new, 1), JS_HOST)


def test_presigned_url_longer_than_the_server_allows_is_refused() -> None:
    parse = sigv4.parse_presigned_query
    assert parse("GET", "/connect", JS_QUERY, JS_HOST, max_expires=10).expires == 10
    long_query = JS_QUERY.replace("X-Amz-Expires=10", "X-Amz-Expires=100000", 1)
    assert parse("GET", "/connect", long_query, JS_HOST).expires == 100000
    with pytest.raises(IncompleteSignature) as info:
        parse("GET", "/connect", long_query, JS_HOST, max_expires=900)
    assert info.value.message == (
        "X-Amz-Expires 100000 is longer than this server accepts for a presigned URL: "
        "at most 900 seconds."
    )
    with pytest.raises(IncompleteSignature, match="at most 9 seconds"):
        parse("GET", "/connect", JS_QUERY, JS_HOST, max_expires=9)


def test_presigned_url_refuses_x_amz_headers_it_cannot_sign() -> None:
    names = ["Host", "Upgrade", "Sec-WebSocket-Key", "X-Amzn-Trace-Id"]
    sigv4.parse_presigned_query("GET", "/connect", JS_QUERY, JS_HOST, header_names=names)
    for extra in ("X-Amz-Chime-Bearer", "x-amz-date", "X-Amz-Security-Token"):
        with pytest.raises(IncompleteSignature, match=f"not signed: {extra.lower()}"):
            sigv4.parse_presigned_query(
                "GET", "/connect", JS_QUERY, JS_HOST, header_names=[*names, extra]
            )


def test_presigned_scope_errors() -> None:
    with pytest.raises(InvalidSignature, match="Date in Credential scope does not match"):
        sigv4.parse_presigned_query(
            "GET", "/connect", JS_QUERY.replace("%2F20261125%2F", "%2F20261124%2F"), JS_HOST
        )
    with pytest.raises(InvalidSignature, match="correct service: 'iam'"):
        verify_connect(service="iam")
    with pytest.raises(IncompleteSignature, match="no Host header"):
        sigv4.parse_presigned_query("GET", "/connect", JS_QUERY, " ")


def test_programming_errors_are_not_client_errors() -> None:
    req = sigv4.parse_presigned_query("GET", "/connect", JS_QUERY, JS_HOST)
    with pytest.raises(ValueError, match="timezone-aware"):
        sigv4.verify(req, SECRET, now=JS_DATE.replace(tzinfo=None), region="us-east-1")
    common: dict[str, Any] = {
        "host": JS_HOST,
        "access_key_id": AKID,
        "secret_access_key": SECRET,
        "session_token": None,
        "region": "us-east-1",
        "now": JS_DATE,
    }
    with pytest.raises(ValueError, match="reserved"):
        sigv4.presign_connect_url(params={"X-Amz-Security-Token": "t"}, **common)
    with pytest.raises(ValueError, match="expires"):
        sigv4.presign_connect_url(params={}, expires=0, **common)
    with pytest.raises(ValueError, match="timezone-aware"):
        sigv4.presign_connect_url(params={}, **{**common, "now": JS_DATE.replace(tzinfo=None)})
    assert not issubclass(ValueError, AwsError)


def test_scope_service_names_the_signing_service_or_nothing() -> None:
    wire = botocore_wire("POST", "https://iam.amazonaws.com/", body=b"x", service="iam")
    assert sigv4.scope_service(list(wire.headers)) == "iam"
    assert sigv4.scope_service(list(send_channel_message().headers)) == "chime"
    assert sigv4.scope_service([("Host", "h")]) is None
    assert sigv4.scope_service([("Authorization", "Bearer x")]) is None
    assert sigv4.scope_service([("Authorization", "AWS4-HMAC-SHA256 Credential=a/b")]) is None
    twice = [("Authorization", VALID_AUTH), ("authorization", VALID_AUTH)]
    assert sigv4.scope_service(twice) is None


# Query components escaped every way: each byte in upper- and lower-case escapes, what signers
# send, invalid UTF-8, "+", and broken escapes.
COMPONENT_CASES = [f"a%{b:02X}z" for b in range(256)] + [f"a%{b:02x}z" for b in range(256)]
COMPONENT_CASES += [
    "arn%3Aaws%3Achime%3Aus-east-1%3A1%3Aapp-instance%2Fx%2Fuser%2Fu1",
    "AKID%2F20261204%2Fus-east-1%2Fchime%2Faws4_request",
    "%E2%82%AC%C3%A9",
    "%FF%FE",
    "a+b",
    "%",
    "%4",
    "a%zz",
    "%41%7E%2D",
    "a%2Fb%C3%A9c%3A",  # ASCII escapes and a UTF-8 sequence together
    "%3A%3A",
    "%2F",
    "x%7F%00",
    "(x)!*'",
    "%28%29%21%2A%27",
]


def test_query_components_take_the_canonical_form_urllib_gives() -> None:
    """The shortcut for components already in canonical form (unreserved characters and
    upper-case escapes) agrees with decoding and re-encoding, for every byte escaped either way."""
    from urllib.parse import quote, unquote_to_bytes

    from bellwire.aws.sigv4 import _decode_component

    def reference(raw: str) -> tuple[str, str]:
        data = unquote_to_bytes(raw.replace("+", " "))
        return data.decode("utf-8", "replace"), quote(data, safe="-_.~")

    for raw in COMPONENT_CASES:
        assert _decode_component(raw) == reference(raw), raw


def test_the_remembered_date_is_only_ever_the_one_just_parsed() -> None:
    from bellwire.aws.sigv4 import _parse_amz_date

    first = datetime(2026, 12, 4, 20, 0, 1, tzinfo=UTC)
    second = datetime(2026, 12, 4, 20, 0, 2, tzinfo=UTC)
    for _ in range(2):
        assert _parse_amz_date("20261204T200001Z") == first
        assert _parse_amz_date("20261204T200001Z") == first
        assert _parse_amz_date("20261204T200002Z") == second
    assert _parse_amz_date("20261204T200002Z") == second
    with pytest.raises(IncompleteSignature, match="ISO8601"):
        _parse_amz_date("20261204T200002")
    with pytest.raises(IncompleteSignature, match="ISO8601"):
        _parse_amz_date("20261304T200002Z")  # month 13, after a valid one
    assert _parse_amz_date("20261204T200002Z") == second


def test_a_canonical_query_splits_as_its_components_do_one_by_one() -> None:
    """The one-pass check of a whole query gives what decoding each component gives."""
    from bellwire.aws.sigv4 import _split_query, _split_query_by_component

    connect = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261204%2Fus-east-1%2Fchime"
        "%2Faws4_request&X-Amz-Date=20261204T120000Z&userArn=arn%3Aaws%3Achime%3Aus-east-1%3A1"
        "%3Aapp-instance%2Fx%2Fuser%2Fu%C3%A9&sessionId=abc"
    )
    # Every component case as a value and as a key, then what only a whole query has: several
    # parameters, a second "=" (the value's, escaped in its canonical form), empty parts.
    cases = [f"k={c}" for c in COMPONENT_CASES] + [f"{c}=v" for c in COMPONENT_CASES]
    cases += ["", connect, "a=b=c&d==", "flag&=v&k=&&", "a=%FF%FE&b=%E2%82%AC&c=%41"]
    for raw_query in cases:
        assert _split_query(raw_query) == _split_query_by_component(raw_query), raw_query


def test_the_canonical_path_shortcut_agrees_with_quote_for_every_character() -> None:
    """A path of unreserved characters, slashes and escapes skips quote(); any other character
    takes it. Both must give what botocore's quote(path, safe="/~") gives."""
    from urllib.parse import quote

    from bellwire.aws.sigv4 import _canonical_uri

    cases = [f"/a{chr(c)}b/c" for c in range(1, 0x250)]
    cases += [f"/channels/a%{b:02X}z/messages" for b in range(256)]
    cases += [
        "/channels/arn%3Aaws%3Achime%3Aus-east-1%3A1%3Aapp-instance%2Fx%2Fchannel%2Fc/messages",
        "/app-instances/arn%3Aaws%3Achime%3Aus-east-1%3A1%3Aapp-instance%2Fx",
        "/%E2%82%AC/%",
        "/~user/",
        "/a b/",
    ]
    for raw in cases:
        assert _canonical_uri(raw) == quote(raw, safe="/~"), raw
