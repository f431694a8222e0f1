"""Calling AppInstanceBots: the asyncio side of ``domain/bots.py`` and ``domain/lex.py``.

Once a write that made a bot due is committed (a message that invokes it, or the bot becoming a
channel member with a WelcomeIntent), the bot's LexBotAliasArn is looked up in ``[resources]``
and the Lex-shaped request is POSTed through the one webhook caller, each call in its own task
and never waiting for a free place (``wait=False``): a slow or dead bot holds only its own
answers, never the sender's request, the channel, another bot or the event loop. Its answer, or
the failure, is posted in the channel as the bot's message in a write of its own.

Bot calls are not durable [INFERRED]: a call in flight when the server stops is not made again
(a Lex conversation turn answered minutes late would be more confusing than none). An answer
whose write meets a database that does not answer is written again for about a minute
(``REPLY_RETRY_DELAYS``), then dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

from bellwire.compact_json import compact
from bellwire.domain import bots, export, lex
from bellwire.domain.delivery import BusEvent, ChannelEvent
from bellwire.domain.operation import AnyResult
from bellwire.records.bots import BotCall
from bellwire.resources import ResourceMap
from bellwire.store.base import Store, StoreClosed, StoreUnavailable
from bellwire.webhook import WebhookCaller

log = logging.getLogger("bellwire.bots")

# A bot's answer that meets a database that does not answer is posted again after each of
# these (about a minute in all): an outage that short delays the answer rather than losing it.
REPLY_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


class BotInvoker:
    def __init__(
        self,
        store: Store,
        caller: WebhookCaller,
        resources: ResourceMap,
        committed: Callable[[AnyResult], None],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._caller = caller
        self._resources = resources
        self._committed = committed
        self._now = now
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.answered = 0  # calls whose answer was posted (or that had nothing to post)
        self.failed = 0  # calls that ended in an amz-chime-lex-error message

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, calls: Sequence[BotCall]) -> None:
        """Called in commit order, on the loop, right after the write: never blocks."""
        for call in calls:
            self._spawn(self._invoke(call))

    def joined(self, events: Sequence[BusEvent]) -> None:
        """Welcome the bots that the committed ``events`` made channel members."""
        for event in events:
            if not isinstance(event, ChannelEvent):
                continue
            for member in event.subscribe:
                if "/bot/" in member and bots.is_bot_arn(member):
                    self._spawn(self._welcome(event.channel_arn, member))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._closing:
            work.close()
            return
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _welcome(self, channel_arn: str, bot_arn: str) -> None:
        try:
            call = await self._store.read(lambda tx: bots.welcome_call(tx, channel_arn, bot_arn))
        except StoreClosed:
            return
        if call is not None:
            await self._invoke(call)

    async def _invoke(self, call: BotCall) -> None:
        reply = await self._ask(call)
        if reply is None:
            self.answered += 1
            return
        if reply.content_type == lex.LEX_ERROR:
            self.failed += 1
        else:
            self.answered += 1
        now = self._now()
        for delay in (*REPLY_RETRY_DELAYS, None):
            try:
                # A write like any other: the reply's events reach the export stream too.
                await self._store.write(
                    export.staged(lambda tx: bots.post_reply(tx, now, call, reply), self._now),
                    self._committed,
                )
                return
            except StoreClosed:
                return
            except StoreUnavailable as exc:
                if delay is None:
                    log.warning("the answer of the bot %s was dropped: %s", call.bot_arn, exc)
                    return
                await asyncio.sleep(delay)
            except Exception:
                log.exception("posting the answer of the bot %s failed", call.bot_arn)
                return

    async def _ask(self, call: BotCall) -> lex.Reply | None:
        alias = str(call.lex["LexBotAliasArn"])
        if call.text is not None and len(call.text) > lex.MAX_TEXT:
            # Lex refuses such input; the webhook is not called (spec §11A.2).
            return self._failed(call, "ValidationException", "the text exceeds 1024 characters")
        url = self._resources.url(alias)
        if url is None or urlsplit(url).scheme not in bots.SCHEMES:
            return self._failed(call, "ResourceNotFoundException", f"{alias} is not mapped")
        body = compact(lex.request(call)).encode()
        outcome = await self._caller.post(url, body, wait=False)
        if not outcome.ok:
            code = lex.failure_of_status(outcome.status, outcome.busy)
            return self._failed(call, code, outcome.error)
        try:
            return lex.reply(call, outcome.body)
        except lex.LexFailure as exc:
            return self._failed(call, exc.code, str(exc))

    def _failed(self, call: BotCall, code: str, reason: str) -> lex.Reply:
        log.warning("the bot %s could not answer in %s: %s", call.bot_arn, call.channel_arn, reason)
        return lex.error_reply(code)

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
