"""chime-sdk-identity: AppInstanceUserEndpoints, and who a sent message is pushed to (§11A.3).

An endpoint's ResourceArn is an Amazon Pinpoint application ARN, as in AWS; ``[resources]``
maps it to the operator's push gateway (``bellwire/pusher.py`` posts there after the commit).
The endpoint operations take no bearer: IAM on the AppInstanceUserArn decides who may call them
(the user itself and the app's backend), as in AWS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from bellwire import ids
from bellwire.aws.errors import BadRequest, Conflict, NotFound, ResourceLimitExceeded
from bellwire.aws.shapes import (
    IdentityAppInstanceUserEndpoint,
    IdentityAppInstanceUserEndpointSummary,
    IdentityDeregisterAppInstanceUserEndpointRequest,
    IdentityDescribeAppInstanceUserEndpointRequest,
    IdentityDescribeAppInstanceUserEndpointResponse,
    IdentityListAppInstanceUserEndpointsRequest,
    IdentityListAppInstanceUserEndpointsResponse,
    IdentityRegisterAppInstanceUserEndpointRequest,
    IdentityRegisterAppInstanceUserEndpointResponse,
    IdentityUpdateAppInstanceUserEndpointRequest,
    IdentityUpdateAppInstanceUserEndpointResponse,
    NoOutput,
)
from bellwire.domain import push_filter, shapes
from bellwire.domain.identity import require_user
from bellwire.domain.operation import (
    Call,
    Result,
    decode_token,
    operation,
    page_size,
    paginate,
    remember,
    replay,
)
from bellwire.records.bots import PushCall, UserEndpoint
from bellwire.records.chime import Message
from bellwire.resources import ResourceError, ResourceMap
from bellwire.store.base import Tx

MAX_ENDPOINTS_PER_USER = 10  # spec §5 quota
PINPOINT_APP = re.compile(r"arn:aws[a-z-]*:mobiletargeting:[a-z0-9-]+:\d{12}:apps/[A-Za-z0-9]+")
PUSH_GATEWAY = "Pinpoint application"
SCHEMES = ("http", "https")


def _require_endpoint(tx: Tx, user_arn: str, endpoint_id: str) -> UserEndpoint:
    found = tx.endpoint(user_arn, endpoint_id)
    if found is None:
        raise NotFound(f"The endpoint {endpoint_id} of {user_arn} does not exist.")
    return found


def state(resources: ResourceMap, e: UserEndpoint) -> dict[str, str]:
    """ACTIVE while the Pinpoint application is mapped to a push gateway; else INACTIVE with
    INVALID_PINPOINT_ARN, as AWS deactivates an endpoint whose application is not found."""
    try:
        resources.require(e.resource_arn, what=PUSH_GATEWAY, schemes=SCHEMES)
    except ResourceError:
        return {"Status": "INACTIVE", "StatusReason": "INVALID_PINPOINT_ARN"}
    return {"Status": "ACTIVE"}


def _summary(resources: ResourceMap, e: UserEndpoint) -> dict[str, Any]:
    out = {
        "AppInstanceUserArn": e.user_arn,
        "EndpointId": e.endpoint_id,
        "Name": e.name,
        "Type": e.type,
        "AllowMessages": e.allow_messages,
        "EndpointState": state(resources, e),
    }
    return {k: v for k, v in out.items() if v is not None}


def _shape(resources: ResourceMap, e: UserEndpoint) -> dict[str, Any]:
    return {
        **_summary(resources, e),
        "ResourceArn": e.resource_arn,
        "EndpointAttributes": dict(e.attributes),
        "CreatedTimestamp": shapes.rest_ts(e.created),
        "LastUpdatedTimestamp": shapes.rest_ts(e.updated),
    }


@operation("RegisterAppInstanceUserEndpoint", writes=True)
def register_endpoint(
    tx: Tx, call: Call, p: IdentityRegisterAppInstanceUserEndpointRequest
) -> Result[IdentityRegisterAppInstanceUserEndpointResponse]:
    user = require_user(tx, p["AppInstanceUserArn"])
    scope = f"RegisterAppInstanceUserEndpoint|{user.arn}"
    alive = lambda out: tx.endpoint(user.arn, out["EndpointId"]) is not None  # noqa: E731
    if (
        previous := replay(
            tx, scope, p, alive, output=IdentityRegisterAppInstanceUserEndpointResponse
        )
    ) is not None:
        return Result(previous)
    if not PINPOINT_APP.fullmatch(p["ResourceArn"]):
        raise BadRequest(
            f"ResourceArn {p['ResourceArn']!r} is not an Amazon Pinpoint application ARN "
            "(arn:aws:mobiletargeting:REGION:ACCOUNT:apps/ID)."
        )
    attributes: Mapping[str, Any] = p["EndpointAttributes"]
    if attributes.get("VoipDeviceToken") and p["Type"] == "GCM":
        raise BadRequest("VoipDeviceToken applies to the APNS and APNS_SANDBOX types only.")
    existing = tx.list_endpoints(user.arn, None, MAX_ENDPOINTS_PER_USER + 1)
    for e in existing:
        if (
            e.resource_arn == p["ResourceArn"]
            and e.attributes.get("DeviceToken") == attributes["DeviceToken"]
        ):
            raise Conflict(
                f"The device token is already registered for {user.arn} as endpoint "
                f"{e.endpoint_id}."
            )
    if len(existing) >= MAX_ENDPOINTS_PER_USER:
        raise ResourceLimitExceeded(
            f"{user.arn} has {MAX_ENDPOINTS_PER_USER} endpoints, the most a user may have."
        )
    endpoint = UserEndpoint(
        user_arn=user.arn,
        endpoint_id=ids.hex_id(16),
        name=p.get("Name"),
        type=p["Type"],
        resource_arn=p["ResourceArn"],
        attributes=dict(attributes),
        allow_messages=p.get("AllowMessages") or "ALL",
        created=call.now,
        updated=call.now,
    )
    tx.insert_endpoint(endpoint)
    output = IdentityRegisterAppInstanceUserEndpointResponse(
        AppInstanceUserArn=user.arn, EndpointId=endpoint.endpoint_id
    )
    remember(tx, call, scope, p, output)
    return Result(output)


@operation("DescribeAppInstanceUserEndpoint", writes=False)
def describe_endpoint(
    tx: Tx, call: Call, p: IdentityDescribeAppInstanceUserEndpointRequest
) -> Result[IdentityDescribeAppInstanceUserEndpointResponse]:
    e = _require_endpoint(tx, p["AppInstanceUserArn"], p["EndpointId"])
    shape = cast(IdentityAppInstanceUserEndpoint, _shape(call.resources, e))
    return Result(IdentityDescribeAppInstanceUserEndpointResponse(AppInstanceUserEndpoint=shape))


@operation("UpdateAppInstanceUserEndpoint", writes=True)
def update_endpoint(
    tx: Tx, call: Call, p: IdentityUpdateAppInstanceUserEndpointRequest
) -> Result[IdentityUpdateAppInstanceUserEndpointResponse]:
    e = _require_endpoint(tx, p["AppInstanceUserArn"], p["EndpointId"])
    tx.update_endpoint(
        e.user_arn,
        e.endpoint_id,
        p.get("Name", e.name),
        p.get("AllowMessages") or e.allow_messages,
        call.now,
    )
    return Result(
        IdentityUpdateAppInstanceUserEndpointResponse(
            AppInstanceUserArn=e.user_arn, EndpointId=e.endpoint_id
        )
    )


@operation("DeregisterAppInstanceUserEndpoint", writes=True)
def deregister_endpoint(
    tx: Tx, call: Call, p: IdentityDeregisterAppInstanceUserEndpointRequest
) -> Result[NoOutput]:
    e = _require_endpoint(tx, p["AppInstanceUserArn"], p["EndpointId"])
    tx.delete_endpoint(e.user_arn, e.endpoint_id)
    return Result(NoOutput())


@operation("ListAppInstanceUserEndpoints", writes=False)
def list_endpoints(
    tx: Tx, call: Call, p: IdentityListAppInstanceUserEndpointsRequest
) -> Result[IdentityListAppInstanceUserEndpointsResponse]:
    user = require_user(tx, p["AppInstanceUserArn"])
    limit = page_size(p)
    rows, token = paginate(
        tx.list_endpoints(user.arn, decode_token(p, str), limit + 1),
        limit,
        lambda e: e.endpoint_id,
    )
    summaries = [_summary(call.resources, e) for e in rows]
    return Result(
        IdentityListAppInstanceUserEndpointsResponse(
            AppInstanceUserEndpoints=cast(list[IdentityAppInstanceUserEndpointSummary], summaries),
            NextToken=token,
        )
    )


# --- who is pushed -----------------------------------------------------------------------------


def pushes_for(tx: Tx, m: Message) -> list[PushCall]:
    """Every member but the sender (only the target of a targeted message) whose preferences
    allow ``m``, on each endpoint with AllowMessages ALL; connected or not, as AWS has no
    presence [INFERRED]. A message without PushNotification pushes nothing."""
    if not m.push:
        return []
    found: list[PushCall] = []
    for member, preferences, endpoint in tx.push_targets(m.channel_arn):
        if member == m.sender_arn or (m.target_arn is not None and member != m.target_arn):
            continue
        if not push_filter.allows(preferences, m.attributes):
            continue
        found.append(PushCall(endpoint, dict(m.push), m.channel_arn, m.message_id, m.sender_arn))
    return found
