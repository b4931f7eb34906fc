"""The runtime changes of flags and experiments (kill, pause, rollout) in DynamoDB, shared by every host.

:class:`DynamoOverrideStore` implements :class:`weir.experiments.overrides.OverrideStore` on the table
``<dynamodb_table_prefix>_experiment_overrides`` (a feature group's name starts with a letter, so no group's table
can have this name): hash key ``pk`` = the declaration's name, range key ``sk`` = the change time in epoch
microseconds (16 digits) and a random suffix, so two hosts changing one declaration in the same microsecond both
keep their change. Items are only ever added (``UpdateItem`` under ``attribute_not_exists``, never overwritten),
so the table is the audit log; the current state is the fold of all changes in (time, sk) order. Clocks of the
writing hosts order the changes: two changes of one field from two hosts within their clock skew may apply in
either order (the audit shows both).

Every call goes through the online store's retry rule (:class:`weir.online.retry.Backoff`) and error path
(:class:`weir.online.errors.OnlineStoreError`). Readers (``weir serve``, the SDK through ``CachedOverrides``)
``Scan`` the table with strongly consistent reads at most once per cache TTL; it holds a few items per change a
person made, so a scan stays small. A table that does not exist yet holds no changes.
``WEIR_EXPERIMENTS_OVERRIDES=dynamodb`` selects this store (:func:`override_store`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from weir.experiments.overrides import Change, FileOverrideStore, OverrideStore
from weir.online.errors import OnlineStoreError
from weir.online.interface import NOT_FOUND
from weir.online.retry import Backoff
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_SUFFIX = "_experiment_overrides"
PK, SK = "pk", "sk"
ACTION, WHO, AT, ROLLOUT, REASON = "action", "who", "at", "rollout", "reason"
CONDITION_FAILED = "ConditionalCheckFailedException"


def overrides_table(config: RuntimeConfig) -> str:
    return f"{config.dynamodb_table_prefix}{TABLE_SUFFIX}"


def change_key(change: Change) -> str:
    """The range key of a change: its time (sortable) and a random suffix (unique)."""
    return f"{round(change.at * 1_000_000):016d}#{uuid.uuid4().hex[:12]}"


class DynamoOverrideStore:
    """The override log as DynamoDB items (module doc)."""

    def __init__(self, config: RuntimeConfig, client: DynamoDBClient | None = None, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from weir.aws import dynamodb_client

        self.config = config
        self.table = overrides_table(config)
        self.client: DynamoDBClient = client if client is not None else dynamodb_client(config, max_attempts=1)
        self.backoff = Backoff(max(1, max_attempts), sleep=sleep)
        self._ready = False

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        return self.backoff.call(what, fn, endpoint=self.config.dynamodb_endpoint)

    def ensure_table(self) -> str:
        """Create the table (``pk`` S hash, ``sk`` S range, on demand) unless it exists; idempotent."""
        if self._ready:
            return self.table
        client, name = self.client, self.table
        try:
            self._call(f"DescribeTable {name}", lambda: client.describe_table(TableName=name))
        except OnlineStoreError as exc:
            if exc.code != NOT_FOUND:
                raise
            try:
                self._call(f"CreateTable {name}", lambda: client.create_table(
                    TableName=name, BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": PK, "AttributeType": "S"},
                                          {"AttributeName": SK, "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}]))
            except OnlineStoreError as created:
                if created.code != "ResourceInUseException":
                    raise  # else: created concurrently by another host
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        self._ready = True
        return name

    def append(self, change: Change) -> None:
        """Add ``change`` as a new item; never overwrites one (a retried call whose first attempt landed finds its
        own item, which is success)."""
        self.ensure_table()
        names = {"#a": ACTION, "#w": WHO, "#t": AT, "#r": REASON}
        values: dict[str, Any] = {":a": {"S": change.action}, ":w": {"S": change.who},
                                  ":t": {"N": repr(float(change.at))}, ":r": {"S": change.reason}}
        update = "SET #a = :a, #w = :w, #t = :t, #r = :r"
        if change.rollout is not None:
            names["#p"] = ROLLOUT
            values[":p"] = {"N": repr(float(change.rollout))}
            update += ", #p = :p"
        key = {PK: {"S": change.name}, SK: {"S": change_key(change)}}
        client, table = self.client, self.table
        try:
            self._call(f"UpdateItem {table} {change.name}", lambda: client.update_item(
                TableName=table, Key=key, UpdateExpression=update, ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={**names, "#k": PK}, ExpressionAttributeValues=values))
        except OnlineStoreError as exc:
            if exc.code != CONDITION_FAILED:  # the key is unique to this call: the item there is ours
                raise

    def changes(self) -> list[Change]:
        """Every change, oldest first; [] while the table does not exist."""
        client, table = self.client, self.table
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
            if start:
                kwargs["ExclusiveStartKey"] = start

            def scan(kw: dict[str, Any] = kwargs) -> Any:
                return client.scan(**kw)

            try:
                page = self._call(f"Scan {table}", scan)
            except OnlineStoreError as exc:
                if exc.code == NOT_FOUND:
                    return []
                raise
            items += page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        rows = sorted(items, key=lambda i: (float(i.get(AT, {}).get("N", "0")), i[SK]["S"]))
        return [self._change(i) for i in rows]

    def _change(self, item: dict[str, Any]) -> Change:
        try:
            rollout = item.get(ROLLOUT, {}).get("N")
            return Change(item[PK]["S"], item[ACTION]["S"], item[WHO]["S"], float(item[AT]["N"]),
                          None if rollout is None else float(rollout), item.get(REASON, {}).get("S", ""))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{self.table}: bad change item pk={item.get(PK)} sk={item.get(SK)}: {exc}; fix or "
                             "delete the item") from None


def override_store(config: RuntimeConfig) -> OverrideStore:
    """The override store ``config.experiments_overrides`` names: ``file`` (``<state_dir>``, one host) or
    ``dynamodb`` (shared)."""
    if config.experiments_overrides == "dynamodb":
        return DynamoOverrideStore(config)
    return FileOverrideStore.under(config.state_dir)
