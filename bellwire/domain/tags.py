"""TagResource, UntagResource and ListTagsForResource, shared by both services (spec §4.4-§4.5).

Both services define the same three operations on the same paths; since one store holds every
resource, one implementation answers for both.
"""

from __future__ import annotations

from bellwire.aws import arn as arns
from bellwire.aws.errors import NotFound, ResourceLimitExceeded
from bellwire.aws.shapes import (
    MessagingListTagsForResourceRequest,
    MessagingListTagsForResourceResponse,
    MessagingTagResourceRequest,
    MessagingUntagResourceRequest,
    NoOutput,
)
from bellwire.domain.operation import Call, Result, operation
from bellwire.store.base import Tx

MAX_TAGS = 50


def _require_resource(tx: Tx, arn: str) -> str:
    parsed = arns.parse(arn)
    exists = parsed is not None and (
        tx.app_instance(arn) is not None
        if parsed.kind is None
        else tx.user(arn) is not None
        if parsed.kind == "user"
        else tx.channel(arn) is not None
        if parsed.kind == "channel"
        else tx.flow(arn) is not None
        if parsed.kind == "channel-flow"
        else tx.bot(arn) is not None
        if parsed.kind == "bot"
        else False
    )
    if not exists:
        raise NotFound(f"The resource {arn} does not exist.")
    return arn


@operation("TagResource", writes=True)
def tag_resource(tx: Tx, call: Call, p: MessagingTagResourceRequest) -> Result[NoOutput]:
    arn = _require_resource(tx, p["ResourceARN"])
    new = {t["Key"]: t["Value"] for t in p["Tags"]}
    if len(tx.tags(arn) | new) > MAX_TAGS:
        raise ResourceLimitExceeded(f"A resource can have at most {MAX_TAGS} tags.")
    tx.put_tags(arn, new)
    return Result({})


@operation("UntagResource", writes=True)
def untag_resource(tx: Tx, call: Call, p: MessagingUntagResourceRequest) -> Result[NoOutput]:
    tx.delete_tags(_require_resource(tx, p["ResourceARN"]), p["TagKeys"])
    return Result({})


@operation("ListTagsForResource", writes=False)
def list_tags(
    tx: Tx, call: Call, p: MessagingListTagsForResourceRequest
) -> Result[MessagingListTagsForResourceResponse]:
    tags = tx.tags(_require_resource(tx, p["ResourceARN"]))
    return Result({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})
