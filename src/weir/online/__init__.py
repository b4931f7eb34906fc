"""The online store: publish tiles to DynamoDB (newest wins) and serve features merged at read time.

``weir.online.codec`` (the item's ``tiles`` blob), ``weir.online.interface`` (the ``OnlineStore`` contract),
``weir.online.store`` (every DynamoDB call, with retries), ``weir.online.memory`` (the same in memory, for tests),
``weir.online.publish`` (Spark -> items), ``weir.online.client`` (reads), ``weir.online.server`` (HTTP).
Importing this package does not import Spark or FastAPI.
"""

from weir.online.client import EntityFeatures, GroupFeatures, OnlineClient
from weir.online.errors import FeatureRequestError, OnlineStoreError
from weir.online.interface import OnlineItem, OnlineStore, WriteStats
from weir.online.memory import InMemoryOnlineStore
from weir.online.store import DynamoOnlineStore

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
