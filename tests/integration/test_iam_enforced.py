"""Least privilege, enforced: each role's policy from ``ops/iam/`` on an IAM user of a moto server that checks
every request (``INITIAL_NO_AUTH_ACTION_COUNT``), and each role's work run with that user's keys.

The publisher creates its table and writes; the streaming job reads and writes items; the reader reads; the
Airflow worker's freshness check scans. A reader's write and a publisher's table deletion are refused, with
Weir's error naming the credentials and the role policies.

One adaptation, stated: moto evaluates a policy's actions but not its resources for DynamoDB (it authorises
every DynamoDB call against resource ``*``), so each policy is installed with ``Resource: "*"``. The resource
scoping (``table/weir_*``) is checked by ``tests/unit/test_iam_policies.py`` against the code's calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("publisher", "streaming", "reader", "airflow-worker")
REGION = "eu-west-1"
SETUP_ACTIONS = 4  # unauthenticated calls moto allows: create the admin user, its policy, attach, access key
GROUP = "iam_spend"


def _policy_for_moto(role: str) -> str:
    doc = json.loads((ROOT / "ops" / "iam" / f"{role}.json").read_text())
    for statement in doc["Statement"]:
        statement["Resource"] = "*"  # see the module doc: moto does not evaluate DynamoDB resources
    return json.dumps(doc)


@pytest.fixture(scope="module")
def iam_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of its own that authenticates and authorises every request after the first few."""
    import os

    from weir.process import free_port, port_in_use

    port = free_port()
    log = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not port_in_use(port):
            assert proc.poll() is None and time.monotonic() < deadline, f"moto did not start: {log.read_text()}"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _iam(endpoint: str, key: str, secret: str) -> Any:
    import boto3

    return boto3.client("iam", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret)


def _user_with_policy(iam: Any, name: str, document: str) -> tuple[str, str]:
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def role_keys(iam_endpoint: str) -> dict[str, tuple[str, str]]:
    """Access keys of one IAM user per role, each holding only that role's policy."""
    admin_doc = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    admin = _user_with_policy(_iam(iam_endpoint, "setup", "setup"), "weir-admin", admin_doc)  # the 4 free calls
    iam = _iam(iam_endpoint, *admin)
    keys = {role: _user_with_policy(iam, f"weir-{role}", _policy_for_moto(role)) for role in ROLES}
    keys["admin"] = admin
    return keys


def _as(role: str, keys: dict[str, tuple[str, str]], monkeypatch: pytest.MonkeyPatch, endpoint: str,
        tmp_path: Path) -> RuntimeConfig:
    """The runtime config of a process running under ``role``: its keys come from the AWS chain (environment)."""
    import boto3

    key, secret = keys[role]
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a new process: the chain is read afresh, not cached
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return build_config(dynamodb_endpoint=endpoint, dynamodb_region=REGION, state_dir=tmp_path)


def _item(pk: str, newest_us: int) -> Any:
    from weir.online.codec import encode_tiles
    from weir.online.interface import OnlineItem

    return OnlineItem(pk, newest_us, newest_us + 1, 1, newest_us // 1_000_000 + 86400, encode_tiles([]))


def test_each_role_does_its_work_and_nothing_more(iam_endpoint: str, role_keys: dict[str, tuple[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from weir.online.errors import OnlineStoreError
    from weir.online.store import DynamoOnlineStore

    # the publisher creates the group's table and writes items (newest wins)
    publisher = DynamoOnlineStore(_as("publisher", role_keys, monkeypatch, iam_endpoint, tmp_path))
    stats = publisher.write_items(GROUP, [_item("u1", 1_000_000), _item("u2", 2_000_000)])
    assert stats.written == 2
    with pytest.raises(OnlineStoreError, match=r"(?s)DeleteTable .*access denied: the credentials in use .*ops/iam/"):
        publisher.drop_table(GROUP)  # a publisher may not delete a table

    # the reader reads them, and may not write
    reader = DynamoOnlineStore(_as("reader", role_keys, monkeypatch, iam_endpoint, tmp_path))
    got = reader.get_items(GROUP, ["u1", "u2", "nobody"], ["newest_event_us"])
    assert {pk: item["newest_event_us"] for pk, item in got.items()} == {"u1": 1_000_000, "u2": 2_000_000}
    refused = r"(?s)not authorized to perform: dynamodb:DescribeTable.*access denied.*ops/iam/"
    with pytest.raises(OnlineStoreError, match=refused):
        reader.write_items(GROUP, [_item("u3", 3_000_000)])

    # the Airflow worker's freshness check samples run times; the streaming job writes its part of an item
    worker = DynamoOnlineStore(_as("airflow-worker", role_keys, monkeypatch, iam_endpoint, tmp_path))
    assert sorted(r.newest_event_us for r in worker.sample_run_times(GROUP)) == [1_000_000, 2_000_000]
    streaming = DynamoOnlineStore(_as("streaming", role_keys, monkeypatch, iam_endpoint, tmp_path))
    _stream_write(streaming)
    with pytest.raises(OnlineStoreError, match=r"(?s)dynamodb:Scan.*access denied"):
        streaming.sample_run_times(GROUP)  # the stream has no Scan

    # the table is there for the one role that may delete it (the admin here)
    DynamoOnlineStore(_as("admin", role_keys, monkeypatch, iam_endpoint, tmp_path)).drop_table(GROUP)


def _stream_write(store: Any) -> None:
    """One micro-batch's stream part for entity u1, through the store's stream path (read, merge, write)."""
    from weir.online.interface import StreamPart, StreamState

    def merge(pk: str, stored: StreamState | None) -> StreamPart:
        assert stored is not None and stored.batch_newest_us == 1_000_000  # the publisher's part was read
        return StreamPart(b"", 5_000_000, 6_000_000, 7, None)

    stats = store.apply_stream_tiles(GROUP, "query-1", 0, ["u1"], merge)
    assert stats.written == 1
    again = store.apply_stream_tiles(GROUP, "query-1", 0, ["u1"], merge)
    assert again.skipped_replay == 1  # a replayed batch changes nothing
