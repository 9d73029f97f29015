"""The instructor's command: a plain folder of returned notebooks in, grades and feedback out;
the same scores with one worker or two."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from dgm_staff import class_records, course_folder, example_students
from dgm.runtime import repo_root
from dgm_staff.grade_class import find_submissions

NAME = "01_vae"


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """As downloaded from an LMS: one file per student, named <student>_<notebook>.ipynb."""
    folder = tmp_path_factory.mktemp("inbox")
    release = course_folder.generate_release(folder.parent / "release_for_inbox", names=[NAME])
    released = nbformat.read(release / NAME / f"{NAME}.ipynb", 4)
    solutions = course_folder.solution_sources(NAME)[f"{NAME}.ipynb"]
    bugs = example_students.EXAMPLE_BUGS[NAME]
    nbformat.write(example_students.filled_submission(released, solutions),
                   folder / f"alice_{NAME}.ipynb")
    nbformat.write(example_students.filled_submission(released, solutions, bugs),
                   folder / f"bob_4711_{NAME}.ipynb")
    (folder / f"carol_{NAME}.ipynb").write_text('{"cells": [ this is not json')
    (folder / "dave_notes.ipynb").write_text("{}")
    return folder


@pytest.mark.slow
def test_finds_students_in_a_flat_folder(inbox):
    items, ignored = find_submissions(inbox, [NAME])
    assert [(i.student, bool(i.files)) for i in items] == \
        [("alice", True), ("bob_4711", True), ("carol", False)]
    assert "not a valid notebook" in items[2].problems[0]
    assert len(ignored) == 1 and ignored[0].startswith("dave_notes.ipynb")


def test_only_passes_over_the_other_assignments_silently(tmp_path):
    empty = nbformat.v4.new_notebook()
    for rel in ("submitted/ann/01_vae/01_vae.ipynb", "submitted/ann/04_gan/04_gan.ipynb",
                "submitted/ann/notes/scratch.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(empty, tmp_path / rel)
    items, ignored = find_submissions(tmp_path, [NAME])
    assert [(i.student, i.assignment) for i in items] == [("ann", NAME)]
    assert len(ignored) == 1 and ignored[0].startswith("ann/notes/scratch.ipynb")
    flat = tmp_path / "flat"
    flat.mkdir()
    nbformat.write(empty, flat / "ann_04_gan.ipynb")
    assert find_submissions(flat, [NAME]) == ([], [])


def _grades(out: Path) -> list[dict]:
    with open(out / "grades.csv") as f:
        return list(csv.DictReader(f))


#: What the class command must not print: lines nobody grading can act on.
NOISE = ["running over TCP without encryption",      # ipykernel, once per graded notebook
         "SAWarning", "not in session",               # SQLAlchemy, from nbgrader's gradebook
         "Traceback", "Warning:"]


@pytest.mark.slow
@pytest.mark.nbgrader
def test_the_command_grades_a_class_with_two_workers_and_a_roster(inbox, tmp_path):
    """The command as an instructor runs it: two workers, a roster, and nothing printed that is
    noise. (That the scores do not depend on the number of workers or the engine is
    tests/test_grade_class_cluster.py's: one embedded worker against a two-worker cluster.)"""
    roster = class_records.write_roster(tmp_path / "roster.csv", {"alice": ("Alice", "Liddell"),
                                                                  "bob_4711": ("Bob", "Builder"),
                                                                  "erin": ("Erin", "Early")})
    run = subprocess.run([sys.executable, "-m", "dgm_staff.grade_class", str(inbox), "--out",
                          str(tmp_path / "two"), "--workers", "2", "--only", NAME,
                          "--roster", str(roster)],
                         capture_output=True, text=True, cwd=repo_root(), timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert [line for line in output.splitlines() if any(n in line for n in NOISE)] == []
    assert "2 graded," in run.stdout and "1 not gradable" in run.stdout
    # the roster's names are in the gradebook; the report names who is missing on either side
    with Gradebook(f"sqlite:///{tmp_path / 'two' / 'course' / 'gradebook.db'}") as gb:
        names = {s.id: (s.first_name, s.last_name) for s in gb.students}
    assert names == {"alice": ("Alice", "Liddell"), "bob_4711": ("Bob", "Builder"),
                     "carol": (None, None), "erin": ("Erin", "Early")}
    assert "roster: no submission from 1: erin" in run.stdout
    assert "roster: 1 not on the roster" in run.stdout and "carol" in run.stdout
    # what the class got wrong: bob's two mistakes (example_students.EXAMPLE_BUGS), named by
    # their checks
    with open(tmp_path / "two" / "mistakes.csv", newline="") as f:
        found = {(r["check"], r["students"], r["of"]) for r in csv.DictReader(f)}
    assert found == {("sample_diagonal_gaussian", "1", "2"), ("logpdf_bernoulli", "1", "2")}
    assert "  sample_diagonal_gaussian: 1 of 2" in run.stdout
    rows = {r["student"]: r for r in _grades(tmp_path / "two")}
    assert float(rows["alice"]["autograded_score"]) == float(rows["alice"]["autograded_max"]) > 0
    assert 0 < float(rows["bob_4711"]["autograded_score"]) < float(rows["alice"]["autograded_score"])
    assert float(rows["carol"]["autograded_score"]) == 0
    report = (tmp_path / "two" / "report.txt").read_text()
    assert "2 graded," in report and "1 not gradable" in report and "carol" in report
    for student in ("alice", "bob_4711"):
        page = tmp_path / "two" / "course" / "feedback" / student / NAME / f"{NAME}.html"
        assert "hidden tests ran here" in page.read_text()


def _autograded(tmp_path, name, outputs=(), review=None):
    cell = nbformat.v4.new_code_cell("x", outputs=list(outputs))
    nb = nbformat.v4.new_notebook(cells=[cell])
    if review:
        nb.metadata["dgm_review"] = review
    folder = tmp_path / name
    folder.mkdir()
    nbformat.write(nb, folder / "01_vae.ipynb")
    return folder


def test_report_names_what_happened(tmp_path):
    from dgm_staff.grade_class import _what_happened

    err = lambda ename: nbformat.v4.new_output("error", ename=ename, evalue="", traceback=[])  # noqa: E731
    assert _what_happened(_autograded(tmp_path, "ok"))[0] == "graded"
    assert _what_happened(_autograded(tmp_path, "t", [err("CellTimeoutError")]))[0] == "timed out"
    assert _what_happened(_autograded(tmp_path, "d", [err("DeadKernelError")]))[0] == "kernel died"
    # The review scan's findings are reported for a person and change neither status nor score.
    status, detail = _what_happened(_autograded(tmp_path, "x", review=["s0, line 2: calls `exec`"]))
    assert status == "graded" and "calls `exec`" in detail and "no points lost" in detail


def test_a_stored_result_answers_only_the_same_submission(tmp_path):
    from dgm_staff.cluster import ResultStore

    task = {"student": "ann", "assignment": NAME, "files": {f"{NAME}.ipynb": b"{}"},
            "course": "v1", "cell_timeout": None}
    store = ResultStore(tmp_path / "results")
    assert store.get(task) is None
    store.put(task, {"status": "graded"})
    assert ResultStore(tmp_path / "results").get(task) == {"status": "graded"}   # a re-run
    # a resubmitted notebook, or another course version, is graded again
    assert store.get({**task, "files": {f"{NAME}.ipynb": b"{ }"}}) is None
    assert store.get({**task, "course": "v2"}) is None
    assert ResultStore(tmp_path / "results", restart=True).get(task) is None     # --restart
    assert [p.name for p in (tmp_path / "results").iterdir()] == []


def test_resources_option_is_checked():
    from dgm_staff.cluster import parse_resources

    assert parse_resources("GPU=1") == {"GPU": 1.0}
    assert parse_resources(None) is None
    for bad in ("GPU", "GPU=one", "=1"):
        with pytest.raises(SystemExit, match="NAME=AMOUNT"):
            parse_resources(bad)
