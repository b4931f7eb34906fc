"""``POST /flags/evaluate`` on the feature server (in-memory online store): the same assignment as the SDK,
strict request validation, 404 for unknown names."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from test_experiments_evaluate import NOW, Clock, declarations
from test_online_paths_memory import GROUP

from weir.experiments import Evaluator
from weir.online.client import OnlineClient
from weir.online.memory import InMemoryOnlineStore
from weir.online.server import create_app
from weir.runtime import RuntimeConfig


def app(flags: Evaluator | None) -> TestClient:
    client = OnlineClient(RuntimeConfig(), groups=[GROUP], store=InMemoryOnlineStore())
    return TestClient(create_app(RuntimeConfig(), client=client, flags=flags))


def test_flags_evaluate_matches_the_sdk() -> None:
    client = OnlineClient(RuntimeConfig(), groups=[GROUP], store=InMemoryOnlineStore())
    ev = Evaluator(declarations(), client, clock=Clock(NOW))
    http = app(ev)
    r = http.post("/flags/evaluate", json={"key": "u7", "attributes": {"country": "KE"}})
    assert r.status_code == 200, r.text
    body = r.json()
    want = ev.evaluate_many(None, "u7", {"country": "KE"})
    assert set(body["assignments"]) == set(want)
    for name, a in want.items():
        got = body["assignments"][name]
        assert (got["variant"], got["value"], got["reason"], got["assigned"]) == (a.variant, a.value, a.reason,
                                                                                  a.assigned)
    assert body["assignments"]["spend_nudge"]["assigned"] is True  # country KE is targeted
    one = http.post("/flags/evaluate", json={"key": "u7", "names": ["button_text"]}).json()
    assert list(one["assignments"]) == ["button_text"]


def test_bad_requests_are_refused_clearly() -> None:
    http = app(Evaluator(declarations(), clock=Clock(datetime(2026, 6, 1).timestamp())))
    r = http.post("/flags/evaluate", json={"key": "u1", "names": ["nope"]})
    assert r.status_code == 404 and "no flag or experiment named 'nope'" in r.json()["detail"]
    r = http.post("/flags/evaluate", json={"key": "", "extra": 1})
    assert r.status_code == 422 and "key" in r.json()["detail"] and "extra" in r.json()["detail"]
    r = http.post("/flags/evaluate", json={"key": "u1", "attributes": {"nested": {"a": 1}}})
    assert r.status_code == 422
    r = app(None).post("/flags/evaluate", json={"key": "u1"})
    assert r.status_code == 404 and "no flags or experiments are declared" in r.json()["detail"]
