"""The operation registry held against the pinned botocore models of the four services.

Every modeled operation is either implemented or explicitly refused (the reviewed lists of
``bellwire.domain.unsupported``), none is missing, and the registry names nothing the models
lack. An operation a newer model adds still answers the service's modeled refusal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

import pytest

from bellwire.api.operations import find
from bellwire.aws.errors import AwsError, BadRequest, InvalidAction
from bellwire.aws.model import IAM, IDENTITY, MESSAGING, STS, load_service_model
from bellwire.domain import unsupported
from bellwire.domain.operation import Call
from bellwire.domain.operations import REGISTRY
from bellwire.store.base import Tx


def modeled() -> dict[str, set[str]]:
    """The operation names of the pinned models, by IAM action prefix (both Chime SDK services
    authorize as ``chime:``)."""
    names = {service: set(load_service_model(service).operation_names) for service in (IAM, STS)}
    chime = set(load_service_model(MESSAGING).operation_names)
    chime |= set(load_service_model(IDENTITY).operation_names)
    return {"chime": chime, **names}


def refused() -> dict[str, set[str]]:
    def flat(features: Mapping[str, tuple[str, ...]]) -> set[str]:
        return {name for names in features.values() for name in names}

    return {
        "chime": flat(unsupported.FEATURES),
        "iam": flat(unsupported.IAM_FEATURES),
        "sts": flat(unsupported.STS_FEATURES),
    }


def problems(
    registry: Iterable[tuple[str, str]],
    models: Mapping[str, set[str]],
    refusals: Mapping[str, set[str]],
) -> list[str]:
    """What is wrong between a registry's (service, name) keys, the models and the refusals."""
    found: list[str] = []
    registered: dict[str, set[str]] = {service: set() for service in models}
    for service, name in registry:
        if service not in models:
            found.append(f"{service}:{name}: no such service")
            continue
        registered[service].add(name)
        if name not in models[service]:
            found.append(f"{service}:{name}: registered, but the model has no such operation")
    for service, names in models.items():
        found.extend(
            f"{service}:{name}: modeled, but neither implemented nor refused"
            for name in sorted(names - registered[service])
        )
        found.extend(
            f"{service}:{name}: refused, but the model has no such operation"
            for name in sorted(refusals.get(service, set()) - names)
        )
    return found


def test_every_modeled_operation_is_implemented_or_refused_and_nothing_else() -> None:
    assert problems(REGISTRY, modeled(), refused()) == []


def test_the_check_fails_on_a_missing_or_an_unmodeled_operation() -> None:
    models = modeled()
    without = [key for key in REGISTRY if key != ("iam", "CreateUser")]
    assert problems(without, models, refused()) == [
        "iam:CreateUser: modeled, but neither implemented nor refused"
    ]
    extra = [*REGISTRY, ("sts", "FrobnicateToken")]
    assert problems(extra, models, refused()) == [
        "sts:FrobnicateToken: registered, but the model has no such operation"
    ]
    stale = {**refused(), "iam": refused()["iam"] | {"CreateGroupOfGroups"}}
    assert problems(REGISTRY, models, stale) == [
        "iam:CreateGroupOfGroups: refused, but the model has no such operation"
    ]


def test_a_refused_operation_is_not_also_implemented() -> None:
    for service, names in refused().items():
        for name in names:
            registered = REGISTRY[(service, name)]
            assert registered.refused, f"{service}:{name} is implemented too"
    implemented = [r for r in REGISTRY.values() if not r.refused]
    assert {r.service for r in implemented} == {"chime", "iam", "sts"}


@pytest.mark.parametrize(
    ("service", "name", "error"),
    [
        ("chime", "FrobnicateChannel", BadRequest),
        ("iam", "FrobnicateUser", InvalidAction),
        ("sts", "FrobnicateToken", InvalidAction),
    ],
)
def test_an_operation_the_registry_lacks_answers_a_modeled_refusal(
    service: str, name: str, error: type[AwsError]
) -> None:
    with pytest.raises(error) as caught:
        find(service, name)
    assert caught.value.status == 400
    assert f"{name} is not supported by this server" in caught.value.message


def test_a_refused_chime_feature_answers_a_bad_request_naming_it() -> None:
    """Every Chime feature of the pinned models is served, so no refusal is registered now;
    the handler a feature gets when a newer model brings one still answers a BadRequest."""
    refuse = unsupported.refusal("Frobnications", "FrobnicateChannel")
    call = Call(region="us-east-1", account_id="123456789012", now=0.0)
    with pytest.raises(BadRequest) as caught:
        refuse(cast(Tx, None), call, {})  # refuses before touching the transaction
    assert caught.value.status == 400
    assert "Frobnications are not supported by this server yet (FrobnicateChannel)" in (
        caught.value.message
    )


def test_authorization_resources_are_declared_per_operation() -> None:
    """Only identity-free STS calls and the refusals of IAM/STS skip authorization."""
    unauthorized = {
        key
        for key, registered in REGISTRY.items()
        if registered.resources is None and not registered.refused
    }
    assert unauthorized == {("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")}
    assert REGISTRY[("chime", "SendChannelMessage")].action == "chime:SendChannelMessage"
    assert REGISTRY[("iam", "CreateUser")].action == "iam:CreateUser"
    assert REGISTRY[("sts", "AssumeRole")].action == "sts:AssumeRole"
