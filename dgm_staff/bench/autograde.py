"""Autograde speed: one student submitting every notebook of the course (the reference solution),
graded by ``dgm_staff.grade_class`` as an instructor would (release, autograde, feedback), one worker."""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import nbformat

from dgm_staff import course_folder, example_students
from dgm_staff.grade_class import grade_class


def write_submission(folder: Path, student: str, name: str, kind: str = "reference") -> Path:
    """A submission of notebook ``name``: the reference solution, the course's example bugs
    (``"buggy"``) or the release as handed out (``"untouched"``)."""
    released = nbformat.read(course_folder.release_dir() / name / f"{name}.ipynb", 4)
    nb = example_students.example_submission(name, released, kind,
                                             course_folder.solution_sources(name)[f"{name}.ipynb"])
    path = folder / f"{student}_{name}.ipynb"
    nbformat.write(nb, path)
    return path


def measure(names: list[str] | None = None, workers: int = 1) -> dict:
    """Whole-course autograde of one student with ``workers`` worker processes."""
    names = list(names or course_folder.assignments())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inbox = tmp / "inbox"
        inbox.mkdir()
        for name in names:
            write_submission(inbox, "whole_course", name)
        start = time.perf_counter()
        outcomes = grade_class(inbox, tmp / "graded", workers=workers, progress=False)
        total = time.perf_counter() - start
        with open(tmp / "graded" / "grades.csv", newline="") as f:
            scores = {r["assignment"]: r for r in csv.DictReader(f)}
    rows = [{"notebook": o.assignment, "seconds": o.seconds, "status": o.status,
             "auto_score": float(scores[o.assignment]["autograded_score"]),
             "auto_max": float(scores[o.assignment]["autograded_max"])} for o in outcomes]
    for r in rows:
        print(f"  {r['notebook']:<13} {r['seconds']:6.1f} s  {r['status']}", flush=True)
    return {"notebooks": rows, "whole_course_seconds": total}
