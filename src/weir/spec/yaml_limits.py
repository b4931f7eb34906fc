"""YAML for specs with hard limits: a spec is small, so a big, deep or alias-exploding document is refused
fast (a "billion laughs" alias bomb would otherwise take minutes and gigabytes in ``weir validate`` and in
Airflow's DAG processor).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_SPEC_BYTES = 1 << 20  # 1 MiB; the shipped specs are ~2 KB
MAX_DEPTH = 64  # nesting of mappings and sequences
MAX_ALIASES = 100  # '*name' references
MAX_NODES = 50_000  # nodes after expanding every alias


class YamlLimitError(yaml.MarkedYAMLError):
    """The document exceeds one of the limits above (carries the mark of the offending node)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and nesting while composing, before anything is expanded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(f"more than {MAX_ALIASES} YAML aliases (*name); write the values out",
                                     self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(f"YAML nested deeper than {MAX_DEPTH} levels; flatten the document",
                                     self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose alias expansion exceeds MAX_NODES or MAX_DEPTH, or that contains itself.

    Iterative post-order over the graph, each node once (sizes and depths memoised), so the check itself
    is linear in the composed document.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            if size[key] > MAX_NODES:
                raise YamlLimitError(f"YAML aliases expand to more than {MAX_NODES} nodes (an alias bomb?); "
                                     "write the values out or use fewer aliases", node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise YamlLimitError(f"YAML aliases expand deeper than {MAX_DEPTH} levels; flatten the document",
                                     node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlLimitError("a YAML alias refers to a node that contains it (a recursive document); "
                                 "remove the cycle", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise YamlLimitError("a YAML alias refers to a node that contains it (a recursive document); "
                                     "remove the cycle", kid.start_mark)
            if id(kid) not in size:
                stack.append((kid, False))


def compose_limited(text: str) -> tuple[yaml.Node | None, Any]:
    """(node graph, Python data) of one YAML document, within the limits; raises yaml.YAMLError otherwise."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise yaml.YAMLError(f"the file is {size} bytes; a spec may be at most {MAX_SPEC_BYTES} bytes")
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()
