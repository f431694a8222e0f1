"""Channel flows (CreateChannelFlow ...): listed per app instance. A channel's page shows its own
flow instead (``chime_pages.channel_flow``)."""

from bellwire.console.features import Feature

FEATURE = Feature(
    "flows", "Channel flows", "app", "ListChannelFlows", "ChannelFlows", ("ChannelFlowArn", "Name")
)
