"""The committed operation types are what the pinned models say, and the handlers use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bellwire.aws import shapes
from bellwire.aws.genshapes import generate
from bellwire.domain.operations import REGISTRY, implemented

SHAPES = Path(shapes.__file__)
TYPED = {"iam": "Iam", "sts": "Sts"}


def test_the_committed_shapes_are_what_the_models_generate() -> None:
    fresh = generate({service: implemented(service) for service in TYPED})
    assert SHAPES.read_text() == fresh, "bellwire/aws/shapes.py is stale: run scripts/gen-shapes"


def test_a_generated_type_follows_the_model() -> None:
    hints = shapes.IamCreateRoleRequest.__annotations__
    assert shapes.IamCreateRoleRequest.__required_keys__ == {
        "RoleName",
        "AssumeRolePolicyDocument",
    }
    assert {"Path", "Description", "MaxSessionDuration", "Tags"} <= set(hints)
    assert "Required[str]" in str(hints["RoleName"])


@pytest.mark.parametrize(("service", "prefix"), TYPED.items())
def test_implemented_operations_take_their_generated_input(service: str, prefix: str) -> None:
    for name in implemented(service):
        fn = REGISTRY[(service, name)].fn
        annotation = fn.__annotations__["params"]
        assert annotation == f"{prefix}{name}Request", f"{service}:{name} takes {annotation}"
        assert hasattr(shapes, annotation)
