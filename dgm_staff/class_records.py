"""The class in the gradebook: the roster in (a CSV of ids and names, as
``nbgrader db student import`` reads it), autograding and feedback for every student, and the
grades out (rows per student and notebook, as a CSV or a table).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from dgm_staff.course_folder import (api, check_result, nbgrader_submission_warnings_off,
                                     tools_on_path)


ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")


def write_roster(path: Path, names: dict[str, tuple[str, str]]) -> Path:
    """A roster CSV (``id,first_name,last_name,email``) for students ``id -> (first, last)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ROSTER_COLUMNS)
        for student, (first, last) in names.items():
            writer.writerow([student, first, last, f"{student}@example.org"])
    return path


def import_roster(course: Path, roster: Path) -> list[str]:
    """Add the students of a roster CSV to the gradebook of ``course``, or update their names, as
    ``nbgrader db student import`` does: an ``id`` column (required) and any of ``first_name``,
    ``last_name``, ``email``, ``lms_user_id``; other columns are ignored, an empty cell is no
    value. Returns the ids, in the roster's order."""
    from nbgrader.api import Gradebook

    entries, columns = read_roster(roster)
    fields = [c for c in ("first_name", "last_name", "email", "lms_user_id") if c in columns]
    tools_on_path()                  # a new gradebook runs alembic
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for student, entry in entries.items():
            gb.update_or_create_student(student, **{k: entry.get(k) or None for k in fields})
    return list(entries)


def read_roster(roster: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """A roster CSV's rows by student id, in its order (cells stripped, an empty cell as ""; rows
    without an id left out), and its column names. It needs an ``id`` column."""
    with open(roster, newline="", encoding="utf-8-sig") as f:      # -sig: spreadsheets' BOM
        reader = csv.DictReader(f)
        columns = [name.strip() for name in reader.fieldnames or []]
        if "id" not in columns:
            raise ValueError(f"{roster}: a roster needs an 'id' column (it has: "
                             f"{', '.join(columns) or 'none'}); expected "
                             f"{','.join(ROSTER_COLUMNS)}")
        reader.fieldnames = columns
        rows = {}
        for entry in reader:
            student = (entry.get("id") or "").strip()
            if student:
                rows[student] = {k: (v or "").strip() for k, v in entry.items() if k}
    return rows, columns


@dataclass(frozen=True)
class GradeRow:
    student: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    auto_score: float
    auto_max: float
    needs_manual: bool


def grade_rows(course: Path) -> list[GradeRow]:
    """Scores per student and notebook, read from the course's gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except Exception:  # noqa: BLE001 - no submission for this student
                    continue
                for nb in sub.notebooks:
                    auto_max = sum(g.max_score for g in nb.grades if g.cell.cell_type == "code")
                    auto_score = sum((g.auto_score or 0.0) for g in nb.grades
                                     if g.cell.cell_type == "code")
                    rows.append(GradeRow(student.id, assignment.name, nb.name, nb.score,
                                         nb.max_score, auto_score, auto_max,
                                         bool(nb.needs_manual_grade)))
    return sorted(rows, key=lambda r: (r.student, r.assignment, r.notebook))


def write_csv(rows: list[GradeRow], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", "notebook", "score", "max_score",
                         "autograded_score", "autograded_max", "needs_manual_grade"])
        for r in rows:
            writer.writerow([r.student, r.assignment, r.notebook, f"{r.score:g}",
                             f"{r.max_score:g}", f"{r.auto_score:g}", f"{r.auto_max:g}",
                             r.needs_manual])
    return path


def format_table(rows: list[GradeRow]) -> str:
    header = f"{'student':<12} {'notebook':<16} {'autograded':>12} {'total':>12}  manual"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.student:<12} {r.notebook:<16} {r.auto_score:>5g} / {r.auto_max:<4g} "
                     f"{r.score:>5g} / {r.max_score:<4g}  "
                     f"{'pending' if r.needs_manual else 'done'}")
    if any(r.needs_manual for r in rows):
        lines.append("pending: written answers still to be graded by hand (in the formgrader); "
                     "until then they count 0 in the total")
    return "\n".join(lines)


def grade_course(course: Path, names: list[str], students: list[str],
                 cell_timeout: int | None = None) -> dict[str, float]:
    """Autograde and generate feedback for every student and assignment; seconds per step."""
    nb_api = api(course, cell_timeout=cell_timeout)
    timings = {}
    with nbgrader_submission_warnings_off():
        for name in names:
            for student in students:
                start = time.perf_counter()
                check_result(nb_api.autograde(name, student, force=True, create=True),
                       f"autograde {name} {student}")
                timings[f"autograde {name} {student}"] = time.perf_counter() - start
            check_result(nb_api.generate_feedback(name, force=True), f"generate_feedback {name}")
    return timings
