"""Operations of the pinned models that this version does not implement, refused explicitly.

A Chime feature answers a clear BadRequest, an IAM or STS operation the query protocol's
InvalidAction. Never a 500, never a silent success: a client learns at once that it relies on
something the server does not do yet. ``tests/unit/test_registry.py`` holds these lists and the
implemented operations against botocore's models: every modeled operation is in exactly one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bellwire.aws.errors import BadRequest, InvalidAction
from bellwire.aws.shapes import NoOutput
from bellwire.domain.operation import Call, Result, operation
from bellwire.store.base import Tx

# Every Chime feature of the pinned models is served; a newer model's operations land here
# (feature name -> operations) until they are, refused with a BadRequest.
FEATURES: dict[str, tuple[str, ...]] = {}


# IAM serves users, access keys, roles and inline policies: what a Chime backend needs.
IAM_FEATURES: dict[str, tuple[str, ...]] = {
    "Groups": (
        "AddUserToGroup",
        "AttachGroupPolicy",
        "CreateGroup",
        "DeleteGroup",
        "DeleteGroupPolicy",
        "DetachGroupPolicy",
        "GetGroup",
        "GetGroupPolicy",
        "ListAttachedGroupPolicies",
        "ListGroupPolicies",
        "ListGroups",
        "ListGroupsForUser",
        "PutGroupPolicy",
        "RemoveUserFromGroup",
        "UpdateGroup",
    ),
    "Managed policies": (
        "AttachRolePolicy",
        "AttachUserPolicy",
        "CreatePolicy",
        "CreatePolicyVersion",
        "DeletePolicy",
        "DeletePolicyVersion",
        "DetachRolePolicy",
        "DetachUserPolicy",
        "GetPolicy",
        "GetPolicyVersion",
        "ListAttachedRolePolicies",
        "ListAttachedUserPolicies",
        "ListEntitiesForPolicy",
        "ListPolicies",
        "ListPoliciesGrantingServiceAccess",
        "ListPolicyTags",
        "ListPolicyVersions",
        "SetDefaultPolicyVersion",
        "TagPolicy",
        "UntagPolicy",
    ),
    "Permissions boundaries": (
        "DeleteRolePermissionsBoundary",
        "DeleteUserPermissionsBoundary",
        "PutRolePermissionsBoundary",
        "PutUserPermissionsBoundary",
    ),
    "Instance profiles": (
        "AddRoleToInstanceProfile",
        "CreateInstanceProfile",
        "DeleteInstanceProfile",
        "GetInstanceProfile",
        "ListInstanceProfileTags",
        "ListInstanceProfiles",
        "ListInstanceProfilesForRole",
        "RemoveRoleFromInstanceProfile",
        "TagInstanceProfile",
        "UntagInstanceProfile",
    ),
    "Login profiles and passwords": (
        "ChangePassword",
        "CreateLoginProfile",
        "DeleteAccountPasswordPolicy",
        "DeleteLoginProfile",
        "GetAccountPasswordPolicy",
        "GetLoginProfile",
        "UpdateAccountPasswordPolicy",
        "UpdateLoginProfile",
    ),
    "MFA devices": (
        "CreateVirtualMFADevice",
        "DeactivateMFADevice",
        "DeleteVirtualMFADevice",
        "EnableMFADevice",
        "GetMFADevice",
        "ListMFADeviceTags",
        "ListMFADevices",
        "ListVirtualMFADevices",
        "ResyncMFADevice",
        "TagMFADevice",
        "UntagMFADevice",
    ),
    "OpenID Connect providers": (
        "AddClientIDToOpenIDConnectProvider",
        "CreateOpenIDConnectProvider",
        "DeleteOpenIDConnectProvider",
        "GetOpenIDConnectProvider",
        "ListOpenIDConnectProviderTags",
        "ListOpenIDConnectProviders",
        "RemoveClientIDFromOpenIDConnectProvider",
        "TagOpenIDConnectProvider",
        "UntagOpenIDConnectProvider",
        "UpdateOpenIDConnectProvider",
        "UpdateOpenIDConnectProviderThumbprint",
    ),
    "SAML providers": (
        "CreateSAMLProvider",
        "DeleteSAMLProvider",
        "GetSAMLProvider",
        "ListSAMLProviderTags",
        "ListSAMLProviders",
        "TagSAMLProvider",
        "UntagSAMLProvider",
        "UpdateSAMLProvider",
    ),
    "SSH public keys": (
        "DeleteSSHPublicKey",
        "GetSSHPublicKey",
        "ListSSHPublicKeys",
        "UpdateSSHPublicKey",
        "UploadSSHPublicKey",
    ),
    "Server certificates": (
        "DeleteServerCertificate",
        "GetServerCertificate",
        "ListServerCertificateTags",
        "ListServerCertificates",
        "TagServerCertificate",
        "UntagServerCertificate",
        "UpdateServerCertificate",
        "UploadServerCertificate",
    ),
    "Signing certificates": (
        "DeleteSigningCertificate",
        "ListSigningCertificates",
        "UpdateSigningCertificate",
        "UploadSigningCertificate",
    ),
    "Service-specific credentials": (
        "CreateServiceSpecificCredential",
        "DeleteServiceSpecificCredential",
        "ListServiceSpecificCredentials",
        "ResetServiceSpecificCredential",
        "UpdateServiceSpecificCredential",
    ),
    "Service-linked roles": (
        "CreateServiceLinkedRole",
        "DeleteServiceLinkedRole",
        "GetServiceLinkedRoleDeletionStatus",
    ),
    "Delegation requests": (
        "AcceptDelegationRequest",
        "AssociateDelegationRequest",
        "CreateDelegationRequest",
        "GetDelegationRequest",
        "ListDelegationRequests",
        "RejectDelegationRequest",
        "SendDelegationToken",
        "UpdateDelegationRequest",
    ),
    "Organizations": (
        "DisableOrganizationsRootCredentialsManagement",
        "DisableOrganizationsRootSessions",
        "EnableOrganizationsRootCredentialsManagement",
        "EnableOrganizationsRootSessions",
        "GenerateOrganizationsAccessReport",
        "GetOrganizationsAccessReport",
        "ListOrganizationsFeatures",
    ),
    "Outbound web identity federation": (
        "DisableOutboundWebIdentityFederation",
        "EnableOutboundWebIdentityFederation",
        "GetOutboundWebIdentityFederationInfo",
    ),
    "Access reports and last-used data": (
        "GenerateCredentialReport",
        "GenerateServiceLastAccessedDetails",
        "GetAccessKeyLastUsed",
        "GetCredentialReport",
        "GetServiceLastAccessedDetails",
        "GetServiceLastAccessedDetailsWithEntities",
    ),
    "Policy simulation and context keys": (
        "GetContextKeysForCustomPolicy",
        "GetContextKeysForPrincipalPolicy",
        "GetHumanReadableSummary",
        "SimulateCustomPolicy",
        "SimulatePrincipalPolicy",
    ),
    "Account settings": (
        "CreateAccountAlias",
        "DeleteAccountAlias",
        "GetAccountAuthorizationDetails",
        "GetAccountProperties",
        "GetAccountSummary",
        "ListAccountAliases",
        "PutAccountProperties",
        "SetSecurityTokenServicePreferences",
    ),
    "User and role tags": (
        "ListRoleTags",
        "ListUserTags",
        "TagRole",
        "TagUser",
        "UntagRole",
        "UntagUser",
    ),
    "User and role updates": (
        "UpdateRole",
        "UpdateRoleDescription",
        "UpdateUser",
    ),
    "Role acquisition and role templates": (
        "AcquireRole",
        "GetRoleTemplateVersion",
    ),
}

# STS issues session credentials from keys and roles; federation is not served.
STS_FEATURES: dict[str, tuple[str, ...]] = {
    "Federation": (
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetFederationToken",
        "GetWebIdentityToken",
    ),
    "Organizations root sessions": ("AssumeRoot",),
    "Delegated and scoped credentials": ("GetDelegatedAccessToken", "GetScopedCredentials"),
    "Authorization messages and key lookups": ("DecodeAuthorizationMessage", "GetAccessKeyInfo"),
}


def refusal(feature: str, name: str) -> Callable[[Tx, Call, dict[str, Any]], Result[NoOutput]]:
    """The handler of a refused Chime operation: a BadRequest naming its feature."""

    def refuse(tx: Tx, call: Call, p: dict[str, Any]) -> Result[NoOutput]:
        raise BadRequest(f"{feature} are not supported by this server yet ({name}).")

    return refuse


def _refuse(feature: str, name: str) -> None:
    operation(name, writes=False, refused=True)(refusal(feature, name))


for _feature, _names in FEATURES.items():
    for _name in _names:
        _refuse(_feature, _name)


def _refuse_query(service: str, name: str) -> None:
    # The same answer as an operation the registry does not know, before any authorization.
    def refuse(tx: Tx, call: Call, p: dict[str, Any]) -> Result[NoOutput]:
        raise InvalidAction(f"The operation {name} is not supported by this server.")

    operation(name, service=service, writes=False, resources=None, refused=True)(refuse)


for _service, _features in (("iam", IAM_FEATURES), ("sts", STS_FEATURES)):
    for _names in _features.values():
        for _name in _names:
            _refuse_query(_service, _name)
