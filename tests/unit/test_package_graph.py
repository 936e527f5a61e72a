"""No import cycle between the top-level packages (and modules) of voxline: each can be read, tested and
changed starting from what it imports. import-linter (pyproject.toml) states the finer rules."""

from __future__ import annotations

import grimp


def package_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("voxline")
    tops = sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    return {
        a: {
            b
            for b in tops
            if a != b and graph.direct_import_exists(importer=f"voxline.{a}", imported=f"voxline.{b}", as_packages=True)
        }
        for a in tops
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a path [a, b, ..., a], or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_the_packages_of_voxline() -> None:
    edges = package_graph()
    assert {"core", "voice", "calls", "dialer", "app"} <= set(edges)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_core_imports_nothing_of_ours() -> None:
    assert package_graph()["core"] == set()
