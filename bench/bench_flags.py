"""Flag evaluation benchmark: what evaluation and exposure logging add over the feature read a rule needs.

    .venv/bin/python bench/bench_flags.py [--users 2000] [--calls 400] [--server dynalite|moto] [--sink auto]
                                          [--write-docs]

Goal (issue #19): evaluation adds <= 1 ms p99 over the feature read it needs (measured beside the plain read in
one run); exposure logging adds nothing measurable to the caller's latency.

Flag: the shipped ``instant_payout`` (``flags/``: a rule on two ``user_repayment`` features and one attribute)
with its rollout raised to 100 %, so every targeted call goes the whole way (read, rule, hash, exposure).
Items: ``user_repayment`` as after 30 days of the demo's events plus 12 h of stream (``bench/online_items.py``),
put on a DynamoDB-compatible server (``weir.devstack.dynalite.dynamodb_server``). Per call, for one random
entity, all variants interleaved in one loop (the order rotates every call), reads at the same time ``at``:

* ``read``: ``OnlineClient.get_features`` of exactly the two features the rule names (what evaluation reads),
  twice: the second copy is an A/A control, the run's noise floor for a p99 difference;
* ``flag``: ``Evaluator.evaluate("instant_payout", key, {"country": "KE"})``, no exposure logger;
* ``flag+log``: the same with an :class:`~weir.experiments.exposures.ExposureLogger` on a Kafka sink (the
  configured broker) or, with no broker (or ``--sink blocking``), a sink whose every write blocks 50 ms: the
  caller must not wait for either;
* ``flag`` and ``flag+log`` again with the rule answered from memory (the row this user's read returned): the
  evaluator's own work and the logger's, without the read's (on a loaded machine, much larger) noise;
* HTTP (``TestClient``, in process): ``POST /features`` of the two features vs ``POST /flags/evaluate``.

Evaluation reads through a reader that pins the read time to ``at`` (one function call more than the plain
read), since the items' data ends at the demo's run time.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_online import pct, to_dynamo
from online_items import ROOT, build_group, demo_events, shipped_groups

from weir.aws import dynamodb_client
from weir.compute.windows import us_to_datetime
from weir.experiments.evaluate import Evaluator
from weir.experiments.exposures import Exposure, ExposureLogger, KafkaSink, Sink
from weir.experiments.loader import load_declarations
from weir.experiments.targeting import features_of
from weir.online.client import OnlineClient
from weir.online.keys import entity_pk
from weir.online.store import DynamoOnlineStore
from weir.runtime import RuntimeConfig, build_config

GROUP = "user_repayment"
FLAG = "instant_payout"
ATTRS = {"country": "KE"}
BLOCK_S = 0.05


class BlockingSink:
    """A sink as slow as a broker that hangs: every write blocks ``BLOCK_S``."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, batch: Sequence[Exposure]) -> None:
        time.sleep(BLOCK_S)
        self.written += len(batch)


class PinnedReader:
    """The online client with the read time fixed to ``at`` (evaluation reads "now")."""

    def __init__(self, online: OnlineClient, at: str) -> None:
        self.online, self.at = online, at

    def get_features(self, refs: Sequence[str] | str, entity_keys: Sequence[Any],
                     at: datetime | str | int | float | None = None) -> Sequence[Any]:
        return self.online.get_features(refs, entity_keys, at=self.at)


class MemoryReader:
    """Answers with the rows last read by ``reader`` for the same request: evaluation's own work, no I/O."""

    def __init__(self, reader: PinnedReader) -> None:
        self.reader = reader
        self.rows: dict[str, Sequence[Any]] = {}

    def prime(self, refs: Sequence[str], key_col: str, user: str) -> None:
        self.rows[user] = self.reader.get_features(refs, [{key_col: user}])

    def get_features(self, refs: Sequence[str] | str, entity_keys: Sequence[Any],
                     at: datetime | str | int | float | None = None) -> Sequence[Any]:
        (entity,) = entity_keys
        return self.rows[next(iter(entity.values()))]


def judge(diff_ms: float, goal_ms: float, noise_ms: float) -> str:
    """A p99 difference against its goal, given the run's A/A difference (the same read measured twice)."""
    if diff_ms <= goal_ms:
        return "met"
    if diff_ms <= goal_ms + noise_ms:
        return f"not resolved: within the A/A noise of {noise_ms:.2f} ms"
    return "not met"


