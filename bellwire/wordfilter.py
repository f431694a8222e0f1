"""The example channel flow processor that ``bellwire serve`` ships: a word filter.

It answers at ``POST /processors/word-filter`` on the server's own port, like any processor:
it checks the webhook signature (only this server's calls pass), decides with
``bellwire.flows.word_filter`` (``word_filter_deny``, ``word_filter_mask``), calls back, and
answers 200 once the callback committed (503 when the database did not answer: the server
invokes it again). The
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

import json
import logging

from aiohttp import web

from bellwire import flows, webhook
from bellwire.api.operations import Operations, find
from bellwire.aws.errors import AwsError
from bellwire.iam.policy import parse_policy
from bellwire.iam.principal import Principal
from bellwire.store.base import StoreClosed, StoreUnavailable

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
        # The callback commits before the invocation is answered: accepted means called back.
        # A callback after a 202, in a task of its own, was lost when the database did not
        # answer or the server stopped, and an accepted invocation is not invoked again: the
        # message then waited for its window (48 h by default).
        params = flows.callback_request(event, self._decide(event))
        try:
            await self._operations.run(
                find("chime", "ChannelFlowCallback"), self._principal, params, None
            )
        except AwsError as exc:  # refused for good (the message is gone, the window passed)
            log.warning("word filter: callback for %s refused: %s", event.message_id, exc.message)
        except (StoreUnavailable, StoreClosed):
            # Not called back, so not accepted: invoked again with the invoker's retries, or
            # (past them) by a later sweep or the next node to start.
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(status=200)
