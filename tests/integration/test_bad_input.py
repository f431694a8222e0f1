"""The bad-input corpus: raw, correctly signed HTTP requests whose bytes we control.

Every case asserts the status, the ``x-amzn-ErrorType`` header, a readable ``Message`` and that
no table of the store changed: a refused request must leave no trace.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bellwire.testing import RunningServer


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # {app}, {channel}, {alice}: percent-encoded ARNs; {app_raw}, {alice_raw}: raw
    body: bytes | str = b""
    bearer: bool = True
    status: int = 400
    error: str = "BadRequestException"
    says: str = ""  # a fragment the message must contain (case-insensitive)


def _send_body(**overrides: Any) -> str:
    body: dict[str, Any] = {
        "Content": "hi",
        "Type": "STANDARD",
        "Persistence": "PERSISTENT",
        "ClientRequestToken": "token-0001",
    }
    body.update(overrides)
    return json.dumps(body)


MESSAGES = "/channels/{channel}/messages"
CASES = [
    # --- the body is not JSON, or not an object
    Case("malformed-json", "POST", MESSAGES, '{"Content": "hi", ', says="JSON"),
    Case("not-utf8", "POST", MESSAGES, b'{"Content": "\xff\xfe"}'),
    Case("json-array", "POST", MESSAGES, "[1, 2, 3]", says="JSON object"),
    Case("json-string", "POST", MESSAGES, '"hello"', says="JSON object"),
    Case("json-null", "POST", MESSAGES, "null", says="JSON object"),
    Case("json-nan", "POST", MESSAGES, '{"Content": NaN}'),
    Case("empty-body", "POST", MESSAGES, b"", says="Content"),
    # --- members of the wrong type
    Case("content-number", "POST", MESSAGES, _send_body(Content=42), says="Content"),
    Case("content-object", "POST", MESSAGES, _send_body(Content={"a": 1}), says="Content"),
    Case(
        "attributes-not-a-map",
        "POST",
        MESSAGES,
        _send_body(MessageAttributes=["a"]),
        says="MessageAttributes",
    ),
    Case(
        "string-values-not-a-list",
        "POST",
        MESSAGES,
        _send_body(MessageAttributes={"a": {"StringValues": "x"}}),
        says="StringValues",
    ),
    Case(
        "retention-days-string",
        "PUT",
        "/app-instances/{app}/retention-settings",
        json.dumps(
            {"AppInstanceRetentionSettings": {"ChannelRetentionSettings": {"RetentionDays": "7"}}}
        ),
        bearer=False,
        says="RetentionDays",
    ),
    Case(
        "retention-days-bool",
        "PUT",
        "/app-instances/{app}/retention-settings",
        json.dumps(
            {"AppInstanceRetentionSettings": {"ChannelRetentionSettings": {"RetentionDays": True}}}
        ),
        bearer=False,
        says="RetentionDays",
    ),
    # --- required members missing
    Case("missing-content", "POST", MESSAGES, _send_body(Content=None), says="Content"),
    Case(
        "missing-name",
        "POST",
        "/app-instances",
        json.dumps({"ClientRequestToken": "token-0002"}),
        bearer=False,
        says="Name",
    ),
    Case(
        "missing-member-arn",
        "POST",
        "/channels/{channel}/memberships",
        json.dumps({"Type": "DEFAULT"}),
        says="MemberArn",
    ),
    Case("missing-bearer", "GET", "/channels/{channel}", bearer=False, says="bearer"),
    Case(
        "missing-app-instance-arn-query",
        "GET",
        "/app-instance-users",
        bearer=False,
        says="app-instance-arn",
    ),
    # --- enum, pattern, length and range violations
    Case("bad-enum-type", "POST", MESSAGES, _send_body(Type="SHOUT"), says="Type"),
    Case(
        "bad-enum-persistence",
        "POST",
        MESSAGES,
        _send_body(Persistence="FOREVER"),
        says="Persistence",
    ),
    Case("empty-content", "POST", MESSAGES, _send_body(Content=""), says="Content"),
    Case("metadata-too-long", "POST", MESSAGES, _send_body(Metadata="m" * 1025), says="Metadata"),
    Case(
        "token-bad-pattern",
        "POST",
        MESSAGES,
        _send_body(ClientRequestToken="has spaces!"),
        says="ClientRequestToken",
    ),
    Case(
        "user-id-bad-pattern",
        "POST",
        "/app-instance-users",
        json.dumps(
            {
                "AppInstanceArn": "{app_raw}",
                "AppInstanceUserId": "-starts with a dash",
                "Name": "x",
                "ClientRequestToken": "token-0003",
            }
        ),
        bearer=False,
        says="AppInstanceUserId",
    ),
    Case(
        "name-too-long",
        "POST",
        "/app-instances",
        json.dumps({"Name": "n" * 257, "ClientRequestToken": "token-0004"}),
        bearer=False,
        says="Name",
    ),
    Case(
        "retention-days-out-of-range",
        "PUT",
        "/app-instances/{app}/retention-settings",
        json.dumps(
            {"AppInstanceRetentionSettings": {"ChannelRetentionSettings": {"RetentionDays": 0}}}
        ),
        bearer=False,
        says="RetentionDays",
    ),
    Case(
        "too-many-members",
        "POST",
        "/channels/{channel}/memberships?operation=batch-create",
        json.dumps({"MemberArns": ["{alice_raw}"] * 101}),
        says="MemberArns",
    ),
    Case("max-results-zero", "GET", MESSAGES + "?max-results=0", says="max-results"),
    Case("max-results-51", "GET", MESSAGES + "?max-results=51", says="max-results"),
    Case("max-results-text", "GET", MESSAGES + "?max-results=ten", says="max-results"),
    Case("sort-order-bad", "GET", MESSAGES + "?sort-order=SIDEWAYS", says="sort-order"),
    Case("membership-type-bad", "GET", "/channels/{channel}/memberships?type=SECRET", says="type"),
    # --- bad NextToken and timestamps in the query
    Case("next-token-garbage", "GET", MESSAGES + "?next-token=%25%25%25not-ours", says="NextToken"),
    Case(
        "next-token-wrong-kind",
        "GET",
        MESSAGES + "?next-token=ImFybiI",  # base64url of '"arn"': a string, not a sequence number
        says="NextToken",
    ),
    # Forged tokens that decode to values the database cannot bind (were 500s).
    Case(
        "next-token-huge-int",
        "GET",
        MESSAGES + "?next-token=MTExMTExMTExMTExMTExMTExMTExMTExMTExMTEx",  # 10**30 / 9
        says="NextToken",
    ),
    Case(
        "next-token-huge-negative-int",
        "GET",
        MESSAGES + "?next-token=LTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk",
        says="NextToken",
    ),
    Case(
        "next-token-lone-surrogate",
        "GET",
        "/channels/{channel}/memberships?next-token=Ilx1ZDgwMCI",  # '"\\ud800"'
        says="NextToken",
    ),
    Case(
        "next-token-too-long",
        "GET",
        "/channels/{channel}/memberships?next-token=" + "A" * 2049,
        says="next-token",
    ),
    Case("not-before-garbage", "GET", MESSAGES + "?not-before=yesterday", says="not-before"),
    Case(
        "not-after-bad-date",
        "GET",
        MESSAGES + "?not-after=2024-02-30T00%3A00%3A00Z",
        says="not-after",
    ),
    Case("not-before-epoch", "GET", MESSAGES + "?not-before=1700000000", says="not-before"),
    # --- malformed ARNs in paths
    Case("channel-arn-garbage", "GET", "/channels/not-an-arn", says="ChannelArn"),
    Case("channel-arn-bad-escape", "GET", "/channels/arn%3Aaws%ZZ", says="ChannelArn"),
    Case(
        "channel-arn-not-a-channel",
        "GET",
        "/channels/arn%3Aaws%3Achime%3Aus-east-1%3A123456789012%3Anot-a-channel",
        status=404,
        error="NotFoundException",
        says="does not exist",
    ),
    Case(
        "app-instance-arn-query-garbage",
        "GET",
        "/app-instance-users?app-instance-arn=garbage",
        bearer=False,
        says="AppInstanceArn",
    ),
    Case(
        "user-arn-short",
        "GET",
        "/app-instance-users/arn",
        bearer=False,
        says="AppInstanceUserArn",
    ),
    # --- unknown paths and wrong methods
    Case("unknown-path", "GET", "/no/such/thing", status=404, error="UnknownOperationException"),
    Case(
        "unknown-nested-path",
        "GET",
        "/channels/{channel}/nope",
        status=404,
        error="UnknownOperationException",
    ),
    Case("root-path", "GET", "/", status=404, error="UnknownOperationException"),
    Case(
        "wrong-method-channels",
        "PATCH",
        "/channels/{channel}",
        status=405,
        error="MethodNotAllowedException",
    ),
    Case(
        "wrong-method-messages",
        "DELETE",
        MESSAGES,
        status=405,
        error="MethodNotAllowedException",
    ),
    Case(
        "wrong-method-app-instances",
        "PUT",
        "/app-instances",
        bearer=False,
        status=405,
        error="MethodNotAllowedException",
    ),
]


@pytest.fixture(scope="module")
def target(server: RunningServer) -> dict[str, str]:
    """An app instance with alice and a channel, made once for the module."""
    identity = server.client("chime-sdk-identity")
    messaging = server.client("chime-sdk-messaging")
    app = identity.create_app_instance(Name="bad-input")["AppInstanceArn"]
    alice = identity.create_app_instance_user(
        AppInstanceArn=app, AppInstanceUserId="alice", Name="Alice"
    )["AppInstanceUserArn"]
    channel = messaging.create_channel(AppInstanceArn=app, Name="c", ChimeBearer=alice)[
        "ChannelArn"
    ]
    messaging.send_channel_message(
        ChannelArn=channel,
        Content="x",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=alice,
    )
    return {"app": app, "alice": alice, "channel": channel}


def _fill(template: str, target: dict[str, str], arn_path: Callable[[str], str]) -> str:
    return (
        template.replace("{app_raw}", target["app"])
        .replace("{alice_raw}", target["alice"])
        .replace("{app}", arn_path(target["app"]))
        .replace("{alice}", arn_path(target["alice"]))
        .replace("{channel}", arn_path(target["channel"]))
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_without_a_trace(
    case: Case,
    target: dict[str, str],
    raw: Any,
    unchanged: Any,
    arn_path: Callable[[str], str],
) -> None:
    path = _fill(case.path, target, arn_path)
    body = (
        case.body if isinstance(case.body, bytes) else _fill(case.body, target, arn_path).encode()
    )
    headers = {"x-amz-chime-bearer": target["alice"]} if case.bearer else {}
    with unchanged():
        response = raw(case.method, path, body, headers=headers)
    assert response.status == case.status, (response.status, response.body)
    assert response.error_type == case.error, response.headers
    assert response.headers.get("x-amzn-requestid")
    document = response.json()
    assert isinstance(document, dict)
    assert case.says.lower() in response.message.lower(), response.message
    if case.error.endswith("Exception") and case.status < 500:
        assert document.get("Code"), document
    if case.status == 405:
        assert response.headers.get("allow")


def test_error_body_carries_code_and_message(
    target: dict[str, str], raw: Any, arn_path: Any
) -> None:
    """The modeled error body: {"Code": <ErrorCode>, "Message": ...} and the header."""
    response = raw(
        "GET",
        "/channels/" + arn_path(target["channel"] + "-missing"),
        headers={"x-amz-chime-bearer": target["alice"]},
    )
    assert response.status == 404
    assert response.error_type == "NotFoundException"
    document = response.json()
    assert document["Code"] == "NotFound"
    assert "does not exist" in document["Message"]
    assert response.headers["content-type"].startswith("application/json")


def test_oversized_body_is_refused(
    server: RunningServer, target: dict[str, str], raw: Any, unchanged: Any, arn_path: Any
) -> None:
    limit = server.settings.max_body_bytes
    assert limit == 1 << 20
    body = json.dumps(
        {"Content": "x" * (limit + 10), "Type": "STANDARD", "Persistence": "PERSISTENT"}
    ).encode()
    with unchanged():
        response = raw(
            "POST",
            f"/channels/{arn_path(target['channel'])}/messages",
            body,
            headers={"x-amz-chime-bearer": target["alice"]},
        )
    assert 400 <= response.status < 500, (response.status, response.body[:200])
    assert response.error_type is not None
    assert "limit" in response.message.lower() or "large" in response.message.lower()


def test_body_just_under_the_cap_is_parsed(
    target: dict[str, str], raw: Any, unchanged: Any, arn_path: Any
) -> None:
    """Near 1 MiB is read and validated (then refused by the 4 KB content rule, not a 500)."""
    body = json.dumps(
        {"Content": "x" * 1_000_000, "Type": "STANDARD", "Persistence": "PERSISTENT"}
    ).encode()
    with unchanged():
        response = raw(
            "POST",
            f"/channels/{arn_path(target['channel'])}/messages",
            body,
            headers={"x-amz-chime-bearer": target["alice"]},
        )
    assert response.status == 400
    assert response.error_type == "BadRequestException"
    assert "4096" in response.message


def test_lying_content_length_is_refused(
    server: RunningServer,
    target: dict[str, str],
    signer: Any,
    unsigned: Any,
    unchanged: Any,
    arn_path: Any,
) -> None:
    """A Content-Length beyond the cap is refused before the body is read."""
    path = f"/channels/{arn_path(target['channel'])}/messages"
    body = b'{"Content": "hi", "Type": "STANDARD", "Persistence": "PERSISTENT"}'
    headers = signer("POST", path, body, headers={"x-amz-chime-bearer": target["alice"]})
    headers["Content-Length"] = str(server.settings.max_body_bytes + 1)
    with unchanged():
        response = unsigned("POST", path, body, headers)
    assert 400 <= response.status < 500
    assert response.error_type is not None


# --- Content-Encoding ------------------------------------------------------------------------


def _gzip_headers(alice: str) -> dict[str, str]:
    return {"x-amz-chime-bearer": alice, "Content-Encoding": "gzip"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"Content": "hi", "Type": "STANDARD", "Persistence": "PERSISTENT"}',  # not gzip at all
        b"\x1f\x8b\x08\x00garbage",  # a gzip magic, then garbage
        gzip.compress(b'{"Content": "hi"}')[:-4],  # truncated
    ],
    ids=["plain-json", "bad-deflate", "truncated"],
)
def test_body_labelled_gzip_that_is_not_gzip_is_a_bad_request(
    target: dict[str, str], raw: Any, unchanged: Any, arn_path: Any, body: bytes
) -> None:
    """Was a 500: the decoding error escaped the body reader."""
    with unchanged():
        response = raw(
            "POST",
            f"/channels/{arn_path(target['channel'])}/messages",
            body,
            headers=_gzip_headers(target["alice"]),
        )
    assert response.status == 400, (response.status, response.body)
    assert response.error_type == "BadRequestException"
    assert "gzip" in response.message


def test_gzipped_body_signed_as_sent_is_accepted(
    target: dict[str, str], raw: Any, arn_path: Any, messaging: Any
) -> None:
    """SigV4's payload hash is over the bytes as sent (what botocore signs when it compresses);
    it used to be computed over the decompressed body, so this was a 403."""
    document = {"Content": "compressed hello", "Type": "STANDARD", "Persistence": "PERSISTENT"}
    response = raw(
        "POST",
        f"/channels/{arn_path(target['channel'])}/messages",
        gzip.compress(json.dumps(document).encode()),
        headers=_gzip_headers(target["alice"]),
    )
    assert response.status == 201, (response.status, response.body)
    message = messaging.get_channel_message(
        ChannelArn=target["channel"],
        MessageId=response.json()["MessageId"],
        ChimeBearer=target["alice"],
    )["ChannelMessage"]
    assert message["Content"] == "compressed hello"


def test_gzip_bomb_stops_at_the_body_limit(
    server: RunningServer, target: dict[str, str], raw: Any, unchanged: Any, arn_path: Any
) -> None:
    limit = server.settings.max_body_bytes
    inflated = b'{"Content": "' + b"x" * (limit * 8) + b'"}'
    bomb = gzip.compress(inflated)
    assert len(bomb) < limit // 10
    with unchanged():
        response = raw(
            "POST",
            f"/channels/{arn_path(target['channel'])}/messages",
            bomb,
            headers=_gzip_headers(target["alice"]),
        )
    assert response.status == 400, (response.status, response.body)
    assert response.error_type == "BadRequestException"
    assert "once decompressed" in response.message


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, gzip", "compress"])
def test_other_content_encodings_are_refused(
    target: dict[str, str], raw: Any, unchanged: Any, arn_path: Any, encoding: str
) -> None:
    with unchanged():
        response = raw(
            "POST",
            f"/channels/{arn_path(target['channel'])}/messages",
            _send_body(),
            headers={"x-amz-chime-bearer": target["alice"], "Content-Encoding": encoding},
        )
    assert response.status == 400, (response.status, response.body)
    assert response.error_type == "BadRequestException"
    assert "Content-Encoding" in response.message


def test_query_protocol_bad_gzip_is_a_validation_error(raw: Any, unchanged: Any) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
    with unchanged():
        response = raw(
            "POST", "/", b"Action=CreateUser&Version=2010-05-08&UserName=x", headers=form,
            service="iam", region="us-east-1",
        )  # fmt: skip
    assert response.status == 400, (response.status, response.body)
    assert b"<Code>ValidationError</Code>" in response.body
    assert b"gzip" in response.body
    ok = raw(
        "POST", "/", gzip.compress(b"Action=GetCallerIdentity&Version=2011-06-15"), headers=form,
        service="sts", region="us-east-1",
    )  # fmt: skip
    assert ok.status == 200, ok.body
    assert b"<GetCallerIdentityResult>" in ok.body


# --- nesting, selectors ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1000, 10_000])
def test_deeply_nested_json_on_the_admin_endpoint_is_a_bad_request(
    raw: Any, target: dict[str, str], depth: int
) -> None:
    """Was a 500: RecursionError escaped json.loads."""
    body = b'{"UserArn": ' + b"[" * depth + b"]" * depth + b"}"
    response = raw("POST", "/admin/sessions/close", body)
    assert response.status == 400, (response.status, response.body[:200])
    assert response.error_type == "BadRequestException"


def test_deeply_nested_next_token_is_a_bad_request(
    target: dict[str, str], raw: Any, arn_path: Any
) -> None:
    """A forged NextToken that decodes to JSON nested past the recursion limit."""
    token = base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("=")
    response = raw(
        "GET",
        f"/channels/{arn_path(target['channel'])}/messages?next-token={token}",
        headers={"x-amz-chime-bearer": target["alice"]},
    )
    assert response.status == 400, (response.status, response.body[:200])
    assert "NextToken" in response.message


@pytest.mark.parametrize(
    "query",
    [
        "operation=redact&operation=bogus",
        "operation=bogus&operation=redact",
        "operation=redact&operation=redact",
        "operation=redact&scope=message-status",
    ],
)
def test_conflicting_selectors_do_not_run_the_operation(
    target: dict[str, str], raw: Any, unchanged: Any, arn_path: Any, messaging: Any, query: str
) -> None:
    """Was a 200 that redacted the message."""
    message_id = messaging.send_channel_message(
        ChannelArn=target["channel"],
        Content="keep me",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=target["alice"],
    )["MessageId"]
    with unchanged():
        response = raw(
            "POST",
            f"/channels/{arn_path(target['channel'])}/messages/{message_id}?{query}",
            headers={"x-amz-chime-bearer": target["alice"]},
        )
    assert response.status == 400, (response.status, response.body)
    assert response.error_type == "BadRequestException"
    kept = messaging.get_channel_message(
        ChannelArn=target["channel"], MessageId=message_id, ChimeBearer=target["alice"]
    )["ChannelMessage"]
    assert kept["Content"] == "keep me" and not kept.get("Redacted")


def test_query_protocol_body_over_the_cap_is_an_xml_error(
    server: RunningServer, raw: Any, unchanged: Any
) -> None:
    """An IAM client reads XML errors, even for a body refused before it is parsed (this was a
    Chime JSON error)."""
    body = b"Action=CreateUser&Version=2010-05-08&UserName=x&Pad=" + b"x" * (
        server.settings.max_body_bytes
    )
    with unchanged():
        response = raw(
            "POST", "/", body, headers={"Content-Type": "application/x-www-form-urlencoded"},
            service="iam", region="us-east-1",
        )  # fmt: skip
    assert response.status == 400, (response.status, response.body[:200])
    assert b"<Code>ValidationError</Code>" in response.body
    assert b"limit" in response.body
