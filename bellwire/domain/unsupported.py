"""Features of the services that this version does not implement answer a clear BadRequest.

Never a 500, never a silent success: a client learns at once that it relies on something the
server does not do yet.
"""

from __future__ import annotations

from typing import Any

from bellwire.aws.errors import BadRequest
from bellwire.domain.operation import Call, Result, operation
from bellwire.store.base import Tx

FEATURES: dict[str, tuple[str, ...]] = {
    "Channel flows": (
        "CreateChannelFlow",
        "DescribeChannelFlow",
        "UpdateChannelFlow",
        "DeleteChannelFlow",
        "ListChannelFlows",
        "AssociateChannelFlow",
        "DisassociateChannelFlow",
        "ListChannelsAssociatedWithChannelFlow",
        "ChannelFlowCallback",
    ),
    "Elastic channels": ("ListSubChannels",),
    "Messaging streaming configurations": (
        "PutMessagingStreamingConfigurations",
        "GetMessagingStreamingConfigurations",
        "DeleteMessagingStreamingConfigurations",
    ),
    "App instance bots": (
        "CreateAppInstanceBot",
        "DescribeAppInstanceBot",
        "UpdateAppInstanceBot",
        "DeleteAppInstanceBot",
        "ListAppInstanceBots",
    ),
    "App instance user endpoints": (
        "RegisterAppInstanceUserEndpoint",
        "DescribeAppInstanceUserEndpoint",
        "UpdateAppInstanceUserEndpoint",
        "DeregisterAppInstanceUserEndpoint",
        "ListAppInstanceUserEndpoints",
    ),
}


def _refuse(feature: str, name: str) -> None:
    def refuse(tx: Tx, call: Call, p: dict[str, Any]) -> Result:
        raise BadRequest(f"{feature} are not supported by this server yet ({name}).")

    operation(name, writes=False)(refuse)


for _feature, _names in FEATURES.items():
    for _name in _names:
        _refuse(_feature, _name)
