"""Errors of the online store and the feature-serving client."""

from __future__ import annotations


class OnlineStoreError(RuntimeError):
    """A DynamoDB request failed for good (retries exhausted, or a non-retryable error, or a bad request).

    ``code`` is the DynamoDB error code when there is one (e.g. ``ResourceNotFoundException``).
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


ITEM_LIMIT_BYTES = 400 * 1024
"""DynamoDB's item size limit (names and values of every attribute)."""


class ItemTooLarge(OnlineStoreError):
    """One item would exceed :data:`ITEM_LIMIT_BYTES`: that entity is set aside (dead-lettered by the stream,
    quarantined by the publish) and the rest of the batch proceeds."""

    def __init__(self, pk: str, detail: str = "") -> None:
        super().__init__(f"item pk={pk[:80]!r} would exceed DynamoDB's {ITEM_LIMIT_BYTES // 1024} KB item limit"
                         + (f" ({detail})" if detail else ""), code="ItemTooLarge")
        self.pk = pk


class FeatureRequestError(ValueError):
    """A feature request names an unknown group/feature or gives entity keys of the wrong arity/type.

    ``kind`` is ``"unknown_group"``, ``"unknown_feature"`` or ``"bad_key"`` (the HTTP server maps it to a status).
    """

    def __init__(self, message: str, kind: str = "bad_key") -> None:
        super().__init__(message)
        self.kind = kind
