"""The import graph of the course's code (``dgm``, ``dgm_staff``, ``grader_tests``), read from the
source with :mod:`ast`: no import cycle.

Every import counts, one deferred into a function as much as one at the top of a module: a deferred
import hides a cycle from Python, not from a reader who has to understand one module before the
other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dgm", "dgm_staff", "grader_tests")

#: The cycles left, each through an import deferred into a function, and why. The test fails when
#: another appears, and when one of these goes (then delete it here).
KNOWN_CYCLES = {
    frozenset({"dgm_staff.cluster", "dgm_staff.grade_class"}):
        "grade_class runs the Dask engine of cluster, and cluster's workers grade a submission "
        "with grade_class.grade_submission",
    frozenset({"grader_tests.randomised", "grader_tests.vae", "grader_tests.beta_vae",
               "grader_tests.echo", "grader_tests.gan", "grader_tests.wgan"}):
        "each notebook's staff checks end with randomised.check, whose cases compare with the "
        "references those modules hold",
}


def module_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """``{module: modules of ``packages`` it imports}``, ``dgm.checks`` for a package's
    ``__init__``."""
    files = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            for target in targets:
                while target and target not in files:      # a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than one module
    (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_student_package_has_no_import_cycle():
    graph = module_graph(packages=("dgm",))
    assert "dgm.gan_training" in graph and "dgm.artifacts" in graph
    assert cycles(graph) == [], cycles(graph)


def test_no_import_cycle_but_the_known_ones():
    found = {frozenset(c) for c in cycles(module_graph())}
    new = [sorted(c) for c in found - set(KNOWN_CYCLES)]
    gone = [sorted(c) for c in set(KNOWN_CYCLES) - found]
    assert not new, f"import cycles: {new}; split a module by job so that imports go one way"
    assert not gone, f"these cycles are gone: delete them from KNOWN_CYCLES: {gone}"


def test_a_cycle_through_a_deferred_import_is_found(tmp_path):
    # dgm's old cycle: artifacts read a generator's provenance with an import inside a function
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "artifacts.py").write_text("def read(path):\n    from pkg.gan import info\n"
                                          "    return info(path)\n")
    (package / "gan.py").write_text("from pkg.artifacts import read\n\ninfo = read\n")
    (package / "data.py").write_text("from . import artifacts\n")
    graph = module_graph(tmp_path, ("pkg",))
    assert graph["pkg.data"] == {"pkg.artifacts"}            # a relative import counts
    assert cycles(graph) == [["pkg.artifacts", "pkg.gan"]]
    (package / "artifacts.py").write_text("def read(path):\n    return path\n")
    assert cycles(module_graph(tmp_path, ("pkg",))) == []
