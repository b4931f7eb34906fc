"""boto3 clients built from the runtime config (local endpoint, or the default AWS credential chain)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from weir.runtime import RuntimeConfig, load_config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def dynamodb_client(config: RuntimeConfig | None = None, max_attempts: int = 3) -> DynamoDBClient:
    """A DynamoDB client for ``config``: the local server's endpoint when set, else AWS.

    Credentials come from the AWS chain (env, profile, instance role). Against a local endpoint with no
    credentials configured, dummy ones are used: the local server does not check them.
    """
    import boto3
    from botocore.config import Config

    config = config or load_config()
    kwargs: dict[str, str] = {"region_name": config.dynamodb_region}
    if config.dynamodb_endpoint:
        kwargs["endpoint_url"] = config.dynamodb_endpoint
        if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
            kwargs["aws_access_key_id"] = "local"
            kwargs["aws_secret_access_key"] = "local"
    botocfg = Config(retries={"max_attempts": max_attempts, "mode": "adaptive"}, connect_timeout=3,
                     read_timeout=10, max_pool_connections=32)
    return boto3.client("dynamodb", config=botocfg, **kwargs)
