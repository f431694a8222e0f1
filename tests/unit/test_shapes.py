"""The committed operation types are what the pinned models say, and the handlers use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.model import ServiceModel

from bellwire.aws import genshapes, shapes
from bellwire.aws.codec import default_router, serialize_response
from bellwire.aws.genshapes import request_type, response_type
from bellwire.aws.query import QueryCodec
from bellwire.domain.operations import REGISTRY, implemented, shapes_source

SHAPES = Path(shapes.__file__)
SERVICES = ("chime", "iam", "sts")


def test_the_committed_shapes_are_what_the_models_generate() -> None:
    fresh = shapes_source()
    assert SHAPES.read_text() == fresh, "bellwire/aws/shapes.py is stale: run scripts/gen-shapes"


def test_every_modeled_operation_can_be_typed() -> None:
    # scripts/gen-shapes types them all first (so a new operation's types resolve before it is
    # registered): a model this cannot type must fail here, not in the script.
    text = genshapes.generate(genshapes.every_operation())
    namespace: dict[str, Any] = {}
    exec(compile(text, "shapes", "exec"), namespace)
    assert "MessagingListSubChannelsResponse" in namespace  # refused today, typed all the same
    assert "IamCreateLoginProfileRequest" in namespace


def test_a_generated_type_follows_the_model() -> None:
    hints = shapes.IamCreateRoleRequest.__annotations__
    assert shapes.IamCreateRoleRequest.__required_keys__ == {
        "RoleName",
        "AssumeRolePolicyDocument",
    }
    assert {"Path", "Description", "MaxSessionDuration", "Tags"} <= set(hints)
    assert "Required[str]" in str(hints["RoleName"])


def test_chime_operations_are_typed_from_the_sdk_that_defines_them() -> None:
    assert request_type("chime", "CreateChannel") == "MessagingCreateChannelRequest"
    assert request_type("chime", "CreateAppInstanceUser") == "IdentityCreateAppInstanceUserRequest"
    # Both SDKs define the tag operations, with the same shape: typed once, from messaging.
    assert request_type("chime", "TagResource") == "MessagingTagResourceRequest"
    assert shapes.IdentityCreateAppInstanceUserRequest.__required_keys__ == {
        "AppInstanceArn",
        "AppInstanceUserId",
        "Name",
        "ClientRequestToken",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_implemented_operations_take_their_generated_input(service: str) -> None:
    names = implemented(service)
    assert names
    for name in names:
        fn = REGISTRY[(service, name)].fn
        *_, annotation = (a for k, a in fn.__annotations__.items() if k != "return")
        expected = request_type(service, name)
        assert annotation == expected, f"{service}:{name} takes {annotation}"
        assert hasattr(shapes, annotation)


def test_a_generated_output_type_follows_the_model() -> None:
    # What the model requires is Required (and never None); the rest may be None, which both
    # serializers leave out; timestamps are epoch seconds, collections read-only.
    user = shapes.IamUser.__annotations__
    assert shapes.IamUser.__required_keys__ == {"Path", "UserName", "UserId", "Arn", "CreateDate"}
    assert str(user["CreateDate"]) == "typing.Required[float]"
    assert "None" in str(user["PasswordLastUsed"])
    assert "Sequence[" in str(user["Tags"])
    assert shapes.IamListUsersResponse.__required_keys__ == {"Users"}
    summary = shapes.MessagingChannelSummary.__annotations__
    assert set(summary) == {
        "Name",
        "ChannelArn",
        "Mode",
        "Privacy",
        "Metadata",
        "LastMessageTimestamp",
    }
    assert "float | None" in str(summary["LastMessageTimestamp"])
    # An operation whose model has no output returns the empty NoOutput.
    assert response_type("chime", "DeleteChannel") == "NoOutput"
    assert response_type("iam", "DeleteUser") == "NoOutput"
    assert shapes.NoOutput.__annotations__ == {}
    assert response_type("chime", "ListAppInstances") == "IdentityListAppInstancesResponse"
    assert response_type("sts", "AssumeRole") == "StsAssumeRoleResponse"


@pytest.mark.parametrize("service", SERVICES)
def test_implemented_operations_return_their_generated_output(service: str) -> None:
    names = implemented(service)
    assert names
    for name in names:
        fn = REGISTRY[(service, name)].fn
        expected = response_type(service, name)
        returns = fn.__annotations__["return"]
        assert returns == f"Result[{expected}]", f"{service}:{name} returns {returns}"
        assert hasattr(shapes, expected)


def test_both_serializers_leave_a_none_member_out() -> None:
    # The premise of the nullable optional members of the output types.
    codec = QueryCodec("iam")
    with_none = {"User": {"UserName": "u", "Path": "/", "PasswordLastUsed": None}}
    without = {"User": {"UserName": "u", "Path": "/"}}
    assert codec.serialize("GetUser", with_none, "r") == codec.serialize("GetUser", without, "r")
    op = default_router().operations["DescribeChannel"]
    channel_with_none = {"Channel": {"Name": "n", "Metadata": None}}
    channel_without = {"Channel": {"Name": "n"}}
    assert serialize_response(op, channel_with_none) == serialize_response(op, channel_without)


def _model(shapes_: dict[str, Any]) -> ServiceModel:
    return ServiceModel(
        {
            "metadata": {"protocol": "query", "apiVersion": "2010-05-08", "serviceId": "IAM"},
            "operations": {
                "Op": {
                    "name": "Op",
                    "http": {"method": "POST", "requestUri": "/"},
                    "input": {"shape": "OpRequest"},
                    "output": {"shape": "OpResponse"},
                }
            },
            "shapes": shapes_,
        },
        service_name="iam",
    )


def test_a_structure_in_an_input_and_an_output_is_written_once_nullable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _model(
        {
            "OpRequest": {"type": "structure", "members": {"S": {"shape": "Shared"}}},
            "OpResponse": {"type": "structure", "members": {"S": {"shape": "Shared"}}},
            "Shared": {
                "type": "structure",
                "required": ["K"],
                "members": {"K": {"shape": "Str"}, "V": {"shape": "Str"}},
            },
            "Str": {"type": "string"},
        }
    )
    monkeypatch.setattr(genshapes, "load_service_model", lambda name: model)
    text = genshapes.generate({"iam": ["Op"]})
    assert text.count("class IamShared(") == 1
    assert "    K: Required[str]\n    V: str | None\n" in text
    assert "class IamOpResponse(TypedDict, total=False):\n    S: IamShared | None\n" in text


def test_a_timestamp_in_a_structure_both_sides_share_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An input holds a datetime, an output epoch seconds: one class cannot say both.
    model = _model(
        {
            "OpRequest": {"type": "structure", "members": {"S": {"shape": "Shared"}}},
            "OpResponse": {"type": "structure", "members": {"S": {"shape": "Shared"}}},
            "Shared": {"type": "structure", "members": {"When": {"shape": "Time"}}},
            "Time": {"type": "timestamp"},
        }
    )
    monkeypatch.setattr(genshapes, "load_service_model", lambda name: model)
    with pytest.raises(ValueError, match=r"Shared\.When"):
        genshapes.generate({"iam": ["Op"]})
