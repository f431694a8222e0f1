"""Delivering push notifications: the asyncio side of ``domain/push.py``.

Once a send is committed, the devices it is due are grouped by their endpoint's Pinpoint
application, which ``[resources]`` maps to the operator's push gateway; each gateway gets one
signed POST per message carrying all of its devices (endpoint, notification, message, and the
payload Pinpoint would hand the device), through the one webhook caller with its retries, never
waiting for a free place. A failure is logged and counted, and never touches the send, which
answered already. Like AWS, pushes are not retried after a restart [INFERRED].
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from bellwire.compact_json import compact
from bellwire.domain import push, push_filter
from bellwire.records.bots import PushCall
from bellwire.resources import ResourceMap
from bellwire.webhook import WebhookCaller

log = logging.getLogger("bellwire.push")


def _address(call: PushCall) -> tuple[str, str]:
    """(channel type as Pinpoint names it, the token to address)."""
    e = call.endpoint
    voip = call.notification.get("Type") == "VOIP" and e.type != "GCM"
    if voip and e.attributes.get("VoipDeviceToken"):
        kind = "APNS_VOIP" if e.type == "APNS" else "APNS_VOIP_SANDBOX"
        return kind, str(e.attributes["VoipDeviceToken"])
    return e.type, str(e.attributes.get("DeviceToken", ""))


def batch_body(resource_arn: str, calls: Sequence[PushCall]) -> dict[str, Any]:
    """What a push gateway receives for one message (pure)."""
    first = calls[0]
    return {
        "ApplicationArn": resource_arn,
        "Message": {
            "ChannelArn": first.channel_arn,
            "MessageId": first.message_id,
            "SenderArn": first.sender_arn,
        },
        "Notification": dict(first.notification),
        "Deliveries": [
            {
                "Endpoint": {
                    "AppInstanceUserArn": c.endpoint.user_arn,
                    "EndpointId": c.endpoint.endpoint_id,
                    "Type": c.endpoint.type,
                },
                "ChannelType": _address(c)[0],
                "Address": _address(c)[1],
                "Payload": push_filter.device_payload(
                    c.endpoint.type, c.notification, c.channel_arn, c.message_id
                ),
            }
            for c in calls
        ],
    }


class Pusher:
    def __init__(self, caller: WebhookCaller, resources: ResourceMap) -> None:
        self._caller = caller
        self._resources = resources
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.delivered = 0  # devices handed to a gateway that answered 2xx
        self.failed = 0  # devices whose gateway was unmapped, busy, or failed

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, calls: Sequence[PushCall]) -> None:
        """Called in commit order, on the loop, right after the send: never blocks."""
        if self._closing:
            return
        groups: dict[tuple[str, str], list[PushCall]] = defaultdict(list)
        for call in calls:
            groups[(call.message_id, call.endpoint.resource_arn)].append(call)
        for (_, resource), batch in groups.items():
            url = self._resources.url(resource)
            if url is None or urlsplit(url).scheme not in push.SCHEMES:
                self.failed += len(batch)
                log.warning(
                    "push of %d notifications skipped: %s is not mapped to a push gateway",
                    len(batch),
                    resource,
                )
                continue
            task = asyncio.get_running_loop().create_task(self._post(url, resource, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, resource: str, batch: Sequence[PushCall]) -> None:
        body = compact(batch_body(resource, batch)).encode()
        outcome = await self._caller.post(url, body, wait=False)
        if outcome.ok:
            self.delivered += len(batch)
            return
        self.failed += len(batch)
        log.warning(
            "push of %d notifications to %s failed: %s", len(batch), resource, outcome.error
        )

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
