"""Operation inputs as TypedDicts, generated from botocore's pinned models by
``scripts/gen-shapes`` (bellwire.aws.genshapes): do not edit."""

from datetime import datetime
from typing import Required, TypedDict


class IdentityTag(TypedDict, total=False):
    Key: Required[str]
    Value: Required[str]


class IdentityCreateAppInstanceRequest(TypedDict, total=False):
    Name: Required[str]
    Metadata: str
    ClientRequestToken: Required[str]
    Tags: list[IdentityTag]


class IdentityCreateAppInstanceAdminRequest(TypedDict, total=False):
    AppInstanceAdminArn: Required[str]
    AppInstanceArn: Required[str]


class IdentityInvokedBy(TypedDict, total=False):
    StandardMessages: Required[str]
    TargetedMessages: Required[str]


class IdentityLexConfiguration(TypedDict, total=False):
    RespondsTo: str
    InvokedBy: IdentityInvokedBy
    LexBotAliasArn: Required[str]
    LocaleId: Required[str]
    WelcomeIntent: str


class IdentityConfiguration(TypedDict, total=False):
    Lex: Required[IdentityLexConfiguration]


class IdentityCreateAppInstanceBotRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    Name: str
    Metadata: str
    ClientRequestToken: Required[str]
    Tags: list[IdentityTag]
    Configuration: Required[IdentityConfiguration]


class IdentityExpirationSettings(TypedDict, total=False):
    ExpirationDays: Required[int]
    ExpirationCriterion: Required[str]


class IdentityCreateAppInstanceUserRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    AppInstanceUserId: Required[str]
    Name: Required[str]
    Metadata: str
    ClientRequestToken: Required[str]
    Tags: list[IdentityTag]
    ExpirationSettings: IdentityExpirationSettings


class IdentityDeleteAppInstanceRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]


class IdentityDeleteAppInstanceAdminRequest(TypedDict, total=False):
    AppInstanceAdminArn: Required[str]
    AppInstanceArn: Required[str]


class IdentityDeleteAppInstanceBotRequest(TypedDict, total=False):
    AppInstanceBotArn: Required[str]


class IdentityDeleteAppInstanceUserRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]


class IdentityDeregisterAppInstanceUserEndpointRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    EndpointId: Required[str]


class IdentityDescribeAppInstanceRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]


class IdentityDescribeAppInstanceAdminRequest(TypedDict, total=False):
    AppInstanceAdminArn: Required[str]
    AppInstanceArn: Required[str]


class IdentityDescribeAppInstanceBotRequest(TypedDict, total=False):
    AppInstanceBotArn: Required[str]


class IdentityDescribeAppInstanceUserRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]


class IdentityDescribeAppInstanceUserEndpointRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    EndpointId: Required[str]


class IdentityGetAppInstanceRetentionSettingsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]


class IdentityListAppInstanceAdminsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    MaxResults: int
    NextToken: str


class IdentityListAppInstanceBotsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    MaxResults: int
    NextToken: str


class IdentityListAppInstanceUserEndpointsRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    MaxResults: int
    NextToken: str


class IdentityListAppInstanceUsersRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    MaxResults: int
    NextToken: str


class IdentityListAppInstancesRequest(TypedDict, total=False):
    MaxResults: int
    NextToken: str


class IdentityChannelRetentionSettings(TypedDict, total=False):
    RetentionDays: int


class IdentityAppInstanceRetentionSettings(TypedDict, total=False):
    ChannelRetentionSettings: IdentityChannelRetentionSettings


class IdentityPutAppInstanceRetentionSettingsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    AppInstanceRetentionSettings: Required[IdentityAppInstanceRetentionSettings]


class IdentityPutAppInstanceUserExpirationSettingsRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    ExpirationSettings: IdentityExpirationSettings


class IdentityEndpointAttributes(TypedDict, total=False):
    DeviceToken: Required[str]
    VoipDeviceToken: str


