"""The query-protocol codec against botocore itself: what botocore's serializer sends must parse
back to the same input, and what the codec writes must parse in botocore to the same output."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer

from bellwire.aws.errors import AccessDenied, MalformedPolicyDocument
from bellwire.aws.query import QueryCodec
from bellwire.iam.errors import InvalidAction, MissingAction, NoSuchEntity, ValidationError


@pytest.fixture(scope="module")
def iam() -> QueryCodec:
    return QueryCodec("iam")


@pytest.fixture(scope="module")
def sts() -> QueryCodec:
    return QueryCodec("sts")


def botocore_body(codec: QueryCodec, operation: str, params: dict[str, Any]) -> bytes:
    request = QuerySerializer().serialize_to_request(params, codec.model.operation_model(operation))
    return urlencode(request["body"]).encode()


def botocore_parse(codec: QueryCodec, operation: str, body: bytes, status: int = 200) -> Any:
    shape = codec.model.operation_model(operation).output_shape
    return QueryParser().parse(
        {"body": body, "headers": {}, "status_code": status}, shape if status == 200 else None
    )


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("iam", "CreateUser", {"UserName": "alice", "Path": "/a/"}),
        (
            "iam",
            "CreateUser",
            {
                "UserName": "bob",
                "Tags": [{"Key": "k1", "Value": "v 1"}, {"Key": "k2", "Value": ""}],
            },
        ),
        ("iam", "ListUsers", {"MaxItems": 10, "Marker": "abc=="}),
        ("iam", "UpdateAccessKey", {"AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "Status": "Inactive"}),
        (
            "iam",
            "PutUserPolicy",
            {"UserName": "u", "PolicyName": "p", "PolicyDocument": '{"a": "b&c=d+e"}'},
        ),
        (
            "sts",
            "AssumeRole",
            {
                "RoleArn": "arn:aws:iam::123456789012:role/R",
                "RoleSessionName": "s1",
                "DurationSeconds": 1,
                "Tags": [{"Key": "UserId", "Value": "alice"}],
                "TransitiveTagKeys": ["UserId"],
                "Policy": '{"Version": "2012-10-17"}',
            },
        ),
        ("sts", "GetCallerIdentity", {}),
    ],
)
def test_what_botocore_sends_parses_back(
    iam: QueryCodec, sts: QueryCodec, service: str, operation: str, params: dict[str, Any]
) -> None:
    codec = iam if service == "iam" else sts
    name, parsed = codec.parse(botocore_body(codec, operation, params))
    assert name == operation
    assert parsed == params


def test_empty_list_is_an_empty_list(iam: QueryCodec) -> None:
    _, parsed = iam.parse(b"Action=CreateUser&Version=2010-05-08&UserName=x&Tags=")
    assert parsed == {"UserName": "x", "Tags": []}


def test_list_items_are_read_in_index_order(iam: QueryCodec) -> None:
    body = (
        b"Action=CreateUser&Version=2010-05-08&UserName=x"
        b"&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1"
    )
    assert iam.parse(body)[1]["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]


def test_model_constraints(iam: QueryCodec) -> None:
    with pytest.raises(ValidationError) as caught:
        iam.parse(b"Action=CreateUser&Version=2010-05-08")
    assert caught.value.message == (
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: "
        "Member must not be null"
    )
    with pytest.raises(ValidationError) as caught:
        iam.parse(b"Action=CreateUser&Version=2010-05-08&UserName=a%20b&Path=nope")
    assert caught.value.message.startswith("2 validation errors detected: ")
    assert "Member must satisfy regular expression pattern: [\\w+=,.@-]+" in caught.value.message
    with pytest.raises(ValidationError) as caught:
        iam.parse(
            b"Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId=AKIAAAAAAAAAAAAAAAAA"
            b"&Status=Paused"
        )
    assert "Member must satisfy enum value set: [Active, Inactive, Expired]" in caught.value.message
    with pytest.raises(ValidationError):
        iam.parse(b"Action=ListUsers&Version=2010-05-08&MaxItems=ten")
    too_many = "&".join(f"Tags.member.{i}.Key=k{i}&Tags.member.{i}.Value=v" for i in range(1, 52))
    with pytest.raises(ValidationError) as caught:
        iam.parse(f"Action=CreateUser&Version=2010-05-08&UserName=x&{too_many}".encode())
    assert "length less than or equal to 50" in caught.value.message


def test_actions_and_versions(iam: QueryCodec) -> None:
    with pytest.raises(MissingAction):
        iam.parse(b"Version=2010-05-08")
    with pytest.raises(InvalidAction) as caught:
        iam.parse(b"Action=LaunchRockets&Version=2010-05-08")
    assert caught.value.message == "Could not find operation LaunchRockets for version 2010-05-08"
    with pytest.raises(InvalidAction):
        iam.parse(b"Action=ListUsers&Version=2011-06-15")
    with pytest.raises(ValidationError):
        iam.parse(b"\xff\xfe")


@pytest.mark.parametrize(
    "body",
    [
        b"Action=GetUser&Action=DeleteUser&Version=2010-05-08&UserName=x",
        b"Action=CreateUser&Version=2010-05-08&Version=2010-05-08&UserName=x",
        b"Action=CreateUser&Version=2010-05-08&UserName=x&UserName=y",
        b"Action=CreateUser&Version=2010-05-08&UserName=x&Tags.member.1.Key=a&Tags.member.1.Key=b",
    ],
)
def test_a_parameter_given_twice_is_refused(iam: QueryCodec, body: bytes) -> None:
    """Not a last-wins pick: the request could mean either."""
    with pytest.raises(ValidationError, match="more than once"):
        iam.parse(body)


@pytest.mark.parametrize(
    "body",
    [
        b"Action=ListUsers&Version=2010-05-08&Marker=%ZZ",  # a '%' that starts no escape
        b"Action=ListUsers&Version=2010-05-08&Marker=%FF%FE",  # an escape that is not UTF-8
        b"Action=ListUsers&Version=2010-05-08&Marker=50%",
    ],
)
def test_malformed_escapes_are_refused(iam: QueryCodec, body: bytes) -> None:
    with pytest.raises(ValidationError, match="not a valid query string"):
        iam.parse(body)


@pytest.mark.parametrize(
    "value", ["999999999999999999999999999999", "2147483648", "1_000", " 7", "\u0667", "1.5", ""]
)
def test_integers_are_ascii_digits_within_the_type(iam: QueryCodec, value: str) -> None:
    """int() alone takes "1_000", " 7" and Arabic-Indic digits; MaxItems is a 32-bit integer."""
    body = "Action=ListUsers&Version=2010-05-08&MaxItems=" + quote(
        value.encode().decode("unicode_escape")
    )
    with pytest.raises(ValidationError, match="32-bit integer"):
        iam.parse(body.encode())
    assert iam.parse(b"Action=ListUsers&Version=2010-05-08&MaxItems=-2147483648")[1] == {
        "MaxItems": -(2**31)
    }


def test_output_parses_in_botocore(iam: QueryCodec, sts: QueryCodec) -> None:
    created = 1_700_000_000.0
    body = iam.serialize(
        "GetUser",
        {
            "User": {
                "Path": "/",
                "UserName": "a<b>&c",
                "UserId": "AIDAAAAAAAAAAAAAAAAAA",
                "Arn": "arn:aws:iam::123456789012:user/a",
                "CreateDate": created,
                "Tags": [{"Key": "k", "Value": "v"}],
            }
        },
        "req-1",
    )
    parsed = botocore_parse(iam, "GetUser", body)
    assert parsed["User"]["UserName"] == "a<b>&c"
    assert parsed["User"]["CreateDate"] == dt.datetime.fromtimestamp(created, dt.UTC)
    assert parsed["User"]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"

    body = iam.serialize("ListUserPolicies", {"PolicyNames": ["a", "b"], "IsTruncated": False}, "r")
    parsed = botocore_parse(iam, "ListUserPolicies", body)
    assert parsed["PolicyNames"] == ["a", "b"] and parsed["IsTruncated"] is False

    body = sts.serialize(
        "AssumeRole",
        {
            "Credentials": {
                "AccessKeyId": "ASIA",
                "SecretAccessKey": "s",
                "SessionToken": "t+/=",
                "Expiration": created,
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROA:s", "Arn": "arn"},
        },
        "r",
    )
    parsed = botocore_parse(sts, "AssumeRole", body)
    assert parsed["Credentials"]["SessionToken"] == "t+/="
    assert body.startswith(
        b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    )


def test_policy_documents_are_url_encoded_as_iam_does(iam: QueryCodec) -> None:
    document = '{"Version": "2012-10-17"}'
    body = iam.serialize(
        "GetUserPolicy", {"UserName": "u", "PolicyName": "p", "PolicyDocument": document}, "r"
    )
    assert b"%7B%22Version%22%3A%20%222012-10-17%22%7D" in body
    assert b"<PolicyName>p</PolicyName>" in body  # other strings are not encoded


def test_operations_without_output(iam: QueryCodec) -> None:
    body = iam.serialize("DeleteUser", {}, "r-9")
    assert body == (
        b'<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        b"<ResponseMetadata><RequestId>r-9</RequestId></ResponseMetadata></DeleteUserResponse>"
    )


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NoSuchEntity("The user with name x cannot be found."), 404, "NoSuchEntity"),
        (MalformedPolicyDocument("bad <json>"), 400, "MalformedPolicyDocument"),
        (AccessDenied("User: a is not authorized"), 403, "AccessDenied"),
        (ValidationError("1 validation error detected"), 400, "ValidationError"),
    ],
)
def test_errors_parse_in_botocore(iam: QueryCodec, error: Any, status: int, code: str) -> None:
    got_status, body = iam.serialize_error(error, "req-e")
    assert got_status == status
    parsed = botocore_parse(iam, "GetUser", body, status)
    assert parsed["Error"] == {"Type": "Sender", "Code": code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-e"
