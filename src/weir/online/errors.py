"""Errors of the online store and the feature-serving client."""

from __future__ import annotations


class OnlineStoreError(RuntimeError):
    """A DynamoDB request failed for good (retries exhausted, or a non-retryable error, or a bad request).

    ``code`` is the DynamoDB error code when there is one (e.g. ``ResourceNotFoundException``).
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class FeatureRequestError(ValueError):
    """A feature request names an unknown group/feature or gives entity keys of the wrong arity/type.

    ``kind`` is ``"unknown_group"``, ``"unknown_feature"`` or ``"bad_key"`` (the HTTP server maps it to a status).
    """

    def __init__(self, message: str, kind: str = "bad_key") -> None:
        super().__init__(message)
        self.kind = kind
