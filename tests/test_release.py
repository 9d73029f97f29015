"""The student release in notebooks/ is exactly nbgrader's release of solutions/, and clean."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from dgm_staff import course_folder
from dgm.manifest import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION
from tests.helpers import hidden_lines

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "solutions").glob("*/*.ipynb"))
RELEASED = sorted((ROOT / "notebooks").glob("*/*.ipynb"))


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_every_source_notebook_is_released():
    assert SOURCES, "no solution notebooks found"
    assert [p.relative_to(ROOT / "solutions") for p in SOURCES] == \
        [p.relative_to(ROOT / "notebooks") for p in RELEASED]


@pytest.mark.slow
def test_release_equals_a_fresh_generate_assignment(tmp_path):
    fresh = course_folder.generate_release(tmp_path / "release")
    for committed in RELEASED:
        rel = committed.relative_to(ROOT / "notebooks")
        ours = json.loads(committed.read_text())
        theirs = json.loads((fresh / rel).read_text())
        assert ours == theirs, (f"notebooks/{rel} is out of step with solutions/: run "
                                "`python -m dgm_staff.course release` and commit the result")


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.parent.name)
def test_release_holds_no_solutions_hidden_tests_or_outputs(path):
    text = path.read_text()
    for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
        assert marker.lstrip("# ") not in text
    nb = nbformat.read(path, as_version=4)
    source = nbformat.read(ROOT / "solutions" / path.relative_to(ROOT / "notebooks"), 4)
    for line in hidden_lines(source):
        assert line not in text, f"hidden test line leaked into the release: {line}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name)
def test_source_notebook_is_well_formed(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    ids = [_nbgrader(c)["grade_id"] for c in nb.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), "duplicate grade ids"
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("grade"):
            assert meta.get("locked") and meta.get("points", 0) > 0, meta["grade_id"]
            assert not meta.get("solution")
        if cell.cell_type == "code":
            assert not cell.get("outputs"), "solution notebooks are stored without outputs"
    graded_functions = [c for c in nb.cells if c.cell_type == "code" and _nbgrader(c).get("solution")
                        and ("def " in c.source or "class " in c.source)]
    assert graded_functions
    # Each solution cell is followed (before the next solution cell) by a test cell.
    pending = None
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            assert pending is None, f"{pending} has no test cell after it"
            pending = meta["grade_id"]
        elif cell.cell_type == "code" and meta.get("grade"):
            pending = None
    assert pending is None, f"{pending} has no test cell after it"
