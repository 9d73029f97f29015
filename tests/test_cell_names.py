"""No hidden state between cells: a cell never rebinds a name that an earlier answer, test or
locked cell defined and that a test reads, so any test can be run again at any time (e.g. after
the cells below it) and still sees what its task defined."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "solutions").glob("*/*.ipynb"))


def _python(source: str) -> str:
    """Cell source as Python: IPython magics and shell escapes become ``pass``."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass"
                     if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def bound_names(tree: ast.Module) -> set[str]:
    """Names a cell binds at the notebook's top level (not inside functions or classes)."""
    names: set[str] = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    targets(t)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                visit(node.body), visit(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                visit(node.body)
            elif isinstance(node, (ast.If, ast.While)):
                visit(node.body), visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body), visit(node.orelse), visit(node.finalbody)
                for handler in node.handlers:
                    if handler.name:
                        names.add(handler.name)
                    visit(handler.body)
        for node in ast.walk(ast.Module(body=list(body), type_ignores=[])):
            if isinstance(node, ast.NamedExpr):
                targets(node.target)

    visit(tree.body)
    return names


def read_names(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _kind(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution"):
        return "answer"
    return "locked" if meta.get("locked") else "free"


def rebindings(path: Path) -> list[str]:
    """Every later cell that rebinds a name an earlier answer/test/locked cell defined and a
    test cell reads."""
    nb = nbformat.read(path, as_version=4)
    cells = [(c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}"), _kind(c),
              ast.parse(_python(c.source)))
             for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    read_by_tests = set().union(*(read_names(t) for _, kind, t in cells if kind == "test"))
    first_owner: dict[str, str] = {}
    found = []
    for grade_id, kind, tree in cells:
        for name in sorted(bound_names(tree)):
            owner = first_owner.get(name)
            if owner is None:
                if kind in ("answer", "test", "locked"):
                    first_owner[name] = grade_id
            elif name in read_by_tests and owner != grade_id:
                found.append(f"{path.stem}: cell {grade_id!r} rebinds {name!r}, defined by "
                             f"{owner!r} and read by a test")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_cell_rebinds_a_name_a_test_reads(path):
    assert rebindings(path) == []


def test_the_rule_catches_a_later_cell_that_rebinds_a_tested_symbol(tmp_path):
    nb = nbformat.v4.new_notebook()
    meta = lambda gid, **k: {"nbgrader": {"grade_id": gid, "locked": True, "schema_version": 3,
                                          "grade": k.get("grade", False),
                                          "solution": k.get("solution", False), "task": False}}
    nb.cells = [
        nbformat.v4.new_code_cell("import sympy as sp\nmu = sp.Symbol('mu')", metadata=meta("setup")),
        nbformat.v4.new_code_cell("answer = mu ** 2", metadata=meta("answer", solution=True)),
        nbformat.v4.new_code_cell("checks.check(answer, mu)", metadata=meta("test", grade=True)),
        nbformat.v4.new_code_cell("mu, _ = encoder(x)", metadata=meta("later")),
        nbformat.v4.new_code_cell("for answer in range(3):\n    pass", metadata=meta("loop")),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    found = rebindings(path)
    assert any("'later' rebinds 'mu'" in f for f in found)
    assert any("'loop' rebinds 'answer'" in f for f in found)
