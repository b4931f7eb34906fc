"""Evaluation end to end over the in-memory online store: targeting from ONE feature read equals a hand-written
evaluation of the oracle's values; kill, pause and rollout changes take effect within the cache TTL and are
audited; exposures are logged without blocking; the OpenFeature provider answers the standard API."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from oracle import group_values
from test_online_paths_memory import GROUP, events, stream

from weir.experiments import (
    CachedOverrides,
    Evaluator,
    ExposureLogger,
    FileOverrideStore,
    MemorySink,
    parse_declaration,
)
from weir.experiments.exposures import Exposure
from weir.experiments.hashing import assign
from weir.experiments.provider import WeirProvider
from weir.online.client import OnlineClient
from weir.online.memory import InMemoryOnlineStore
from weir.runtime import RuntimeConfig

EXPERIMENT = """\
name: spend_nudge
entity: {name: user, key: user_id}
salt: spend-nudge-1
start: 2026-01-01T00:00:00Z
end: 2027-01-01T00:00:00Z
variants:
  - {name: control, weight: 50, value: "A"}
  - {name: nudge, weight: 50, value: "B"}
targeting: "mem_spend.n_count_7d >= 3 and mem_spend.total_sum_30d > 150 or country == 'KE'"
metrics:
  - {name: spend, source: transactions, aggregation: sum, column: amount, window: 14d}
covariates: [mem_spend.total_sum_30d]
"""
FLAGS = {
    "fast_lane": """\
name: fast_lane
type: boolean
entity: {name: user, key: user_id}
salt: fast-lane
variants:
  - {name: "off", weight: 0, value: false}
  - {name: "on", weight: 1, value: true}
default_variant: "off"
targeting: "mem_spend.n_count_7d >= 1"
""",
    "button_text": """\
name: button_text
type: string
entity: {name: user, key: user_id}
salt: button-text
variants:
  - {name: plain, weight: 1, value: "Pay"}
  - {name: warm, weight: 1, value: "Pay now, thanks!"}
""",
    "credit_limit_boost": """\
name: credit_limit_boost
type: number
entity: {name: user, key: user_id}
salt: limit-boost
variants:
  - {name: none, weight: 1, value: 0}
  - {name: small, weight: 1, value: 1.5}
