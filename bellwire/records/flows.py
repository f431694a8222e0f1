"""Channel flows and the processor invocations still waiting for their callback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChannelFlow:
    arn: str
    app_instance_arn: str
    name: str
    # The model's Processor shapes as given: Name, Configuration.Lambda, ExecutionOrder,
    # FallbackAction.
    processors: Sequence[Mapping[str, Any]]
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class FlowChannel:
    """A channel as ListChannelsAssociatedWithChannelFlow shows it."""

    arn: str
    name: str
    mode: str
    privacy: str
    metadata: str | None


@dataclass(frozen=True, slots=True)
class FlowInvocation:
    """One message handed to a flow's processor, kept until it ends (durable work).

    ``message`` is the message as its sender submitted it (a create) or as it would read after
    the edit (an update), as the columns of ``records.chime.Message``. ``state`` is PENDING
    until a callback (SENT or DENIED) or the FallbackAction (SENT or FAILED) ends it; an ended
    invocation keeps the callback's fingerprint and answer, so a repeated callback with the same
    CallbackId gets the same answer."""

    callback_id: str
    channel_arn: str
    message_id: str
    kind: str  # CREATE | UPDATE
    flow_arn: str
    processor: Mapping[str, Any]
    message: Mapping[str, Any]
    state: str  # PENDING | CONTINUED (handed to the next step) | SENT | DENIED | FAILED
    created: float
    ended: float | None = None
    detail: str | None = None  # why it failed
    fingerprint: str | None = None  # of the callback that ended it
    step: int = 1
    chain: Sequence[Mapping[str, Any]] = ()  # empty: ``processor`` alone
    accepted: float | None = None  # when the processor answered 2xx: no node invokes it again
    invoker: str | None = None  # the node that invokes it (written with it; not read back)

    @property
    def processors(self) -> Sequence[Mapping[str, Any]]:
        return self.chain or (self.processor,)

    @property
    def last(self) -> bool:
        """Whether this is the flow's last processor: its ending is the message's."""
        return self.step >= len(self.processors)


@dataclass(frozen=True, slots=True)
class CallbackReads:
    """What a callback's settle needs, read with its invocation in one statement: the
    channel's app instance, whether a bot is a member, the app instance's streaming
    configurations (``channel`` is None when the channel is gone), and whether the invocation's
    message is stored."""

    invocation: FlowInvocation
    channel: tuple[str, bool, Mapping[str, str]] | None
    message_stored: bool


@dataclass(frozen=True, slots=True)
class FailureEvent:
    """An EventBridge ``ProcessorInvocationFailure`` event waiting for the default event bus's
    URL to accept it. ``body``: the JSON POSTed, as written when the failure was (the same
    envelope, ``id`` and ``time`` at every delivery). ``attempts``: deliveries begun so far."""

    event_id: str
    body: str
    created: float
    attempts: int
    due: float  # when a node may claim it for its next delivery
