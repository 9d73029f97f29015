"""What many test files share: nbgrader-style cells and notebooks, a failing check, hidden lines.

>>> nb = notebook(setup_cell("from grader_tests import vae as checks"),
...               solution_cell("def f():\n    return 1", "f"), test_cell("checks.check(f)", "t"))
"""

from __future__ import annotations

import nbformat
import pytest

from dgm.manifest import BEGIN_HIDDEN, END_HIDDEN
from dgm.checks.common import CheckFailed

SCHEMA_VERSION = 3


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {**nbgrader, "schema_version": SCHEMA_VERSION}
    return cell


def setup_cell(source: str, grade_id: str = "setup") -> nbformat.NotebookNode:
    """A locked, ungraded code cell (the notebook's imports)."""
    return _cell(source, locked=True, grade=False, solution=False, grade_id=grade_id)


def solution_cell(source: str, grade_id: str) -> nbformat.NotebookNode:
    """A cell the student fills in (nbgrader's "autograded answer")."""
    return _cell(source, locked=False, grade=False, solution=True, grade_id=grade_id)


def test_cell(source: str, grade_id: str, points: float = 1,
              outputs: list | None = None) -> nbformat.NotebookNode:
    """A locked, graded test cell worth ``points``."""
    cell = _cell(source, locked=True, grade=True, solution=False, grade_id=grade_id,
                 points=points)
    cell.outputs = list(outputs or [])
    return cell


test_cell.__test__ = False     # a factory, not a test for pytest to collect


def notebook(*cells) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells))


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def fails(check, fn, match: str = "How to fix", level: str = "hidden"):
    """Assert that ``check(fn, level=level)`` fails with a message matching ``match`` that says
    how to fix it; return the failure."""
    with pytest.raises(CheckFailed, match=match) as info:
        check(fn, level=level)
    assert "How to fix:" in str(info.value)
    return info.value


def hidden_lines(source_nb) -> list[str]:
    """Every non-blank line inside a hidden-test region of a source notebook."""
    lines = []
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip().startswith(BEGIN_HIDDEN):
                inside = True
            elif line.strip().startswith(END_HIDDEN):
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines
