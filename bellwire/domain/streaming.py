"""chime-sdk-messaging: Put/Get/DeleteMessagingStreamingConfigurations (spec §11A.1).

A configuration names a Kinesis stream per DataType (``Channel``, ``ChannelMessage``). This server
reaches no Kinesis: the ``[resources]`` map sends each stream ARN to a sink it can reach (a Redis
stream, a NATS JetStream subject, an HTTP(S) webhook); a stream ARN without a mapping is refused
here, when the configuration is put, with the way to map it. What goes on the stream and how it
is delivered: domain/export.py, bellwire/export/.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

from bellwire.aws import arn as arns
from bellwire.aws.errors import BadRequest, NotFound
from bellwire.aws.shapes import (
    MessagingDeleteMessagingStreamingConfigurationsRequest,
    MessagingGetMessagingStreamingConfigurationsRequest,
    MessagingGetMessagingStreamingConfigurationsResponse,
    MessagingPutMessagingStreamingConfigurationsRequest,
    MessagingPutMessagingStreamingConfigurationsResponse,
    MessagingStreamingConfiguration,
    NoOutput,
)
from bellwire.domain.identity import require_app_instance
from bellwire.domain.operation import Call, Result, operation
from bellwire.resources import ResourceError
from bellwire.store.base import Tx

# The URL schemes a stream ARN may map to: bellwire/export/sinks.py opens each of them.
SINK_SCHEMES: Final = ("redis", "rediss", "nats", "http", "https")

_KINESIS = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):kinesis:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"stream/(?P<name>[A-Za-z0-9_.-]{1,128})"
)


def check_stream_arn(call: Call, app_instance_arn: str, resource_arn: str) -> None:
    """AWS's requirements that an ARN can show (spec §11A.1): a Kinesis stream of the app
    instance's account and Region whose name starts with ``chime-messaging-``; then a mapping."""
    found = _KINESIS.fullmatch(resource_arn)
    if found is None:
        raise BadRequest(
            f"ResourceArn {resource_arn!r} is not the ARN of a Kinesis data stream "
            "(arn:aws:kinesis:REGION:ACCOUNT:stream/chime-messaging-NAME)."
        )
    instance = arns.parse(app_instance_arn)
    if instance is not None and (found["region"], found["account"]) != (
        instance.region,
        instance.account,
    ):
        raise BadRequest(
            f"The stream {resource_arn} must be in the account and Region of the app instance "
            f"({instance.account}, {instance.region})."
        )
    if not found["name"].startswith("chime-messaging-"):
        raise BadRequest(
            f"The name of the stream {resource_arn} must start with 'chime-messaging-'."
        )
    try:
        url = call.resources.require(resource_arn, what="Kinesis stream", schemes=SINK_SCHEMES)
    except ResourceError as exc:
        raise BadRequest(str(exc)) from None
    parts = urlsplit(url)
    needed = {"redis": "stream", "rediss": "stream", "nats": "subject"}.get(parts.scheme)
    if needed is not None and not parse_qs(parts.query).get(needed):
        raise BadRequest(
            f"The stream {resource_arn} is mapped to {url!r}, which names no {needed}: add "
            f"?{needed}=NAME to its URL in [resources]."
        )


def _shape(configurations: dict[str, str]) -> list[MessagingStreamingConfiguration]:
    return [{"DataType": d, "ResourceArn": r} for d, r in sorted(configurations.items())]


@operation("PutMessagingStreamingConfigurations", writes=True)
def put_configurations(
    tx: Tx, call: Call, p: MessagingPutMessagingStreamingConfigurationsRequest
) -> Result[MessagingPutMessagingStreamingConfigurationsResponse]:
    """Replaces the whole set: one configuration per DataType."""
    app = require_app_instance(tx, p["AppInstanceArn"])
    configurations: dict[str, str] = {}
    for entry in p["StreamingConfigurations"]:
        data_type, resource_arn = entry["DataType"], entry["ResourceArn"]
        if data_type in configurations:
            raise BadRequest(f"The DataType {data_type} is configured more than once.")
        check_stream_arn(call, app.arn, resource_arn)
        configurations[data_type] = resource_arn
    tx.set_streaming_configurations(app.arn, configurations)
    return Result({"StreamingConfigurations": _shape(configurations)})


@operation("GetMessagingStreamingConfigurations", writes=False)
def get_configurations(
    tx: Tx, call: Call, p: MessagingGetMessagingStreamingConfigurationsRequest
) -> Result[MessagingGetMessagingStreamingConfigurationsResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    configurations = tx.streaming_configurations(app.arn)
    if not configurations:
        raise NotFound(f"The app instance {app.arn} has no streaming configurations.")
    return Result({"StreamingConfigurations": _shape(configurations)})


@operation("DeleteMessagingStreamingConfigurations", writes=True)
def delete_configurations(
    tx: Tx, call: Call, p: MessagingDeleteMessagingStreamingConfigurationsRequest
) -> Result[NoOutput]:
    """Stops staging new records; those already in the outbox are still delivered."""
    app = tx.app_instance(p["AppInstanceArn"])
    if app is None:
        # The model gives Delete no NotFoundException.
        raise BadRequest(f"The app instance {p['AppInstanceArn']} does not exist.")
    tx.set_streaming_configurations(app.arn, {})
    return Result({})
