"""Sub-channels of elastic channels: listed per channel (ListSubChannels needs a bearer: the
console uses the app instance's first AppInstanceAdmin)."""

from bellwire.console.features import Feature

FEATURE = Feature(
    "subchannels",
    "Sub-channels",
    "channel",
    "ListSubChannels",
    "SubChannels",
    ("SubChannelId", "MembershipCount"),
    scope_member="ChannelArn",
)