def kafka_answers(config: RuntimeConfig) -> bool:
    import socket

    host, _, port = config.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def make_sink(kind: str, config: RuntimeConfig) -> tuple[str, Sink]:
    if kind == "auto":
        kind = "kafka" if kafka_answers(config) else "blocking"
    if kind == "kafka":
        from weir.stream.producer import make_producer

        return f"Kafka sink ({config.kafka_bootstrap_servers}, topic bench_exposures)", KafkaSink(
            make_producer(config), topic="bench_exposures")
    if kind == "blocking":
        return f"a sink blocking {BLOCK_S * 1000:.0f} ms per write", BlockingSink()
    raise SystemExit(f"--sink: unknown sink {kind!r}; use auto, kafka or blocking")


def run(endpoint: str, items: dict[str, dict[str, Any]], users: list[str], t_us: int, calls: int,
        sink_kind: str,
        ) -> tuple[list[tuple[str, str]], str]:
    from fastapi.testclient import TestClient

    from weir.online.server import create_app

    groups = shipped_groups()
    flag = next(d for d in load_declarations(ROOT / "flags", "flag", groups) if d.name == FLAG)
    flag = flag.model_copy(update={"rollout": 100.0})
    assert flag.rule is not None
    refs = [f"{g}:{c}" for g, cs in features_of(flag.rule).items() for c in cs]
    start = flag.start.timestamp() if flag.start else 0.0

    def clock() -> float:
        return max(time.time(), start)  # the flag has started

    prefix = f"benchflags{os.getpid()}_"
    config = build_config(dynamodb_endpoint=endpoint, dynamodb_table_prefix=prefix)
    raw = dynamodb_client(config, max_attempts=1)
    store = DynamoOnlineStore(config)
    table = store.ensure_table(GROUP)
    sink_name, sink = make_sink(sink_kind, config)
    logger = ExposureLogger(sink)
    try:
        for item in items.values():
            raw.put_item(TableName=table, Item=to_dynamo(item))
        online = OnlineClient(config, groups=groups, store=store)
        at = us_to_datetime(t_us).isoformat()
        reader = PinnedReader(online, at)
        plain = Evaluator([flag], reader, clock=clock)
        memory = MemoryReader(reader)
        alone = Evaluator([flag], memory, clock=clock)
        alone_logged = Evaluator([flag], memory, exposures=logger, clock=clock)
        logged = Evaluator([flag], reader, exposures=logger, clock=clock)
        http = TestClient(create_app(config, client=online, flags=Evaluator([flag], reader, clock=clock)))
        sample = plain.evaluate(FLAG, users[0], ATTRS)  # fail early on a broken setup
        assert sample.reason != "DISABLED", sample

        def post(path: str, body: dict[str, Any]) -> None:
            resp = http.post(path, json=body)
            assert resp.status_code == 200, resp.text

        key_col = online.groups[GROUP].key_columns[0]
        targeted = [u for u in users if plain.evaluate(FLAG, u, ATTRS).assigned]
        others = [u for u in users if u not in set(targeted)]
        if not targeted or not others:
            raise SystemExit(f"{len(targeted)} of {len(users)} users targeted: use more --users")
        for u in users:
            memory.prime(refs, key_col, u)
        variants: list[tuple[str, Callable[[str], object]]] = [
            ("SDK read", lambda u: online.get_features(refs, [{key_col: u}], at=at)),
            ("SDK read again (A/A control: the noise floor)", lambda u: online.get_features(refs, [{key_col: u}],
                                                                                         at=at)),
            ("SDK flag", lambda u: plain.evaluate(FLAG, u, ATTRS)),
            ("SDK flag + exposure log", lambda u: logged.evaluate(FLAG, u, ATTRS)),
            ("SDK flag, rule answered from memory (no I/O)", lambda u: alone.evaluate(FLAG, u, ATTRS)),
            ("SDK flag + exposure log, from memory (no I/O)", lambda u: alone_logged.evaluate(FLAG, u, ATTRS)),
            ("HTTP read", lambda u: post("/features", {"features": refs, "entities": [u], "at": at})),
            ("HTTP flag", lambda u: post("/flags/evaluate", {"key": u, "names": [FLAG], "attributes": ATTRS})),
        ]
        samples: dict[str, list[float]] = {name: [] for name, _ in variants}
        gc.collect()
        gc.freeze()  # the bench's own setup (the demo's events) out of the collector's way, as in a service
        rnd = random.Random(3)
        for i in range(calls + 5):
            user = rnd.choice(targeted if i % 2 else others)  # half the calls go the whole way
            for j in range(len(variants)):
                name, fn = variants[(i + j) % len(variants)]
                t0 = time.perf_counter()
                fn(user)
                if i >= 5:  # the first calls warm up
                    samples[name].append(time.perf_counter() - t0)
        logger.flush(30)
        paired = {case: [a - b for a, b in zip(samples[case], samples[base], strict=True)]
                  for case, base in (("SDK flag", "SDK read"), ("HTTP flag", "HTTP read"))}
        p50 = {n: pct(v, 0.5) for n, v in samples.items()}
        p99 = {n: pct(v, 0.99) for n, v in samples.items()}
        rows = [(n, f"p50 {p50[n]:.2f} ms, p99 {p99[n]:.2f} ms") for n in samples]
        aa = abs(p99["SDK read again (A/A control: the noise floor)"] - p99["SDK read"])
        for what, base, case, goal in (
                ("A/A: the same read twice, SDK", "SDK read", "SDK read again (A/A control: the noise floor)",
                 None),
                ("evaluation over the read, SDK", "SDK read", "SDK flag", 1.0),
                ("exposure logging over evaluation, SDK", "SDK flag", "SDK flag + exposure log", None),
                ("evaluation over the read, HTTP", "HTTP read", "HTTP flag", 1.0)):
            d99, d50 = p99[case] - p99[base], p50[case] - p50[base]
            verdict = "" if goal is None else f" ({judge(d99, goal, aa)}: <= {goal:g} ms)"
            rows.append((what, f"p99 {d99:+.2f} ms{verdict}, p50 {d50:+.2f} ms; "
                               f"ratio p99 {p99[case] / p99[base]:.2f}x, p50 {p50[case] / p50[base]:.2f}x"))
        own = p99["SDK flag, rule answered from memory (no I/O)"]
        rows.append(("evaluation's own work (rule answered from memory), p99",
                     f"{own:.2f} ms ({'met' if own <= 1.0 else 'not met'}: <= 1 ms)"))
        for case, diffs in paired.items():
            rows.append((f"{case} - read, paired per call", f"p1 {pct(diffs, 0.01):+.2f} ms, p50 "
                                                               f"{pct(diffs, 0.5):+.2f} ms, p99 "
                                                               f"{pct(diffs, 0.99):+.2f} ms"))
        rows.append(("users targeted by the rule (calls alternate targeted / not)",
                     f"{len(targeted)} of {len(users)}"))
        rows.append(("exposure logger: dropped / failed (queue full / sink error)",
                     f"{logger.dropped} / {logger.failed}"))
        return rows, sink_name
    finally:
        logger.close()
        store.drop_table(GROUP)


