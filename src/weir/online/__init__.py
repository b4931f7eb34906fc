"""The online store: publish tiles to DynamoDB (newest wins) and serve features merged at read time.

``weir.online.codec`` (the item's ``tiles`` blob), ``weir.online.store`` (DynamoDB I/O with retries),
``weir.online.publish`` (Spark -> items), ``weir.online.client`` (reads), ``weir.online.server`` (HTTP).
Importing this package does not import Spark or FastAPI.
"""

from weir.online.client import EntityFeatures, GroupFeatures, OnlineClient
from weir.online.errors import FeatureRequestError, OnlineStoreError
from weir.online.store import DynamoOnlineStore, OnlineItem, WriteStats

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
