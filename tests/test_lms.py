"""Grades as an LMS imports them (dgm_staff.lms): Canvas's gradebook CSV and Moodle's CSV, ids
mapped through the roster's lms_user_id; a grade that cannot reach its student is an error."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from dgm_staff import class_records, course_folder, lms


def _gradebook(root: Path) -> Path:
    """A gradebook as grade_class leaves it: one notebook with two questions, two students."""
    from nbgrader.api import Gradebook

    course_folder.tools_on_path()
    db = root / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment("01_vae")
        gb.add_notebook("01_vae", "01_vae")
        gb.add_grade_cell("kl", "01_vae", "01_vae", max_score=3, cell_type="code")
        gb.add_grade_cell("elbo", "01_vae", "01_vae", max_score=2, cell_type="code")
        for student, (kl, elbo) in {"alice": (3, 2), "bob": (1, 0)}.items():
            gb.add_student(student, first_name=student.title(), last_name="Example")
            sub = gb.add_submission("01_vae", student)
            for grade in sub.notebooks[0].grades:
                grade.auto_score = kl if grade.name == "kl" else elbo
            gb.db.commit()
    rows = class_records.grade_rows(root)
    class_records.write_csv(rows, root / "grades.csv")
    return db


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_canvas_csv_one_column_per_notebook_ids_from_the_roster(tmp_path):
    db = _gradebook(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first_name,last_name,email,lms_user_id,section\n"
                      "alice,Alice,Liddell,a@example.org,1001,A\n"
                      "bob,Bob,Builder,b@example.org,1002,B\n")
    path = lms.export("canvas", out_dir=tmp_path / "out", grades_csv=tmp_path / "grades.csv",
                      gradebook=db, roster=roster)
    assert path == tmp_path / "out" / "canvas.csv"
    assert _read(path) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_vae"],
        ["    Points Possible", "", "", "", "", "5"],
        ["Builder, Bob", "1002", "", "", "B", "1"],
        ["Liddell, Alice", "1001", "", "", "A", "5"]]


def test_canvas_csv_per_question_and_moodle(tmp_path):
    db = _gradebook(tmp_path)
    path = lms.export("canvas", out_dir=tmp_path, grades_csv=tmp_path / "grades.csv",
                      gradebook=db, roster=None, per_question=True)
    rows = _read(path)
    assert rows[0][5:] == ["01_vae: kl", "01_vae: elbo"] and rows[1][5:] == ["3", "2"]
    # no roster: the gradebook's names, the course's ids
    assert {r[0]: (r[1], r[5:]) for r in rows[2:]} == {"Example, Alice": ("alice", ["3", "2"]),
                                                       "Example, Bob": ("bob", ["1", "0"])}
    moodle = _read(lms.export("moodle", out_dir=tmp_path, grades_csv=tmp_path / "grades.csv",
                              gradebook=db, roster=None))
    assert moodle[0] == ["ID number", "Email address", "First name", "Last name", "01_vae"]
    assert sorted(moodle[1:]) == [["alice", "", "Alice", "Example", "5"],
                                  ["bob", "", "Bob", "Example", "1"]]


def test_a_student_without_lms_id_and_an_unknown_lms_are_refused(tmp_path):
    db = _gradebook(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,lms_user_id\nalice,1001\nbob,\n")
    with pytest.raises(ValueError, match=r"no lms_user_id for 1 graded student\(s\): bob"):
        lms.export("canvas", out_dir=tmp_path, grades_csv=tmp_path / "grades.csv",
                   gradebook=db, roster=roster)
    with pytest.raises(ValueError, match="unknown LMS 'blackboard': choose one of canvas, moodle"):
        lms.export("blackboard", out_dir=tmp_path, grades_csv=tmp_path / "grades.csv",
                   gradebook=db, roster=None)
