"""The example channel flow processor that ``bellwire serve`` ships: a word filter.

It answers at ``POST /processors/word-filter`` on the server's own port, like any processor:
it checks the webhook signature (only this server's calls pass), answers 202, decides with
``bellwire.flows.word_filter`` (``word_filter_deny``, ``word_filter_mask``) and calls back. The
callback runs the ChannelFlowCallback operation in-process, with the same authorization,
validation and commit as one that came over HTTP, as a restricted identity of its own
(:func:`callback_principal`): the session of a built-in role whose only permission is
``chime:ChannelFlowCallback`` on the server's app instances, as a Lambda's execution role would
be. It holds no access key, so nothing else can act as it, and a mistake in the filter can do
nothing but answer callbacks. Point a flow at it by mapping a Lambda
ARN to the URL (docs/channel-flows.md)::

    bellwire serve --word-filter-deny spam --resource \\
        arn:aws:lambda:us-east-1:123456789012:function:word-filter=http://127.0.0.1:8080/processors/word-filter
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from bellwire import flows, webhook
from bellwire.api.operations import Operations, find
from bellwire.aws.errors import AwsError
from bellwire.iam.policy import parse_policy
from bellwire.iam.principal import Principal

PATH = "/processors/word-filter"
MAX_EVENT_BYTES = 64 << 10  # an event holds one message of at most 4 KB

log = logging.getLogger("bellwire.flows")


ROLE_NAME = "bellwire-word-filter"
SESSION_NAME = "word-filter"


def callback_principal(account_id: str, region: str) -> Principal:
    """The identity the word filter calls back as: a session of the role ``ROLE_NAME``, allowed
    ``chime:ChannelFlowCallback`` on the channels of this server's app instances and nothing
    else. It is built here, not stored: IAM does not list it and no key signs as it."""
    allowed = f"arn:aws:chime:{region}:{account_id}:app-instance/*"
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "chime:ChannelFlowCallback", "Resource": allowed}
            ],
        }
    )
    return Principal(
        arn=f"arn:aws:sts::{account_id}:assumed-role/{ROLE_NAME}/{SESSION_NAME}",
        account_id=account_id,
        kind="assumed-role",
        user_id=f"AROABELLWIREWORDFILTER:{SESSION_NAME}",
        name=SESSION_NAME,
        policies=(parse_policy(document, name="word-filter-callbacks"),),
        role_arn=f"arn:aws:iam::{account_id}:role/{ROLE_NAME}",
    )


def words(setting: str) -> list[str]:
    return [w.strip() for w in setting.split(",") if w.strip()]


class WordFilter:
    def __init__(
        self, secret: bytes, operations: Operations, principal: Principal, deny: str, mask: str
    ) -> None:
        self._secret = secret
        self._operations = operations
        self._principal = principal
        self._decide = flows.word_filter(words(deny), words(mask))
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.BaseRequest) -> web.Response:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        body = await request.content.read(MAX_EVENT_BYTES + 1)
        try:
            if len(body) > MAX_EVENT_BYTES:
                raise flows.EventError("too large")
            flows.verify(self._secret, body, request.headers)
            event = flows.parse_event(body)
        except (webhook.SignatureError, flows.EventError, ValueError):
            return web.Response(status=401)
        task = asyncio.get_running_loop().create_task(self._call_back(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _call_back(self, event: flows.ProcessorEvent) -> None:
        params = flows.callback_request(event, self._decide(event))
        try:
            await self._operations.run(
                find("chime", "ChannelFlowCallback"), self._principal, params, None
            )
        except AwsError as exc:
            log.warning("word filter: callback for %s refused: %s", event.message_id, exc.message)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
