"""chime-sdk-identity: app instances, users, admins, retention, expiration (spec §4.5).

Identity operations take no bearer: they are the app backend's, authorized by IAM alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bellwire.aws import arn as arns
from bellwire.aws.errors import BadRequest, Conflict, NotFound
from bellwire.aws.shapes import (
    IdentityAppInstanceRetentionSettings,
    IdentityCreateAppInstanceAdminRequest,
    IdentityCreateAppInstanceAdminResponse,
    IdentityCreateAppInstanceRequest,
    IdentityCreateAppInstanceResponse,
    IdentityCreateAppInstanceUserRequest,
    IdentityCreateAppInstanceUserResponse,
    IdentityDeleteAppInstanceAdminRequest,
    IdentityDeleteAppInstanceRequest,
    IdentityDeleteAppInstanceUserRequest,
    IdentityDescribeAppInstanceAdminRequest,
    IdentityDescribeAppInstanceAdminResponse,
    IdentityDescribeAppInstanceRequest,
    IdentityDescribeAppInstanceResponse,
    IdentityDescribeAppInstanceUserRequest,
    IdentityDescribeAppInstanceUserResponse,
    IdentityGetAppInstanceRetentionSettingsRequest,
    IdentityGetAppInstanceRetentionSettingsResponse,
    IdentityListAppInstanceAdminsRequest,
    IdentityListAppInstanceAdminsResponse,
    IdentityListAppInstancesRequest,
    IdentityListAppInstancesResponse,
    IdentityListAppInstanceUsersRequest,
    IdentityListAppInstanceUsersResponse,
    IdentityPutAppInstanceRetentionSettingsRequest,
    IdentityPutAppInstanceRetentionSettingsResponse,
    IdentityPutAppInstanceUserExpirationSettingsRequest,
    IdentityPutAppInstanceUserExpirationSettingsResponse,
    IdentityUpdateAppInstanceRequest,
    IdentityUpdateAppInstanceResponse,
    IdentityUpdateAppInstanceUserRequest,
    IdentityUpdateAppInstanceUserResponse,
    NoOutput,
)
from bellwire.domain import shapes, sub_channels
from bellwire.domain.delivery import BusEvent, UserEvent, channel_deleted, membership_deleted
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
from bellwire.records.chime import Admin, AppInstance, AppInstanceUser, route_key
from bellwire.store.base import Tx


def require_app_instance(tx: Tx, arn: str) -> AppInstance:
    found = tx.app_instance(arn)
    if found is None:
        raise NotFound(f"The app instance {arn} does not exist.")
    return found


def require_user(tx: Tx, arn: str) -> AppInstanceUser:
    parsed = arns.parse(arn)
    # A bot's identity is a users row too, but it is no AppInstanceUser.
    found = tx.user(arn) if parsed is not None and parsed.kind == "user" else None
    if found is None:
        raise NotFound(f"The app instance user {arn} does not exist.")
    return found


@operation("CreateAppInstance", writes=True)
def create_app_instance(
    tx: Tx, call: Call, p: IdentityCreateAppInstanceRequest
) -> Result[IdentityCreateAppInstanceResponse]:
    scope = f"CreateAppInstance|{call.account_id}"
    alive = lambda out: tx.app_instance(out["AppInstanceArn"]) is not None  # noqa: E731
    if (
        previous := replay(tx, scope, p, alive, output=IdentityCreateAppInstanceResponse)
    ) is not None:
        return Result(previous)
    arn = arns.app_instance(call.region, call.account_id, str(uuid.uuid4()))
    tx.insert_app_instance(AppInstance(arn, p["Name"], p.get("Metadata"), call.now, call.now))
    if p.get("Tags"):
        tx.put_tags(arn, {t["Key"]: t["Value"] for t in p["Tags"]})
    output: IdentityCreateAppInstanceResponse = {"AppInstanceArn": arn}
    remember(tx, call, scope, p, output)
    return Result(output)


@operation("DescribeAppInstance", writes=False)
def describe_app_instance(
    tx: Tx, call: Call, p: IdentityDescribeAppInstanceRequest
) -> Result[IdentityDescribeAppInstanceResponse]:
    return Result(
        {"AppInstance": shapes.app_instance(require_app_instance(tx, p["AppInstanceArn"]))}
    )


@operation("UpdateAppInstance", writes=True)
def update_app_instance(
    tx: Tx, call: Call, p: IdentityUpdateAppInstanceRequest
) -> Result[IdentityUpdateAppInstanceResponse]:
    arn = require_app_instance(tx, p["AppInstanceArn"]).arn
    tx.update_app_instance(arn, p["Name"], p.get("Metadata"), call.now)
    return Result({"AppInstanceArn": arn})


@operation("DeleteAppInstance", writes=True)
def delete_app_instance(
    tx: Tx, call: Call, p: IdentityDeleteAppInstanceRequest
) -> Result[NoOutput]:
    """Everything in the instance goes; members hear DELETE_CHANNEL, users' sessions close."""
    arn = require_app_instance(tx, p["AppInstanceArn"]).arn
    channels = tx.list_channels(arn, None, None, 1 << 30)
    names = tx.user_names(c.created_by for c in channels)
    events: list[BusEvent] = []
    seqs = tx.next_seqs(arn)
    for c in channels:
        seq = seqs.get(c.arn)
        if seq is None:  # deleted meanwhile (PostgreSQL: another writer), and announced there
            continue
        payload = shapes.channel(c, names, shapes.event_ts)
        events += [channel_deleted(route, seq, payload) for route in sub_channels.routes(tx, c)]
    events += [UserEvent(user, deleted=True) for user in tx.delete_app_instance(arn)]
    return Result({}, events, purges=bool(channels))


