"""The feature server against hostile callers, over the real local DynamoDB server.

``weir serve`` runs for real (uvicorn in a subprocess on a loopback port) for the API-key and body-size
checks; the malformed-value cases and the fuzz test use the same app in-process (FastAPI's TestClient), since
they exercise parsing and validation, not the socket.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import datetime_to_us, group_hops
from weir.online.codec import encode_tiles
from weir.online.http_guard import ApiKeys
from weir.online.server import MAX_DETAIL, create_app
from weir.online.store import DynamoOnlineStore, OnlineItem
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: guard_spend
entity: {name: user, keys: [user_id]}
source:
  delta: t
  event_time: event_ts
  columns: {user_id: string, amount: double, event_ts: timestamp}
features:
  - {name: txn_count, aggregation: count, windows: [1d, 7d]}
  - {name: txn_amount, aggregation: sum, column: amount, windows: [1d]}
online: {ttl: 7d}
"""
PAIR_SPEC = """
name: guard_pair
entity: {name: pair, keys: [user_id, shop_id]}
source:
  delta: t
  event_time: event_ts
  columns: {user_id: string, shop_id: long, score: double, event_ts: timestamp}
features:
  - {name: visits, aggregation: count, windows: [1d]}
"""
T = datetime(2026, 3, 5, tzinfo=UTC)
KEY = "k-" + "a1b2c3d4e5f6g7h8i9j0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def setup(stack: RuntimeConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[RuntimeConfig, Path]:
    specs = tmp_path_factory.mktemp("guard_specs")
    (specs / "guard_spend.yaml").write_text(SPEC)
    (specs / "guard_pair.yaml").write_text(PAIR_SPEC)
    config = build_config(dynamodb_table_prefix=f"grd{uuid.uuid4().hex[:6]}_", specs_dir=str(specs))
    group = parse_spec_text(SPEC)
    rows = [{"user_id": "u1", "amount": 10.0, "event_ts": T - timedelta(hours=2)}]
    tiles = [py_tile_from_rows(group, rows, hop) for hop in group_hops(group)]  # one event: one tile per hop
    newest = datetime_to_us(T - timedelta(hours=2))
    DynamoOnlineStore(config).write_items("guard_spend", [
        OnlineItem("u1", newest, datetime_to_us(T), 1, newest // 1_000_000 + 7 * 86400, encode_tiles(tiles))])
    return config, specs


@pytest.fixture(scope="module")
def http(setup: tuple[RuntimeConfig, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(setup[0])) as c:
        yield c


@pytest.fixture(scope="module")
def served(setup: tuple[RuntimeConfig, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``weir serve`` for real on a loopback port, keys from a key file; yields its base URL."""
    config, specs = setup
    keys_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys_file.write_text(f"# serving keys\n{KEY}\n")
    port = _free_port()
    env = {**os.environ, "WEIR_SPECS_DIR": str(specs), "WEIR_DYNAMODB_TABLE_PREFIX": config.dynamodb_table_prefix,
           "WEIR_SERVE_API_KEYS": ""}
    cmd = [sys.executable, "-c", "from weir.cli import main; main()", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--api-keys-file", str(keys_file), "--max-body-bytes", "65536"]
    proc = subprocess.Popen(cmd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"weir serve did not start (exit {proc.poll()}):\n{out}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
    assert proc.returncode is not None


GOOD = {"features": ["guard_spend"], "entities": ["u1"], "at": T.isoformat()}


def test_real_server_requires_a_key(served: str) -> None:
    assert httpx.post(f"{served}/features", json=GOOD).status_code == 401
    r = httpx.post(f"{served}/features", json=GOOD, headers={"Authorization": "Bearer wrong-key-0123456789"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{served}/openapi.json").status_code == 401
    assert httpx.get(f"{served}/healthz").json() == {"status": "ok"}  # the probe learns nothing else
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        r = httpx.post(f"{served}/features", json=GOOD, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["groups"]["guard_spend"]["values"]["txn_count_7d"] == 1
    health = httpx.get(f"{served}/healthz", headers={"X-API-Key": KEY}).json()
    assert health == {"status": "ok", "groups": ["guard_pair", "guard_spend"]}


def test_real_server_bounds_the_body_and_never_echoes_it(served: str) -> None:
    auth = {"X-API-Key": KEY}
    marker = "ECHO" * 20_000  # 80 KB, over the 64 KiB bound given on the command line
    body = json.dumps({"features": [marker], "entities": ["u1"]}).encode()
    r = httpx.post(f"{served}/features", content=body, headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413 and "ECHO" not in r.text and len(r.content) < 500

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bound holds while streaming too
        yield b'{"features": ["'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"], "entities": ["u1"]}'

    r = httpx.post(f"{served}/features", content=chunks(), headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413
    # under the bound: an unknown group named by a long string is a 404 that does not repeat the name
    r = httpx.post(f"{served}/features", json={"features": ["Z" * 2000], "entities": ["u1"]}, headers=auth)
    assert r.status_code == 404 and len(r.json()["detail"]) <= MAX_DETAIL and "Z" * 400 not in r.text
    # work bounds: far more feature names or entities than allowed is refused before any read
    started = time.monotonic()
    r = httpx.post(f"{served}/features", json={"features": ["a"] * 5_000, "entities": ["u1"]}, headers=auth)
    assert r.status_code == 422 and "at most 100" in r.json()["detail"]
    r = httpx.post(f"{served}/features", json={"features": ["guard_spend"], "entities": ["u"] * 5000},
                   headers=auth)
    assert r.status_code == 422 and "at most 1000" in r.json()["detail"]
    assert time.monotonic() - started < 30  # generous; only guards against the 39 s of unbounded work


def test_full_bounds_in_process(http: TestClient) -> None:
    """200,000 feature names (the issue's 39 s request) is refused, and so is a body over 1 MiB."""
    r = http.post("/features", json={"features": ["guard_spend"] * 200_000, "entities": ["u1"]})
    assert r.status_code in (413, 422) and len(r.text) < 500
    r = http.post("/features", json={"features": ["guard_spend"] * 100, "entities": ["u1"], "at": T.isoformat()})
    assert r.status_code == 200  # at the bound: served


SURROGATE = '"\\ud800"'  # a lone surrogate, as JSON's escape sends it
MALFORMED = {
    "NaN at": '{"features": ["guard_spend"], "entities": ["u1"], "at": NaN}',
    "Infinity at": '{"features": ["guard_spend"], "entities": ["u1"], "at": Infinity}',
    "-Infinity at": '{"features": ["guard_spend"], "entities": ["u1"], "at": -Infinity}',
    "overflowing at": '{"features": ["guard_spend"], "entities": ["u1"], "at": 1e400}',
    "huge at": '{"features": ["guard_spend"], "entities": ["u1"], "at": 1e300}',
    "negative at": '{"features": ["guard_spend"], "entities": ["u1"], "at": -5}',
    "huge int at": '{"features": ["guard_spend"], "entities": ["u1"], "at": 99999999999999999999999}',
    "year 1 at": '{"features": ["guard_spend"], "entities": ["u1"], "at": "0001-01-01T00:00:00+14:00"}',
    "year 9999 at": '{"features": ["guard_spend"], "entities": ["u1"], "at": "9999-12-31T23:59:59-12:00"}',
    "bool at": '{"features": ["guard_spend"], "entities": ["u1"], "at": true}',
    "list at": '{"features": ["guard_spend"], "entities": ["u1"], "at": [1]}',
    "bad at text": '{"features": ["guard_spend"], "entities": ["u1"], "at": "yesterday"}',
    "surrogate key": '{"features": ["guard_spend"], "entities": [' + SURROGATE + ']}',
    "surrogate key in map": '{"features": ["guard_spend"], "entities": [{"user_id": ' + SURROGATE + '}]}',
    "surrogate key name": '{"features": ["guard_spend"], "entities": [{' + SURROGATE + ': "u1"}]}',
    "surrogate feature": '{"features": [' + SURROGATE + '], "entities": ["u1"]}',
    "surrogate at": '{"features": ["guard_spend"], "entities": ["u1"], "at": ' + SURROGATE + '}',
    "NaN key": '{"features": ["guard_pair"], "entities": [{"user_id": "u1", "shop_id": NaN}]}',
    "float for long key": '{"features": ["guard_pair"], "entities": [{"user_id": "u1", "shop_id": 1.5}]}',
    "huge int key": '{"features": ["guard_pair"], "entities": [{"user_id": "u1", "shop_id": 1' + "0" * 5000 + '}]}',
    "nested key": '{"features": ["guard_spend"], "entities": [{"user_id": {"a": 1}}]}',
    "list entity": '{"features": ["guard_spend"], "entities": [["u1"]]}',
    "null entity": '{"features": ["guard_spend"], "entities": [null]}',
    "features not a list": '{"features": "guard_spend", "entities": ["u1"]}',
    "feature not a string": '{"features": [7], "entities": ["u1"]}',
    "empty feature": '{"features": [""], "entities": ["u1"]}',
    "extra field": '{"features": ["guard_spend"], "entities": ["u1"], "limit": 1}',
    "body a list": '[1, 2]',
    "body a string": '"features"',
    "not JSON": '{"features": ',
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "too many keys": '{"features": ["guard_spend"], "entities": [{' + ",".join(f'"k{i}": 1' for i in range(50)) + '}]}',
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_every_malformed_value_is_a_422(http: TestClient, body: str) -> None:
    r = http.post("/features", content=body.encode("utf-8"), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and 0 < len(detail) <= MAX_DETAIL


def test_invalid_utf8_body_is_a_422(http: TestClient) -> None:
    r = http.post("/features", content=b'{"features": ["\xff\xfe"], "entities": ["u1"]}',
                  headers={"content-type": "application/json"})
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]


def test_edges_that_are_valid_are_served(http: TestClient) -> None:
    for at in (0, 253_370_764_800, "1970-01-01T00:00:00Z", T.timestamp()):
        r = http.post("/features", json={"features": ["guard_spend"], "entities": ["u1"], "at": at})
        assert r.status_code == 200, (at, r.text)
    r = http.post("/features", json={"features": ["guard_pair"], "entities": [{"user_id": "ü" * 100, "shop_id": -1}]})
    assert r.status_code == 200 and r.json()["results"][0]["groups"]["guard_pair"]["found"] is False


def test_cli_refuses_an_exposed_bind_without_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from weir.cli.online import serve

    monkeypatch.delenv("WEIR_SERVE_API_KEYS", raising=False)
    monkeypatch.delenv("WEIR_SERVE_API_KEYS_FILE", raising=False)
    r = CliRunner().invoke(serve, ["--host", "0.0.0.0", "--port", "1"])
    assert r.exit_code == 2 and "refusing to serve on 0.0.0.0 without API keys" in r.output
    short = tmp_path / "short.txt"
    short.write_text("abc\n")
    r = CliRunner().invoke(serve, ["--host", "127.0.0.1", "--port", "1", "--api-keys-file", str(short)])
    assert r.exit_code == 2 and "shorter than 16" in r.output
    r = CliRunner().invoke(serve, ["--port", "1", "--api-keys-file", str(tmp_path / "missing.txt")])
    assert r.exit_code == 2 and "cannot read the API key file" in r.output


# ----------------------------------------------------------------------------------------------- fuzzing
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=30), st.sampled_from(["u1", "guard_spend", "\ud800", "", "|", "\\"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
feature_refs = st.one_of(st.sampled_from(["guard_spend", "guard_pair", "guard_spend:txn_count_1d",
                                          "guard_spend:nope", "nope", ":", "guard_pair:visits_count_1d"]),
                         st.text(max_size=20))
entities = st.one_of(scalars, st.dictionaries(st.sampled_from(["user_id", "shop_id", "x", "\udfff"]), scalars,
                                              max_size=3), json_values)
near_valid = st.fixed_dictionaries(  # mostly well formed, so the fuzz reaches the store and the merge too
    {"features": st.lists(st.sampled_from(["guard_spend", "guard_spend:txn_count_7d", "guard_pair"]), min_size=1,
                          max_size=3),
     "entities": st.lists(st.one_of(st.sampled_from(["u1", "u2"]), st.text(min_size=1, max_size=40),
                                    st.fixed_dictionaries({"user_id": st.text(min_size=1, max_size=20),
                                                           "shop_id": st.integers(-2**63, 2**63 - 1)})),
                          min_size=1, max_size=5)},
    optional={"at": st.one_of(st.integers(0, 253_370_764_800), st.floats(0, 4e9),
                              st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1))
                              .map(lambda d: d.isoformat() + "Z"))})
requests = st.one_of(
    near_valid,
    st.fixed_dictionaries({"features": st.lists(feature_refs, min_size=0, max_size=4),
                           "entities": st.lists(entities, min_size=0, max_size=4)},
                          optional={"at": st.one_of(scalars, st.datetimes().map(lambda d: d.isoformat()),
                                                    st.floats(min_value=-1e12, max_value=1e12)),
                                    "junk": json_values}),
    json_values)


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=requests)
def test_fuzz_random_requests_never_500(http: TestClient, body: Any) -> None:
    r = http.post("/features", content=_encode(body), headers={"content-type": "application/json"})
    event(f"status {r.status_code}")
    assert r.status_code in (200, 404, 422), (r.status_code, r.text[:500])
    if r.status_code == 200:
        assert isinstance(body, dict) and len(r.json()["results"]) == len(body["entities"])
    else:
        detail = r.json()["detail"]
        assert isinstance(detail, str) and len(detail) <= MAX_DETAIL


def test_api_keys_are_compared_as_digests() -> None:
    keys = ApiKeys.of([KEY, "another-key-0123456789"])
    assert keys.accepts(KEY) and keys.accepts("another-key-0123456789")
    assert not keys.accepts(KEY[:-1]) and not keys.accepts("") and not keys.accepts(None)
    assert not keys.accepts("\ud800" * 20)  # a surrogate in a header-derived string does not crash
    assert KEY.encode() not in b"".join(keys.digests)
