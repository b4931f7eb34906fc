"""Spark's extra jars (Delta Lake, the Kafka connector), resolved once into the state dir and reused by every start.

Why not ``spark.jars.packages``: Spark then runs Ivy at every start with settings that trust ``~/.m2`` (a
pom-only entry there binds the module to a repository without its jar, and every later start fails), and it
copies the jars into one shared ``<ivy>/jars`` directory, so two starts at once race on it. Here Ivy runs once,
from the configured repository only (Maven Central or ``WEIR_MAVEN_REPO``), under a file lock, into a temporary
directory that is renamed into place when complete; sessions, spark-submit and stream jobs then pass the same
immutable jar files with ``spark.jars``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from xml.sax.saxutils import quoteattr

from weir.runtime import RuntimeConfig, load_config

MANIFEST = "jars.txt"
FIX_COMMAND = "weir jars resolve"
RESOLVE_TIMEOUT_S = 900

# Spark and Scala ship with pyspark; pulling them in again would put two copies on the classpath (Spark's own rule).
SPARK_PROVIDED = ["catalyst", "core", "graphx", "kvstore", "launcher", "mllib", "mllib-local", "network-common",
                  "network-shuffle", "repl", "sketch", "sql", "streaming", "tags", "unsafe", "common-utils",
                  "sql-api"]

IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="weir"/>
  <caches defaultCacheDir={cache} lockStrategy="artifact-lock-nio"/>
  <resolvers>
    <ibiblio name="weir" m2compatible="true" root={repo}/>
  </resolvers>
</ivysettings>
"""


class SparkJarsError(RuntimeError):
    """The jars could not be resolved; the message names the cache, the repository and the command to rerun."""


