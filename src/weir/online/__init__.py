"""The online store: publish tiles to DynamoDB (newest wins) and serve features merged at read time.

``weir.online.codec`` (the item's ``tiles`` blob), ``weir.online.store`` (DynamoDB I/O with retries),
``weir.online.publish`` (Spark -> items), ``weir.online.client`` (reads), ``weir.online.server`` (HTTP).
Importing this package imports none of them (names resolve on first use): no Spark, FastAPI or botocore.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weir.online.client import EntityFeatures, GroupFeatures, OnlineClient
    from weir.online.errors import FeatureRequestError, OnlineStoreError
    from weir.online.store import DynamoOnlineStore, OnlineItem, WriteStats

_LAZY = {
    "EntityFeatures": "weir.online.client",
    "GroupFeatures": "weir.online.client",
    "OnlineClient": "weir.online.client",
    "FeatureRequestError": "weir.online.errors",
    "OnlineStoreError": "weir.online.errors",
    "DynamoOnlineStore": "weir.online.store",
    "OnlineItem": "weir.online.store",
    "WriteStats": "weir.online.store",
}

__all__ = [
    "DynamoOnlineStore",
    "EntityFeatures",
    "FeatureRequestError",
    "GroupFeatures",
    "OnlineClient",
    "OnlineItem",
    "OnlineStoreError",
    "WriteStats",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'weir.online' has no attribute {name!r}")
    return getattr(import_module(module), name)
