"""The online store's one retry rule (weir.online.retry): what is retried, how long it waits, when it gives up.

The failures are raised by a stand-in callable (fault injection: a real server cannot be made to throttle on
demand); tests/integration/test_online_store.py drives the same helper through the real client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from weir.online.errors import OnlineStoreError
from weir.online.retry import Backoff, is_retryable


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "UpdateItem")


def failing(times: int, exc: BaseException) -> Any:
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc
        return "ok"

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


@pytest.mark.parametrize("exc", [client_error("ProvisionedThroughputExceededException"),
                                 client_error("ThrottlingException"), client_error("Whatever", status=503),
                                 EndpointConnectionError(endpoint_url="http://x")])
def test_throttling_5xx_and_connection_errors_are_retried_with_jittered_capped_waits(exc: BaseException) -> None:
    assert is_retryable(exc)
    sleeps: list[float] = []
    retries: list[int] = []
    backoff = Backoff(max_attempts=6, base_delay_s=0.1, max_delay_s=0.5, sleep=sleeps.append)
    fn = failing(5, exc)
    assert backoff.call("UpdateItem t", fn, on_retry=lambda: retries.append(1)) == "ok"
    assert fn.calls["n"] == 6 and len(retries) == 5 and len(sleeps) == 5
    assert all(0 <= s <= min(0.5, 0.1 * 2 ** i) for i, s in enumerate(sleeps))


def test_gives_up_after_max_attempts_with_a_message_that_says_what_to_do() -> None:
    backoff = Backoff(max_attempts=3, sleep=lambda _: None)
    with pytest.raises(OnlineStoreError, match="UpdateItem t: still failing after 3 attempts") as exc:
        backoff.call("UpdateItem t", failing(10, client_error("ThrottlingException")), endpoint="http://e")
    assert exc.value.code == "ThrottlingException" and "http://e" in str(exc.value)


def test_answers_are_not_retried() -> None:
    """A validation error or a missing table is an answer: no retry, an OnlineStoreError carrying the code."""
    sleeps: list[float] = []
    fn = failing(1, client_error("ResourceNotFoundException"))
    with pytest.raises(OnlineStoreError) as exc:
        Backoff(sleep=sleeps.append).call("BatchGetItem t", fn)
    assert exc.value.code == "ResourceNotFoundException" and fn.calls["n"] == 1 and sleeps == []


def test_bugs_propagate_unchanged() -> None:
    fn = failing(1, KeyError("pk"))
    with pytest.raises(KeyError):
        Backoff(sleep=lambda _: None).call("x", fn)
    assert fn.calls["n"] == 1


def test_full_jitter_spreads_the_waits() -> None:
    backoff = Backoff(base_delay_s=1.0, max_delay_s=100.0)
    waits = {round(backoff.delay(3), 6) for _ in range(50)}
    assert len(waits) > 40 and all(0 <= w <= 8.0 for w in waits)