def hadoop_version() -> str:
    """The Hadoop version pyspark ships (``pyspark/jars/hadoop-client-api-<v>.jar``): hadoop-aws must match it."""
    import pyspark

    found = sorted((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    if not found:
        raise SparkJarsError("pyspark's Hadoop jar (pyspark/jars/hadoop-client-api-*.jar) is missing; "
                             "reinstall pyspark (make setup)")
    return found[-1].name[len("hadoop-client-api-"):-len(".jar")]


def s3a_package() -> str:
    """``hadoop-aws`` of pyspark's Hadoop version; it brings the AWS SDK bundle its pom names."""
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version()}"


_JAR_NAME = re.compile(r"^(?:[^_]+__)?(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def jar_artifact(path: Path) -> str:
    """``jackson-databind`` of ``jackson-databind-2.20.0.jar`` or ``com.fasterxml.jackson.core__jackson-databind-
    2.13.5.jar`` (the resolved jars' ``org__artifact-version`` names)."""
    match = _JAR_NAME.match(path.name)
    return match.group("artifact") if match else path.stem


def not_in_pyspark(jars: list[Path]) -> list[Path]:
    """``jars`` less the artifacts pyspark ships in another version (Jackson, Hadoop client, Parquet, log4j...).

    On the class path a jar wins over pyspark's own copy, so an older transitive one (Jackson 2.13 of a
    dependency against Spark's 2.20) would break Spark; ``spark.jars`` avoids that by loading them after Spark's."""
    shipped = {jar_artifact(p) for p in spark_jars_dir().glob("*.jar")}
    return [j for j in jars if jar_artifact(j) not in shipped]


def spark_jars_dir() -> Path:
    """Spark's own jars: ``$SPARK_HOME/jars``, else the pyspark package's ``jars/``.

    SPARK_HOME first: under ``spark-submit`` (an Airflow task's job) Python imports pyspark from
    ``python/lib/pyspark.zip``, whose parent holds no jars, so nothing would be left out and Jackson 2.13 would
    shadow Spark's on a cluster's executors (``NoSuchMethodError: JsonFactoryBuilder.streamReadConstraints``)."""
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "jars").is_dir():
        return Path(home) / "jars"
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def spark_packages(config: RuntimeConfig | None = None, s3a: bool | None = None) -> list[str]:
    """Maven coordinates matching the installed pyspark and delta-spark, plus ``WEIR_SPARK_EXTRA_PACKAGES``.

    ``hadoop-aws`` (S3A) joins when ``s3a`` is true, by default when the lake or the checkpoints are on
    ``s3a://``: its AWS SDK bundle is large, so local setups do not download it.
    """
    config = config or load_config()
    s3a = config.uses_s3a if s3a is None else s3a
    spark_v = version("pyspark")
    delta_v = version("delta-spark")
    major_minor = ".".join(spark_v.split(".")[:2])
    packages = [
        f"io.delta:delta-spark_{major_minor}_2.13:{delta_v}",
        f"org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_v}",
    ]
    if s3a:
        packages.append(s3a_package())
    packages += [p.strip() for p in config.spark_extra_packages.split(",") if p.strip()]
    return packages


def ivy_home(config: RuntimeConfig) -> Path:
    """``WEIR_SPARK_IVY_DIR`` (a cache shared by checkouts), else ``<state_dir>/jars/ivy``."""
    return Path(config.path_setting("spark_ivy_dir"))


def ivy_cache(config: RuntimeConfig) -> Path:
    """Ivy's download cache; its own name, so entries Spark's default settings bound to ``~/.m2`` are never read."""
    return ivy_home(config) / "cache-weir"


def ivy_settings_text(config: RuntimeConfig) -> str:
    """One resolver, the configured repository: no ``~/.m2``, no local file repositories, no other hosts."""
    return IVY_SETTINGS.format(cache=quoteattr(str(ivy_cache(config))), repo=quoteattr(config.maven_repo))


def write_ivy_settings(config: RuntimeConfig) -> Path:
    """The settings file (``<state_dir>/ivysettings.xml``), replaced atomically when its text changes."""
    path = config.state_dir / "ivysettings.xml"
    text = ivy_settings_text(config)
    if not path.exists() or path.read_text() != text:
        _write_atomic(path, text)
    return path


def jars_dir(config: RuntimeConfig, packages: list[str] | None = None) -> Path:
    """Where the jars of these coordinates and this repository live: ``<state_dir>/jars/spark/<hash>``."""
    packages = packages if packages is not None else spark_packages(config)
    key = hashlib.sha256("\n".join([config.maven_repo, *packages]).encode()).hexdigest()[:16]
    return config.state_dir / "jars" / "spark" / key


def resolved_jars(directory: Path) -> list[Path] | None:
    """The jar files listed in ``directory``'s manifest, or None if it is missing or incomplete."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        return None
    jars = [directory / name for name in manifest.read_text().split()]
    return jars if jars and all(j.is_file() for j in jars) else None


def spark_jars(config: RuntimeConfig, packages: list[str] | None = None) -> list[Path]:
    """The jar files Spark needs, resolving them first if this checkout does not have them yet."""
    packages = packages if packages is not None else spark_packages(config)
    directory = jars_dir(config, packages)
    found = resolved_jars(directory)
    return found if found is not None else resolve_spark_jars(config, packages)


def resolve_spark_jars(config: RuntimeConfig, packages: list[str] | None = None) -> list[Path]:
    """Resolve ``packages`` (and their runtime dependencies) into :func:`jars_dir`; a no-op when already there.

    Concurrent callers wait on a lock in the Ivy home; the directory appears complete or not at all.
    """
    packages = packages if packages is not None else spark_packages(config)
    directory = jars_dir(config, packages)
    home = ivy_home(config)
    with _file_lock(home / "weir-resolve.lock"):
        found = resolved_jars(directory)
        if found is not None:
            return found
        work = directory.parent / f".tmp-{directory.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            jars = _run_ivy(config, packages, work)
            (work / MANIFEST).write_text("".join(f"{j.name}\n" for j in jars))
            if directory.exists():  # an incomplete leftover (a jar deleted by hand): replace it whole
                shutil.rmtree(directory)
            os.rename(work, directory)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    found = resolved_jars(directory)
    if found is None:
        raise SparkJarsError(f"{directory}: resolved jars vanished right after resolution; run `{FIX_COMMAND}`")
    return found


def _run_ivy(config: RuntimeConfig, packages: list[str], work: Path) -> list[Path]:
    """Run Ivy (the jar pyspark ships) in a JVM of its own: retrieve into ``work``, return the jar files."""
    work.mkdir(parents=True)
    settings = work / "ivysettings.xml"
    settings.write_text(ivy_settings_text(config))
    module = work / "ivy.xml"
    module.write_text(ivy_module_text(packages))
    command = [
        _java(), f"-Divy.default.ivy.user.dir={ivy_home(config)}", "-Duser.home=" + str(ivy_home(config)),
        "-cp", str(_ivy_jar()), "org.apache.ivy.Main",
        "-settings", str(settings), "-ivy", str(module), "-confs", "default",
        "-retrieve", str(work / "[organisation]__[artifact]-[revision](-[classifier]).[ext]"), "-warn",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise _failure(config, packages, f"Ivy did not finish in {RESOLVE_TIMEOUT_S}s") from None
    jars = sorted(p for p in work.iterdir() if p.suffix == ".jar")
    if done.returncode != 0:
        raise _failure(config, packages, (done.stdout + done.stderr).strip())
    missing = [p for p in packages if not any(j.name.startswith(_jar_prefix(p)) for j in jars)]
    if missing:
        raise _failure(config, packages, f"no jar retrieved for {', '.join(missing)}")
    return jars


def ivy_module_text(packages: list[str]) -> str:
    """An Ivy module depending on ``packages`` (runtime scope), excluding what pyspark already ships."""
    lines = ['<ivy-module version="2.0">', '  <info organisation="weir" module="weir-spark-jars"/>',
             '  <configurations><conf name="default"/></configurations>', "  <dependencies>"]
    for coordinate in packages:
        org, name, rev = _split(coordinate)
        lines.append(f"    <dependency org={quoteattr(org)} name={quoteattr(name)} rev={quoteattr(rev)}"
                     ' conf="default->default(runtime)"/>')
    for part in SPARK_PROVIDED:
        lines.append(f'    <exclude org="org.apache.spark" module="spark-{part}_.*" matcher="regexp"/>')
    lines.append('    <exclude org="org.scala-lang" module="scala-library"/>')
    lines += ["  </dependencies>", "</ivy-module>", ""]
    return "\n".join(lines)


def _split(coordinate: str) -> tuple[str, str, str]:
    parts = coordinate.split(":")
    if len(parts) != 3 or not all(parts):
        raise SparkJarsError(f"{coordinate!r} is not a Maven coordinate; write group:artifact:version "
                             "(check WEIR_SPARK_EXTRA_PACKAGES)")
    return parts[0], parts[1], parts[2]


def _jar_prefix(coordinate: str) -> str:
    org, name, rev = _split(coordinate)
    return f"{org}__{name}-{rev}"


def _failure(config: RuntimeConfig, packages: list[str], detail: str) -> SparkJarsError:
    tail = "\n".join(detail.splitlines()[-25:])
    return SparkJarsError(
        f"could not resolve Spark's jars ({', '.join(packages)}) from {config.maven_repo} "
        f"into the Ivy cache {ivy_cache(config)}:\n{tail}\n"
        f"fix: check that {config.maven_repo} is reachable (or set WEIR_MAVEN_REPO to a Maven mirror), then run "
        f"`{FIX_COMMAND}`; if it still fails, delete {ivy_cache(config)} and run it again")


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SparkJarsError("Java not found: Spark needs Java 17 or newer; install it or set JAVA_HOME")
    return java


def _ivy_jar() -> Path:
    import pyspark

    found = sorted((Path(pyspark.__file__).parent / "jars").glob("ivy-*.jar"))
    if not found:
        raise SparkJarsError("pyspark's Ivy jar (pyspark/jars/ivy-*.jar) is missing; reinstall pyspark (make setup)")
    return found[-1]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (released by the OS if the holder dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)
