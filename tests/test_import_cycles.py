"""No import cycle among scopecraft's modules, lazy (function-level) imports included.

Imports only for type checking are left out: they never run. ``scopecraft.testing`` is
included: its scripted model servers register themselves with their base instead of the base
importing them.
"""

from __future__ import annotations

from collections.abc import Iterator

import grimp


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> Iterator[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules))))
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    imported = graph.find_modules_directly_imported_by(child) & modules
                    work.append((child, iter(sorted(imported))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    yield sorted(group)


def test_no_module_of_the_package_imports_itself_round_a_cycle() -> None:
    """The engine, the scheduler and the attempt runner among them (the engine imports the
    other two, and neither imports it back), and the model servers of `scopecraft.testing`."""
    graph = grimp.build_graph("scopecraft", exclude_type_checking_imports=True)
    modules = set(graph.modules)
    assert {
        "scopecraft.engine._facade",
        "scopecraft.engine._attempts",
        "scopecraft.testing._model_server",
    } <= (modules)
    assert list(_cycles(graph, modules)) == []
