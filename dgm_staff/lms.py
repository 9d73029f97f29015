"""Grades as an LMS imports them: Canvas's gradebook CSV and Moodle's grade import CSV.

    python -m dgm_staff.grade_class SUBMISSIONS --out OUT --lms canvas [--lms-per-question]

:func:`export` reads what ``grade_class`` wrote (``grades.csv``: one row per student and notebook;
the gradebook: names, ``lms_user_id`` and the score of every question) and writes

* ``canvas.csv``: Canvas's gradebook import format (*Grades → Import*). The columns ``Student``
  (``Last, First``), ``ID`` (the Canvas user id), ``SIS User ID``, ``SIS Login ID`` and
  ``Section``, then one column per notebook (or, with ``per_question``, one per graded question
  instead, ``<notebook>: <grade id>``, so that Canvas's total does not count a point twice). The
  second row is Canvas's own ``Points Possible`` row. Canvas matches a row to a student by ``ID``
  (or by the SIS ids when ``ID`` is empty); a column whose name is not an assignment yet becomes
  a new assignment on import.
* ``moodle.csv``: Moodle's *Import → CSV file* format: ``ID number``, ``Email address``,
  ``First name``, ``Last name``, then the same score columns; on import, map ``ID number`` (or
  ``Email address``) to the user field and each score column to a grade item.

Student ids are mapped through the roster: its ``lms_user_id`` column (the LMS's own id of the
student) fills ``ID`` (Canvas) and ``ID number`` (Moodle); optional ``sis_user_id``,
``sis_login_id`` and ``section`` columns fill Canvas's columns of those names. Without a roster,
the ``lms_user_id`` stored in the gradebook is used (``nbgrader db student import`` sets it), and
the course's own student id where there is none. When the roster has an ``lms_user_id`` column,
every graded student needs a value there: a grade that cannot reach its student is an error,
never dropped in silence. A notebook a student did not hand in is left empty (the LMS keeps what
it had); scores are the gradebook's totals, manual grades included (``needs_manual_grade`` rows
count 0 for the written answers still to be graded, as ``grades.csv`` says).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from dgm_staff import class_records

KINDS = {"canvas": "canvas.csv", "moodle": "moodle.csv"}
CANVAS_ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_ID_COLUMNS = ["ID number", "Email address", "First name", "Last name"]


@dataclass
class _Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    scores: dict[str, float] = field(default_factory=dict)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _column(assignment: str, notebook: str) -> str:
    return notebook if notebook == assignment else f"{assignment}/{notebook}"


def _read_grades(grades_csv: Path) -> list[dict[str, str]]:
    """The rows of ``grades.csv``, checked to be one."""
    with open(grades_csv, newline="") as f:
        reader = csv.DictReader(f)
        needed = {"student", "assignment", "notebook", "score", "max_score"}
        if not needed <= set(reader.fieldnames or []):
            raise ValueError(f"{grades_csv}: not a grades.csv of grade_class (it needs the columns "
                             f"{', '.join(sorted(needed))}; it has "
                             f"{', '.join(reader.fieldnames or []) or 'none'})")
        rows = list(reader)
    return rows


def _questions(gradebook: Path) -> tuple[dict[str, float], dict[tuple[str, str], dict[str, float]],
                                         dict[str, dict[str, str]]]:
    """From the gradebook: {question column: max score} in notebook order, {(student, notebook
    column): {question column: score}}, and {student: names and lms_user_id}."""
    from nbgrader.api import Gradebook

    if not Path(gradebook).exists():
        raise FileNotFoundError(f"{gradebook}: no gradebook there; pass the gradebook.db that "
                                "grade_class wrote (OUT/course/gradebook.db)")
    maxima: dict[str, float] = {}
    scores: dict[tuple[str, str], dict[str, float]] = {}
    people = {}
    with Gradebook(f"sqlite:///{Path(gradebook).resolve()}") as gb:
        for student in gb.students:
            people[student.id] = {"first_name": student.first_name or "",
                                  "last_name": student.last_name or "",
                                  "email": student.email or "",
                                  "lms_user_id": student.lms_user_id or ""}
        for assignment in gb.assignments:
            for nb in assignment.notebooks:
                base = _column(assignment.name, nb.name)
                for cell in nb.grade_cells:
                    maxima[f"{base}: {cell.name}"] = float(cell.max_score)
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    base = _column(assignment.name, nb.name)
                    scores[(sub.student.id, base)] = {
                        f"{base}: {g.name}": float(g.score or 0.0) for g in nb.grades}
    return maxima, scores, people


def export(kind: str, *, out_dir: Path, grades_csv: Path, gradebook: Path, roster: Path | None,
           per_question: bool = False) -> Path:
    """Write the import file of LMS ``kind`` (``canvas`` or ``moodle``) into ``out_dir`` and return
    its path (``canvas.csv`` or ``moodle.csv``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown LMS {kind!r}: choose one of {', '.join(sorted(KINDS))} "
                         "(grade_class --lms canvas|moodle)")
    rows = _read_grades(Path(grades_csv))
    q_max, q_scores, people = _questions(Path(gradebook))
    roster_rows, roster_columns = class_records.read_roster(Path(roster)) if roster else ({}, [])

    nb_max: dict[str, float] = {}
    students: dict[str, _Student] = {}
    for r in rows:
        column = _column(r["assignment"], r["notebook"].removesuffix(".ipynb"))
        nb_max.setdefault(column, float(r["max_score"]))
        s = students.setdefault(r["student"], _Student(r["student"]))
        s.scores[column] = float(r["score"])
    if per_question:
        columns = {q: m for q, m in q_max.items() if q.split(": ", 1)[0] in nb_max}
        for s in students.values():
            s.scores = {q: v for (sid, nb), per_q in q_scores.items() if sid == s.id
                        for q, v in per_q.items() if nb in s.scores}
    else:
        columns = nb_max

    missing = []
    for s in students.values():
        known = {**people.get(s.id, {})}
        known.update({k: v for k, v in roster_rows.get(s.id, {}).items() if v})
        for name in ("first_name", "last_name", "email", "lms_user_id", "sis_user_id",
                     "sis_login_id", "section"):
            setattr(s, name, known.get(name, "") or "")
        if "lms_user_id" in roster_columns and not s.lms_user_id:
            missing.append(s.id)
    if missing:
        raise ValueError(f"{roster}: no lms_user_id for {len(missing)} graded student(s): "
                         f"{', '.join(sorted(missing))}. Add their LMS user ids to the roster's "
                         "lms_user_id column (or remove their submissions) and export again; "
                         "grades.csv has every score meanwhile.")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / KINDS[kind]
    ordered = sorted(students.values(), key=lambda s: (s.last_name.lower(), s.first_name.lower(),
                                                       s.id))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if kind == "canvas":
            writer.writerow(CANVAS_ID_COLUMNS + list(columns))
            writer.writerow(["    Points Possible", "", "", "", ""]
                            + [_fmt(m) for m in columns.values()])
            for s in ordered:
                name = ", ".join(p for p in (s.last_name, s.first_name) if p) or s.id
                writer.writerow([name, s.lms_user_id or s.id, s.sis_user_id, s.sis_login_id,
                                 s.section]
                                + [_fmt(s.scores[c]) if c in s.scores else "" for c in columns])
        else:
            writer.writerow(MOODLE_ID_COLUMNS + list(columns))
            for s in ordered:
                writer.writerow([s.lms_user_id or s.id, s.email, s.first_name, s.last_name]
                                + [_fmt(s.scores[c]) if c in s.scores else "" for c in columns])
    return path
