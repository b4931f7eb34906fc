"""Bounded retries with exponential backoff and full jitter: the one retry rule of the online store.

Retried: throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
``RequestLimitExceeded``, ...), 5xx and connection errors. Not retried: validation errors and failed
conditions (those are answers, not faults). The boto client itself makes a single attempt so that the counts
here are exact. Full jitter (a uniform delay in ``[0, min(cap, base * 2**attempt)]``) spreads the retries of
many parallel writers instead of having them collide again (the AWS Architecture Blog's "Exponential Backoff
And Jitter").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from weir.online.errors import OnlineStoreError

T = TypeVar("T")

RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    "LimitExceededException", "TransactionInProgressException",
})


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_item_too_large(exc: BaseException) -> bool:
    """DynamoDB's (and moto's) answer to a write whose item would exceed the 400 KB item limit."""
    response = getattr(exc, "response", None)
    message = response.get("Error", {}).get("Message", "") if isinstance(response, dict) else ""
    return error_code(exc) == "ValidationException" and "maximum allowed size" in str(message)


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and connection problems (worth another try); not validation or condition failures."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    if error_code(exc) in RETRYABLE_CODES:
        return True
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    return isinstance(status, int) and status >= 500


@dataclass(frozen=True)
class Backoff:
    """At most ``max_attempts`` tries, sleeping a full-jitter delay between them."""

    max_attempts: int = 8
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in ``[0, min(max_delay_s, base_delay_s * 2**attempt)]``."""
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2 ** attempt)))

    def pause(self, attempt: int) -> None:
        self.sleep(self.delay(attempt))

    def call(self, what: str, fn: Callable[[], T], on_retry: Callable[[], None] | None = None,
             endpoint: str | None = None) -> T:
        """``fn()``, retried while it raises a retryable error; then :class:`OnlineStoreError` naming ``what``.

        A non-retryable AWS error becomes an :class:`OnlineStoreError` with its code; any other exception
        (a bug, not a service answer) propagates as is.
        """
        for attempt in range(self.max_attempts):
            try:
                return fn()
            except OnlineStoreError:
                raise
            except Exception as exc:
                code = error_code(exc)
                if not is_retryable(exc):
                    if code is None and not hasattr(exc, "response"):
                        raise
                    raise OnlineStoreError(f"{what}: {code}: {exc}{_fix_for(code)}", code=code) from exc
                if attempt + 1 >= self.max_attempts:
                    raise OnlineStoreError(
                        code=code, message=f"{what}: still failing after {self.max_attempts} attempts "
                        f"({code or type(exc).__name__}: {exc}); the table is throttled or the endpoint "
                        f"{endpoint or 'AWS'} is unreachable. Rerun: writes are idempotent and newest-wins.",
                    ) from exc
                if on_retry is not None:
                    on_retry()
                self.pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover


# AWS's codes for refused credentials; moto's IAM check answers a bare HTTP 403 (its code parses as "403")
ACCESS_DENIED = ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "403")


def _fix_for(code: str | None) -> str:
    """How to fix an error the caller can fix: a refused action names the credentials and the role policies."""
    if code in ACCESS_DENIED:
        return ("; access denied: the credentials in use (the AWS chain: environment, profile, instance or pod "
                "role) are not allowed this call: give the role the policy of its job from ops/iam/ (publisher, "
                "streaming, reader, airflow-worker), or run this step under the role that has it")
    return ""
