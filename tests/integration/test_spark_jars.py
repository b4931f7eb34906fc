"""Spark's jars: resolved from the configured repository only (a partial ``~/.m2`` entry cannot poison them), once,
atomically, and two Spark sessions started at once from a fresh checkout both come up and write Delta.

The resolution tests run real Ivy (pyspark's jar, in its own JVM) against a Maven repository laid out on disk
(``file://``), so they need no network; the session test uses the session's Ivy cache (filled from Maven Central
by the first session of the test run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from weir.runtime import RuntimeConfig, build_config
from weir.spark_jars import MANIFEST, SparkJarsError, ivy_home, jars_dir, resolve_spark_jars, spark_packages

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>{deps}</project>"""
DEP = "<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"


def _module(root: Path, g: str, a: str, v: str, *, jar: bool = True, pom: bool = True,
            deps: tuple[tuple[str, str, str], ...] = ()) -> None:
    """One module in Maven's layout under ``root``; ``jar=False`` is the pom-only entry Maven leaves behind."""
    folder = root / g.replace(".", "/") / a / v
    folder.mkdir(parents=True, exist_ok=True)
    if pom:
        dep_xml = "".join(DEP.format(g=dg, a=da, v=dv) for dg, da, dv in deps)
        (folder / f"{a}-{v}.pom").write_text(POM.format(g=g, a=a, v=v, deps=f"<dependencies>{dep_xml}</dependencies>"))
    if jar:
        with zipfile.ZipFile(folder / f"{a}-{v}.jar", "w") as z:
            z.writestr(f"{a}.txt", f"{g}:{a}:{v} from {root.name}")


@pytest.fixture
def poisoned_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose ``~/.m2`` has a pom-only and a jar-only entry for the modules resolved below."""
    home = tmp_path / "home"
    m2 = home / ".m2" / "repository"
    _module(m2, "weir.test", "tiny", "1.0", jar=False)
    _module(m2, "weir.test", "dep", "2.0", pom=False)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "central"
    _module(root, "weir.test", "tiny", "1.0", deps=(("weir.test", "dep", "2.0"),))
    _module(root, "weir.test", "dep", "2.0")
    return root


def _config(tmp_path: Path, repo: Path, name: str = "state") -> RuntimeConfig:
    return build_config(state_dir=tmp_path / name, maven_repo=repo.as_uri(), spark_ivy_dir=str(tmp_path / "ivy"))


def test_partial_m2_entries_are_ignored_and_jars_come_from_the_repository(
        tmp_path: Path, repo: Path, poisoned_home: Path) -> None:
    config = _config(tmp_path, repo)
    jars = resolve_spark_jars(config, ["weir.test:tiny:1.0"])
    assert [j.name for j in jars] == ["weir.test__dep-2.0.jar", "weir.test__tiny-1.0.jar"]
    for jar in jars:
        with zipfile.ZipFile(jar) as z:
            assert z.read(z.namelist()[0]).decode().endswith("from central")
    assert jars[0].parent == jars_dir(config, ["weir.test:tiny:1.0"])
    assert (jars[0].parent / MANIFEST).read_text().split() == [j.name for j in jars]
    assert not (poisoned_home / ".ivy2").exists() and not (poisoned_home / ".ivy2.5.2").exists()


def test_concurrent_resolutions_from_two_checkouts_agree_and_leave_no_temporary_directory(
        tmp_path: Path, repo: Path, poisoned_home: Path) -> None:
    configs = [_config(tmp_path, repo, f"state{i}") for i in range(2)] * 2  # two callers per checkout
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: resolve_spark_jars(c, ["weir.test:tiny:1.0"]), configs))
    assert [[j.name for j in r] for r in results] == [["weir.test__dep-2.0.jar", "weir.test__tiny-1.0.jar"]] * 4
    for i in range(2):
        assert [p.name for p in (tmp_path / f"state{i}" / "jars" / "spark").iterdir()] == [
            jars_dir(configs[i], ["weir.test:tiny:1.0"]).name]


def test_a_failed_resolution_names_the_cache_and_the_command_and_leaves_nothing_behind(
        tmp_path: Path, repo: Path, poisoned_home: Path) -> None:
    config = _config(tmp_path, repo)
    with pytest.raises(SparkJarsError) as caught:
        resolve_spark_jars(config, ["weir.test:absent:9.9"])
    message = str(caught.value)
    assert str(tmp_path / "ivy" / "cache-weir") in message and "weir jars resolve" in message
    assert "weir.test#absent;9.9" in message and repo.as_uri() in message
    assert list((tmp_path / "state" / "jars" / "spark").iterdir()) == []


SESSION_SCRIPT = textwrap.dedent("""
    import sys
    from weir.spark import get_spark
    spark = get_spark("weir-jars-test")
    path = sys.argv[1]
    spark.range(3).write.format("delta").mode("overwrite").save(path)
    print("ROWS", spark.read.format("delta").load(path).count(), flush=True)
    spark.stop()
""")


def test_two_sessions_start_at_once_from_a_fresh_checkout_despite_a_poisoned_m2(
        tmp_path: Path, weir_config: RuntimeConfig) -> None:
    home = tmp_path / "home"
    m2 = home / ".m2" / "repository"
    delta, kafka = (p.split(":") for p in spark_packages(weir_config)[:2])
    _module(m2, *delta, pom=False)  # jar-only, and not Delta's classes (a stand-in zip)
    _module(m2, *kafka, jar=False)  # pom-only, as Maven leaves them for versions it mediated away
    _module(m2, "org.apache.kafka", "kafka-clients", "3.9.1", pom=False)
    env = {**os.environ, "HOME": str(home), "WEIR_STATE_DIR": str(tmp_path / "state"),
           "WEIR_SPARK_IVY_DIR": str(ivy_home(weir_config)),
           "WEIR_MAVEN_REPO": weir_config.maven_repo, "WEIR_SPARK_MASTER": "local[1]",
           "WEIR_SPARK_DRIVER_MEMORY": "512m", "WEIR_SPARK_EXTRA_PACKAGES": weir_config.spark_extra_packages,
           "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).parents[2] / "src"),
                                                     os.environ.get("PYTHONPATH", "")] if p)}
    procs = [subprocess.Popen([sys.executable, "-c", SESSION_SCRIPT, str(tmp_path / f"t{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]
        assert "ROWS 3" in out.splitlines()
    assert not (home / ".ivy2.5.2").exists()  # nothing shared and mutable was copied at start
