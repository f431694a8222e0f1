"""Operation inputs and outputs as TypedDicts, generated from botocore's pinned models
by ``scripts/gen-shapes`` (bellwire.aws.genshapes): do not edit."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Required, TypedDict


class NoOutput(TypedDict):
    """What an operation returns whose model has no output shape."""


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
    RespondsTo: str | None
    InvokedBy: IdentityInvokedBy | None
    LexBotAliasArn: Required[str]
    LocaleId: Required[str]
    WelcomeIntent: str | None


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
    RetentionDays: int | None


class IdentityAppInstanceRetentionSettings(TypedDict, total=False):
    ChannelRetentionSettings: IdentityChannelRetentionSettings | None


class IdentityPutAppInstanceRetentionSettingsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    AppInstanceRetentionSettings: Required[IdentityAppInstanceRetentionSettings]


class IdentityPutAppInstanceUserExpirationSettingsRequest(TypedDict, total=False):
    AppInstanceUserArn: Required[str]
    ExpirationSettings: IdentityExpirationSettings


class IdentityEndpointAttributes(TypedDict, total=False):
    DeviceToken: Required[str]
    VoipDeviceToken: str | None


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


class IdentityCreateAppInstanceResponse(TypedDict, total=False):
    AppInstanceArn: str | None


class IdentityIdentity(TypedDict, total=False):
    Arn: str | None
    Name: str | None


class IdentityCreateAppInstanceAdminResponse(TypedDict, total=False):
    AppInstanceAdmin: IdentityIdentity | None
    AppInstanceArn: str | None


class IdentityCreateAppInstanceBotResponse(TypedDict, total=False):
    AppInstanceBotArn: str | None


class IdentityCreateAppInstanceUserResponse(TypedDict, total=False):
    AppInstanceUserArn: str | None


class IdentityAppInstance(TypedDict, total=False):
    AppInstanceArn: str | None
    Name: str | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    Metadata: str | None


class IdentityDescribeAppInstanceResponse(TypedDict, total=False):
    AppInstance: IdentityAppInstance | None


class IdentityAppInstanceAdmin(TypedDict, total=False):
    Admin: IdentityIdentity | None
    AppInstanceArn: str | None
    CreatedTimestamp: float | None


class IdentityDescribeAppInstanceAdminResponse(TypedDict, total=False):
    AppInstanceAdmin: IdentityAppInstanceAdmin | None


class IdentityAppInstanceBot(TypedDict, total=False):
    AppInstanceBotArn: str | None
    Name: str | None
    Configuration: IdentityConfiguration | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    Metadata: str | None


class IdentityDescribeAppInstanceBotResponse(TypedDict, total=False):
    AppInstanceBot: IdentityAppInstanceBot | None


class IdentityAppInstanceUser(TypedDict, total=False):
    AppInstanceUserArn: str | None
    Name: str | None
    Metadata: str | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    ExpirationSettings: IdentityExpirationSettings | None


class IdentityDescribeAppInstanceUserResponse(TypedDict, total=False):
    AppInstanceUser: IdentityAppInstanceUser | None


class IdentityEndpointState(TypedDict, total=False):
    Status: Required[str]
    StatusReason: str | None


class IdentityAppInstanceUserEndpoint(TypedDict, total=False):
    AppInstanceUserArn: str | None
    EndpointId: str | None
    Name: str | None
    Type: str | None
    ResourceArn: str | None
    EndpointAttributes: IdentityEndpointAttributes | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    AllowMessages: str | None
    EndpointState: IdentityEndpointState | None


class IdentityDescribeAppInstanceUserEndpointResponse(TypedDict, total=False):
    AppInstanceUserEndpoint: IdentityAppInstanceUserEndpoint | None


class IdentityGetAppInstanceRetentionSettingsResponse(TypedDict, total=False):
    AppInstanceRetentionSettings: IdentityAppInstanceRetentionSettings | None
    InitiateDeletionTimestamp: float | None


class IdentityAppInstanceAdminSummary(TypedDict, total=False):
    Admin: IdentityIdentity | None


class IdentityListAppInstanceAdminsResponse(TypedDict, total=False):
    AppInstanceArn: str | None
    AppInstanceAdmins: Sequence[IdentityAppInstanceAdminSummary] | None
    NextToken: str | None


class IdentityAppInstanceBotSummary(TypedDict, total=False):
    AppInstanceBotArn: str | None
    Name: str | None
    Metadata: str | None


class IdentityListAppInstanceBotsResponse(TypedDict, total=False):
    AppInstanceArn: str | None
    AppInstanceBots: Sequence[IdentityAppInstanceBotSummary] | None
    NextToken: str | None


class IdentityAppInstanceUserEndpointSummary(TypedDict, total=False):
    AppInstanceUserArn: str | None
    EndpointId: str | None
    Name: str | None
    Type: str | None
    AllowMessages: str | None
    EndpointState: IdentityEndpointState | None


class IdentityListAppInstanceUserEndpointsResponse(TypedDict, total=False):
    AppInstanceUserEndpoints: Sequence[IdentityAppInstanceUserEndpointSummary] | None
    NextToken: str | None


class IdentityAppInstanceUserSummary(TypedDict, total=False):
    AppInstanceUserArn: str | None
    Name: str | None
    Metadata: str | None


class IdentityListAppInstanceUsersResponse(TypedDict, total=False):
    AppInstanceArn: str | None
    AppInstanceUsers: Sequence[IdentityAppInstanceUserSummary] | None
    NextToken: str | None


class IdentityAppInstanceSummary(TypedDict, total=False):
    AppInstanceArn: str | None
    Name: str | None
    Metadata: str | None


class IdentityListAppInstancesResponse(TypedDict, total=False):
    AppInstances: Sequence[IdentityAppInstanceSummary] | None
    NextToken: str | None


class IdentityPutAppInstanceRetentionSettingsResponse(TypedDict, total=False):
    AppInstanceRetentionSettings: IdentityAppInstanceRetentionSettings | None
    InitiateDeletionTimestamp: float | None


class IdentityPutAppInstanceUserExpirationSettingsResponse(TypedDict, total=False):
    AppInstanceUserArn: str | None
    ExpirationSettings: IdentityExpirationSettings | None


class IdentityRegisterAppInstanceUserEndpointResponse(TypedDict, total=False):
    AppInstanceUserArn: str | None
    EndpointId: str | None


class IdentityUpdateAppInstanceResponse(TypedDict, total=False):
    AppInstanceArn: str | None


class IdentityUpdateAppInstanceBotResponse(TypedDict, total=False):
    AppInstanceBotArn: str | None


class IdentityUpdateAppInstanceUserResponse(TypedDict, total=False):
    AppInstanceUserArn: str | None


class IdentityUpdateAppInstanceUserEndpointResponse(TypedDict, total=False):
    AppInstanceUserArn: str | None
    EndpointId: str | None


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
    StringValues: list[str] | None


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


class MessagingDeleteMessagingStreamingConfigurationsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]


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


class MessagingGetMessagingStreamingConfigurationsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]


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


class MessagingListSubChannelsRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChimeBearer: Required[str]
    MaxResults: int
    NextToken: str


class MessagingListTagsForResourceRequest(TypedDict, total=False):
    ResourceARN: Required[str]


class MessagingPutChannelExpirationSettingsRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    ChimeBearer: str
    ExpirationSettings: MessagingExpirationSettings


class MessagingPushNotificationPreferences(TypedDict, total=False):
    AllowNotifications: Required[str]
    FilterRule: str | None


class MessagingChannelMembershipPreferences(TypedDict, total=False):
    PushNotifications: MessagingPushNotificationPreferences | None


class MessagingPutChannelMembershipPreferencesRequest(TypedDict, total=False):
    ChannelArn: Required[str]
    MemberArn: Required[str]
    ChimeBearer: Required[str]
    Preferences: Required[MessagingChannelMembershipPreferences]


class MessagingStreamingConfiguration(TypedDict, total=False):
    DataType: Required[str]
    ResourceArn: Required[str]


class MessagingPutMessagingStreamingConfigurationsRequest(TypedDict, total=False):
    AppInstanceArn: Required[str]
    StreamingConfigurations: Required[list[MessagingStreamingConfiguration]]


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
    MemberArn: str | None


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


class MessagingIdentity(TypedDict, total=False):
    Arn: str | None
    Name: str | None


class MessagingBatchChannelMemberships(TypedDict, total=False):
    InvitedBy: MessagingIdentity | None
    Type: str | None
    Members: Sequence[MessagingIdentity] | None
    ChannelArn: str | None
    SubChannelId: str | None


class MessagingBatchCreateChannelMembershipError(TypedDict, total=False):
    MemberArn: str | None
    ErrorCode: str | None
    ErrorMessage: str | None


class MessagingBatchCreateChannelMembershipResponse(TypedDict, total=False):
    BatchChannelMemberships: MessagingBatchChannelMemberships | None
    Errors: Sequence[MessagingBatchCreateChannelMembershipError] | None


class MessagingChannelFlowCallbackResponse(TypedDict, total=False):
    ChannelArn: str | None
    CallbackId: str | None


class MessagingCreateChannelResponse(TypedDict, total=False):
    ChannelArn: str | None


class MessagingCreateChannelBanResponse(TypedDict, total=False):
    ChannelArn: str | None
    Member: MessagingIdentity | None


class MessagingCreateChannelFlowResponse(TypedDict, total=False):
    ChannelFlowArn: str | None


class MessagingCreateChannelMembershipResponse(TypedDict, total=False):
    ChannelArn: str | None
    Member: MessagingIdentity | None
    SubChannelId: str | None


class MessagingCreateChannelModeratorResponse(TypedDict, total=False):
    ChannelArn: str | None
    ChannelModerator: MessagingIdentity | None


class MessagingChannel(TypedDict, total=False):
    Name: str | None
    ChannelArn: str | None
    Mode: str | None
    Privacy: str | None
    Metadata: str | None
    CreatedBy: MessagingIdentity | None
    CreatedTimestamp: float | None
    LastMessageTimestamp: float | None
    LastUpdatedTimestamp: float | None
    ChannelFlowArn: str | None
    ElasticChannelConfiguration: MessagingElasticChannelConfiguration | None
    ExpirationSettings: MessagingExpirationSettings | None


class MessagingDescribeChannelResponse(TypedDict, total=False):
    Channel: MessagingChannel | None


class MessagingChannelBan(TypedDict, total=False):
    Member: MessagingIdentity | None
    ChannelArn: str | None
    CreatedTimestamp: float | None
    CreatedBy: MessagingIdentity | None


class MessagingDescribeChannelBanResponse(TypedDict, total=False):
    ChannelBan: MessagingChannelBan | None


class MessagingChannelFlow(TypedDict, total=False):
    ChannelFlowArn: str | None
    Processors: Sequence[MessagingProcessor] | None
    Name: str | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None


class MessagingDescribeChannelFlowResponse(TypedDict, total=False):
    ChannelFlow: MessagingChannelFlow | None


class MessagingChannelMembership(TypedDict, total=False):
    InvitedBy: MessagingIdentity | None
    Type: str | None
    Member: MessagingIdentity | None
    ChannelArn: str | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    SubChannelId: str | None


class MessagingDescribeChannelMembershipResponse(TypedDict, total=False):
    ChannelMembership: MessagingChannelMembership | None


class MessagingChannelSummary(TypedDict, total=False):
    Name: str | None
    ChannelArn: str | None
    Mode: str | None
    Privacy: str | None
    Metadata: str | None
    LastMessageTimestamp: float | None


class MessagingAppInstanceUserMembershipSummary(TypedDict, total=False):
    Type: str | None
    ReadMarkerTimestamp: float | None
    SubChannelId: str | None


class MessagingChannelMembershipForAppInstanceUserSummary(TypedDict, total=False):
    ChannelSummary: MessagingChannelSummary | None
    AppInstanceUserMembershipSummary: MessagingAppInstanceUserMembershipSummary | None


class MessagingDescribeChannelMembershipForAppInstanceUserResponse(TypedDict, total=False):
    ChannelMembership: MessagingChannelMembershipForAppInstanceUserSummary | None


class MessagingChannelModeratedByAppInstanceUserSummary(TypedDict, total=False):
    ChannelSummary: MessagingChannelSummary | None


class MessagingDescribeChannelModeratedByAppInstanceUserResponse(TypedDict, total=False):
    Channel: MessagingChannelModeratedByAppInstanceUserSummary | None


class MessagingChannelModerator(TypedDict, total=False):
    Moderator: MessagingIdentity | None
    ChannelArn: str | None
    CreatedTimestamp: float | None
    CreatedBy: MessagingIdentity | None


class MessagingDescribeChannelModeratorResponse(TypedDict, total=False):
    ChannelModerator: MessagingChannelModerator | None


class MessagingGetChannelMembershipPreferencesResponse(TypedDict, total=False):
    ChannelArn: str | None
    Member: MessagingIdentity | None
    Preferences: MessagingChannelMembershipPreferences | None


class MessagingChannelMessageStatusStructure(TypedDict, total=False):
    Value: str | None
    Detail: str | None


class MessagingChannelMessage(TypedDict, total=False):
    ChannelArn: str | None
    MessageId: str | None
    Content: str | None
    Metadata: str | None
    Type: str | None
    CreatedTimestamp: float | None
    LastEditedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    Sender: MessagingIdentity | None
    Redacted: bool | None
    Persistence: str | None
    Status: MessagingChannelMessageStatusStructure | None
    MessageAttributes: Mapping[str, MessagingMessageAttributeValue] | None
    SubChannelId: str | None
    ContentType: str | None
    Target: Sequence[MessagingTarget] | None


class MessagingGetChannelMessageResponse(TypedDict, total=False):
    ChannelMessage: MessagingChannelMessage | None


class MessagingGetChannelMessageStatusResponse(TypedDict, total=False):
    Status: MessagingChannelMessageStatusStructure | None


class MessagingMessagingSessionEndpoint(TypedDict, total=False):
    Url: str | None


class MessagingGetMessagingSessionEndpointResponse(TypedDict, total=False):
    Endpoint: MessagingMessagingSessionEndpoint | None


class MessagingGetMessagingStreamingConfigurationsResponse(TypedDict, total=False):
    StreamingConfigurations: Sequence[MessagingStreamingConfiguration] | None


class MessagingChannelBanSummary(TypedDict, total=False):
    Member: MessagingIdentity | None


class MessagingListChannelBansResponse(TypedDict, total=False):
    ChannelArn: str | None
    NextToken: str | None
    ChannelBans: Sequence[MessagingChannelBanSummary] | None


class MessagingChannelFlowSummary(TypedDict, total=False):
    ChannelFlowArn: str | None
    Name: str | None
    Processors: Sequence[MessagingProcessor] | None


class MessagingListChannelFlowsResponse(TypedDict, total=False):
    ChannelFlows: Sequence[MessagingChannelFlowSummary] | None
    NextToken: str | None


class MessagingChannelMembershipSummary(TypedDict, total=False):
    Member: MessagingIdentity | None


class MessagingListChannelMembershipsResponse(TypedDict, total=False):
    ChannelArn: str | None
    ChannelMemberships: Sequence[MessagingChannelMembershipSummary] | None
    NextToken: str | None


class MessagingListChannelMembershipsForAppInstanceUserResponse(TypedDict, total=False):
    ChannelMemberships: Sequence[MessagingChannelMembershipForAppInstanceUserSummary] | None
    NextToken: str | None


class MessagingChannelMessageSummary(TypedDict, total=False):
    MessageId: str | None
    Content: str | None
    Metadata: str | None
    Type: str | None
    CreatedTimestamp: float | None
    LastUpdatedTimestamp: float | None
    LastEditedTimestamp: float | None
    Sender: MessagingIdentity | None
    Redacted: bool | None
    Status: MessagingChannelMessageStatusStructure | None
    MessageAttributes: Mapping[str, MessagingMessageAttributeValue] | None
    ContentType: str | None
    Target: Sequence[MessagingTarget] | None


class MessagingListChannelMessagesResponse(TypedDict, total=False):
    ChannelArn: str | None
    NextToken: str | None
    ChannelMessages: Sequence[MessagingChannelMessageSummary] | None
    SubChannelId: str | None


class MessagingChannelModeratorSummary(TypedDict, total=False):
    Moderator: MessagingIdentity | None


class MessagingListChannelModeratorsResponse(TypedDict, total=False):
    ChannelArn: str | None
    NextToken: str | None
    ChannelModerators: Sequence[MessagingChannelModeratorSummary] | None


class MessagingListChannelsResponse(TypedDict, total=False):
    Channels: Sequence[MessagingChannelSummary] | None
    NextToken: str | None


class MessagingChannelAssociatedWithFlowSummary(TypedDict, total=False):
    Name: str | None
    ChannelArn: str | None
    Mode: str | None
    Privacy: str | None
    Metadata: str | None


class MessagingListChannelsAssociatedWithChannelFlowResponse(TypedDict, total=False):
    Channels: Sequence[MessagingChannelAssociatedWithFlowSummary] | None
    NextToken: str | None


class MessagingListChannelsModeratedByAppInstanceUserResponse(TypedDict, total=False):
    Channels: Sequence[MessagingChannelModeratedByAppInstanceUserSummary] | None
    NextToken: str | None


class MessagingSubChannelSummary(TypedDict, total=False):
    SubChannelId: str | None
    MembershipCount: int | None


class MessagingListSubChannelsResponse(TypedDict, total=False):
    ChannelArn: str | None
    SubChannels: Sequence[MessagingSubChannelSummary] | None
    NextToken: str | None


class MessagingListTagsForResourceResponse(TypedDict, total=False):
    Tags: Sequence[MessagingTag] | None


class MessagingPutChannelExpirationSettingsResponse(TypedDict, total=False):
    ChannelArn: str | None
    ExpirationSettings: MessagingExpirationSettings | None


class MessagingPutChannelMembershipPreferencesResponse(TypedDict, total=False):
    ChannelArn: str | None
    Member: MessagingIdentity | None
    Preferences: MessagingChannelMembershipPreferences | None


class MessagingPutMessagingStreamingConfigurationsResponse(TypedDict, total=False):
    StreamingConfigurations: Sequence[MessagingStreamingConfiguration] | None


class MessagingRedactChannelMessageResponse(TypedDict, total=False):
    ChannelArn: str | None
    MessageId: str | None
    SubChannelId: str | None


class MessagingSearchChannelsResponse(TypedDict, total=False):
    Channels: Sequence[MessagingChannelSummary] | None
    NextToken: str | None


class MessagingSendChannelMessageResponse(TypedDict, total=False):
    ChannelArn: str | None
    MessageId: str | None
    Status: MessagingChannelMessageStatusStructure | None
    SubChannelId: str | None


class MessagingUpdateChannelResponse(TypedDict, total=False):
    ChannelArn: str | None


class MessagingUpdateChannelFlowResponse(TypedDict, total=False):
    ChannelFlowArn: str | None


class MessagingUpdateChannelMessageResponse(TypedDict, total=False):
    ChannelArn: str | None
    MessageId: str | None
    Status: MessagingChannelMessageStatusStructure | None
    SubChannelId: str | None


class MessagingUpdateChannelReadMarkerResponse(TypedDict, total=False):
    ChannelArn: str | None


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


class IamAccessKey(TypedDict, total=False):
    UserName: Required[str]
    AccessKeyId: Required[str]
    Status: Required[str]
    SecretAccessKey: Required[str]
    CreateDate: float | None


class IamCreateAccessKeyResponse(TypedDict, total=False):
    AccessKey: Required[IamAccessKey]


class IamAttachedPermissionsBoundary(TypedDict, total=False):
    PermissionsBoundaryType: str | None
    PermissionsBoundaryArn: str | None


class IamRoleLastUsed(TypedDict, total=False):
    LastUsedDate: float | None
    Region: str | None


class IamSourceRoleTemplate(TypedDict, total=False):
    TemplateArn: Required[str]
    TemplateMinorVersion: Required[int]


class IamRole(TypedDict, total=False):
    Path: Required[str]
    RoleName: Required[str]
    RoleId: Required[str]
    Arn: Required[str]
    CreateDate: Required[float]
    AssumeRolePolicyDocument: str | None
    Description: str | None
    MaxSessionDuration: int | None
    MaxSigninSessionDuration: int | None
    PermissionsBoundary: IamAttachedPermissionsBoundary | None
    Tags: Sequence[IamTag] | None
    RoleLastUsed: IamRoleLastUsed | None
    SourceRoleTemplate: IamSourceRoleTemplate | None


class IamCreateRoleResponse(TypedDict, total=False):
    Role: Required[IamRole]


class IamUser(TypedDict, total=False):
    Path: Required[str]
    UserName: Required[str]
    UserId: Required[str]
    Arn: Required[str]
    CreateDate: Required[float]
    PasswordLastUsed: float | None
    PermissionsBoundary: IamAttachedPermissionsBoundary | None
    Tags: Sequence[IamTag] | None


class IamCreateUserResponse(TypedDict, total=False):
    User: IamUser | None


class IamGetRoleResponse(TypedDict, total=False):
    Role: Required[IamRole]


class IamGetRolePolicyResponse(TypedDict, total=False):
    RoleName: Required[str]
    PolicyName: Required[str]
    PolicyDocument: Required[str]


class IamGetUserResponse(TypedDict, total=False):
    User: Required[IamUser]


class IamGetUserPolicyResponse(TypedDict, total=False):
    UserName: Required[str]
    PolicyName: Required[str]
    PolicyDocument: Required[str]


class IamAccessKeyMetadata(TypedDict, total=False):
    UserName: str | None
    AccessKeyId: str | None
    Status: str | None
    CreateDate: float | None


class IamListAccessKeysResponse(TypedDict, total=False):
    AccessKeyMetadata: Required[Sequence[IamAccessKeyMetadata]]
    IsTruncated: bool | None
    Marker: str | None


class IamListRolePoliciesResponse(TypedDict, total=False):
    PolicyNames: Required[Sequence[str]]
    IsTruncated: bool | None
    Marker: str | None


class IamListRolesResponse(TypedDict, total=False):
    Roles: Required[Sequence[IamRole]]
    IsTruncated: bool | None
    Marker: str | None


class IamListUserPoliciesResponse(TypedDict, total=False):
    PolicyNames: Required[Sequence[str]]
    IsTruncated: bool | None
    Marker: str | None


class IamListUsersResponse(TypedDict, total=False):
    Users: Required[Sequence[IamUser]]
    IsTruncated: bool | None
    Marker: str | None


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


class StsCredentials(TypedDict, total=False):
    AccessKeyId: Required[str]
    SecretAccessKey: Required[str]
    SessionToken: Required[str]
    Expiration: Required[float]


class StsAssumedRoleUser(TypedDict, total=False):
    AssumedRoleId: Required[str]
    Arn: Required[str]


class StsAssumeRoleResponse(TypedDict, total=False):
    Credentials: StsCredentials | None
    AssumedRoleUser: StsAssumedRoleUser | None
    PackedPolicySize: int | None
    SourceIdentity: str | None
    SessionTokenUtilization: int | None
    SessionTokenSize: int | None


class StsGetCallerIdentityResponse(TypedDict, total=False):
    UserId: str | None
    Account: str | None
    Arn: str | None


class StsGetSessionTokenResponse(TypedDict, total=False):
    Credentials: StsCredentials | None
    SessionTokenUtilization: int | None
    SessionTokenSize: int | None
