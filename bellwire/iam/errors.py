"""The IAM and STS errors, by their query-protocol codes (botocore maps the code in the XML
``<Error><Code>`` to the modeled exception, e.g. ``NoSuchEntity`` → ``NoSuchEntityException``).

Statuses are the ones in botocore's ``iam``/``sts`` models. The common ones (AccessDenied,
MalformedPolicyDocument, ExpiredToken, InvalidClientTokenId ...) live in :mod:`bellwire.aws.errors`.
"""

from __future__ import annotations

from bellwire.aws.errors import (
    InvalidAction,
    MissingAction,
    ValidationError,
)
from bellwire.aws.errors import QueryError as _QueryError

__all__ = [
    "DeleteConflict",
    "EntityAlreadyExists",
    "InvalidAction",
    "InvalidInput",
    "LimitExceeded",
    "MissingAction",
    "NoSuchEntity",
    "PackedPolicyTooLarge",
    "ValidationError",
]


class NoSuchEntity(_QueryError):
    status, query_code = 404, "NoSuchEntity"


class EntityAlreadyExists(_QueryError):
    status, query_code = 409, "EntityAlreadyExists"


class DeleteConflict(_QueryError):
    status, query_code = 409, "DeleteConflict"


class LimitExceeded(_QueryError):
    status, query_code = 409, "LimitExceeded"


class InvalidInput(_QueryError):
    status, query_code = 400, "InvalidInput"


class PackedPolicyTooLarge(_QueryError):
    status, query_code = 400, "PackedPolicyTooLarge"
