"""The committed operation types are what the pinned models say, and the handlers use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bellwire.aws import shapes
from bellwire.aws.genshapes import request_type
from bellwire.domain.operations import REGISTRY, implemented, shapes_source

SHAPES = Path(shapes.__file__)
SERVICES = ("chime", "iam", "sts")


def test_the_committed_shapes_are_what_the_models_generate() -> None:
    fresh = shapes_source()
    assert SHAPES.read_text() == fresh, "bellwire/aws/shapes.py is stale: run scripts/gen-shapes"


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
