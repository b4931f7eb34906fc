"""Dependencies point one way: foundation -> spec -> compute -> lake -> engines -> orchestration.

Every ``import`` in ``src/weir`` (module level and inside functions) is parsed with ``ast``; a module may import
its own layer or a lower one, never a higher one, and the packages of one layer import each other without
cycles. Imports under ``if TYPE_CHECKING:`` are annotations only (never executed), so they are not counted.
A new top-level module must be placed in a layer below.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from weir.jobs import JOBS

SRC = Path(__file__).resolve().parents[2] / "src"

#: lowest first; a component is a package or module under ``weir``
LAYERS: list[tuple[str, frozenset[str]]] = [
    # weir.jobs (its __init__) only finds the shipped job files; the job files themselves are the top layer
    ("foundation", frozenset({"weir", "weir.runtime", "weir.process", "weir.per_process", "weir.spark_jars",
                              "weir.aws", "weir.lazy", "weir.metrics", "weir.progress", "weir.jobs"})),
    ("spec", frozenset({"weir.spec"})),
    ("compute", frozenset({"weir.compute"})),
    # the session factory attaches the catalog (lake tables as Spark SQL tables) when it starts a session
    ("lake", frozenset({"weir.lake", "weir.catalog", "weir.spark"})),
    ("engines", frozenset({"weir.batch", "weir.stream", "weir.online", "weir.training", "weir.validate",
                            "weir.experiments"})),
    ("orchestration", frozenset({"weir.pipeline", "weir.airflow", "weir.cli", "weir.demo", "weir.devstack",
                                 "weir.smoke", "weir.runtime_docs"})),
    ("entry points", frozenset({f"weir.jobs.{job}" for job in JOBS})),
]
RANK = {component: i for i, (_, components) in enumerate(LAYERS) for component in components}

Edge = tuple[str, str, str, int]  # (importing module, imported module, file, line)


def component_of(module: str) -> str | None:
    """The longest layered prefix of ``module`` (``weir.lake.paths`` -> ``weir.lake``)."""
    if module == "weir":
        return module  # the root package itself; ``weir.x`` must be placed on its own
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        if prefix in RANK:
            return prefix
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, source: str, filename: str, is_package: bool = False) -> Iterator[Edge]:
    """Every Weir module ``source`` imports, absolute or relative."""
    tree = ast.parse(source, filename)
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                 for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                targets = [".".join([*base, *([node.module] if node.module else [])])]
            elif node.module:
                targets = [node.module]
            if targets == ["weir"]:  # ``from weir import lake`` imports the package weir.lake
                targets += [f"weir.{alias.name}" for alias in node.names]
        for target in targets:
            if target == "weir" or target.startswith("weir."):
                yield module, target, filename, node.lineno


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def all_edges() -> list[Edge]:
    edges: list[Edge] = []
    for path in sorted((SRC / "weir").rglob("*.py")):
        edges += imports_of(module_name(path), path.read_text(), str(path.relative_to(SRC.parent)),
                            path.name == "__init__.py")
    return edges


def violations(edges: list[Edge]) -> list[str]:
    """Upward imports, and modules in no layer."""
    out = []
    for source, target, filename, line in edges:
        src_c, dst_c = component_of(source), component_of(target)
        if src_c is None:
            out.append(f"{filename}: module {source} is in no layer; add it to LAYERS in {__file__}")
            continue
        if dst_c is None:
            out.append(f"{filename}:{line}: {target} is in no layer; add it to LAYERS in {__file__}")
            continue
        if RANK[dst_c] > RANK[src_c]:
            out.append(f"{filename}:{line}: {source} ({LAYERS[RANK[src_c]][0]}) imports {target} "
                       f"({LAYERS[RANK[dst_c]][0]}): a lower layer must not depend on a higher one; move the "
                       f"shared piece down or pass it in")
    return sorted(set(out))


def same_layer_cycles(edges: list[Edge]) -> list[list[str]]:
    """Cycles among the components of one layer (e.g. stream -> online -> stream)."""
    graph: dict[str, set[str]] = {}
    for source, target, _, _ in edges:
        a, b = component_of(source), component_of(target)
        if a and b and a != b and RANK[a] == RANK[b]:
            graph.setdefault(a, set()).add(b)
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif len(stack) < len(graph) + 1:
                visit(nxt, [*stack, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return cycles


def test_no_upward_imports() -> None:
    edges = all_edges()
    assert len(edges) > 100  # the parse found the imports
    problems = violations(edges)
    assert not problems, "\n".join(problems)


def test_no_cycles_inside_a_layer() -> None:
    assert same_layer_cycles(all_edges()) == []


def test_engines_do_not_import_demo_or_devstack() -> None:
    for source, target, filename, line in all_edges():
        if component_of(source) in {"weir.stream", "weir.online", "weir.batch"}:
            assert component_of(target) not in {"weir.demo", "weir.devstack"}, f"{filename}:{line}: {target}"


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("weir.stream.producer", "from weir.demo.generator import x", "weir.stream.producer (engines) imports "
                                                                  "weir.demo.generator (orchestration)"),
    ("weir.lake.paths", "def f():\n    import weir.batch.engine", "imports weir.batch.engine (engines)"),
    ("weir.compute.ir", "from ..lake import delta", "imports weir.lake (lake)"),
    ("weir.spec.models", "if TYPE_CHECKING:\n    pass\nelse:\n    from weir.compute.ir import HOP_COL",
     "imports weir.compute.ir"),
])
def test_the_check_catches_an_upward_import(module: str, source: str, expected: str) -> None:
    problems = violations(list(imports_of(module, source, "x.py")))
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_check_catches_a_cycle_and_an_unplaced_module() -> None:
    edges = [("weir.stream.job", "weir.online.store", "a.py", 1),
             ("weir.online.store", "weir.stream.merge", "b.py", 2)]
    assert ["weir.online", "weir.stream", "weir.online"] in same_layer_cycles(edges)
    assert "in no layer" in violations([("weir.newthing", "weir.runtime", "n.py", 1)])[0]


def test_downward_same_layer_and_type_only_imports_pass() -> None:
    source = ("from weir.lake.paths import x\nfrom weir.online.keys import y\nimport weir.runtime\n"
              "if TYPE_CHECKING:\n    from weir.pipeline.steps import Summary\n")
    assert violations(list(imports_of("weir.stream.job", source, "x.py"))) == []


HEAVY = ("botocore", "boto3", "pyspark", "kafka", "deltalake", "great_expectations", "fastapi", "airflow")


@pytest.mark.parametrize("module", ["weir.stream.merge", "weir.online.codec", "weir.online.keys", "weir.lake.paths",
                                    "weir.spec", "weir.compute.windows", "weir.pipeline"])
def test_pure_modules_import_light(module: str) -> None:
    """Package ``__init__``s stay light: a pure module loads without the heavy clients (fresh interpreter)."""
    code = (f"import sys, {module}\n"
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": ""})
    assert out.stdout.strip() == "", f"importing {module} pulled in {out.stdout.strip()}"