def main() -> None:
    from weir.devstack.dynalite import dynamodb_server

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--server", default="dynalite")
    ap.add_argument("--sink", default="auto", help="auto (Kafka if the broker answers, else blocking), kafka, "
                                                  "blocking")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    group = next(g for g in shipped_groups() if g.name == GROUP)
    events = demo_events(args.users)["repayments"]
    built = build_group(group, events)
    items = built.items()
    users = sorted({r["user_id"] for r in events
                    if entity_pk(group, {"user_id": r["user_id"]}) in items})
    base = build_config()
    load_before = os.getloadavg()
    with dynamodb_server(args.server, base) as endpoint:
        rows, sink_name = run(endpoint, items, users, built.end_us, args.calls, args.sink)
    load_after = os.getloadavg()
    cmd = (f".venv/bin/python bench/bench_flags.py --users {args.users} --calls {args.calls} "
           f"--server {args.server} --sink {args.sink}")
    header = (f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} x{os.cpu_count()} cores shared (load average "
              f"{load_before[0]:.1f} before, {load_after[0]:.1f} after), {args.server} on loopback, "
              f"{len(items):,} {GROUP} items, {args.calls} calls per variant interleaved, exposures to "
              f"{sink_name}")
    print(header)
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")
    print(f"reproduce: {cmd}")
    if args.write_docs:
        from docs_section import replace_subsection

        replace_subsection("### Evaluation latency", [
            f"`{cmd}`, {header}.", "", "| measurement | result |", "| --- | --- |",
            *[f"| {a} | {b} |" for a, b in rows], ""], section="## Flags and experiments")


if __name__ == "__main__":
    main()
