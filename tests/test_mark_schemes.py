"""Every manually graded answer has a mark scheme with a partial-credit breakdown, in the locked
question cell above it, for graders only (the release drops it: see ``test_roundtrip`` for the
formgrader and feedback sides)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from dgm_staff.pipeline import BEGIN_MARK_SCHEME, END_MARK_SCHEME, strip_mark_scheme

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
CRITERION = re.compile(r"\*\*(\d+(?:\.\d+)?) pts?\*\*")


def manual_cells(name: str):
    cells = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", 4).cells
    for i, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            yield cells[i - 1], cell


@pytest.mark.parametrize("name", NAMES)
def test_every_manual_answer_has_a_scheme_whose_criteria_add_up(name):
    found = list(manual_cells(name))
    assert found
    for question, answer in found:
        points = float(answer.metadata.nbgrader["points"])
        assert question.metadata.nbgrader.get("locked"), answer.metadata.nbgrader["grade_id"]
        assert question.source.count(BEGIN_MARK_SCHEME) == 1 == question.source.count(
            END_MARK_SCHEME), answer.metadata.nbgrader["grade_id"]
        scheme = question.source.split(BEGIN_MARK_SCHEME)[1].split(END_MARK_SCHEME)[0]
        criteria = [float(p) for p in CRITERION.findall(scheme)]
        assert len(criteria) >= 2 or points <= 1, (name, answer.metadata.nbgrader["grade_id"])
        assert sum(criteria) == pytest.approx(points), (name, answer.metadata.nbgrader["grade_id"])


@pytest.mark.parametrize("name", NAMES)
def test_the_release_has_no_mark_scheme(name):
    release = nbformat.read(ROOT / "notebooks" / name / f"{name}.ipynb", 4)
    for cell in release.cells:
        assert "MARK SCHEME" not in cell.source and "graders only" not in cell.source


def test_feedback_strips_a_scheme_and_keeps_the_question():
    source = ("### (c) A question\n\nAnswer it.\n\n" + BEGIN_MARK_SCHEME + "\n**1 pt** — x\n"
              + END_MARK_SCHEME + "\n")
    stripped, found = strip_mark_scheme(source)
    assert found and stripped.startswith("### (c) A question") and "pt" not in stripped


@pytest.mark.parametrize("name", NAMES)
def test_reading_questions_ask_for_the_students_numbers_and_schemes_judge_them(name):
    """The formgrader shows the autograder's smoke re-run, not the student's run: each reading
    question asks students to quote their own numbers, and its scheme judges the quoted ones."""
    readings = [q for q, _ in manual_cells(name) if "smoke budget" in q.source.split(
        BEGIN_MARK_SCHEME)[1]]
    assert readings, name
    for question in readings:
        task, scheme = question.source.split(BEGIN_MARK_SCHEME)
        assert "Quote your own numbers" in task, question.metadata.nbgrader["grade_id"]
        assert "Judge the numbers quoted in the answer" in scheme
        released = strip_mark_scheme(question.source)[0]
        assert "Quote your own numbers" in released and "Judge" not in released
