"""The IAM policies in ops/iam/ grant exactly the DynamoDB actions Weir's code can call, per role.

The code is scanned with ``ast``: every call of a boto3 DynamoDB client method (a call on a receiver whose
source mentions ``client``) is mapped to its IAM action through botocore's own operation names
(``update_item`` -> ``UpdateItem``), plus the implicit ones (``get_waiter("table_exists")`` polls
``DescribeTable``; ``create_table(Tags=...)`` also needs ``TagResource``). Each call site belongs to the roles
that run it (``ROLE_SITES``); a role's policy must grant exactly the actions of its sites, so a new call
without a policy change, or a grant nothing uses, fails here.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
IAM = ROOT / "ops" / "iam"
TABLE_ARN = "arn:aws:dynamodb:*:*:table/weir_*"

# module:qualified.function prefixes of the call sites each role runs
_TABLE_SETUP = ["weir.online.store:DynamoOnlineStore.ensure_table", "weir.online.store:DynamoOnlineStore._enable_ttl"]
_CONDITIONAL_UPDATE = "weir.online.store:DynamoOnlineStore._update_if"  # the batch part's and the stream part's
_PUBLISH = [*_TABLE_SETUP, _CONDITIONAL_UPDATE]
_STREAM = [*_TABLE_SETUP, _CONDITIONAL_UPDATE,
           "weir.online.store:DynamoOnlineStore._get_chunk"]  # read-merge-write of stream tiles
_OVERRIDES_READ = "weir.online.override_store:DynamoOverrideStore.changes"  # runtime changes of flags (Scan)
ROLE_SITES: dict[str, list[str]] = {
    "publisher": _PUBLISH,  # weir online init, weir publish
    "streaming": _STREAM,  # weir stream (the streaming job's online writer)
    # weir serve, weir get, OnlineClient; evaluators read the runtime state of flags and experiments
    "reader": ["weir.online.store:DynamoOnlineStore._get_chunk", _OVERRIDES_READ],
    # Airflow tasks publish, start streams (the supervisor DAG) and check freshness (a sample Scan)
    "airflow-worker": [*_PUBLISH, *_STREAM, "weir.online.store:DynamoOnlineStore.sample_run_times"],
    # weir smoke against AWS: its own weir_smoke table only, through the store (set-up, write, read)
    "smoke": [*_PUBLISH, "weir.online.store:DynamoOnlineStore._get_chunk"],
    # weir flags|experiments kill/pause/rollout/audit with the shared (DynamoDB) override store
    "experiments-admin": ["weir.online.override_store:DynamoOverrideStore.ensure_table",
                          "weir.online.override_store:DynamoOverrideStore.append", _OVERRIDES_READ],
}
# call sites no deployed role runs, and why
NOT_DEPLOYED = {
    "weir.online.store:DynamoOnlineStore.drop_table": "tests and benchmarks only; no role may delete tables",
    "weir.devstack.": "the local development stack's own server",
}


def _api_names() -> dict[str, str]:
    client = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return dict(client.meta.method_to_api_mapping)


class _Calls(ast.NodeVisitor):
    """(qualified function, IAM actions) of every DynamoDB client call in one module."""

    def __init__(self, api: dict[str, str]) -> None:
        self.api = api
        self.stack: list[str] = []
        self.found: list[tuple[str, set[str]]] = []

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and "client" in ast.unparse(func.value):
            actions = self._actions(func.attr, node)
            if actions:
                self.found.append((".".join(self.stack), actions))
        self.generic_visit(node)

    def _actions(self, method: str, node: ast.Call) -> set[str]:
        if method == "get_waiter":
            waiter = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            assert waiter in ("table_exists", "table_not_exists"), f"unmapped waiter {waiter!r}"
            return {"dynamodb:DescribeTable"}
        if method not in self.api:
            return set()
        actions = {f"dynamodb:{self.api[method]}"}
        if method == "create_table" and any(k.arg == "Tags" for k in node.keywords):
            actions.add("dynamodb:TagResource")  # tagging on create needs both permissions
        return actions


def code_sites() -> dict[str, set[str]]:
    """``module:qualname`` -> IAM actions called there, over every module of src/weir."""
    api = _api_names()
    sites: dict[str, set[str]] = defaultdict(set)
    for path in sorted((SRC / "weir").rglob("*.py")):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        visitor = _Calls(api)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        for qualname, actions in visitor.found:
            sites[f"{module}:{qualname}"] |= actions
    return dict(sites)


def _policy(role: str) -> dict[str, set[str]]:
    """Resource -> actions granted by ops/iam/<role>.json (Allow statements only)."""
    doc = json.loads((IAM / f"{role}.json").read_text())
    assert doc["Version"] == "2012-10-17"
    out: dict[str, set[str]] = defaultdict(set)
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st, st
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for a in actions:
            assert "*" not in a, f"{role}: wildcard action {a}"
        for r in resources:
            out[r] |= set(actions)
    return dict(out)


def _matches(site: str, prefixes: list[str]) -> bool:
    return any(site.startswith(p) for p in prefixes)


@pytest.fixture(scope="module")
def sites() -> dict[str, set[str]]:
    found = code_sites()
    assert found, "the scan found no DynamoDB calls at all: the scan is broken"
    return found


def test_every_call_site_belongs_to_a_role_or_is_named_as_not_deployed(sites: dict[str, set[str]]) -> None:
    prefixes = [p for ps in ROLE_SITES.values() for p in ps]
    orphans = {s: a for s, a in sites.items() if not _matches(s, prefixes) and not _matches(s, list(NOT_DEPLOYED))}
    assert not orphans, f"DynamoDB calls no role's policy accounts for (add them to ROLE_SITES): {orphans}"
    for prefix in [*prefixes, *NOT_DEPLOYED]:
        assert any(s.startswith(prefix) for s in sites), f"{prefix}: no such call site any more; update the test"


def test_the_policy_files_are_exactly_the_roles() -> None:
    assert {p.stem for p in IAM.glob("*.json")} == set(ROLE_SITES)


@pytest.mark.parametrize("role", sorted(ROLE_SITES))
def test_each_role_is_granted_exactly_what_its_code_calls(sites: dict[str, set[str]], role: str) -> None:
    needed = set().union(*(a for s, a in sites.items() if _matches(s, ROLE_SITES[role])))
    granted = set().union(*_policy(role).values())
    assert not needed - granted, f"{role}: missing {sorted(needed - granted)} (AccessDenied at run time)"
    assert not granted - needed, f"{role}: grants unused {sorted(granted - needed)}"


def test_the_union_of_the_policies_is_exactly_what_the_code_calls(sites: dict[str, set[str]]) -> None:
    deployed = set().union(*(a for s, a in sites.items() if not _matches(s, list(NOT_DEPLOYED))))
    granted = set().union(*(set().union(*_policy(r).values()) for r in ROLE_SITES))
    assert granted == deployed
    assert not {"dynamodb:DeleteTable", "dynamodb:PutItem", "dynamodb:DeleteItem"} & granted  # UpdateItem only


def test_policies_are_scoped_to_weir_tables() -> None:
    for role in ROLE_SITES:
        for resource, actions in _policy(role).items():
            if role == "smoke":
                assert resource in ("*", "arn:aws:dynamodb:*:*:table/weir_smoke"), resource
                assert resource != "*" or actions == {"dynamodb:ListTables"}  # ListTables has no table resource
            else:
                assert resource == TABLE_ARN, f"{role}: {resource}"


def test_the_scan_sees_known_calls(sites: dict[str, set[str]]) -> None:
    """An independent spot check: calls read off the source by eye must be found with their actions."""
    assert sites["weir.online.store:DynamoOnlineStore.sample_run_times"] == {"dynamodb:Scan"}
    assert sites["weir.online.store:DynamoOnlineStore.ensure_table"] == {
        "dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:TagResource"}
    assert sites["weir.online.store:DynamoOnlineStore._enable_ttl"] == {
        "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive"}
    assert sites["weir.online.store:DynamoOnlineStore.drop_table"] == {"dynamodb:DeleteTable"}


def test_dynamodb_clients_are_made_in_one_place() -> None:
    """The scan follows calls on ``client`` receivers; that holds while weir.aws is the one maker of clients."""
    makers = [p.relative_to(SRC).as_posix() for p in (SRC / "weir").rglob("*.py")
              if "boto3.client(" in p.read_text() or "boto3.resource(" in p.read_text()
              or "boto3.Session(" in p.read_text()]
    assert makers == ["weir/aws.py"]
