"""The IAM and STS errors, by their query-protocol codes (botocore maps the code in the XML
``<Error><Code>`` to the modeled exception, e.g. ``NoSuchEntity`` → ``NoSuchEntityException``).

Statuses are the ones in botocore's ``iam``/``sts`` models. The common ones (AccessDenied,
MalformedPolicyDocument, ExpiredToken, InvalidClientTokenId ...) live in :mod:`bellwire.aws.errors`.
"""

from __future__ import annotations

from bellwire.aws.errors import AwsError


class _QueryError(AwsError):
    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        # One name for both protocols: the REST codec would use shape/code, XML uses query_code.
        if cls.query_code is not None:
            cls.shape = cls.code = cls.query_code


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


class ValidationError(_QueryError):
    """The generic "a parameter is wrong" of every query-protocol service."""

    status, query_code = 400, "ValidationError"


class InvalidAction(_QueryError):
    status, query_code = 400, "InvalidAction"


class MissingAction(_QueryError):
    status, query_code = 400, "MissingAction"


class PackedPolicyTooLarge(_QueryError):
    status, query_code = 400, "PackedPolicyTooLarge"
