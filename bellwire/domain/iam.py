"""The IAM operations bellwire serves, as boto3's ``iam`` client calls them.

Each operation is registered like a Chime one: ``iam:<Operation>`` is authorized by
``bellwire.api.operations`` on the user or role ARN its ``resources`` name (root may do
everything); the function validates what the model codec cannot (policies, numeric bounds) and
runs inside one store transaction. A write's :class:`IamChange` rides on its :class:`Result`: the
store's commit consumer hands it to the credential index, so the next request already sees it.

Where AWS behaviour was adapted:

* DeleteUser/DeleteRole refuse while access keys or inline policies remain (DeleteConflict);
  deleting a user or role revokes the STS sessions it issued.
* Permissions boundaries are refused (InvalidInput) rather than ignored.
"""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Required, TypedDict, cast

from bellwire.aws.shapes import (
    IamCreateAccessKeyRequest,
    IamCreateAccessKeyResponse,
    IamCreateRoleRequest,
    IamCreateRoleResponse,
    IamCreateUserRequest,
    IamCreateUserResponse,
    IamDeleteAccessKeyRequest,
    IamDeleteRolePolicyRequest,
    IamDeleteRoleRequest,
    IamDeleteUserPolicyRequest,
    IamDeleteUserRequest,
    IamGetRolePolicyRequest,
    IamGetRolePolicyResponse,
    IamGetRoleRequest,
    IamGetRoleResponse,
    IamGetUserPolicyRequest,
    IamGetUserPolicyResponse,
    IamGetUserRequest,
    IamGetUserResponse,
    IamListAccessKeysRequest,
    IamListAccessKeysResponse,
    IamListRolePoliciesRequest,
    IamListRolePoliciesResponse,
    IamListRolesRequest,
    IamListRolesResponse,
    IamListUserPoliciesRequest,
    IamListUserPoliciesResponse,
    IamListUsersRequest,
    IamListUsersResponse,
    IamPutRolePolicyRequest,
    IamPutUserPolicyRequest,
    IamTag,
    IamUpdateAccessKeyRequest,
    IamUpdateAssumeRolePolicyRequest,
    NoOutput,
)
from bellwire.aws.shapes import (
    IamRole as RoleShape,
)
from bellwire.aws.shapes import (
    IamUser as UserShape,
)
from bellwire.domain.operation import Call, IamContext, Result, operation
from bellwire.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from bellwire.iam.keys import new_access_key_id, new_secret_access_key
from bellwire.iam.policy import (
    MAX_ROLE_INLINE,
    MAX_TRUST,
    MAX_USER_INLINE,
    Policy,
    PolicyKind,
    parse_policy,
)
from bellwire.iam.principal import Principal
from bellwire.records.iam import (
    ASSUMED_ROLE,
    USER_SESSION,
    AccessKey,
    IamChange,
    IamRole,
    IamUser,
    name_key,
)
from bellwire.store.base import IamTx

_ID_ALPHABET: Final = string.ascii_uppercase + "234567"
MAX_KEYS_PER_USER: Final = 2  # AWS's quota
DEFAULT_MAX_ITEMS: Final = 100
DEFAULT_ROLE_SESSION: Final = 3600
ROLE_SESSION_BOUNDS: Final = (3600, 43200)  # a role's MaxSessionDuration


