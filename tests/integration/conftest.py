"""Session-scoped fixtures over the real local stack: one SparkSession, one Kafka broker, one DynamoDB server.

The stack is started once (or reused if `weir dev up` / `.ci/run` already started it) and stopped at the end
only if this session started it. Each test session writes to its own lake under a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from weir.runtime import RuntimeConfig, build_config, load_config


@pytest.fixture(scope="session")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def weir_config(lake_dir: Path) -> Iterator[RuntimeConfig]:
    """The runtime config of the test session: the default local stack, a private lake and checkpoints."""
    os.environ["WEIR_LAKE_PATH"] = str(lake_dir / "lake")
    os.environ["WEIR_CHECKPOINT_PATH"] = str(lake_dir / "checkpoints")
    load_config.cache_clear()
    yield build_config()
    load_config.cache_clear()


@pytest.fixture(scope="session")
def stack(weir_config: RuntimeConfig) -> Iterator[RuntimeConfig]:
    """The running local stack (Kafka, DynamoDB-compatible server)."""
    from weir.devstack import stack_down, stack_status, stack_up

    already = all(s.running for s in stack_status(weir_config))
    stack_up(weir_config)
    yield weir_config
    if not already:
        stack_down(weir_config)


@pytest.fixture(scope="session")
def spark(weir_config: RuntimeConfig):  # type: ignore[no-untyped-def]
    """One SparkSession (local mode, Delta and the Kafka connector) for the whole test session."""
    from weir.spark import get_spark

    session = get_spark("weir-tests", weir_config)
    yield session
    session.stop()
