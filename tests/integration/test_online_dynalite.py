"""The online store against a second DynamoDB-compatible server, dynalite (the one bench/bench_stream.py also uses).

The store's tests from test_online_store.py run again here with ``config`` pointing at a private dynalite;
dynalite has no TTL API, so table creation must only warn. Skipped where Node.js is not installed.
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from test_online_store import (  # the same tests, run again with this module's ``config``
    test_batch_get_more_than_100_keys_with_projection,
    test_batch_writes_keep_the_stream_part_and_its_later_expiry,
    test_newest_wins_and_reruns_are_idempotent,
)

from weir.aws import dynamodb_client
from weir.online.store import DynamoOnlineStore
from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration
__all__ = ["test_batch_get_more_than_100_keys_with_projection",
           "test_batch_writes_keep_the_stream_part_and_its_later_expiry",
           "test_newest_wins_and_reruns_are_idempotent"]


@pytest.fixture(scope="module")
def dynalite_endpoint(weir_config: RuntimeConfig) -> Iterator[str]:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (apt-get install nodejs npm): dynalite cannot run")
    from weir.devstack.dynalite import dynalite

    with dynalite(weir_config.state_dir) as endpoint:
        yield endpoint


@pytest.fixture()
def config(dynalite_endpoint: str) -> RuntimeConfig:
    return build_config(dynamodb_endpoint=dynalite_endpoint, dynamodb_table_prefix=f"t{uuid.uuid4().hex[:8]}_")


def test_a_server_without_ttl_api_gets_a_warning_not_an_error(config: RuntimeConfig,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="weir.online.store"):
        name = DynamoOnlineStore(config).ensure_table("g")
    assert "has no TTL API" in caplog.text and name in caplog.text
    desc = dynamodb_client(config).describe_table(TableName=name)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_a_client_that_drops_a_request_midway_does_not_stop_the_server(config: RuntimeConfig) -> None:
    """A writer killed mid-request (a timed-out or killed Spark task) closes its connection with half a body sent:
    dynalite rethrows that and exits unless the guard ``weir.devstack.dynalite`` preloads is there."""
    url = urlparse(config.dynamodb_endpoint)
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                     b"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"Lim")
    # the connection is closed with 995 bytes of the body missing; the server must still answer
    time.sleep(0.5)
    client = dynamodb_client(config, max_attempts=1)
    assert "TableNames" in client.list_tables()