def new_id(prefix: str) -> str:
    """An IAM unique id (AIDA... for users, AROA... for roles): 21 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def size(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())  # IAM counts non-whitespace characters


def parse_tags(raw: Sequence[IamTag] | None) -> dict[str, str]:
    """IAM and STS tags (their shapes are the same), keys unique regardless of case."""
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for tag in raw or ():
        key, value = tag["Key"], tag.get("Value", "")
        if key.lower() in seen:  # tag keys are case-insensitive in IAM and STS
            raise InvalidInput(f"Duplicate tag keys found: {key}")
        seen.add(key.lower())
        tags[key] = value
    return tags


def _tag_list(tags: Mapping[str, str]) -> list[IamTag]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def bounded(value: int | None, default: int, low: int, high: int, member: str) -> int:
    if value is None:
        return default
    if value < low:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value less than or equal to {high}"
        )
    return value


def _marker(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode("ascii")


def _after(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode("ascii")).decode()
    except (ValueError, UnicodeError):
        raise InvalidInput("Invalid Marker.") from None


class _Truncation(TypedDict, total=False):
    """The paging members every IAM list answer has."""

    IsTruncated: Required[bool]
    Marker: str


def _page(items: list[Any], limit: int, key: Callable[[Any], str]) -> tuple[list[Any], _Truncation]:
    """Cut one page of ``limit + 1`` fetched items; the extra one says whether more follow."""
    if len(items) > limit:
        page = items[:limit]
        return page, {"IsTruncated": True, "Marker": _marker(key(page[-1]))}
    return items, {"IsTruncated": False}


# --- the call context ----------------------------------------------------------------------------


def context(call: Call) -> IamContext:
    if call.iam is None:
        raise RuntimeError("an IAM or STS operation needs the call's IAM context")
    return call.iam


def caller(call: Call) -> Principal:
    if call.principal is None:
        raise RuntimeError("an IAM or STS operation needs the calling principal")
    return call.principal


def user_arn(call: Call, name: str, path: str | None = None) -> str:
    if path is None:
        entry = context(call).credentials.user(name)
        path = entry.user.path if entry is not None else "/"
        name = entry.user.name if entry is not None else name
    return f"arn:aws:iam::{call.account_id}:user{path}{name}"


def role_arn(call: Call, name: str, path: str | None = None) -> str:
    if path is None:
        entry = context(call).credentials.role(name)
        path = entry.role.path if entry is not None else "/"
        name = entry.role.name if entry is not None else name
    return f"arn:aws:iam::{call.account_id}:role{path}{name}"


def target_user(call: Call, params: Mapping[str, Any]) -> str:
    """The UserName member, or the calling IAM user when it is omitted (as in AWS)."""
    name = params.get("UserName")
    if name:
        return str(name)
    principal = caller(call)
    if principal.kind == "user":
        return principal.name
    raise ValidationError("Must specify userName when calling with non-User credentials")


def _path(params: Mapping[str, Any]) -> str:
    return str(params.get("Path") or "/")


# --- how each operation's resources are found ----------------------------------------------------


def the_user(call: Call, params: dict[str, Any]) -> list[str]:
    """The user named by UserName, or the caller when it is omitted."""
    return [user_arn(call, target_user(call, params))]


def the_role(call: Call, params: dict[str, Any]) -> list[str]:
    return [role_arn(call, params["RoleName"])]


def _new_user(call: Call, params: dict[str, Any]) -> list[str]:
    return [user_arn(call, params["UserName"], _path(params))]


def _new_role(call: Call, params: dict[str, Any]) -> list[str]:
    return [role_arn(call, params["RoleName"], _path(params))]


def _all_users(call: Call, params: dict[str, Any]) -> list[str]:
    return [f"arn:aws:iam::{call.account_id}:user/*"]


def _all_roles(call: Call, params: dict[str, Any]) -> list[str]:
    return [f"arn:aws:iam::{call.account_id}:role/*"]


def _get_user_resources(call: Call, params: dict[str, Any]) -> list[str]:
    principal = caller(call)
    if not params.get("UserName") and principal.kind == "root":
        return [principal.arn]
    return the_user(call, params)


# --- shapes --------------------------------------------------------------------------------------


def _user_json(user: IamUser, account_id: str, *, tags: bool = True) -> UserShape:
    out: UserShape = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn(account_id),
        "CreateDate": user.created,
    }
    if tags and user.tags:
        out["Tags"] = _tag_list(user.tags)
    return out


def _role_json(role: IamRole, account_id: str, *, tags: bool = True) -> RoleShape:
    out: RoleShape = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn(account_id),
        "CreateDate": role.created,
        "AssumeRolePolicyDocument": role.trust_policy,
        "MaxSessionDuration": role.max_session_duration,
    }
    if role.description:
        out["Description"] = role.description
    if tags and role.tags:
        out["Tags"] = _tag_list(role.tags)
    return out


def no_user(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The user with name {name} cannot be found.")


def no_role(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def _identity_policy(text: str, name: str, max_size: int) -> Policy:
    return parse_policy(text, name=name, kind=PolicyKind.IDENTITY, max_size=max_size)


# --- users ---------------------------------------------------------------------------------------


@operation("CreateUser", service="iam", writes=True, resources=_new_user)
def create_user(
    tx: IamTx, call: Call, params: IamCreateUserRequest
) -> Result[IamCreateUserResponse]:
    name, path = params["UserName"], _path(params)
    if params.get("PermissionsBoundary"):
        raise InvalidInput("Permissions boundaries are not supported by this server.")
    user = IamUser(name, new_id("AIDA"), path, call.now, parse_tags(params.get("Tags")))
    itx = tx
    if itx.iam_user(name) is not None:
        raise EntityAlreadyExists(f"User with name {name} already exists.")
    itx.insert_iam_user(user)
    return Result(
        {"User": _user_json(user, call.account_id)},
        iam=IamChange(users={name_key(name): itx.iam_user_state(name)}),
    )


@operation("GetUser", service="iam", writes=False, resources=_get_user_resources)
def get_user(tx: IamTx, call: Call, params: IamGetUserRequest) -> Result[IamGetUserResponse]:
    principal = caller(call)
    if not params.get("UserName") and principal.kind == "root":
        # AWS answers the root user without the UserName and CreateDate the model requires.
        root = {"UserId": principal.user_id, "Arn": principal.arn, "Path": "/"}
        return Result({"User": cast(UserShape, root)})
    name = target_user(call, params)
    user = tx.iam_user(name)
    if user is None:
        raise no_user(name)
    return Result({"User": _user_json(user, call.account_id)})


@operation("ListUsers", service="iam", writes=False, resources=_all_users)
def list_users(tx: IamTx, call: Call, params: IamListUsersRequest) -> Result[IamListUsersResponse]:
    limit = bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
    after = _after(params.get("Marker"))
    prefix = str(params.get("PathPrefix") or "/")
    users = tx.list_iam_users(prefix, after, limit + 1)
    page, more = _page(users, limit, lambda u: name_key(u.name))
    return Result({"Users": [_user_json(u, call.account_id, tags=False) for u in page], **more})


@operation("DeleteUser", service="iam", writes=True, resources=the_user)
def delete_user(tx: IamTx, call: Call, params: IamDeleteUserRequest) -> Result[NoOutput]:
    name = params["UserName"]
    itx = tx
    if itx.iam_user(name) is None:
        raise no_user(name)
    if itx.access_keys_of(name):
        raise DeleteConflict("Cannot delete entity, must delete access keys first.")
    if itx.inline_policies("user", name):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    itx.delete_iam_user(name)
    revoked = itx.delete_sts_sessions_of(USER_SESSION, name)
    return Result({}, iam=IamChange(users={name_key(name): None}, sessions_removed=tuple(revoked)))


# --- access keys ---------------------------------------------------------------------------------


@operation("CreateAccessKey", service="iam", writes=True, resources=the_user)
def create_access_key(
    tx: IamTx, call: Call, params: IamCreateAccessKeyRequest
) -> Result[IamCreateAccessKeyResponse]:
    return add_access_key(tx, call, target_user(call, params))


def add_access_key(
    tx: IamTx, call: Call, name: str, access_key_id: str | None = None, secret: str | None = None
) -> Result[IamCreateAccessKeyResponse]:
    """Create a key (a fixed one for TOML declarations); authorized by the caller, if any."""
    key = AccessKey(
        access_key_id or new_access_key_id(),
        name,
        secret or new_secret_access_key(),
        "Active",
        call.now,
    )
    itx = tx
    user = itx.iam_user(name)
    if user is None:
        raise no_user(name)
    if len(itx.access_keys_of(name)) >= MAX_KEYS_PER_USER:
        raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")
    if itx.access_key_owner(key.access_key_id) is not None or (
        key.access_key_id in context(call).credentials
    ):
        raise EntityAlreadyExists(f"Access key {key.access_key_id} already exists.")
    itx.insert_access_key(key)
    output: IamCreateAccessKeyResponse = {
        "AccessKey": {
            "UserName": user.name,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": key.secret,
            "CreateDate": key.created,
        }
    }
    return Result(output, iam=IamChange(users={name_key(name): itx.iam_user_state(name)}))


@operation("ListAccessKeys", service="iam", writes=False, resources=the_user)
def list_access_keys(
    tx: IamTx, call: Call, params: IamListAccessKeysRequest
) -> Result[IamListAccessKeysResponse]:
    name = target_user(call, params)
    limit = bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
    after = _after(params.get("Marker"))
    itx = tx
    if itx.iam_user(name) is None:
        raise no_user(name)
    keys = [k for k in itx.access_keys_of(name) if after is None or k.access_key_id > after]
    keys.sort(key=lambda k: k.access_key_id)
    page, more = _page(keys, limit, lambda k: k.access_key_id)
    return Result(
        {
            "AccessKeyMetadata": [
                {
                    "UserName": k.user_name,
                    "AccessKeyId": k.access_key_id,
                    "Status": k.status,
                    "CreateDate": k.created,
                }
                for k in page
            ],
            **more,
        }
    )


def _change_key(
    tx: IamTx, name: str, access_key_id: str, change: Callable[[IamTx], None]
) -> Result[NoOutput]:
    itx = tx
    if itx.iam_user(name) is None:
        raise no_user(name)
    owner = itx.access_key_owner(access_key_id)
    if owner is None or name_key(owner) != name_key(name):
        raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
    change(itx)
    return Result({}, iam=IamChange(users={name_key(name): itx.iam_user_state(name)}))


@operation("UpdateAccessKey", service="iam", writes=True, resources=the_user)
def update_access_key(tx: IamTx, call: Call, params: IamUpdateAccessKeyRequest) -> Result[NoOutput]:
    name = target_user(call, params)
    key_id, status = params["AccessKeyId"], params["Status"]
    if status not in ("Active", "Inactive"):  # the model's enum also has "Expired"
        raise InvalidInput("Status must be Active or Inactive.")
    return _change_key(tx, name, key_id, lambda itx: itx.set_access_key_status(key_id, status))


@operation("DeleteAccessKey", service="iam", writes=True, resources=the_user)
def delete_access_key(tx: IamTx, call: Call, params: IamDeleteAccessKeyRequest) -> Result[NoOutput]:
    name = target_user(call, params)
    key_id = params["AccessKeyId"]
    return _change_key(tx, name, key_id, lambda itx: itx.delete_access_key(key_id))


# --- inline policies -----------------------------------------------------------------------------


def put_policy(
    tx: IamTx, kind: str, name: str, policy_name: str, document: str
) -> Result[NoOutput]:
    limit = MAX_USER_INLINE if kind == "user" else MAX_ROLE_INLINE
    _identity_policy(document, policy_name, limit)
    itx = tx
    owner = itx.iam_user(name) if kind == "user" else itx.iam_role(name)
    if owner is None:
        raise no_user(name) if kind == "user" else no_role(name)
    others = itx.inline_policies(kind, name)
    others.pop(policy_name, None)
    if size(document) + sum(map(size, others.values())) > limit:
        raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {name}")
    itx.put_inline_policy(kind, name, policy_name, document)
    return Result({}, iam=_state(itx, kind, name))


def _state(itx: IamTx, kind: str, name: str) -> IamChange:
    if kind == "user":
        return IamChange(users={name_key(name): itx.iam_user_state(name)})
    return IamChange(roles={name_key(name): itx.iam_role_state(name)})


def _get_policy(tx: IamTx, kind: str, name: str, policy_name: str) -> tuple[str, str]:
    """The owner's name as stored and the policy's document."""
    itx = tx
    owner = itx.iam_user(name) if kind == "user" else itx.iam_role(name)
    document = itx.inline_policy(kind, name, policy_name)
    if owner is None:
        raise no_user(name) if kind == "user" else no_role(name)
    if document is None:
        raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
    return owner.name, document


def _list_policies(
    tx: IamTx, kind: str, name: str, params: Mapping[str, Any]
) -> Result[IamListUserPoliciesResponse]:  # ListRolePolicies' shape is the same
    limit = bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
    after = _after(params.get("Marker"))
    itx = tx
    owner = itx.iam_user(name) if kind == "user" else itx.iam_role(name)
    if owner is None:
        raise no_user(name) if kind == "user" else no_role(name)
    names = [p for p in itx.inline_policies(kind, name) if after is None or p > after]
    page, more = _page(names, limit, lambda p: p)
    return Result({"PolicyNames": page, **more})


def _delete_policy(tx: IamTx, kind: str, name: str, policy_name: str) -> Result[NoOutput]:
    itx = tx
    owner = itx.iam_user(name) if kind == "user" else itx.iam_role(name)
    if owner is None:
        raise no_user(name) if kind == "user" else no_role(name)
    if itx.inline_policy(kind, name, policy_name) is None:
        raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
    itx.delete_inline_policy(kind, name, policy_name)
    return Result({}, iam=_state(itx, kind, name))


@operation("PutUserPolicy", service="iam", writes=True, resources=the_user)
def put_user_policy(tx: IamTx, call: Call, params: IamPutUserPolicyRequest) -> Result[NoOutput]:
    return put_policy(
        tx, "user", params["UserName"], params["PolicyName"], params["PolicyDocument"]
    )


@operation("GetUserPolicy", service="iam", writes=False, resources=the_user)
def get_user_policy(
    tx: IamTx, call: Call, params: IamGetUserPolicyRequest
) -> Result[IamGetUserPolicyResponse]:
    name, document = _get_policy(tx, "user", params["UserName"], params["PolicyName"])
    policy_name = params["PolicyName"]
    return Result({"UserName": name, "PolicyName": policy_name, "PolicyDocument": document})


@operation("ListUserPolicies", service="iam", writes=False, resources=the_user)
def list_user_policies(
    tx: IamTx, call: Call, params: IamListUserPoliciesRequest
) -> Result[IamListUserPoliciesResponse]:
    return _list_policies(tx, "user", params["UserName"], params)


@operation("DeleteUserPolicy", service="iam", writes=True, resources=the_user)
def delete_user_policy(
    tx: IamTx, call: Call, params: IamDeleteUserPolicyRequest
) -> Result[NoOutput]:
    return _delete_policy(tx, "user", params["UserName"], params["PolicyName"])


@operation("PutRolePolicy", service="iam", writes=True, resources=the_role)
def put_role_policy(tx: IamTx, call: Call, params: IamPutRolePolicyRequest) -> Result[NoOutput]:
    return put_policy(
        tx, "role", params["RoleName"], params["PolicyName"], params["PolicyDocument"]
    )


@operation("GetRolePolicy", service="iam", writes=False, resources=the_role)
def get_role_policy(
    tx: IamTx, call: Call, params: IamGetRolePolicyRequest
) -> Result[IamGetRolePolicyResponse]:
    name, document = _get_policy(tx, "role", params["RoleName"], params["PolicyName"])
    policy_name = params["PolicyName"]
    return Result({"RoleName": name, "PolicyName": policy_name, "PolicyDocument": document})


@operation("ListRolePolicies", service="iam", writes=False, resources=the_role)
def list_role_policies(
    tx: IamTx, call: Call, params: IamListRolePoliciesRequest
) -> Result[IamListRolePoliciesResponse]:
    return _list_policies(tx, "role", params["RoleName"], params)


@operation("DeleteRolePolicy", service="iam", writes=True, resources=the_role)
def delete_role_policy(
    tx: IamTx, call: Call, params: IamDeleteRolePolicyRequest
) -> Result[NoOutput]:
    return _delete_policy(tx, "role", params["RoleName"], params["PolicyName"])


# --- roles ---------------------------------------------------------------------------------------


@operation("CreateRole", service="iam", writes=True, resources=_new_role)
def create_role(
    tx: IamTx, call: Call, params: IamCreateRoleRequest
) -> Result[IamCreateRoleResponse]:
    name, path = params["RoleName"], _path(params)
    if params.get("PermissionsBoundary"):
        raise InvalidInput("Permissions boundaries are not supported by this server.")
    document = params["AssumeRolePolicyDocument"]
    parse_policy(document, name="trust", kind=PolicyKind.TRUST, max_size=MAX_TRUST)
    role = IamRole(
        name=name,
        role_id=new_id("AROA"),
        path=path,
        description=params.get("Description"),
        trust_policy=document,
        max_session_duration=bounded(
            params.get("MaxSessionDuration"),
            DEFAULT_ROLE_SESSION,
            *ROLE_SESSION_BOUNDS,
            "maxSessionDuration",
        ),
        created=call.now,
        tags=parse_tags(params.get("Tags")),
    )
    itx = tx
    if itx.iam_role(name) is not None:
        raise EntityAlreadyExists(f"Role with name {name} already exists.")
    itx.insert_iam_role(role)
    return Result(
        {"Role": _role_json(role, call.account_id)},
        iam=IamChange(roles={name_key(name): itx.iam_role_state(name)}),
    )


@operation("GetRole", service="iam", writes=False, resources=the_role)
def get_role(tx: IamTx, call: Call, params: IamGetRoleRequest) -> Result[IamGetRoleResponse]:
    name = params["RoleName"]
    role = tx.iam_role(name)
    if role is None:
        raise no_role(name)
    return Result({"Role": _role_json(role, call.account_id)})


@operation("ListRoles", service="iam", writes=False, resources=_all_roles)
def list_roles(tx: IamTx, call: Call, params: IamListRolesRequest) -> Result[IamListRolesResponse]:
    limit = bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
    after = _after(params.get("Marker"))
    prefix = str(params.get("PathPrefix") or "/")
    roles = tx.list_iam_roles(prefix, after, limit + 1)
    page, more = _page(roles, limit, lambda r: name_key(r.name))
    return Result({"Roles": [_role_json(r, call.account_id, tags=False) for r in page], **more})


@operation("DeleteRole", service="iam", writes=True, resources=the_role)
def delete_role(tx: IamTx, call: Call, params: IamDeleteRoleRequest) -> Result[NoOutput]:
    name = params["RoleName"]
    itx = tx
    if itx.iam_role(name) is None:
        raise no_role(name)
    if itx.inline_policies("role", name):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    itx.delete_iam_role(name)
    revoked = itx.delete_sts_sessions_of(ASSUMED_ROLE, name)
    return Result({}, iam=IamChange(roles={name_key(name): None}, sessions_removed=tuple(revoked)))


@operation("UpdateAssumeRolePolicy", service="iam", writes=True, resources=the_role)
def update_assume_role_policy(
    tx: IamTx, call: Call, params: IamUpdateAssumeRolePolicyRequest
) -> Result[NoOutput]:
    return update_role(tx, params["RoleName"], trust_policy=params["PolicyDocument"])


def update_role(
    tx: IamTx, name: str, *, trust_policy: str | None = None, max_session: int | None = None
) -> Result[NoOutput]:
    if trust_policy is not None:
        parse_policy(trust_policy, name="trust", kind=PolicyKind.TRUST, max_size=MAX_TRUST)
    itx = tx
    role = itx.iam_role(name)
    if role is None:
        raise no_role(name)
    itx.update_iam_role(
        name,
        trust_policy=role.trust_policy if trust_policy is None else trust_policy,
        max_session_duration=max_session or role.max_session_duration,
    )
    return Result({}, iam=IamChange(roles={name_key(name): itx.iam_role_state(name)}))
