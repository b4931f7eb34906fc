"""The lake on S3: Spark's S3A settings and delta-rs's storage options, both derived from the same config fields.

One place decides how Weir talks to the object store (``s3_endpoint``, ``s3_region``, ``s3_path_style_access``),
so Spark and delta-rs (the training readers, the log reader, run status) always address the same bucket the
same way. Credentials are never part of it: S3A's default provider chain and delta-rs both read the AWS chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, web identity, instance or pod role).
"""

from __future__ import annotations

from weir.runtime import RuntimeConfig

# Delta's LogStore for s3a://: one driver writes a table at a time (mutual exclusion is the deployment's job);
# multi-cluster writers need io.delta.storage.S3DynamoDBLogStore (see docs/deploy.md).
S3_LOG_STORE = "io.delta.storage.S3SingleDriverLogStore"


def is_s3(path: str) -> bool:
    return path.startswith(("s3a://", "s3://"))


def s3a_spark_conf(config: RuntimeConfig) -> dict[str, str]:
    """``spark.hadoop.fs.s3a.*`` and Delta's S3 LogStore, from the config; empty when nothing is on S3."""
    if not config.uses_s3a:
        return {}
    conf = {
        "spark.hadoop.fs.s3a.endpoint.region": config.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": str(config.s3_path_style_access).lower(),
        "spark.delta.logStore.s3a.impl": S3_LOG_STORE,
    }
    if config.s3_endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = config.s3_endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(config.s3_endpoint.startswith("https")).lower()
    return conf


def delta_rs_storage_options(path: str, config: RuntimeConfig) -> dict[str, str] | None:
    """delta-rs (object_store) options for ``path``: None for local paths, else region, endpoint and addressing."""
    if not is_s3(path):
        return None
    options = {
        "AWS_REGION": config.s3_region,
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not config.s3_path_style_access).lower(),
    }
    if config.s3_endpoint:
        options["AWS_ENDPOINT_URL"] = config.s3_endpoint
        options["AWS_ALLOW_HTTP"] = str(config.s3_endpoint.startswith("http://")).lower()
    return options
