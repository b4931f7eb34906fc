"""The feature server writes its answer once as JSON; values JSON has no form for take the response model's path."""

from __future__ import annotations

import json
import math

from fastapi.responses import Response

from weir.online.server import json_response


def test_the_answer_is_written_once_as_compact_utf8_json() -> None:
    payload = {"read_ts": "2026-11-01T00:00:00+00:00",
               "results": [{"entity": {"user_id": "ü1"}, "groups": {"g": {"values": {"n": 3, "x": 0.1 + 0.2}}}}]}
    out = json_response(payload)
    assert isinstance(out, Response) and out.media_type == "application/json"
    assert json.loads(bytes(out.body)) == payload
    assert "ü1".encode() in bytes(out.body)


def test_a_nan_value_falls_back_to_the_encoder_path() -> None:
    out = json_response({"read_ts": "t", "results": [{"values": {"x": math.nan}}]})
    assert not isinstance(out, Response)  # FastAPI's response model writes it (as null)
    assert math.isnan(out["results"][0]["values"]["x"])


def test_requests_are_timed_by_route_and_errors_counted_by_kind() -> None:
    from fastapi.testclient import TestClient

    from weir import metrics
    from weir.online.client import OnlineClient
    from weir.online.memory import InMemoryOnlineStore
    from weir.online.server import create_app
    from weir.runtime import RuntimeConfig
    from weir.spec import parse_spec_text

    group = parse_spec_text("""
name: obs_g
entity: {name: user, keys: [user_id]}
source: {kafka: {topic: t}, event_time: ts, columns: {user_id: string, ts: timestamp}}
features: [{name: n, aggregation: count, windows: [1d]}]
""")
    client = OnlineClient(RuntimeConfig(), groups=[group], store=InMemoryOnlineStore())
    http = TestClient(create_app(RuntimeConfig(), client=client))

    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = (value("weir_serve_request_seconds_count", route="/features"),
              value("weir_serve_request_seconds_count", route="other"),
              value("weir_serve_errors_total", kind="not_found"), value("weir_serve_errors_total", kind="invalid"))
    ok = http.post("/features", json={"features": ["obs_g"], "entities": ["u1"], "at": 0})
    assert ok.status_code == 200 and ok.json()["results"][0]["groups"]["obs_g"]["found"] is False
    assert http.post("/features", json={"features": ["nope"], "entities": ["u1"]}).status_code == 404
    assert http.post("/features", json={"features": []}).status_code == 422
    assert http.get("/no/such/path").status_code == 404
    after = (value("weir_serve_request_seconds_count", route="/features"),
             value("weir_serve_request_seconds_count", route="other"),
             value("weir_serve_errors_total", kind="not_found"), value("weir_serve_errors_total", kind="invalid"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 1, 2, 1]