""",
}
NOW = datetime(2026, 6, 1).timestamp()


class FixedTimeReader:
    """The online client read at a fixed time (the events are from April 2026); counts the reads."""

    def __init__(self, client: OnlineClient, at: datetime) -> None:
        self.client, self.at, self.calls = client, at, 0

    def get_features(self, refs: Sequence[str] | str, entity_keys: Sequence[Any], at: Any = None) -> Any:
        self.calls += 1
        return self.client.get_features(refs, entity_keys, at=self.at)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def declarations() -> list[Any]:
    return [parse_declaration(EXPERIMENT, "experiment", [GROUP]),
            *(parse_declaration(text, "flag", [GROUP]) for text in FLAGS.values())]


@pytest.fixture()
def served() -> tuple[FixedTimeReader, list[dict[str, Any]]]:
    store = InMemoryOnlineStore()
    evs = events(400, seed=19, users=40)
    stream(store, evs, 3)
    client = OnlineClient(RuntimeConfig(), groups=[GROUP], store=store)
    return FixedTimeReader(client, evs[-1]["ts"]), evs


def test_targeting_from_one_read_equals_hand_written_evaluation(served: tuple[FixedTimeReader, Any]) -> None:
    reader, evs = served
    at = evs[-1]["ts"]
    oracle = {user: v for (user,), v in group_values(GROUP, evs, at).items()}
    sink = MemorySink()
    logger = ExposureLogger(sink)
    ev = Evaluator(declarations(), reader, exposures=logger, clock=Clock(NOW))
    rnd = random.Random(5)
    users = [f"u{i}" for i in range(1, 60)]  # u41.. have no events: defaults (count 0, sum None)
    targeted = 0
    for user in users:
        country = rnd.choice(["KE", "NG", None])
        reader.calls = 0
        got = ev.evaluate_many(None, user, {"country": country} if country else {})
        assert reader.calls == 1  # every rule of every declaration from one online read
        values = oracle.get(user, {})
        n7, total30 = values.get("n_count_7d", 0), values.get("total_sum_30d")
        by_hand = (n7 >= 3 and total30 is not None and total30 > 150) or country == "KE"
        a = got["spend_nudge"]
        assert a.assigned == by_hand, (user, values, country)
        if by_hand:
            targeted += 1
            assert a.variant == ["control", "nudge"][assign("spend-nudge-1", user, [50, 50])]
            assert a.reason == "SPLIT"
        else:
            assert (a.variant, a.reason, a.detail) == ("control", "DEFAULT", "not targeted")
        assert got["fast_lane"].value is (n7 >= 1)
        assert got["fast_lane"].reason == ("TARGETING_MATCH" if n7 >= 1 else "DEFAULT")
    assert 5 < targeted < len(users) - 5
    assert logger.flush()
    logger.close()
    nudges = [e for e in sink.records if e.name == "spend_nudge"]
    assert len(nudges) == targeted and len({e.exposure_id for e in sink.records}) == len(sink.records)
    assert all(e.kind == "experiment" and e.entity == "user" and e.salt == "spend-nudge-1" for e in nudges)


def test_runtime_changes_take_effect_within_the_ttl_and_are_audited(tmp_path: Path) -> None:
    log = FileOverrideStore.under(tmp_path / "state")
    clock = Clock(NOW)
    service = Evaluator(declarations(), overrides=CachedOverrides(log, ttl_s=5, clock=clock), clock=clock)
    console = Evaluator(declarations(), overrides=CachedOverrides(log, ttl_s=5, clock=clock), clock=clock)
    users = [f"user_{i}" for i in range(2000)]
    before = {u: service.evaluate("button_text", u) for u in users}
    assert all(a.assigned and a.reason == "SPLIT" for a in before.values())

    console.change("button_text", "kill", who="pm@weir", reason="complaints")
    assert service.evaluate("button_text", "user_1").assigned  # the service's cache is still fresh
    clock.t += 5
    killed = service.evaluate("button_text", "user_1")
    assert (killed.variant, killed.value, killed.reason, killed.detail) == ("plain", "Pay", "DISABLED", "killed")
    assert console.evaluate("button_text", "user_1").detail == "killed"  # the writer sees its own change at once

    console.change("button_text", "unkill", who="pm@weir")
    console.change("button_text", "rollout", who="pm@weir", rollout=30)
    clock.t += 5
    partial = {u: service.evaluate("button_text", u) for u in users}
    share = sum(a.assigned for a in partial.values()) / len(users)
    assert 0.26 < share < 0.34
    assert all(a.variant == before[u].variant for u, a in partial.items() if a.assigned)  # nobody is reshuffled
    assert all(a.reason == "DEFAULT" and "30% rollout" in a.detail for a in partial.values() if not a.assigned)

    console.change("button_text", "pause", who="analyst@weir")
    clock.t += 5
    assert service.evaluate("button_text", "user_1").detail == "paused"
    console.change("button_text", "resume", who="analyst@weir")
    clock.t += 5
    assert {u for u in users if service.evaluate("button_text", u).assigned} == \
        {u for u, a in partial.items() if a.assigned}  # the rollout survives pause/resume

    audit = service.overrides.audit("button_text") if service.overrides else []
    assert [(c["action"], c["who"], c["rollout"]) for c in audit] == [
        ("kill", "pm@weir", None), ("unkill", "pm@weir", None), ("rollout", "pm@weir", 30),
        ("pause", "analyst@weir", None), ("resume", "analyst@weir", None)]
    assert audit[0]["reason"] == "complaints" and audit[0]["at"] == NOW
    assert log.path == tmp_path / "state" / "experiments" / "overrides.jsonl"


def test_runtime_changes_are_checked() -> None:
    ev = Evaluator(declarations(), overrides=CachedOverrides(FileOverrideStore("/nonexistent/never-written")))
    with pytest.raises(KeyError, match="no flag or experiment named 'buton_text'"):
        ev.change("buton_text", "kill", who="pm")
    with pytest.raises(ValueError, match="needs who made it"):
        ev.change("button_text", "kill", who=" ")
    with pytest.raises(ValueError, match="percentage from 0 to 100"):
        ev.change("button_text", "rollout", who="pm", rollout=120)
    with pytest.raises(RuntimeError, match="no override store"):
        Evaluator(declarations()).change("button_text", "kill", who="pm")


def test_start_and_end_bound_the_experiment() -> None:
    clock = Clock(datetime(2025, 12, 31).timestamp())
    ev = Evaluator(declarations(), clock=clock)
    assert ev.evaluate("spend_nudge", "u1", {"country": "KE"}).detail.startswith("starts 2026-01-01")
    clock.t = datetime(2027, 1, 1).timestamp()
    assert ev.evaluate("spend_nudge", "u1", {"country": "KE"}).detail.startswith("ended 2027-01-01")
    clock.t = NOW
    with pytest.raises(KeyError):
        ev.evaluate("nope", "u1")


def test_a_failed_feature_read_serves_the_default_with_the_reason() -> None:
    class Down:
        def get_features(self, refs: Any, entity_keys: Any, at: Any = None) -> Any:
            raise ConnectionError("store unreachable")

    ev = Evaluator(declarations(), Down(), clock=Clock(NOW))
    got = ev.evaluate_many(None, "u1", {"country": "KE"})
    assert got["fast_lane"].reason == "ERROR" and "store unreachable" in got["fast_lane"].detail
    assert got["fast_lane"].value is False
    assert got["button_text"].assigned  # a declaration without feature rules is unaffected


def test_exposure_logging_never_blocks_and_counts_what_it_drops() -> None:
    release = threading.Event()

    class BlockedSink(MemorySink):
        def write(self, batch: Sequence[Exposure]) -> None:
            release.wait(10)
            super().write(batch)

    sink = BlockedSink()
    logger = ExposureLogger(sink, max_queue=10, batch_size=1)
    for i in range(100):  # the sink is stuck: every call still returns
        logger.log(Exposure("x", "flag", "user", f"u{i}", "on", "s", "SPLIT", NOW))
    assert logger.dropped >= 89
    release.set()
    assert logger.flush()
    logger.close()
    assert len(sink.records) + logger.dropped == 100


def test_a_failing_sink_does_not_stop_the_logger() -> None:
    calls: list[int] = []

    class Flaky(MemorySink):
        def write(self, batch: Sequence[Exposure]) -> None:
            calls.append(len(batch))
            if len(calls) == 1:
                raise OSError("broker down")
            super().write(batch)

    sink = Flaky()
    errors: list[BaseException] = []
    logger = ExposureLogger(sink, batch_size=1, on_error=errors.append)
    for i in range(5):
        logger.log(Exposure("x", "flag", "user", f"u{i}", "on", "s", "SPLIT", NOW))
    assert logger.flush()
    logger.close()
    assert logger.failed == 1 and len(sink.records) == 4 and isinstance(errors[0], OSError)


def test_openfeature_provider_answers_the_standard_api(served: tuple[FixedTimeReader, Any]) -> None:
    reader, _ = served
    api.set_provider(WeirProvider(Evaluator(declarations(), reader, clock=Clock(NOW))), domain="weir-test")
    client = api.get_client("weir-test")
    ctx = EvaluationContext("u1", {"country": "KE"})
    details = client.get_boolean_details("fast_lane", False, ctx)
    want = Evaluator(declarations(), reader, clock=Clock(NOW)).evaluate("fast_lane", "u1")
    assert (details.value, details.variant, details.reason) == (want.value, want.variant, want.reason)
    text = client.get_string_details("button_text", "?", ctx)
    assert text.value in ("Pay", "Pay now, thanks!") and text.reason == "SPLIT" and text.variant in ("plain", "warm")
    assert client.get_float_value("credit_limit_boost", -1.0, ctx) in (0.0, 1.5)
    assert client.get_string_value("spend_nudge", "?", ctx) in ("A", "B")

    missing = client.get_boolean_details("fast_lane", True, EvaluationContext(None, {}))
    assert missing.value is True and missing.error_code == ErrorCode.TARGETING_KEY_MISSING
    unknown = client.get_boolean_details("fast_lan", True, ctx)
    assert unknown.value is True and unknown.error_code == ErrorCode.FLAG_NOT_FOUND
    mismatch = client.get_boolean_details("button_text", True, ctx)
    assert mismatch.value is True and mismatch.error_code == ErrorCode.TYPE_MISMATCH
    api.clear_providers()


def test_an_old_kill_is_kept_across_restarts(tmp_path: Path) -> None:
    log = FileOverrideStore(tmp_path / "o.jsonl")
    CachedOverrides(log).change("fast_lane", "kill", who="oncall")
    fresh = Evaluator(declarations(), overrides=CachedOverrides(log), clock=Clock(NOW))
    assert fresh.evaluate("fast_lane", "u1").detail == "killed"
    (tmp_path / "o.jsonl").write_text('{"name": "fast_lane"}\n')
    with pytest.raises(ValueError, match="o.jsonl:1: bad change record"):
        log.changes()


def test_evaluation_reads_nothing_when_every_declaration_is_off(served: tuple[FixedTimeReader, Any]) -> None:
    reader, _ = served
    ev = Evaluator(declarations(), reader, clock=Clock(NOW + timedelta(days=3650).total_seconds()))
    ev.evaluate("spend_nudge", "u1")
    assert reader.calls == 0


def test_first_exposure_per_entity_counts_each_id_once() -> None:
    from weir.experiments.exposures import first_exposures

    a1 = Exposure("x", "experiment", "user", "u1", "nudge", "s", "SPLIT", 30.0, exposure_id="a1")
    a0 = Exposure("x", "experiment", "user", "u1", "nudge", "s", "SPLIT", 10.0, exposure_id="a0")
    b = Exposure("x", "experiment", "user", "u2", "control", "s", "SPLIT", 20.0, exposure_id="b")
    other = Exposure("y", "flag", "user", "u1", "on", "t", "SPLIT", 5.0, exposure_id="c")
    got = first_exposures([a1, b, a0, a1, b, other])  # a retried write delivers a1 and b twice
    assert got == {("x", "u1"): a0, ("x", "u2"): b, ("y", "u1"): other}


def test_concurrent_changes_are_all_kept_whole(tmp_path: Path) -> None:
    log = FileOverrideStore(tmp_path / "o.jsonl")

    def writer(i: int) -> None:
        overrides = CachedOverrides(log)
        for j in range(25):
            overrides.change("button_text", "rollout", who=f"pm{i}", rollout=float(j))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    changes = log.changes()  # every line parses: no interleaved writes
    assert len(changes) == 100 and {c.who for c in changes} == {"pm0", "pm1", "pm2", "pm3"}
