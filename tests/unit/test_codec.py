"""The rest-json codec against botocore as the oracle: botocore serializes what bellwire parses,
and parses what bellwire serializes, for every operation of both Chime SDK services."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from _codec_shapes import WHEN, fill, strategy
from botocore import xform_name
from botocore.awsrequest import AWSResponse, prepare_request_dict
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bellwire.aws import errors
from bellwire.aws.codec import (
    Match,
    MethodNotAllowed,
    Operation,
    Router,
    UnknownOperation,
    default_router,
    parse_request,
    serialize_error,
    serialize_response,
)
from bellwire.aws.errors import AwsError, BadRequest
from bellwire.aws.model import IDENTITY, MESSAGING, load_service_model

ROUTER = default_router()
ALL_OPS: list[Any] = [
    load_service_model(service).operation_model(name)
    for service in (MESSAGING, IDENTITY)
    for name in load_service_model(service).operation_names
]
OP_IDS = [f"{op.service_model.service_name[10:]}.{op.name}" for op in ALL_OPS]
TAG_OPS = ("TagResource", "UntagResource", "ListTagsForResource")

CHANNEL = "arn:aws:chime:us-east-1:123456789012:app-instance/abc/channel/ch-1"
USER = "arn:aws:chime:us-east-1:123456789012:app-instance/abc/user/u-1"
ENC_CHANNEL = "arn%3Aaws%3Achime%3Aus-east-1%3A123456789012%3Aapp-instance%2Fabc%2Fchannel%2Fch-1"


def expected_operation(op_model: Any) -> Operation:
    # Identity's /tags operations are answered by messaging's identical ones (see test below).
    return ROUTER.operations[op_model.name]


def route(method: str, path: str, query: str = "") -> Match:
    return ROUTER.match(method, path, query)


def parse(
    op_name: str, path: str, query: str = "", body: bytes = b"", method: str | None = None
) -> dict[str, Any]:
    op = ROUTER.operations[op_name]
    match = ROUTER.match(method or op.method, path, query)
    assert match.operation.name == op_name
    return parse_request(match, query, {"x-amz-chime-bearer": USER}, body)


def bad_request(op_name: str, path: str, query: str = "", body: bytes = b"") -> str:
    with pytest.raises(BadRequest) as info:
        parse(op_name, path, query, body)
    return info.value.message


# --- botocore clients whose HTTP layer is a capture hook -------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Wire:
    """A boto3 client whose requests are captured and answered with a canned response."""

    def __init__(self, service: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
        )
        self.client = session.client(
            service,
            endpoint_url="http://localhost:8080",
            config=Config(retries={"total_max_attempts": 1}),
        )
        self.requests: list[Any] = []
        self.reply: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
        self.client.meta.events.register("before-send", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(request)
        status, headers, body = self.reply
        return AWSResponse(request.url, status, headers, _Raw(body))

    def call(self, op_name: str, params: dict[str, Any]) -> Any:
        return getattr(self.client, xform_name(op_name))(**params)


@pytest.fixture(scope="module")
def wires() -> dict[str, Wire]:
    return {MESSAGING: Wire(MESSAGING), IDENTITY: Wire(IDENTITY)}


# --- every operation: botocore's request -> Router + parse_request -> the same input ----------


@pytest.mark.parametrize("minimal", [False, True], ids=["all-members", "required-only"])
@pytest.mark.parametrize("op_model", ALL_OPS, ids=OP_IDS)
def test_request_round_trip(op_model: Any, minimal: bool, wires: dict[str, Wire]) -> None:
    wire = wires[op_model.service_model.service_name]
    params = fill(op_model.input_shape, minimal=minimal)
    wire.call(op_model.name, params)
    request = wire.requests[-1]
    url = urlsplit(request.url)
    body = request.body or b""

    match = ROUTER.match(request.method, url.path, url.query)
    assert match.operation == expected_operation(op_model)
    # As on the wire: the HTTP shell hands over str values (botocore keeps some as bytes).
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    parsed = parse_request(match, url.query, headers, body)

    expected = dict(params)
    for name in op_model.idempotent_members:
        if name not in expected:  # botocore filled it in; it travelled in the JSON body
            expected[name] = json.loads(body)[name]
    assert parsed == expected


def test_round_trip_covers_escaping(wires: dict[str, Wire]) -> None:
    wire = wires[MESSAGING]
    wire.call(
        "ListChannelMessages",
        {"ChannelArn": CHANNEL, "ChimeBearer": USER, "NextToken": "a+b c&d=e/%", "NotAfter": WHEN},
    )
    url = urlsplit(wire.requests[-1].url)
    assert url.path == f"/channels/{ENC_CHANNEL}/messages"
    assert "next-token=a%2Bb%20c%26d%3De%2F%25" in url.query
    match = ROUTER.match("GET", url.path, url.query)
    parsed = parse_request(match, url.query, {"x-amz-chime-bearer": USER}, b"")
    assert parsed["NextToken"] == "a+b c&d=e/%"
    assert parsed["NotAfter"] == WHEN


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
@pytest.mark.parametrize("op_model", ALL_OPS, ids=OP_IDS)
def test_request_round_trip_random(op_model: Any, data: st.DataObject) -> None:
    params = data.draw(strategy(op_model.input_shape), label="params")
    request = create_serializer("rest-json").serialize_to_request(params, op_model)
    prepare_request_dict(request, endpoint_url="http://localhost")
    url = urlsplit(request["url"])

    match = ROUTER.match(request["method"], url.path, url.query)
    assert match.operation == expected_operation(op_model)
    parsed = parse_request(match, url.query, request["headers"], request["body"] or b"")

    for name in op_model.idempotent_members:
        if name not in params:
            assert uuid.UUID(parsed.pop(name)).version == 4
    assert parsed == params


# --- every operation: serialize_response -> botocore's parser -> the same output -------------


def botocore_parse(op_model: Any, status: int, headers: dict[str, str], body: bytes) -> Any:
    parsed = create_parser("rest-json").parse(
        {"status_code": status, "headers": headers, "body": body}, op_model.output_shape
    )
    parsed.pop("ResponseMetadata")
    return parsed


@pytest.mark.parametrize("op_model", ALL_OPS, ids=OP_IDS)
def test_response_round_trip(op_model: Any) -> None:
    output = fill(op_model.output_shape) if op_model.output_shape is not None else {}
    status, headers, body = serialize_response(expected_operation(op_model), output)

    assert status == op_model.http.get("responseCode", 200)
    if status == 204:
        assert (headers, body) == ({}, b"")
    else:
        assert headers == {"Content-Type": "application/json"}
        assert isinstance(json.loads(body), dict)
    assert botocore_parse(op_model, status, headers, body) == output


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize(
    "op_model", [op for op in ALL_OPS if op.output_shape is not None], ids=lambda op: op.name
)
def test_response_round_trip_random(op_model: Any, data: st.DataObject) -> None:
    output = data.draw(strategy(op_model.output_shape), label="output")
    status, headers, body = serialize_response(expected_operation(op_model), output)
    assert botocore_parse(op_model, status, headers, body) == output


def test_status_codes_follow_the_model() -> None:
    statuses = {name: op.status for name, op in ROUTER.operations.items()}
    assert statuses["CreateChannel"] == statuses["SendChannelMessage"] == 201
    assert statuses["DeleteChannel"] == statuses["TagResource"] == 204
    assert statuses["DescribeAppInstance"] == statuses["AssociateChannelFlow"] == 200
    # AssociateChannelFlow has no output shape but answers 200: an empty JSON object.
    assert serialize_response(ROUTER.operations["AssociateChannelFlow"], {"X": 1})[2] == b"{}"


def test_response_drops_unknown_and_none_members_and_writes_epoch_numbers() -> None:
    op = ROUTER.operations["DescribeChannel"]
    output = {
        "Channel": {
            "Name": "n",
            "ChannelArn": CHANNEL,
            "Metadata": None,
            "CreatedTimestamp": WHEN,
            "LastMessageTimestamp": 1704164645.5,
            "LastUpdatedTimestamp": datetime(2024, 1, 2, 3, 4, 5),  # naive: taken as UTC
            "CreatedBy": {"Arn": USER, "Name": "u", "PasswordHash": "leak"},
            "InternalRowId": 42,
        },
        "Secret": "leak",
    }
    status, _, body = serialize_response(op, output)
    doc = json.loads(body)
    assert status == 200
    assert doc == {
        "Channel": {
            "Name": "n",
            "ChannelArn": CHANNEL,
            "CreatedTimestamp": WHEN.timestamp(),
            "LastMessageTimestamp": 1704164645.5,
            "LastUpdatedTimestamp": 1704164645,
            "CreatedBy": {"Arn": USER, "Name": "u"},
        }
    }
    # Numbers, never strings: JS v3's parseEpochTimestamp rejects ISO strings.
    assert b'"LastUpdatedTimestamp":1704164645' in body
    parsed = botocore_parse(op.model, status, {}, body)
    assert parsed["Channel"]["LastMessageTimestamp"] == datetime(
        2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC
    )


def test_response_keeps_non_ascii_text_and_survives_a_stray_surrogate() -> None:
    op = ROUTER.operations["CreateChannelFlow"]
    body = serialize_response(op, {"ChannelFlowArn": "arn:aws:chime:::x/é🎉\ud800"})[2]
    assert json.loads(body) == {"ChannelFlowArn": "arn:aws:chime:::x/é🎉?"}


# --- errors: what boto3 raises for serialize_error's output ----------------------------------

MODELED = [
    errors.BadRequest,
    errors.ResourceLimitExceeded,
    errors.UnauthorizedClient,
    errors.Forbidden,
    errors.NotFound,
    errors.Conflict,
    errors.ThrottledClient,
    errors.ServiceFailure,
    errors.ServiceUnavailable,
]
UNMODELED = [
    errors.InvalidSignature,
    errors.AccessDenied,
    errors.UnrecognizedClient,
    errors.MissingAuthenticationToken,
    errors.IncompleteSignature,
    errors.ExpiredToken,
]


def test_serialize_error_wire_format() -> None:
    status, headers, body = serialize_error(BadRequest("nope"), "req-1")
    assert status == 400
    assert headers == {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "BadRequestException",
        "x-amzn-RequestId": "req-1",
    }
    assert json.loads(body) == {"Code": "BadRequest", "Message": "nope"}


@pytest.mark.parametrize("service", [MESSAGING, IDENTITY])
@pytest.mark.parametrize("error", MODELED, ids=lambda e: e.__name__)
def test_modeled_errors_become_modeled_exceptions(
    error: type[AwsError], service: str, wires: dict[str, Wire]
) -> None:
    wire = wires[service]
    wire.reply = serialize_error(error("it went wrong: ü"), "req-42")
    op = "ListChannelFlows" if service == MESSAGING else "ListAppInstances"
    params = {"AppInstanceArn": CHANNEL} if service == MESSAGING else {}
    with pytest.raises(getattr(wire.client.exceptions, error.shape)) as info:
        wire.call(op, params)
    response = info.value.response
    assert response["Error"] == {"Code": error.shape, "Message": "it went wrong: ü"}
    assert response["Code"] == error.code  # the modeled member of the exception shape
    assert response["ResponseMetadata"]["RequestId"] == "req-42"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == error.status


@pytest.mark.parametrize(
    "error", [*UNMODELED, UnknownOperation, MethodNotAllowed], ids=lambda e: e.__name__
)
def test_unmodeled_errors_become_client_errors(
    error: type[AwsError], wires: dict[str, Wire]
) -> None:
    wire = wires[MESSAGING]
    err = error("msg") if error is not MethodNotAllowed else MethodNotAllowed("msg", ["GET"])
    wire.reply = serialize_error(err, "req-7")
    with pytest.raises(ClientError) as info:
        wire.call("GetMessagingSessionEndpoint", {})
    assert type(info.value) is ClientError  # not a modeled subclass such as NotFoundException
    assert info.value.response["Error"] == {"Code": error.shape, "Message": "msg"}
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == error.status


def test_method_not_allowed_sends_allow_header() -> None:
    with pytest.raises(MethodNotAllowed) as info:
        route("DELETE", "/channels")
    status, headers, _ = serialize_error(info.value, "r")
    assert status == 405
    assert headers["Allow"] == "GET, POST"


# --- routing ---------------------------------------------------------------------------------


def test_route_decodes_each_label_after_matching_on_the_raw_path() -> None:
    match = route("GET", f"/channels/{ENC_CHANNEL}/messages/msg1")
    assert match.operation.name == "GetChannelMessage"
    assert match.path_params == {"channelArn": CHANNEL, "messageId": "msg1"}
    # Decoding first would have produced 10 segments and no route at all.
    assert route("DELETE", f"/channels/{ENC_CHANNEL}/memberships/{ENC_CHANNEL}").path_params == {
        "channelArn": CHANNEL,
        "memberArn": CHANNEL,
    }


def test_route_with_decoded_slashes_is_unknown() -> None:
    with pytest.raises(UnknownOperation):
        route("GET", f"/channels/{CHANNEL}/messages/msg1")


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("POST", "/channels", "", "CreateChannel"),
        ("POST", "/channels", "operation=search", "SearchChannels"),
        ("POST", "/channels", "max-results=5&operation=search", "SearchChannels"),
        ("GET", "/channels", "app-instance-arn=x", "ListChannels"),
        ("GET", "/channels", "scope=app-instance-user-memberships", "ListChannelMembershipsForAppInstanceUser"),
        ("GET", "/channels", "scope=app-instance-user-moderated-channels", "ListChannelsModeratedByAppInstanceUser"),
        ("GET", "/channels", "scope=channel-flow-associations", "ListChannelsAssociatedWithChannelFlow"),
        ("GET", f"/channels/{ENC_CHANNEL}", "", "DescribeChannel"),
        ("GET", f"/channels/{ENC_CHANNEL}", "scope=app-instance-user-membership", "DescribeChannelMembershipForAppInstanceUser"),
        ("GET", f"/channels/{ENC_CHANNEL}", "scope=app-instance-user-moderated-channel", "DescribeChannelModeratedByAppInstanceUser"),
        ("POST", f"/channels/{ENC_CHANNEL}", "operation=channel-flow-callback", "ChannelFlowCallback"),
        ("POST", f"/channels/{ENC_CHANNEL}/memberships", "", "CreateChannelMembership"),
        ("POST", f"/channels/{ENC_CHANNEL}/memberships", "operation=batch-create", "BatchCreateChannelMembership"),
        ("GET", f"/channels/{ENC_CHANNEL}/messages/m", "scope=message-status", "GetChannelMessageStatus"),
        ("GET", f"/channels/{ENC_CHANNEL}/messages/m", "sub-channel-id=s", "GetChannelMessage"),
        ("POST", f"/channels/{ENC_CHANNEL}/messages/m", "operation=redact", "RedactChannelMessage"),
        ("POST", "/tags", "operation=tag-resource", "TagResource"),
        ("POST", "/tags", "operation=untag-resource", "UntagResource"),
        ("GET", "/tags", "arn=x", "ListTagsForResource"),
        ("get", "/app-instances", "", "ListAppInstances"),
        ("GET", f"/app-instances/{ENC_CHANNEL}/streaming-configurations", "", "GetMessagingStreamingConfigurations"),
        ("GET", f"/app-instances/{ENC_CHANNEL}/retention-settings", "", "GetAppInstanceRetentionSettings"),
    ],
)  # fmt: skip
def test_route_selectors(method: str, path: str, query: str, expected: str) -> None:
    assert route(method, path, query).operation.name == expected


def test_tags_are_answered_by_messaging_for_both_services() -> None:
    messaging, identity = load_service_model(MESSAGING), load_service_model(IDENTITY)
    for name in TAG_OPS:
        m, i = messaging.operation_model(name), identity.operation_model(name)
        assert m.http == i.http
        for side in ("input_shape", "output_shape"):
            ms, ids = getattr(m, side), getattr(i, side)
            assert (ms is None) == (ids is None)
            if ms is not None:
                assert _shape_tree(ms) == _shape_tree(ids)
        assert ROUTER.operations[name].service == MESSAGING
    assert len(ROUTER.operations) == len(ALL_OPS) - len(TAG_OPS)


def _shape_tree(shape: Any) -> Any:
    meta = {k: v for k, v in shape.metadata.items() if k != "sensitive"}
    base = (shape.type_name, tuple(sorted(meta.items())), tuple(getattr(shape, "enum", ())))
    if shape.type_name == "structure":
        members = {
            n: (_shape_tree(m), tuple(sorted(m.serialization.items())))
            for n, m in shape.members.items()
        }
        return (base, members, tuple(sorted(shape.required_members)))
    if shape.type_name == "list":
        return (base, _shape_tree(shape.member))
    return base


def test_unknown_path_is_404_unknown_operation() -> None:
    with pytest.raises(UnknownOperation) as info:
        route("GET", "/nothing/here")
    assert info.value.status == 404
    assert info.value.message == "No operation matches GET /nothing/here"


@pytest.mark.parametrize(
    "path",
    [
        "/channels/",  # trailing slash
        f"/channels/{ENC_CHANNEL}/messages/",  # trailing slash after a literal
        "/channels//messages",  # empty label
        "//channels",  # double slash
        f"/channels/{ENC_CHANNEL}//messages",  # double slash inside
        "",
        "/",
        "channels",
    ],
)
def test_no_normalisation_of_odd_paths(path: str) -> None:
    with pytest.raises(UnknownOperation):
        route("GET", path)


def test_wrong_method_is_405_listing_allowed_methods() -> None:
    with pytest.raises(MethodNotAllowed) as info:
        route("PATCH", f"/channels/{ENC_CHANNEL}")
    assert info.value.status == 405
    assert info.value.allowed == ("DELETE", "GET", "PUT")
    with pytest.raises(MethodNotAllowed) as info:
        route("GET", f"/channels/{ENC_CHANNEL}/readMarker")
    assert info.value.allowed == ("PUT",)


@pytest.mark.parametrize(
    ("method", "path", "query", "says"),
    [
        # the case: a valid selector and a bogus one, which used to redact
        ("POST", f"/channels/{ENC_CHANNEL}/messages/m", "operation=redact&operation=bogus", "2 times"),
        ("POST", f"/channels/{ENC_CHANNEL}/messages/m", "operation=redact&operation=redact", "2 times"),
        ("POST", "/channels", "operation=search&operation=search&operation=x", "3 times"),
        ("GET", "/channels", "scope=app-instance-user-memberships&scope=channel-flow-associations", "2 times"),
        ("POST", f"/channels/{ENC_CHANNEL}/messages/m", "operation=bogus", "takes ?operation=redact"),
        # a selector the path's other operation does not take: no silent fallback
        ("POST", "/channels", "operation=bogus", "does not select"),
        ("POST", "/channels", "scope=app-instance-user-memberships", "does not select"),
        ("GET", "/channels", "scope=bogus", "does not select"),
        ("GET", f"/channels/{ENC_CHANNEL}/messages/m", "operation=redact", "does not select"),
        # two kinds of selector at once
        ("POST", "/channels", "operation=search&scope=app-instance-user-memberships", "does not select"),
        ("GET", "/channels", "scope=app-instance-user-memberships&operation=search", "does not select"),
    ],
)  # fmt: skip
def test_repeated_or_conflicting_selectors_are_bad_requests(
    method: str, path: str, query: str, says: str
) -> None:
    with pytest.raises(BadRequest) as info:
        route(method, path, query)
    assert info.value.status == 400
    assert says in info.value.message, info.value.message


def test_missing_selector_names_the_selector() -> None:
    with pytest.raises(UnknownOperation) as info:
        route("POST", f"/channels/{ENC_CHANNEL}/messages/m")
    assert "?operation=redact" in info.value.message


def test_route_rejects_bad_utf8_in_a_label_and_a_query_string_in_the_path() -> None:
    with pytest.raises(BadRequest, match="not valid UTF-8"):
        route("GET", "/channels/%ff%fe")
    with pytest.raises(ValueError, match="query"):
        route("GET", "/channels?x=1")


def test_greedy_labels_in_a_synthetic_model() -> None:
    router = Router([SYNTHETIC])
    match = router.match("GET", "/b/my%20bucket/o/a/b%2Fc/d", "")
    assert match.operation.name == "GetObject"
    assert match.path_params == {"Bucket": "my bucket", "Key": "a/b/c/d"}
    assert router.match("GET", "/b/x/o/a/b/meta", "").operation.name == "GetObjectMeta"
    assert router.match("GET", "/b/x/o/meta", "").operation.name == "GetObject"
    with pytest.raises(UnknownOperation):
        router.match("GET", "/b/x/o", "")
    with pytest.raises(UnknownOperation):
        router.match("GET", "/b/x/o/", "")


def test_match_is_fast() -> None:
    import timeit

    path = f"/channels/{ENC_CHANNEL}/messages/msg1"
    seconds = min(timeit.repeat(lambda: route("GET", path, "sub-channel-id=x"), number=2000))
    assert seconds / 2000 < 100e-6  # a generous bound; ~10 µs on a slow laptop


# --- a synthetic model: the rest-json features the Chime models do not use -------------------

SYNTHETIC = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "protocol": "rest-json",
            "serviceId": "Synthetic",
            "endpointPrefix": "synthetic",
            "signatureVersion": "v4",
            "uid": "synthetic-2020-01-01",
        },
        "operations": {
            "GetObject": {
                "name": "GetObject",
                "http": {"method": "GET", "requestUri": "/b/{Bucket}/o/{Key+}"},
                "input": {"shape": "GetObjectRequest"},
                "output": {"shape": "GetObjectResponse"},
            },
            "GetObjectMeta": {
                "name": "GetObjectMeta",
                "http": {"method": "GET", "requestUri": "/b/{Bucket}/o/{Key+}/meta"},
                "input": {"shape": "GetObjectRequest"},
            },
            "PutThing": {
                "name": "PutThing",
                "http": {"method": "PUT", "requestUri": "/things", "responseCode": 200},
                "input": {"shape": "PutThingRequest"},
                "output": {"shape": "PutThingResponse"},
            },
        },
        "shapes": {
            "GetObjectRequest": {
                "type": "structure",
                "required": ["Bucket", "Key"],
                "members": {
                    "Bucket": {"shape": "Str", "location": "uri", "locationName": "Bucket"},
                    "Key": {"shape": "Str", "location": "uri", "locationName": "Key"},
                },
            },
            "GetObjectResponse": {
                "type": "structure",
                "members": {
                    "Modified": {"shape": "Time", "location": "header", "locationName": "x-mod"},
                    "Size": {"shape": "Int", "location": "header", "locationName": "x-size"},
                    "Flag": {"shape": "Bool", "location": "header", "locationName": "x-flag"},
                    "Data": {"shape": "Bytes"},
                    "Times": {"shape": "TimeMap"},
                },
            },
            "PutThingRequest": {
                "type": "structure",
                "members": {
                    "Since": {"shape": "Time", "location": "header", "locationName": "x-since"},
                    "Count": {"shape": "Int", "location": "header", "locationName": "x-count"},
                    "Tags": {"shape": "StrList", "location": "querystring", "locationName": "tag"},
                    "Dry": {"shape": "Bool", "location": "querystring", "locationName": "dry"},
                    "Data": {"shape": "Bytes"},
                    "When": {"shape": "Time"},
                    "Big": {"shape": "Long"},
                },
            },
            "PutThingResponse": {"type": "structure", "members": {"Data": {"shape": "Bytes"}}},
            "Str": {"type": "string", "min": 1},
            "StrList": {"type": "list", "member": {"shape": "Str"}, "max": 3},
            "Int": {"type": "integer"},
            "Long": {"type": "long"},
            "Bool": {"type": "boolean"},
            "Time": {"type": "timestamp"},
            "TimeMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Time"}},
            "Bytes": {"type": "blob", "max": 8},
        },
    },
    service_name="synthetic",
)


def test_synthetic_request_round_trip_through_botocore() -> None:
    router = Router([SYNTHETIC])
    op_model = SYNTHETIC.operation_model("PutThing")
    params = {
        "Since": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Count": -3,
        "Tags": ["a b", "c/d", "e+f"],
        "Dry": True,
        "Data": b"\x00\x01\xff",
        "When": datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC),
        "Big": 2**40,
    }
    request = create_serializer("rest-json").serialize_to_request(params, op_model)
    prepare_request_dict(request, endpoint_url="http://localhost")
    url = urlsplit(request["url"])
    match = router.match("PUT", url.path, url.query)
    assert parse_request(match, url.query, request["headers"], request["body"]) == params


def test_synthetic_response_round_trip_through_botocore() -> None:
    router = Router([SYNTHETIC])
    op = router.operations["GetObject"]
    output = {
        "Modified": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Size": 12,
        "Flag": False,
        "Data": b"\xfe\xff",
        "Times": {"a": datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=UTC)},
    }
    status, headers, body = serialize_response(op, output)
    assert headers["x-mod"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert botocore_parse(op.model, status, headers, body) == output


def test_synthetic_validation() -> None:
    router = Router([SYNTHETIC])
    match = router.match("PUT", "/things", "")
    with pytest.raises(BadRequest) as info:
        parse_request(
            match,
            "tag=a&tag=b&tag=c&tag=d&dry=maybe",
            {"X-Since": "yesterday", "x-count": "99999999999"},
            b'{"Data": "***", "When": "2024-01-01", "Big": 1.5}',
        )
    message = info.value.message
    assert message.startswith("7 validation errors detected: ")
    for fragment in [
        "Value with 4 elements at 'Tags' failed to satisfy constraint: Member must have "
        "length less than or equal to 3 (query parameter tag)",
        "Value 'maybe' at 'Dry' failed to satisfy constraint: Member must be a boolean",
        "Value 'yesterday' at 'Since' failed to satisfy constraint: Member must be an HTTP date",
        "Value '99999999999' at 'Count' failed to satisfy constraint: Member must have value "
        "less than or equal to 2147483647 (header x-count)",
        "Value '***' at 'Data' failed to satisfy constraint: Member must be valid base64",
        "at 'When' failed to satisfy constraint: Member must be a timestamp in epoch seconds",
        "Value of JSON type number at 'Big' failed to satisfy constraint: Member must be an "
        "integer",
    ]:
        assert fragment in message
    with pytest.raises(BadRequest, match="less than or equal to 8"):
        parse_request(match, "", {}, b'{"Data": "AAAAAAAAAAAAAAAA"}')


# --- validation failures ---------------------------------------------------------------------

MEMBERSHIPS = f"/channels/{ENC_CHANNEL}/memberships"


def test_missing_required_body_member() -> None:
    message = bad_request("CreateChannelMembership", MEMBERSHIPS, body=b'{"Type": "DEFAULT"}')
    assert message == (
        "1 validation error detected: Value null at 'MemberArn' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_missing_required_header_names_the_header() -> None:
    match = route("GET", f"/channels/{ENC_CHANNEL}")
    with pytest.raises(BadRequest) as info:
        parse_request(match, "", {}, b"")
    assert info.value.message == (
        "1 validation error detected: Value null at 'ChimeBearer' failed to satisfy constraint: "
        "Member must not be null (header x-amz-chime-bearer)"
    )


def test_headers_are_looked_up_case_insensitively() -> None:
    match = route("GET", f"/channels/{ENC_CHANNEL}")
    parsed = parse_request(match, "", {"X-Amz-Chime-Bearer": USER}, b"")
    assert parsed["ChimeBearer"] == USER


def test_bad_enum() -> None:
    body = json.dumps({"MemberArn": USER, "Type": "FOO"}).encode()
    assert bad_request("CreateChannelMembership", MEMBERSHIPS, body=body) == (
        "1 validation error detected: Value 'FOO' at 'Type' failed to satisfy constraint: "
        "Member must satisfy enum value set: [DEFAULT, HIDDEN]"
    )


def test_too_long_and_pattern_mismatch_and_nested_paths() -> None:
    body = json.dumps(
        {
            "Name": "x" * 257,
            "AppInstanceArn": "not-an-arn",
            "ClientRequestToken": "has space",
            "ModeratorArns": [USER, "bad"],
            "ElasticChannelConfiguration": {"MaximumSubChannels": 1},
        }
    ).encode()
    message = bad_request("CreateChannel", "/channels", body=body)
    assert message.startswith("8 validation errors detected: ")
    for fragment in [
        "Value '***' at 'Name' failed to satisfy constraint: Member must have length less than "
        "or equal to 256",
        "Value 'not-an-arn' at 'AppInstanceArn' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: arn:",
        "Value '***' at 'ClientRequestToken' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: [-_a-zA-Z0-9]*",
        "Value 'bad' at 'ModeratorArns[1]' failed to satisfy constraint: Member must have "
        "length greater than or equal to 5",
        "Value 'bad' at 'ModeratorArns[1]' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern",
        "Value '1' at 'ElasticChannelConfiguration.MaximumSubChannels' failed to satisfy "
        "constraint: Member must have value greater than or equal to 2",
        "Value null at 'ElasticChannelConfiguration.TargetMembershipsPerSubChannel' failed to "
        "satisfy constraint: Member must not be null",
    ]:
        assert fragment in message


def test_long_values_are_truncated_and_many_errors_capped() -> None:
    body = json.dumps({"MemberArns": ["a" * 500] * 30}).encode()
    message = bad_request(
        "BatchCreateChannelMembership", MEMBERSHIPS, "operation=batch-create", body
    )
    assert message.startswith("30 validation errors detected: ")
    assert message.endswith("; ... and 20 more")
    assert "a" * 65 not in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"MemberArn": 5, "Type": "DEFAULT"}', "Value of JSON type number at 'MemberArn'"),
        (b'{"MemberArn": [], "Type": "DEFAULT"}', "Value of JSON type array at 'MemberArn'"),
        (b'{"MemberArn": "arn:a:b:c:d:e", "Type": true}', "Value of JSON type boolean at 'Type'"),
    ],
)
def test_wrong_json_type(body: bytes, expected: str) -> None:
    message = bad_request("CreateChannelMembership", MEMBERSHIPS, body=body)
    assert expected in message
    assert "Member must be a string" in message


def test_wrong_json_types_for_numbers_lists_and_structures() -> None:
    body = json.dumps(
        {
            "AppInstanceArn": CHANNEL,
            "Name": "n",
            "MemberArns": "not-a-list",
            "ElasticChannelConfiguration": {
                "MaximumSubChannels": "3",
                "TargetMembershipsPerSubChannel": True,
                "MinimumMembershipPercentage": 2.0,
            },
            "ExpirationSettings": [],
        }
    ).encode()
    message = bad_request("CreateChannel", "/channels", body=body)
    for fragment in [
        "Value of JSON type string at 'MemberArns' failed to satisfy constraint: Member must be "
        "a JSON array",
        "Value of JSON type string at 'ElasticChannelConfiguration.MaximumSubChannels' failed "
        "to satisfy constraint: Member must be an integer",
        "Value of JSON type boolean at 'ElasticChannelConfiguration.TargetMembershipsPerSub",
        "Value of JSON type number at 'ElasticChannelConfiguration.MinimumMembershipPercentage'",
        "Value of JSON type array at 'ExpirationSettings' failed to satisfy constraint: Member "
        "must be a JSON object",
    ]:
        assert fragment in message


def test_null_members_are_absent_and_null_list_items_rejected() -> None:
    body = b'{"MemberArn": null, "Type": "DEFAULT", "SubChannelId": null}'
    assert "Value null at 'MemberArn'" in bad_request(
        "CreateChannelMembership", MEMBERSHIPS, body=body
    )
    body = b'{"MemberArns": ["arn:a:b:c:d:e", null]}'
    message = bad_request(
        "BatchCreateChannelMembership", MEMBERSHIPS, "operation=batch-create", body
    )
    assert (
        "Value null at 'MemberArns[1]' failed to satisfy constraint: Member must not be null"
        in message
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"MemberArn": ', "The request body is not valid JSON: Expecting value"),
        (b"\xff\xfe\x00", "The request body is not valid JSON"),
        (b'{"MemberArn": NaN}', "The request body is not valid JSON: NaN is not valid JSON"),
        (b"[" * 100_000, "The request body is not valid JSON"),
        (b'["MemberArn"]', "The request body must be a JSON object, not a JSON array"),
        (b'"x"', "The request body must be a JSON object, not a JSON string"),
        (b"null", "The request body must be a JSON object, not a JSON null"),
    ],
)
def test_bad_json_bodies(body: bytes, expected: str) -> None:
    assert bad_request("CreateChannelMembership", MEMBERSHIPS, body=body).startswith(expected)


def test_unknown_members_are_ignored_and_empty_body_means_no_members() -> None:
    body = json.dumps({"MemberArn": USER, "Type": "HIDDEN", "Future": {"x": 1}}).encode()
    parsed = parse("CreateChannelMembership", MEMBERSHIPS, body=body)
    assert parsed == {
        "ChannelArn": CHANNEL,
        "ChimeBearer": USER,
        "MemberArn": USER,
        "Type": "HIDDEN",
    }
    parsed = parse("UpdateChannelReadMarker", f"/channels/{ENC_CHANNEL}/readMarker", body=b"junk")
    assert parsed == {"ChannelArn": CHANNEL, "ChimeBearer": USER}  # no body members: not read
    message = bad_request("CreateChannelMembership", MEMBERSHIPS, body=b"  \n")
    assert message.startswith("2 validation errors detected: Value null at 'MemberArn'")


def test_lone_surrogates_are_rejected() -> None:
    body = b'{"MemberArn": "arn:aws:chime:::\\ud800", "Type": "DEFAULT"}'
    message = bad_request("CreateChannelMembership", MEMBERSHIPS, body=body)
    assert (
        "at 'MemberArn' failed to satisfy constraint: Member must not contain unpaired" in message
    )


MESSAGES = f"/channels/{ENC_CHANNEL}/messages"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("max-results=abc", "Value 'abc' at 'MaxResults' failed to satisfy constraint: Member must be an integer (query parameter max-results)"),
        ("max-results=%205", "Value ' 5' at 'MaxResults' failed to satisfy constraint: Member must be an integer"),
        ("max-results=5_0", "Value '5_0' at 'MaxResults' failed to satisfy constraint: Member must be an integer"),
        ("max-results=51", "Value '51' at 'MaxResults' failed to satisfy constraint: Member must have value less than or equal to 50"),
        ("max-results=0", "Value '0' at 'MaxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"),
        ("max-results=1&max-results=2", "at 'MaxResults' failed to satisfy constraint: Member must be given at most once"),
        ("not-before=yesterday", "Value 'yesterday' at 'NotBefore' failed to satisfy constraint: Member must be an ISO-8601 timestamp such as 2024-01-02T03:04:05Z (query parameter not-before)"),
        ("not-before=2024-01-02T03:04:05", "at 'NotBefore' failed to satisfy constraint: Member must be an ISO-8601"),
        ("not-after=2024-02-30T03:04:05Z", "at 'NotAfter' failed to satisfy constraint: Member must be an ISO-8601"),
        ("sort-order=UP", "Value 'UP' at 'SortOrder' failed to satisfy constraint: Member must satisfy enum value set: [ASCENDING, DESCENDING]"),
        ("sub-channel-id=", "Value '' at 'SubChannelId' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        ("next-token=%ff", "The query contains percent-escapes that are not valid UTF-8"),
    ],
)  # fmt: skip
def test_bad_query_values(query: str, expected: str) -> None:
    assert expected in bad_request("ListChannelMessages", MESSAGES, query)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123456Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T03:04:05.1Z", datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T04:04:05%2B01:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T02:04:05-0100", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_query_timestamps(text: str, expected: datetime) -> None:
    parsed = parse("ListChannelMessages", MESSAGES, f"not-before={text}")
    assert parsed["NotBefore"] == expected
    assert parsed["NotBefore"].utcoffset() == timedelta(0)


def test_label_values_are_validated_against_their_pattern() -> None:
    message = bad_request("DescribeChannel", "/channels/not%2Fan%2Farn")
    assert message == (
        "1 validation error detected: Value 'not/an/arn' at 'ChannelArn' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: arn:[a-z0-9-\\.]{1,63}:"
        "[a-z0-9-\\.]{0,63}:[a-z0-9-\\.]{0,63}:[a-z0-9-\\.]{0,63}:[^/].{0,1023} "
        "(path label {channelArn})"
    )


def test_idempotency_tokens_are_filled_when_absent() -> None:
    body = json.dumps({"AppInstanceArn": CHANNEL, "Name": "n"}).encode()
    parsed = parse("CreateChannel", "/channels", body=body)
    assert uuid.UUID(parsed["ClientRequestToken"]).version == 4
    body = json.dumps({"ChannelMessage": {"MessageId": "m"}}).encode()
    parsed = parse(
        "ChannelFlowCallback", f"/channels/{ENC_CHANNEL}", "operation=channel-flow-callback", body
    )
    assert uuid.UUID(parsed["CallbackId"]).version == 4
    body = json.dumps({"AppInstanceArn": CHANNEL, "Name": "n", "ClientRequestToken": "t"}).encode()
    message = bad_request("CreateChannel", "/channels", body=body)
    assert (
        "at 'ClientRequestToken' failed to satisfy constraint: Member must have length" in message
    )


def test_patterns_follow_the_models_intent() -> None:
    # Newlines in metadata and supplementary-plane characters (emoji) in names are accepted.
    body = json.dumps(
        {"AppInstanceArn": CHANNEL, "Name": "Party 🎉", "Metadata": '{\n  "a": 1\n}'}
    ).encode()
    parsed = parse("CreateChannel", "/channels", body=body)
    assert parsed["Name"] == "Party 🎉"
    body = json.dumps({"AppInstanceArn": CHANNEL, "Name": "bell\x07"}).encode()
    assert "at 'Name' failed to satisfy constraint: Member must satisfy regular expression" in (
        bad_request("CreateChannel", "/channels", body=body)
    )
