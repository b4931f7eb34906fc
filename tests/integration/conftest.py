"""Session-scoped fixtures over the real local stack: one SparkSession, one Kafka broker, one DynamoDB server.

The stack is started once (or reused if `weir dev up` / `.ci/run` already started it) and stopped at the end
only if this session started it. Each test session writes to its own lake under a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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



@pytest.fixture(scope="session")
def cluster(stack: RuntimeConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Spark standalone cluster (master + two 1-core workers) for every test that runs on it
    (tests/integration/cluster_support.py): started at its first use, stopped at the end of the session."""
    from cluster_support import start_cluster

    yield from start_cluster(tmp_path_factory)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package) driven by selenium, for the UI tests (Airflow, Prometheus)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"{CHROMIUM} or {CHROMEDRIVER} missing: apt-get install chromium chromium-driver (.ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,1000", "--lang=en-US", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
