"""HTTP server (FastAPI TestClient) and CLI (click CliRunner) over the real local DynamoDB server.

Items are built in Python here (``py_tile_from_rows`` + the codec + the store) so these tests need no Spark;
the Spark publish path is covered in test_online_publish.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import datetime_to_us, group_hops, tile_end
from weir.online.client import OnlineClient
from weir.online.codec import encode_tiles
from weir.online.errors import FeatureRequestError
from weir.online.server import create_app
from weir.online.store import DynamoOnlineStore, OnlineItem
from weir.runtime import RuntimeConfig, build_config, load_config
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration

SPEC = """
name: srv_spend
entity: {name: user, keys: [user_id]}
source:
  delta: t
  event_time: event_ts
  columns: {user_id: string, merchant_id: string, amount: double, event_ts: timestamp}
features:
  - {name: txn_count, aggregation: count, windows: [1d, 7d]}
  - {name: txn_amount, aggregation: sum, column: amount, windows: [1d]}
online: {ttl: 7d, freshness_slo: 1h}
"""
PAIR_SPEC = """
name: srv_pair
entity: {name: pair, keys: [user_id, shop_id]}
source:
  delta: t
  event_time: event_ts
  columns: {user_id: string, shop_id: long, event_ts: timestamp}
features:
  - {name: visits, aggregation: count, windows: [1d]}
