"""The whole grading round trip in a temporary course, for every assignment:

release → submissions (reference, untouched, buggy) → autograde → feedback → CSV.
Expected scores are computed from the points in the source notebook, never copied from a run.

The buggy submission also tampers with the test cells its bugs fail: it empties one and deletes
another. Its score must be exactly the maximum less the points of the cells its bugs break, which
fails whether a bug went unnoticed or the tampering gained a point; one grading shows both (a
separate tampered copy cost a fourth grading of every notebook).
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

import nbformat
import pytest

from dgm.manifest import BEGIN_MARK_SCHEME
from dgm_staff import class_records, course_folder, example_students
from tests.helpers import BUGGY_FAILS, hidden_lines, points

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.nbgrader]

#: A hint the buggy example's feedback must show (its failing cells: tests.helpers.BUGGY_FAILS).
BUGGY_HINTS = {
    "01_vae": "sample_diagonal_gaussian: the samples have variance sigma_square^2",
    "02_beta_vae": "beta_vae_loss: the squared error is averaged over pixels",
    "03_echo": "echo_sample: the echoes come from the example itself",
    "04_gan": "d_loss: sends gradients into the generator",
    "05_wgan": "critic_loss: the sign is flipped",
    "06_inversion": "invert: left gradients in the generator's parameters",
}


def _tampered(name, release_nb, solutions):
    """The buggy submission, which also empties one failing test cell and deletes another (the
    grader restores the first and puts the second back)."""
    nb = example_students.filled_submission(release_nb, solutions,
                                            example_students.EXAMPLE_BUGS[name])
    edited, deleted = sorted(BUGGY_FAILS[name])[:2]
    kept = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == edited:
            cell.source = "pass  # all good"            # edited locked test cell
        if gid == deleted:
            continue                                      # deleted test cell
        kept.append(cell)
    nb.cells = kept
    return nb


@pytest.fixture(scope="module", params=sorted(BUGGY_FAILS))
def graded(request, tmp_path_factory):
    name = request.param
    root = tmp_path_factory.mktemp(f"course_{name}")
    course_folder.generate_release(root / "release", names=[name], course=root)
    students = example_students.write_example_submissions(root, [name])
    release_nb = nbformat.read(root / "release" / name / f"{name}.ipynb", 4)
    tampered = _tampered(name, release_nb, course_folder.solution_sources(name)[f"{name}.ipynb"])
    nbformat.write(tampered, root / "submitted" / "buggy" / name / f"{name}.ipynb")
    class_records.grade_course(root, [name], students)
    rows = {r.student: r for r in class_records.grade_rows(root)}
    return name, root, rows


def test_reference_gets_every_autograded_point(graded):
    name, _, rows = graded
    assert rows["reference"].auto_score == rows["reference"].auto_max == sum(points(name).values())


def test_untouched_release_scores_zero_without_crashing(graded):
    _, _, rows = graded
    assert rows["untouched"].auto_score == 0


def test_buggy_loses_exactly_the_cells_its_bugs_break_and_tampering_gains_nothing(graded):
    name, root, rows = graded
    submitted = nbformat.read(root / "submitted" / "buggy" / name / f"{name}.ipynb", 4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in submitted.cells]
    edited, deleted = sorted(BUGGY_FAILS[name])[:2]
    assert deleted not in ids and edited in ids          # the submission did tamper
    lost = sum(points(name)[g] for g in BUGGY_FAILS[name])
    assert 0 < lost < rows["buggy"].auto_max
    assert rows["buggy"].auto_score == rows["buggy"].auto_max - lost


def test_feedback_never_shows_hidden_tests(graded):
    name, root, _ = graded
    source = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", 4)
    secret = hidden_lines(source)
    assert secret
    for student in ("reference", "untouched", "buggy"):
        page = (root / "feedback" / student / name / f"{name}.html").read_text()
        text = html.unescape(page)
        for line in secret:
            assert line not in text, f"{student}'s feedback shows hidden test code: {line}"
        assert "hidden tests ran here" in text


def test_feedback_keeps_the_checks_hints(graded):
    name, root, _ = graded
    text = html.unescape((root / "feedback" / "buggy" / name / f"{name}.html").read_text())
    text = " ".join(text.split())              # long messages are wrapped on the page
    assert "How to fix:" in text
    assert BUGGY_HINTS[name] in text


def test_csv_export(graded, tmp_path):
    name, root, _ = graded
    path = class_records.write_csv(class_records.grade_rows(root), tmp_path / "grades.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert {r["student"] for r in rows} == {"reference", "untouched", "buggy"}
    assert all(r["assignment"] == name and float(r["max_score"]) > 0 for r in rows)


def test_graders_read_the_mark_schemes_and_students_never_do(graded):
    """The mark scheme in the question cell above each manually graded answer: gone from the
    release, back in the autograded notebook the formgrader shows, gone again from feedback."""
    name, root, _ = graded
    release = (root / "release" / name / f"{name}.ipynb").read_text()
    assert "MARK SCHEME" not in release and "graders only" not in release
    autograded = nbformat.read(root / "autograded" / "buggy" / name / f"{name}.ipynb", 4)
    schemes = [c.source for c in autograded.cells if c.cell_type == "markdown"
               and BEGIN_MARK_SCHEME in c.source]
    manual = [c for c in autograded.cells if c.cell_type == "markdown"
              and c.metadata.get("nbgrader", {}).get("grade")]
    assert manual and len(schemes) == len(manual)
    for student in ("reference", "buggy"):
        page = html.unescape((root / "feedback" / student / name / f"{name}.html").read_text())
        assert "MARK SCHEME" not in page and "graders only" not in page