class IdentityRegisterAppInstanceUserEndpointRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    Name: str
    Type: Required[str]
    ResourceArn: Required[str]
    EndpointAttributes: Required[IdentityEndpointAttributes]
    ClientRequestToken: Required[str]
    AllowMessages: str


class IdentityUpdateAppInstanceRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    Name: Required[str]
    Metadata: Required[str]


class IdentityUpdateAppInstanceBotRequest(TypedDict, total=False):
    AppInstanceBotArn: Required[str]
    Name: Required[str]
    Metadata: Required[str]
    Configuration: IdentityConfiguration


class IdentityUpdateAppInstanceUserRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    Name: Required[str]
    Metadata: Required[str]


class IdentityUpdateAppInstanceUserEndpointRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    EndpointId: Required[str]
    Name: str
    AllowMessages: str


class MessagingAssociateChannelFlowRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChannelFlowArn: Required[str]
    ChimeBearer: Required[str]


class MessagingBatchCreateChannelMembershipRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    Type: str
    MemberArns: Required[list[str]]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingPushNotificationConfiguration(TypedDict, total=False):
    Title: str
    Body: str
    Type: str


class MessagingMessageAttributeValue(TypedDict, total=False):
    StringValues: list[str]


class MessagingChannelMessageCallback(TypedDict, total=False):
    MessageId: Required[str]
    Content: str
    Metadata: str
    PushNotification: MessagingPushNotificationConfiguration
    MessageAttributes: dict[str, MessagingMessageAttributeValue]
    SubChannelId: str
    ContentType: str


class MessagingChannelFlowCallbackRequest(TypedDict, total=False):
    CallbackId: Required[str]
    ChannelArn: Required[str]
    DeleteResource: bool
    ChannelMessage: Required[MessagingChannelMessageCallback]


class MessagingTag(TypedDict, total=False):
    Key: Required[str]
    Value: Required[str]


class MessagingElasticChannelConfiguration(TypedDict, total=False):
    MaximumSubChannels: Required[int]
    TargetMembershipsPerSubChannel: Required[int]
    MinimumMembershipPercentage: Required[int]


class MessagingExpirationSettings(TypedDict, total=False):
    ExpirationDays: Required[int]
    ExpirationCriterion: Required[str]


class MessagingCreateChannelRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    Name: Required[str]
    Mode: str
    Privacy: str
    Metadata: str
    ClientRequestToken: Required[str]
    Tags: list[MessagingTag]
    ChimeBearer: Required[str]
    ChannelId: str
    MemberArns: list[str]
    ModeratorArns: list[str]
    ElasticChannelConfiguration: MessagingElasticChannelConfiguration
    ExpirationSettings: MessagingExpirationSettings


class MessagingCreateChannelBanRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]


class MessagingLambdaConfiguration(TypedDict, total=False):
    ResourceArn: Required[str]
    InvocationType: Required[str]


class MessagingProcessorConfiguration(TypedDict, total=False):
    Lambda: Required[MessagingLambdaConfiguration]


class MessagingProcessor(TypedDict, total=False):
    Name: Required[str]
    Configuration: Required[MessagingProcessorConfiguration]
    ExecutionOrder: Required[int]
    FallbackAction: Required[str]


class MessagingCreateChannelFlowRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    Processors: Required[list[MessagingProcessor]]
    Name: Required[str]
    Tags: list[MessagingTag]
    ClientRequestToken: Required[str]


class MessagingCreateChannelMembershipRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    Type: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingCreateChannelModeratorRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChannelModeratorArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDeleteChannelRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDeleteChannelBanRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDeleteChannelFlowRequest(TypedDict, total=False):
    ChannelFlowArn: Required[str]


class MessagingDeleteChannelMembershipRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingDeleteChannelMessageRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MessageId: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingDeleteChannelModeratorRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChannelModeratorArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDescribeChannelRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDescribeChannelBanRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDescribeChannelFlowRequest(TypedDict, total=False):
    ChannelFlowArn: Required[str]


class MessagingDescribeChannelMembershipRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingDescribeChannelMembershipForAppInstanceUserRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    AppInstanceUserArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDescribeChannelModeratedByAppInstanceUserRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    AppInstanceUserArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDescribeChannelModeratorRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChannelModeratorArn: Required[str]
    ChimeBearer: Required[str]


class MessagingDisassociateChannelFlowRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChannelFlowArn: Required[str]
    ChimeBearer: Required[str]


class MessagingGetChannelMembershipPreferencesRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]


class MessagingGetChannelMessageRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MessageId: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingGetChannelMessageStatusRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MessageId: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingGetMessagingSessionEndpointRequest(TypedDict, total=False):
    NetworkType: str


class MessagingListChannelBansRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]


class MessagingListChannelFlowsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    MaxResults: int
    NextToken: str


class MessagingListChannelMembershipsRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    Type: str
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingListChannelMembershipsForAppInstanceUserRequest(TypedDict, total=False):
    AppInstanceUserArn: str
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]


class MessagingListChannelMessagesRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    SortOrder: str
    NotBefore: datetime
    NotAfter: datetime
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingListChannelModeratorsRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]


class MessagingListChannelsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    Privacy: str
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]


class MessagingListChannelsAssociatedWithChannelFlowRequest(TypedDict, total=False):
    ChannelFlowArn: Required[str]
    MaxResults: int
    NextToken: str


class MessagingListChannelsModeratedByAppInstanceUserRequest(TypedDict, total=False):
    AppInstanceUserArn: str
    MaxResults: int
    NextToken: str
    ChimeBearer: Required[str]


class MessagingListTagsForResourceRequest(TypedDict, total=False):
    ResourceARN: Required[str]


class MessagingPutChannelExpirationSettingsRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChimeBearer: str
    ExpirationSettings: MessagingExpirationSettings


class MessagingPushNotificationPreferences(TypedDict, total=False):
    AllowNotifications: Required[str]
    FilterRule: str


class MessagingChannelMembershipPreferences(TypedDict, total=False):
    PushNotifications: MessagingPushNotificationPreferences


class MessagingPutChannelMembershipPreferencesRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]
    Preferences: Required[MessagingChannelMembershipPreferences]


class MessagingRedactChannelMessageRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MessageId: Required[str]
    ChimeBearer: Required[str]
    SubChannelId: str


class MessagingSearchField(TypedDict, total=False):
    Key: Required[str]
    Values: Required[list[str]]
    Operator: Required[str]


class MessagingSearchChannelsRequest(TypedDict, total=False):
    ChimeBearer: str
    Fields: Required[list[MessagingSearchField]]
    MaxResults: int
    NextToken: str


class MessagingTarget(TypedDict, total=False):
    MemberArn: str


class MessagingSendChannelMessageRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    Content: Required[str]
    Type: Required[str]
    Persistence: Required[str]
    Metadata: str
    ClientRequestToken: Required[str]
    ChimeBearer: Required[str]
    PushNotification: MessagingPushNotificationConfiguration
    MessageAttributes: dict[str, MessagingMessageAttributeValue]
    SubChannelId: str
    ContentType: str
    Target: list[MessagingTarget]


class MessagingTagResourceRequest(TypedDict, total=False):
    ResourceARN: Required[str]
    Tags: Required[list[MessagingTag]]


class MessagingUntagResourceRequest(TypedDict, total=False):
    ResourceARN: Required[str]
    TagKeys: Required[list[str]]


class MessagingUpdateChannelRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    Name: str
    Mode: str
    Metadata: str
    ChimeBearer: Required[str]


class MessagingUpdateChannelFlowRequest(TypedDict, total=False):
    ChannelFlowArn: Required[str]
    Processors: Required[list[MessagingProcessor]]
    Name: Required[str]


class MessagingUpdateChannelMessageRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MessageId: Required[str]
    Content: Required[str]
    Metadata: str
    ChimeBearer: Required[str]
    SubChannelId: str
    ContentType: str


class MessagingUpdateChannelReadMarkerRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChimeBearer: Required[str]


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