@operation("ListAppInstances", writes=False)
def list_app_instances(
    tx: Tx, call: Call, p: IdentityListAppInstancesRequest
) -> Result[IdentityListAppInstancesResponse]:
    limit = page_size(p)
    rows, token = paginate(
        tx.list_app_instances(decode_token(p, str), limit + 1), limit, lambda r: r.arn
    )
    return Result(
        {"AppInstances": [shapes.app_instance_summary(r) for r in rows], "NextToken": token}
    )


@operation("PutAppInstanceRetentionSettings", writes=True)
def put_retention(
    tx: Tx, call: Call, p: IdentityPutAppInstanceRetentionSettingsRequest
) -> Result[IdentityPutAppInstanceRetentionSettingsResponse]:
    arn = require_app_instance(tx, p["AppInstanceArn"]).arn
    settings = p["AppInstanceRetentionSettings"]
    days = (settings.get("ChannelRetentionSettings") or {}).get("RetentionDays")
    tx.set_retention_days(arn, days)
    return Result({"AppInstanceRetentionSettings": settings, "InitiateDeletionTimestamp": call.now})


@operation("GetAppInstanceRetentionSettings", writes=False)
def get_retention(
    tx: Tx, call: Call, p: IdentityGetAppInstanceRetentionSettingsRequest
) -> Result[IdentityGetAppInstanceRetentionSettingsResponse]:
    arn = require_app_instance(tx, p["AppInstanceArn"]).arn
    days = tx.retention_days(arn)
    settings: IdentityAppInstanceRetentionSettings = (
        {} if days is None else {"ChannelRetentionSettings": {"RetentionDays": days}}
    )
    return Result({"AppInstanceRetentionSettings": settings})


# --- users ---------------------------------------------------------------------------------------


