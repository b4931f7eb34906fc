"""Runtime changes of flags shared across hosts: ``DynamoOverrideStore`` on the real DynamoDB-compatible server
(moto server of the local stack).

Two "hosts" (two stores, two boto clients, two ``CachedOverrides``) see each other's changes within the cache
TTL; changes made at the same instant by both are all kept (append-only, never overwritten); the state equals a
fold of the plain list of changes made (the oracle); the CLI writes and audits through it when
``WEIR_EXPERIMENTS_OVERRIDES=dynamodb``; an unreachable endpoint ends in the store's error naming the call.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from weir.experiments.overrides import CachedOverrides, Change, State
from weir.runtime import RuntimeConfig, build_config, load_config

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def config(stack: RuntimeConfig, tmp_path: Path) -> Iterator[RuntimeConfig]:
    from weir.online.override_store import DynamoOverrideStore

    cfg = build_config(dynamodb_table_prefix=f"ov{uuid.uuid4().hex[:8]}_", state_dir=tmp_path / "state",
                       experiments_overrides="dynamodb")
    yield cfg
    store = DynamoOverrideStore(cfg)
    try:
        store.client.delete_table(TableName=store.table)
    except store.client.exceptions.ResourceNotFoundException:
        pass


def _fold_by_hand(changes: list[Change], name: str) -> State:
    """The oracle: the last pause/resume, kill/unkill and rollout of ``name``, in time order."""
    paused = killed = False
    rollout = None
    for c in sorted(changes, key=lambda c: c.at):
        if c.name != name:
            continue
        if c.action == "pause":
            paused = True
        elif c.action == "resume":
            paused = False
        elif c.action == "kill":
            killed = True
        elif c.action == "unkill":
            killed = False
        else:
            rollout = c.rollout
    return State(paused, killed, rollout)


def test_two_hosts_see_each_others_changes(config: RuntimeConfig) -> None:
    from weir.experiments.catalog import evaluator_for
    from weir.online.override_store import DynamoOverrideStore, override_store

    assert isinstance(override_store(config), DynamoOverrideStore)
    store_a, store_b = DynamoOverrideStore(config), DynamoOverrideStore(config)
    assert store_b.changes() == []  # no table yet: no changes, no error
    clock = Clock(1_790_000_000.0)
    host_a = CachedOverrides(store_a, ttl_s=5, clock=clock)
    host_b = CachedOverrides(store_b, ttl_s=5, clock=clock)
    assert host_b.state("instant_payout") == State()  # read (and cached) before A's change

    made = [host_a.change("instant_payout", "kill", "oncall@example.com", reason="INC-311")]
    assert host_a.state("instant_payout").killed  # the writer sees its change at once
    assert host_b.state("instant_payout") == State()  # B still serves its cache...
    clock.t += 5
    assert host_b.state("instant_payout").killed  # ...and sees the change once the TTL is over

    clock.t += 1
    made.append(host_b.change("instant_payout", "rollout", "pm@example.com", rollout=35, reason="step 2"))
    clock.t += 0.25
    made.append(host_b.change("checkout_copy", "pause", "pm@example.com"))
    clock.t += 5
    for host in (host_a, host_b):
        assert host.state("instant_payout") == _fold_by_hand(made, "instant_payout") == State(False, True, 35)
        assert host.state("checkout_copy") == _fold_by_hand(made, "checkout_copy") == State(True, False, None)

    # an evaluating process on a third "host" serves the default of the paused flag
    ev = evaluator_for(config, None, overrides=DynamoOverrideStore(config))
    a = ev.evaluate("checkout_copy", "u1")
    assert (a.reason, a.assigned, a.detail) == ("DISABLED", False, "paused")

    # the audit log, oldest first, with who, when, what and why
    audit = host_a.audit()
    assert [(c["name"], c["action"], c["who"], c["at"], c["rollout"], c["reason"]) for c in audit] == [
        (c.name, c.action, c.who, c.at, c.rollout, c.reason) for c in made]


def test_changes_at_the_same_instant_from_two_hosts_are_all_kept(config: RuntimeConfig) -> None:
    from weir.online.override_store import DynamoOverrideStore

    at = 1_790_000_100.0
    stores = [DynamoOverrideStore(config), DynamoOverrideStore(config)]
    stores[0].ensure_table()
    made = [Change("instant_payout", "rollout", f"host{h}", at, rollout=float(10 * h + i)) for h in (0, 1)
            for i in range(6)]

    def write(h: int) -> None:
        for c in made[6 * h: 6 * h + 6]:
            stores[h].append(c)

    threads = [threading.Thread(target=write, args=(h,)) for h in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = stores[1].changes()
    assert sorted(got, key=lambda c: (c.who, c.rollout or 0)) == sorted(made, key=lambda c: (c.who, c.rollout or 0))


def test_cli_switches_go_through_the_shared_store(config: RuntimeConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from weir.cli import cli
    from weir.online.override_store import DynamoOverrideStore

    for key, value in config.env().items():
        monkeypatch.setenv(key, value)
    load_config.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(cli, ["flags", "kill", "instant_payout", "--who", "oncall", "--reason", "INC-1"])
        assert out.exit_code == 0, out.output
        lines = [json.loads(x) for x in runner.invoke(cli, ["flags", "audit"]).output.splitlines()]
        assert [(c["action"], c["who"], c["reason"]) for c in lines] == [("kill", "oncall", "INC-1")]
    finally:
        load_config.cache_clear()
    assert [c.action for c in DynamoOverrideStore(config).changes()] == ["kill"]  # in DynamoDB, not a file
    assert not (config.state_dir / "experiments" / "overrides.jsonl").exists()


def test_an_unreachable_endpoint_ends_in_the_store_error(tmp_path: Path) -> None:
    from weir.online.errors import OnlineStoreError
    from weir.online.override_store import DynamoOverrideStore

    cfg = build_config(dynamodb_endpoint="http://127.0.0.1:9", state_dir=tmp_path, experiments_overrides="dynamodb")
    slept: list[float] = []
    store = DynamoOverrideStore(cfg, max_attempts=2, sleep=slept.append)
    with pytest.raises(OnlineStoreError, match=r"Scan weir__experiment_overrides: still failing after 2 attempts"):
        store.changes()
    assert len(slept) == 1  # one backoff pause between the two attempts
