"""Operation inputs as TypedDicts, generated from botocore's pinned models by
``scripts/gen-shapes`` (bellwire.aws.genshapes): do not edit."""

from typing import Required, TypedDict


class IamCreateAccessKeyRequest(TypedDict, total=False):
    UserName: str


class IamTag(TypedDict, total=False):
    Key: Required[str]
    Value: Required[str]


class IamCreateRoleRequest(TypedDict, total=False):
    Path: str
    RoleName: Required[str]
    AssumeRolePolicyDocument: Required[str]
    Description: str
    MaxSessionDuration: int
    MaxSigninSessionDuration: int
    PermissionsBoundary: str
    Tags: list[IamTag]


class IamCreateUserRequest(TypedDict, total=False):
    Path: str
    UserName: Required[str]
    PermissionsBoundary: str
    Tags: list[IamTag]


class IamDeleteAccessKeyRequest(TypedDict, total=False):
    UserName: str
    AccessKeyId: Required[str]


class IamDeleteRoleRequest(TypedDict, total=False):
    RoleName: Required[str]


class IamDeleteRolePolicyRequest(TypedDict, total=False):
    RoleName: Required[str]
    PolicyName: Required[str]


class IamDeleteUserRequest(TypedDict, total=False):
    UserName: Required[str]


class IamDeleteUserPolicyRequest(TypedDict, total=False):
    UserName: Required[str]
    PolicyName: Required[str]


class IamGetRoleRequest(TypedDict, total=False):
    RoleName: Required[str]


class IamGetRolePolicyRequest(TypedDict, total=False):
    RoleName: Required[str]
    PolicyName: Required[str]


class IamGetUserRequest(TypedDict, total=False):
    UserName: str


class IamGetUserPolicyRequest(TypedDict, total=False):
    UserName: Required[str]
    PolicyName: Required[str]


class IamListAccessKeysRequest(TypedDict, total=False):
    UserName: str
    Marker: str
    MaxItems: int


class IamListRolePoliciesRequest(TypedDict, total=False):
    RoleName: Required[str]
    Marker: str
    MaxItems: int


class IamListRolesRequest(TypedDict, total=False):
    PathPrefix: str
    Marker: str
    MaxItems: int


class IamListUserPoliciesRequest(TypedDict, total=False):
    UserName: Required[str]
    Marker: str
    MaxItems: int


class IamListUsersRequest(TypedDict, total=False):
    PathPrefix: str
    Marker: str
    MaxItems: int


class IamPutRolePolicyRequest(TypedDict, total=False):
    RoleName: Required[str]
    PolicyName: Required[str]
    PolicyDocument: Required[str]


class IamPutUserPolicyRequest(TypedDict, total=False):
    UserName: Required[str]
    PolicyName: Required[str]
    PolicyDocument: Required[str]


class IamUpdateAccessKeyRequest(TypedDict, total=False):
    UserName: str
    AccessKeyId: Required[str]
    Status: Required[str]


class IamUpdateAssumeRolePolicyRequest(TypedDict, total=False):
    RoleName: Required[str]
    PolicyDocument: Required[str]


class StsPolicyDescriptorType(TypedDict, total=False):
    arn: str


class StsTag(TypedDict, total=False):
    Key: Required[str]
    Value: Required[str]


class StsProvidedContext(TypedDict, total=False):
    ProviderArn: str
    ContextAssertion: str


class StsAssumeRoleRequest(TypedDict, total=False):
    RoleArn: Required[str]
    RoleSessionName: Required[str]
    PolicyArns: list[StsPolicyDescriptorType]
    Policy: str
    DurationSeconds: int
    Tags: list[StsTag]
    TransitiveTagKeys: list[str]
    ExternalId: str
    SerialNumber: str
    TokenCode: str
    SourceIdentity: str
    ProvidedContexts: list[StsProvidedContext]
    MinimumSessionTokenSize: int


class StsGetCallerIdentityRequest(TypedDict, total=False):
    pass


class StsGetSessionTokenRequest(TypedDict, total=False):
    DurationSeconds: int
    SerialNumber: str
    TokenCode: str
    MinimumSessionTokenSize: int
