"""The online store: publish tiles to DynamoDB (newest wins) and serve features merged at read time.

``weir.online.codec`` (the item's ``tiles`` blob), ``weir.online.interface`` (the ``OnlineStore`` contract),
``weir.online.store`` (every DynamoDB call, with retries), ``weir.online.memory`` (the same in memory, for tests),
``weir.online.publish`` (Spark -> items), ``weir.online.client`` (reads), ``weir.online.server`` (HTTP).
Importing this package imports none of them (names resolve on first use): no Spark, FastAPI or botocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.lazy import lazy_getattr

if TYPE_CHECKING:
    from weir.online.client import EntityFeatures, GroupFeatures, OnlineClient
    from weir.online.errors import FeatureRequestError, OnlineStoreError
    from weir.online.interface import OnlineItem, OnlineStore, WriteStats
    from weir.online.memory import InMemoryOnlineStore
    from weir.online.store import DynamoOnlineStore

_LAZY = {
    "EntityFeatures": "weir.online.client",
    "GroupFeatures": "weir.online.client",
    "OnlineClient": "weir.online.client",
    "FeatureRequestError": "weir.online.errors",
    "OnlineStoreError": "weir.online.errors",
    "OnlineItem": "weir.online.interface",
    "OnlineStore": "weir.online.interface",
    "WriteStats": "weir.online.interface",
    "InMemoryOnlineStore": "weir.online.memory",
    "DynamoOnlineStore": "weir.online.store",
}

__all__ = [
    "DynamoOnlineStore",
    "EntityFeatures",
    "FeatureRequestError",
    "GroupFeatures",
    "InMemoryOnlineStore",
    "OnlineClient",
    "OnlineItem",
    "OnlineStore",
    "OnlineStoreError",
    "WriteStats",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
