"""Channel flows (CreateChannelFlow ...): listed per app instance, and on a channel's page."""

from bellwire.console.features import Feature

FEATURE = Feature(
    "flows", "Channel flows", "app", "ListChannelFlows", "ChannelFlows", ("ChannelFlowArn", "Name")
)
