"""Grading survives broken submissions: a kernel that dies (a segfault; ``os._exit`` is caught
earlier, by the tamper scan, and never runs), a cell that never ends.

Expected scores are computed from the points of the test cells, never copied from a run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dgm_staff import course
from dgm_staff.pipeline import ZeroUnexecutedTests

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"


def _test_points(nb) -> list[tuple[str, float]]:
    return [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]))
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def _with_cell_after(nb, grade_id: str, source: str):
    nb = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def test_unexecuted_tests_get_an_error():
    ran = nbformat.v4.new_code_cell("check()", execution_count=3)
    not_run = nbformat.v4.new_code_cell("check()")
    answer = nbformat.v4.new_code_cell("x = 1")
    for cell, grade, solution in ((ran, True, False), (not_run, True, False),
                                  (answer, False, True)):
        cell.metadata["nbgrader"] = {"grade": grade, "solution": solution, "grade_id": "g",
                                     "points": 1, "schema_version": 3, "locked": grade}
    nb = nbformat.v4.new_notebook(cells=[ran, not_run, answer])
    nb, _ = ZeroUnexecutedTests().preprocess(nb, {})
    assert nb.cells[0].outputs == [] and nb.cells[2].outputs == []
    assert nb.cells[1].outputs[0]["ename"] == "TestNotRun"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    course.generate_release(root / "release", names=[NAME], course=root)
    release_nb = nbformat.read(root / "release" / NAME / f"{NAME}.ipynb", 4)
    reference = course.filled_submission(release_nb, course._solution_sources(NAME)[f"{NAME}.ipynb"])
    submissions = {
        "dies": _with_cell_after(   # reads far outside an array: a segmentation fault
            reference, "test_logpdf_bernoulli_hidden",
            "import numpy as np\n"
            "np.lib.stride_tricks.as_strided(np.zeros(1), (10**6,), (10**7,)).sum()"),
        "hangs": _with_cell_after(reference, "test_logpdf_bernoulli_hidden",
                                  "while True:\n    pass"),
    }
    for student, nb in submissions.items():
        target = root / "submitted" / student / NAME / f"{NAME}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    course.grade_course(root, [NAME], list(submissions), cell_timeout=20)
    return {r.student: r for r in course.grade_rows(root)}, reference


def test_dead_kernel_scores_only_the_tests_that_ran(graded):
    rows, reference = graded
    points = _test_points(reference)
    cut = [gid for gid, _ in points].index("test_logpdf_bernoulli_hidden") + 1
    before = sum(p for _, p in points[:cut])
    assert 0 < before < sum(p for _, p in points)
    assert rows["dies"].auto_score == before


def test_a_cell_that_never_ends_times_out_and_grading_goes_on(graded):
    rows, reference = graded
    assert rows["hangs"].auto_score == sum(p for _, p in _test_points(reference))
