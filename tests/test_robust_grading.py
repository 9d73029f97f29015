"""Grading survives broken submissions: a kernel that dies (a segfault; ``os._exit`` is caught
earlier, by the tamper scan, and never runs), a cell that never ends.

Expected scores are computed from the points of the test cells, never copied from a run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dgm_staff import class_records, course_folder, example_students
from dgm_staff.pipeline import ZeroUnexecutedTests
from tests.helpers import points

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"
NOISE = "a student's own progress report"


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
    course_folder.generate_release(root / "release", names=[NAME], course=root)
    release_nb = nbformat.read(root / "release" / NAME / f"{NAME}.ipynb", 4)
    sources = course_folder.solution_sources(NAME)[f"{NAME}.ipynb"]
    reference = example_students.filled_submission(release_nb, sources)
    noisy = example_students.filled_submission(release_nb, sources, edits={"logpdf_bernoulli": (
        "eps = 1e-7", "eps = 1e-7\n    import sys, tqdm\n"
        "    print(NOISE, file=sys.stderr)\n"
        "    for _ in tqdm.tqdm(range(2)):\n        pass")})
    noisy.cells.insert(0, nbformat.v4.new_code_cell(f"NOISE = {NOISE!r}"))
    submissions = {
        "dies": _with_cell_after(   # reads far outside an array: a segmentation fault
            reference, "test_logpdf_bernoulli_hidden",
            "import numpy as np\n"
            "np.lib.stride_tricks.as_strided(np.zeros(1), (10**6,), (10**7,)).sum()"),
        # also noisy: its logpdf_bernoulli writes to stderr (a print and a tqdm bar), which
        # nbgrader alone would score 0 in every test cell that calls it
        "hangs": _with_cell_after(noisy, "test_logpdf_bernoulli_hidden",
                                  "while True:\n    pass"),
    }
    for student, nb in submissions.items():
        target = root / "submitted" / student / NAME / f"{NAME}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    class_records.grade_course(root, [NAME], list(submissions), cell_timeout=20)
    return {r.student: r for r in class_records.grade_rows(root)}, reference, root


def test_dead_kernel_scores_only_the_tests_that_ran(graded):
    rows, reference, _ = graded
    marks = list(points(reference).items())          # in the notebook's order
    cut = [gid for gid, _ in marks].index("test_logpdf_bernoulli_hidden") + 1
    before = sum(p for _, p in marks[:cut])
    assert 0 < before < sum(p for _, p in marks)
    assert rows["dies"].auto_score == before


def test_a_cell_that_never_ends_times_out_and_grading_goes_on(graded):
    rows, reference, _ = graded
    assert rows["hangs"].auto_score == sum(points(reference).values())


def test_output_on_stderr_costs_no_points(graded):
    # the judge decides a test cell, never the presence of a stream: the noisy submission above
    # keeps full marks (test_a_cell_that_never_ends...), and its noise did reach its test cells
    _, _, root = graded
    nb = nbformat.read(root / "autograded" / "hangs" / NAME / f"{NAME}.ipynb", 4)
    # the contract check calls the student's function in the kernel (hidden checks call it
    # from the judge, whose requests' output no cell records)
    noisy_tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                   == "test_logpdf_bernoulli_contract"]
    assert len(noisy_tests) == 1
    for cell in noisy_tests:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert NOISE in text, cell.metadata["nbgrader"]["grade_id"]
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs)
        assert not any(o.output_type == "error" for o in cell.outputs)
