"""A roster puts the students' names into the gradebook (the formgrader lists them by name)."""

from __future__ import annotations

import pytest

from dgm_staff import class_records, course_folder, example_students


def _students(root):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}


def test_import_roster_as_nbgrader_db_student_import(tmp_path):
    from nbgrader.api import Gradebook

    course_folder.tools_on_path()                 # nbgrader runs alembic for a new gradebook
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.add_student("bob")                       # already graded, no names yet
    roster = tmp_path / "roster.csv"
    # a spreadsheet's export: byte-order mark, spaces around names of columns, a column the
    # gradebook has not, an empty cell, a blank line
    roster.write_text("\ufeff id , first_name,last_name,email,section\n"
                      "alice,Alice,Liddell,alice@example.org,A\n"
                      "bob,Bob,,bob@example.org,B\n"
                      ",,,,\n", encoding="utf-8")
    assert class_records.import_roster(tmp_path, roster) == ["alice", "bob"]
    assert _students(tmp_path) == {"alice": ("Alice", "Liddell", "alice@example.org"),
                                   "bob": ("Bob", None, "bob@example.org")}
    # a later roster updates the names it has columns for, and leaves the others
    roster.write_text("id,last_name\nbob,Builder\n")
    class_records.import_roster(tmp_path, roster)
    assert _students(tmp_path)["bob"] == ("Bob", "Builder", "bob@example.org")


def test_roster_without_ids_is_refused(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,first_name\nalice,Alice\n")
    with pytest.raises(ValueError, match="needs an 'id' column.*id,first_name,last_name,email"):
        class_records.import_roster(tmp_path, roster)


def test_demo_roster_names_every_example_student(tmp_path):
    path = class_records.write_roster(tmp_path / "roster.csv", example_students.EXAMPLE_NAMES)
    assert path.read_text().splitlines()[0] == "id,first_name,last_name,email"
    assert set(example_students.EXAMPLE_NAMES) == set(example_students.EXAMPLE_STUDENTS)
    assert class_records.import_roster(tmp_path, path) == list(example_students.EXAMPLE_NAMES)
    assert _students(tmp_path)["buggy"] == ("Bea", "Buggy", "buggy@example.org")
