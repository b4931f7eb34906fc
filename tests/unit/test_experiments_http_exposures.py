"""``POST /flags/evaluate`` logs one exposure per assignment through the server's non-blocking logger
(``create_app(exposures=...)``, what ``weir serve`` passes), and none for a default; the answer never waits
for the sink; shutdown drains the queue. The declarations are the checkout's (flags/, experiments/)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from weir.experiments import Exposure, ExposureLogger, MemorySink
from weir.experiments.hashing import assign
from weir.runtime import RuntimeConfig
from weir.stream.exposure_logging import LazyProducer, kafka_exposure_logger

ROOT = Path(__file__).resolve().parents[2]


class GatedSink(MemorySink):
    """A sink that blocks until released: a slow or hung Kafka."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def write(self, batch: Sequence[Exposure]) -> None:
        self.gate.wait(30)
        super().write(batch)


@pytest.fixture()
def config(tmp_path: Path) -> RuntimeConfig:
    return RuntimeConfig(specs_dir=ROOT / "feature_specs", state_dir=tmp_path / "state")


def test_each_assignment_is_logged_once_without_waiting_for_the_sink(config: RuntimeConfig) -> None:
    from weir.online.server import create_app

    sink = GatedSink()
    logger = ExposureLogger(sink, flush_interval_s=0.01)
    keys = [f"u{i}" for i in range(30)]
    with TestClient(create_app(config, exposures=logger)) as http:
        began = time.perf_counter()
        answers = {}
        for key in keys:  # checkout_copy: no targeting, 100% rollout: every call assigns
            r = http.post("/flags/evaluate", json={"key": key, "names": ["checkout_copy"]})
            assert r.status_code == 200, r.text
            answers[key] = r.json()["assignments"]["checkout_copy"]
        assert time.perf_counter() - began < 20  # the sink is blocked the whole time: nothing waited for it
        assert sink.records == []
        sink.gate.set()
    # leaving the client shuts the app down: the logger is drained and closed
    assert logger.flush(5)
    got = {e.key: e for e in sink.records}
    assert len(sink.records) == len(keys) == len(got)
    for key in keys:
        e, a = got[key], answers[key]
        assert a["assigned"] is True
        want = ["standard", "friendly"][assign("checkout-copy-v1", key, [50, 50])]  # the declared salt, weights
        assert e.variant == a["variant"] == want
        assert (e.name, e.kind, e.entity, e.salt, e.reason) == ("checkout_copy", "flag", "user", "checkout-copy-v1",
                                                                a["reason"])
    assert len({e.exposure_id for e in sink.records}) == len(keys)


def test_no_exposure_for_a_default_and_none_without_a_logger(config: RuntimeConfig) -> None:
    from weir.experiments.catalog import overrides_for
    from weir.online.server import create_app

    sink = MemorySink()
    logger = ExposureLogger(sink, flush_interval_s=0.01)
    overrides_for(config).change("checkout_copy", "kill", "oncall", reason="test")
    with TestClient(create_app(config, exposures=logger)) as http:
        r = http.post("/flags/evaluate", json={"key": "u1", "names": ["checkout_copy"]})
        assert r.json()["assignments"]["checkout_copy"]["reason"] == "DISABLED"
    assert logger.flush(5) and sink.records == []
    with TestClient(create_app(config)) as http:  # no logger: evaluation still answers
        assert http.post("/flags/evaluate", json={"key": "u1", "names": ["checkout_copy"]}).status_code == 200


def test_the_kafka_logger_is_off_without_kafka_and_lazy_with_it(tmp_path: Path) -> None:
    assert kafka_exposure_logger(RuntimeConfig(kafka_bootstrap_servers="", state_dir=tmp_path)) is None
    logger = kafka_exposure_logger(RuntimeConfig(kafka_bootstrap_servers="127.0.0.1:1", state_dir=tmp_path))
    assert logger is not None
    try:
        sink = logger.sink
        assert isinstance(sink.producer, LazyProducer)  # type: ignore[attr-defined]
        assert sink.producer._producer is None  # type: ignore[attr-defined]  # no connection at start
        assert sink.topic == "weir_exposures"  # type: ignore[attr-defined]
    finally:
        logger.close(1)