@operation("CreateAppInstanceUser", writes=True)
def create_user(
    tx: Tx, call: Call, p: IdentityCreateAppInstanceUserRequest
) -> Result[IdentityCreateAppInstanceUserResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    scope = f"CreateAppInstanceUser|{app.arn}"
    alive = lambda out: tx.user(out["AppInstanceUserArn"]) is not None  # noqa: E731
    if (
        previous := replay(tx, scope, p, alive, output=IdentityCreateAppInstanceUserResponse)
    ) is not None:
        return Result(previous)
    user_id = p["AppInstanceUserId"]
    if not arns.valid_id(user_id):
        raise BadRequest(f"AppInstanceUserId {user_id!r} is not a valid user id.")
    arn = arns.child(app.arn, "user", user_id)
    if tx.user(arn) is not None:
        raise Conflict(f"The app instance user {arn} already exists.")
    expiration: Mapping[str, Any] = p.get("ExpirationSettings") or {}
    tx.insert_user(
        AppInstanceUser(
            arn,
            app.arn,
            p["Name"],
            p.get("Metadata"),
            call.now,
            call.now,
            expiration.get("ExpirationDays"),
            expiration.get("ExpirationCriterion"),
        )
    )
    if p.get("Tags"):
        tx.put_tags(arn, {t["Key"]: t["Value"] for t in p["Tags"]})
    output: IdentityCreateAppInstanceUserResponse = {"AppInstanceUserArn": arn}
    remember(tx, call, scope, p, output)
    return Result(output)


@operation("DescribeAppInstanceUser", writes=False)
def describe_user(
    tx: Tx, call: Call, p: IdentityDescribeAppInstanceUserRequest
) -> Result[IdentityDescribeAppInstanceUserResponse]:
    return Result(
        {"AppInstanceUser": shapes.app_instance_user(require_user(tx, p["AppInstanceUserArn"]))}
    )


@operation("UpdateAppInstanceUser", writes=True)
def update_user(
    tx: Tx, call: Call, p: IdentityUpdateAppInstanceUserRequest
) -> Result[IdentityUpdateAppInstanceUserResponse]:
    arn = require_user(tx, p["AppInstanceUserArn"]).arn
    tx.update_user(arn, p["Name"], p.get("Metadata"), call.now)
    return Result({"AppInstanceUserArn": arn})


@operation("DeleteAppInstanceUser", writes=True)
def delete_user(tx: Tx, call: Call, p: IdentityDeleteAppInstanceUserRequest) -> Result[NoOutput]:
    events = remove_user(tx, call, require_user(tx, p["AppInstanceUserArn"]))
    return Result({}, events, purges=sub_channels.emptied(events))


def remove_user(tx: Tx, call: Call, user: AppInstanceUser) -> list[BusEvent]:
    """Delete a user (DeleteAppInstanceUser, expiration): its channels' members see it leave,
    its own sessions are closed."""
    pairs = tx.memberships_with_channels(user.arn)
    memberships = [m for m, _ in pairs]
    # Elastic channels the user leaves as a regular member rebalance afterwards (SCALE_IN).
    rebalance = {c.arn: c for m, c in pairs if c.elastic is not None and not m.moderator}
    names = tx.user_names([user.arn, *(m.invited_by for m in memberships)])
    # The other members see the departure like any removal; the user's own sessions are closed.
    events: list[BusEvent] = [
        membership_deleted(
            route_key(m.channel_arn, m.sub_channel_id),
            tx.next_seq(m.channel_arn),
            shapes.channel_membership(m, names, shapes.event_ts),
            user.arn,
        )
        for m in memberships
    ]
    tx.delete_user(user.arn)
    for channel in rebalance.values():
        events += sub_channels.scale_in(tx, call, channel)
    events.append(UserEvent(user.arn, deleted=True))
    return events


@operation("ListAppInstanceUsers", writes=False)
def list_users(
    tx: Tx, call: Call, p: IdentityListAppInstanceUsersRequest
) -> Result[IdentityListAppInstanceUsersResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    limit = page_size(p)
    rows, token = paginate(
        tx.list_users(app.arn, decode_token(p, str), limit + 1), limit, lambda r: r.arn
    )
    return Result(
        {
            "AppInstanceArn": app.arn,
            "AppInstanceUsers": [shapes.app_instance_user_summary(r) for r in rows],
            "NextToken": token,
        }
    )


@operation("PutAppInstanceUserExpirationSettings", writes=True)
def put_user_expiration(
    tx: Tx, call: Call, p: IdentityPutAppInstanceUserExpirationSettingsRequest
) -> Result[IdentityPutAppInstanceUserExpirationSettingsResponse]:
    arn = require_user(tx, p["AppInstanceUserArn"]).arn
    settings = p.get("ExpirationSettings")
    tx.set_user_expiration(
        arn,
        settings["ExpirationDays"] if settings else None,
        settings["ExpirationCriterion"] if settings else None,
        call.now,
    )
    return Result({"AppInstanceUserArn": arn, "ExpirationSettings": settings})


# --- admins --------------------------------------------------------------------------------------


@operation("CreateAppInstanceAdmin", writes=True)
def create_admin(
    tx: Tx, call: Call, p: IdentityCreateAppInstanceAdminRequest
) -> Result[IdentityCreateAppInstanceAdminResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    admin_arn = p["AppInstanceAdminArn"]
    user = tx.user(admin_arn)
    if user is None or user.app_instance_arn != app.arn:
        raise NotFound(f"{admin_arn} is not a user of the app instance {app.arn}.")
    if tx.admin(app.arn, admin_arn) is not None:
        raise Conflict(f"{admin_arn} is already an admin of {app.arn}.")
    tx.insert_admin(Admin(app.arn, admin_arn, call.now))
    names = tx.user_names([admin_arn])
    return Result(
        {"AppInstanceAdmin": shapes.identity(admin_arn, names), "AppInstanceArn": app.arn}
    )


@operation("DescribeAppInstanceAdmin", writes=False)
def describe_admin(
    tx: Tx, call: Call, p: IdentityDescribeAppInstanceAdminRequest
) -> Result[IdentityDescribeAppInstanceAdminResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    admin = tx.admin(app.arn, p["AppInstanceAdminArn"])
    if admin is None:
        raise NotFound(f"{p['AppInstanceAdminArn']} is not an admin of {app.arn}.")
    names = tx.user_names([admin.admin_arn])
    return Result({"AppInstanceAdmin": shapes.app_instance_admin(admin, names)})


@operation("DeleteAppInstanceAdmin", writes=True)
def delete_admin(tx: Tx, call: Call, p: IdentityDeleteAppInstanceAdminRequest) -> Result[NoOutput]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    if tx.admin(app.arn, p["AppInstanceAdminArn"]) is None:
        raise NotFound(f"{p['AppInstanceAdminArn']} is not an admin of {app.arn}.")
    tx.delete_admin(app.arn, p["AppInstanceAdminArn"])
    return Result({})


@operation("ListAppInstanceAdmins", writes=False)
def list_admins(
    tx: Tx, call: Call, p: IdentityListAppInstanceAdminsRequest
) -> Result[IdentityListAppInstanceAdminsResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    limit = page_size(p)
    rows, token = paginate(
        tx.list_admins(app.arn, decode_token(p, str), limit + 1), limit, lambda r: r.admin_arn
    )
    names = tx.user_names(r.admin_arn for r in rows)
    return Result(
        {
            "AppInstanceArn": app.arn,
            "AppInstanceAdmins": [{"Admin": shapes.identity(r.admin_arn, names)} for r in rows],
            "NextToken": token,
        }
    )