"""
T = datetime(2026, 3, 5, tzinfo=UTC)


def items_for(group: FeatureGroup, events: dict[str, list[dict[str, object]]], run: datetime) -> list[OnlineItem]:
    out = []
    for pk, rows in events.items():
        tiles = []
        for hop in group_hops(group):
            by_end: dict[int, list[dict[str, object]]] = {}
            for r in rows:
                by_end.setdefault(tile_end(datetime_to_us(r["event_ts"]), hop), []).append(r)  # type: ignore[arg-type]
            tiles += [py_tile_from_rows(group, rs, hop) for rs in by_end.values()]
        newest = max(datetime_to_us(r["event_ts"]) for r in rows)  # type: ignore[arg-type]
        out.append(OnlineItem(pk, newest, datetime_to_us(run), 3, newest // 1_000_000 + 7 * 86400,
                              encode_tiles(tiles)))
    return out


@pytest.fixture(scope="module")
def setup(stack: RuntimeConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[RuntimeConfig, Path]:
    specs = tmp_path_factory.mktemp("srv_specs")
    (specs / "srv_spend.yaml").write_text(SPEC)
    (specs / "srv_pair.yaml").write_text(PAIR_SPEC)
    config = build_config(dynamodb_table_prefix=f"srv{uuid.uuid4().hex[:6]}_", specs_dir=str(specs))
    spend, pair = parse_spec_text(SPEC), parse_spec_text(PAIR_SPEC)
    store = DynamoOnlineStore(config)
    ev = {"u1": [{"user_id": "u1", "merchant_id": "m1", "amount": 10.0, "event_ts": T - timedelta(hours=2)},
                 {"user_id": "u1", "merchant_id": "m2", "amount": 5.5, "event_ts": T - timedelta(days=3)}],
          "u2": [{"user_id": "u2", "merchant_id": "m1", "amount": 1.0, "event_ts": T - timedelta(hours=30)}]}
    store.write_items("srv_spend", items_for(spend, ev, T))
    store.write_items("srv_pair", items_for(pair, {"u1|7": [{"user_id": "u1", "shop_id": 7,
                                                             "event_ts": T - timedelta(minutes=5)}]}, T))
    return config, specs


@pytest.fixture()
def http(setup: tuple[RuntimeConfig, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(setup[0])) as c:
        yield c


def test_client_values_and_metadata(setup: tuple[RuntimeConfig, Path]) -> None:
    client = OnlineClient(setup[0])
    (u1, u2, nobody) = client.get_features(["srv_spend"], ["u1", "u2", "nobody"], at=T)
    g = u1.groups["srv_spend"]
    assert g.values == {"txn_count_1d": 1, "txn_count_7d": 2, "txn_amount_sum_1d": 10.0}
    assert g.found and g.source_version == 3 and g.age_s == 0 and g.stale is False
    assert g.event_ts == T - timedelta(hours=2)
    assert u2.values == {"txn_count_1d": 0, "txn_count_7d": 1, "txn_amount_sum_1d": None}
    assert not nobody.groups["srv_spend"].found and nobody.values["txn_count_7d"] == 0
    # several groups at once: each picks its keys from the entity mapping
    (both,) = client.get_features(["srv_spend:txn_count_7d", "srv_pair"], [{"user_id": "u1", "shop_id": 7}], at=T)
    assert both.values == {"txn_count_7d": 2, "visits_count_1d": 1}
    # stale: read two hours after the run time with a 1h SLO
    (late,) = client.get_features("srv_spend", ["u1"], at=T + timedelta(hours=2))
    assert late.groups["srv_spend"].stale is True and late.groups["srv_spend"].age_s == 7200


@pytest.mark.parametrize(("refs", "entities", "kind", "text"), [
    (["nope"], ["u1"], "unknown_group", "unknown feature group 'nope'"),
    (["srv_spend:txn_count_2d"], ["u1"], "unknown_feature", "no feature column 'txn_count_2d'"),
    (["srv_spend"], [1], "bad_key", "must be of type string"),
    (["srv_pair"], ["u1"], "bad_key", "has 2 keys"),
    (["srv_pair"], [{"user_id": "u1"}], "bad_key", "lacks key(s) shop_id"),
])
def test_request_errors_name_the_bad_part(setup: tuple[RuntimeConfig, Path], refs: list[str],
                                          entities: list[object], kind: str, text: str) -> None:
    with pytest.raises(FeatureRequestError) as exc:
        OnlineClient(setup[0]).get_features(refs, entities, at=T)
    assert exc.value.kind == kind and text in str(exc.value)


def test_http_features(http: TestClient) -> None:
    r = http.post("/features", json={"features": ["srv_spend"], "entities": [{"user_id": "u1"}, "zz"],
                                     "at": T.isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["read_ts"] == T.isoformat()
    first = body["results"][0]
    assert first["entity"] == {"user_id": "u1"}
    g = first["groups"]["srv_spend"]
    assert g["values"] == {"txn_count_1d": 1, "txn_count_7d": 2, "txn_amount_sum_1d": 10.0}
    assert g["found"] is True and g["source_version"] == 3 and g["stale"] is False
    assert g["event_ts"] == (T - timedelta(hours=2)).isoformat() and g["as_of"] == T.isoformat()
    assert body["results"][1]["groups"]["srv_spend"]["found"] is False


@pytest.mark.parametrize(("body", "status", "text"), [
    ({"features": ["nope"], "entities": ["u1"]}, 404, "unknown feature group"),
    ({"features": ["srv_spend:zzz"], "entities": ["u1"]}, 404, "no feature column"),
    ({"features": ["srv_pair"], "entities": [{"user_id": "u1", "shop_id": "x"}]}, 422, "shop_id"),
    ({"features": ["srv_spend"], "entities": []}, 422, ""),
    ({"features": ["srv_spend"]}, 422, ""),
    ({"features": ["srv_spend"], "entities": ["u1"], "at": "yesterday"}, 422, "bad read time"),
])
def test_http_errors(http: TestClient, body: dict[str, object], status: int, text: str) -> None:
    r = http.post("/features", json=body)
    assert r.status_code == status, r.text
    assert text in str(r.json()["detail"])


def test_http_health_and_openapi(http: TestClient) -> None:
    assert http.get("/healthz").json() == {"status": "ok", "groups": ["srv_pair", "srv_spend"]}
    spec = http.get("/openapi.json").json()
    assert "/features" in spec["paths"] and "FeatureRequest" in spec["components"]["schemas"]


def test_cli_init_and_get(setup: tuple[RuntimeConfig, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from weir.cli.online import COMMANDS, get_cmd, online

    assert {c.name for c in COMMANDS} == {"online", "publish", "get", "serve"}
    config, specs = setup
    monkeypatch.setenv("WEIR_DYNAMODB_TABLE_PREFIX", config.dynamodb_table_prefix)
    monkeypatch.setenv("WEIR_SPECS_DIR", str(specs))
    load_config.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(online, ["init", "srv_spend"])
        assert r.exit_code == 0 and "ready" in r.output, r.output
        r = runner.invoke(get_cmd, ["srv_spend", "u1", "u2", "--at", T.isoformat()], terminal_width=200)
        assert r.exit_code == 0, r.output
        assert "txn_count_7d" in r.output and "u1" in r.output and "10" in r.output
        r = runner.invoke(get_cmd, ["srv_pair", "user_id=u1,shop_id=7", "--at", T.isoformat()], terminal_width=200)
        assert r.exit_code == 0 and "visits_count_1d" in r.output, r.output
        r = runner.invoke(get_cmd, ["srv_spend:nope", "u1"])
        assert r.exit_code == 2 and "no feature column 'nope'" in r.output
    finally:
        load_config.cache_clear()


def test_cli_get_json_prints_exact_values(setup: tuple[RuntimeConfig, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The table rounds to 4 significant digits; --json gives every value exactly (floats round-trip)."""
    import json

    from weir.cli.online import get_cmd

    config, specs = setup
    spend = parse_spec_text(SPEC)
    big, small = 10.123456789, 0.1  # two hour tiles: the 1d sum merges exactly these two addends
    DynamoOnlineStore(config).write_items("srv_spend", items_for(spend, {"u_exact": [
        {"user_id": "u_exact", "merchant_id": "m1", "amount": big, "event_ts": T - timedelta(hours=3)},
        {"user_id": "u_exact", "merchant_id": "m1", "amount": small, "event_ts": T - timedelta(minutes=10)},
    ]}, T))
    monkeypatch.setenv("WEIR_DYNAMODB_TABLE_PREFIX", config.dynamodb_table_prefix)
    monkeypatch.setenv("WEIR_SPECS_DIR", str(specs))
    load_config.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(get_cmd, ["srv_spend", "u_exact", "nobody", "--at", T.isoformat()], terminal_width=200)
        assert r.exit_code == 0, r.output
        assert "10.22" in r.output and repr(big + small) not in r.output  # the table rounds to 4 digits
        r = runner.invoke(get_cmd, ["srv_spend", "u_exact", "nobody", "--at", T.isoformat(), "--json"])
        assert r.exit_code == 0, r.output
        body = json.loads(r.output)
        assert body["read_ts"] == T.isoformat()
        exact, missing = body["results"]
        assert exact["entity"] == "u_exact"
        g = exact["groups"]["srv_spend"]
        assert g["values"] == {"txn_count_1d": 2, "txn_count_7d": 2, "txn_amount_sum_1d": big + small}
        assert repr(big + small) in r.output
        assert g["found"] is True and g["event_ts"] == (T - timedelta(minutes=10)).isoformat()
        assert g["as_of"] == T.isoformat() and g["age_s"] == 0 and g["stale"] is False and g["source_version"] == 3
        assert missing["groups"]["srv_spend"] == {
            "values": {"txn_count_1d": 0, "txn_count_7d": 0, "txn_amount_sum_1d": None}, "found": False,
            "event_ts": None, "as_of": None, "age_s": None, "stale": None, "source_version": None}
        # the same shape as POST /features
        with TestClient(create_app(config)) as http:
            served = http.post("/features", json={"features": ["srv_spend"], "entities": ["u_exact", "nobody"],
                                                  "at": T.isoformat()}).json()
        assert served == body
        # no --at: the read time used is printed
        r = runner.invoke(get_cmd, ["srv_pair", "user_id=u1,shop_id=7", "--json"])
        assert r.exit_code == 0, r.output
        body = json.loads(r.output)
        assert abs(datetime.fromisoformat(body["read_ts"]) - datetime.now(UTC)) < timedelta(minutes=1)
        assert body["results"][0]["entity"] == {"user_id": "u1", "shop_id": 7}
    finally:
        load_config.cache_clear()


def test_an_age_equal_to_the_ttl_already_gets_the_defaults(setup: tuple[RuntimeConfig, Path]) -> None:
    """docs/features.md: values while age < online.ttl (7d here); defaults from age == ttl on."""
    client = OnlineClient(setup[0])
    expiry = T - timedelta(hours=2) + timedelta(days=7)  # u1's newest event + ttl
    (before,) = client.get_features("srv_spend", ["u1"], at=expiry - timedelta(microseconds=1))
    (at_ttl,) = client.get_features("srv_spend", ["u1"], at=expiry)
    assert before.groups["srv_spend"].found and before.values["txn_count_7d"] == 1
    assert not at_ttl.groups["srv_spend"].found
    assert at_ttl.values == {"txn_count_1d": 0, "txn_count_7d": 0, "txn_amount_sum_1d": None}
