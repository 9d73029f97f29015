"""What many test files share: nbgrader-style cells and notebooks, a failing check, hidden lines,
the points of test cells and the cells the buggy example fails, Debian's Chromium driven by
Playwright and where its screenshots go, and a course folder's ``nbgrader_config.py``.

>>> nb = notebook(setup_cell("from grader_tests import vae as checks"),
...               solution_cell("def f():\n    return 1", "f"), test_cell("checks.check(f)", "t"))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from dgm.manifest import BEGIN_HIDDEN, END_HIDDEN
from dgm.checks.common import CheckFailed

SCHEMA_VERSION = 3
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
#: Where the browser tests leave their screenshots (``build/`` is ignored by git).
SHOTS = ROOT / "build" / "screenshots"


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {**nbgrader, "schema_version": SCHEMA_VERSION}
    return cell


def setup_cell(source: str, grade_id: str = "setup") -> nbformat.NotebookNode:
    """A locked, ungraded code cell (the notebook's imports)."""
    return _cell(source, locked=True, grade=False, solution=False, grade_id=grade_id)


def solution_cell(source: str, grade_id: str) -> nbformat.NotebookNode:
    """A cell the student fills in (nbgrader's "autograded answer")."""
    return _cell(source, locked=False, grade=False, solution=True, grade_id=grade_id)


def test_cell(source: str, grade_id: str, points: float = 1,
              outputs: list | None = None) -> nbformat.NotebookNode:
    """A locked, graded test cell worth ``points``."""
    cell = _cell(source, locked=True, grade=True, solution=False, grade_id=grade_id,
                 points=points)
    cell.outputs = list(outputs or [])
    return cell


test_cell.__test__ = False     # a factory, not a test for pytest to collect


def notebook(*cells) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells))


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def fails(check, fn, match: str = "How to fix", level: str = "hidden"):
    """Assert that ``check(fn, level=level)`` fails with a message matching ``match`` that says
    how to fix it; return the failure."""
    with pytest.raises(CheckFailed, match=match) as info:
        check(fn, level=level)
    assert "How to fix:" in str(info.value)
    return info.value


def hidden_lines(source_nb) -> list[str]:
    """Every non-blank line inside a hidden-test region of a source notebook."""
    lines = []
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip().startswith(BEGIN_HIDDEN):
                inside = True
            elif line.strip().startswith(END_HIDDEN):
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


#: Test cells the buggy example must fail (and only those): see
#: dgm_staff.example_students.EXAMPLE_BUGS.
BUGGY_FAILS = {
    "01_vae": {"test_sample_gaussian_hidden", "test_logpdf_bernoulli_hidden"},
    "02_beta_vae": {"test_loss_contract", "test_loss_hidden", "test_agg_hidden"},
    "03_echo": {"test_sample_contract", "test_sample_hidden", "test_rate_hidden"},
    "04_gan": {"test_d_loss_contract", "test_d_loss_hidden", "test_gnet_contract",
               "test_gnet_hidden"},
    "05_wgan": {"test_critic_contract", "test_critic_hidden", "test_gp_contract",
                "test_gp_hidden"},
    "06_inversion": {"test_invert_contract", "test_invert_hidden", "test_energy_contract",
                     "test_energy_hidden"},
}


def points(notebook_or_assignment) -> dict[str, float]:
    """Points of every autograded test cell, by grade id: of a notebook, or of the source
    notebooks of an assignment (named by its id)."""
    if isinstance(notebook_or_assignment, str):
        nbs = [nbformat.read(p, 4)
               for p in (ROOT / "solutions" / notebook_or_assignment).glob("*.ipynb")]
    else:
        nbs = [notebook_or_assignment]
    out = {}
    for nb in nbs:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade"):
                out[meta["grade_id"]] = float(meta["points"])
    return out


def buggy_score(notebook_or_assignment, assignment: str | None = None) -> float:
    """What the buggy example of ``assignment`` must score: every point less those of the cells
    its bugs break (computed from the points, never copied from a run)."""
    name = assignment or notebook_or_assignment
    marks = points(notebook_or_assignment)
    return sum(marks.values()) - sum(marks[g] for g in BUGGY_FAILS[name])


def chromium() -> Path:
    """Debian's Chromium, installed with apt when this runs as root and it is missing; the test
    skips, saying why, where it cannot be had."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                       timeout=900)
    if not CHROMIUM.exists():
        pytest.skip("no Chromium: install Debian's package (apt-get install chromium) to run "
                    "the browser test")
    return CHROMIUM


@contextlib.contextmanager
def launched_chromium():
    """A Playwright browser on Debian's Chromium, closed on the way out."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing: pip install playwright")
    executable = chromium()
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def write_course_config(root: Path, arguments: str = "") -> Path:
    """``root/nbgrader_config.py`` for a course folder made by a test: the course's configuration
    (``course_folder.nbgrader_config`` of that folder, called with ``arguments``, Python source in
    which ``here`` is the folder), as plain ``nbgrader`` and the formgrader read it."""
    path = Path(root) / "nbgrader_config.py"
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from dgm_staff.course_folder import nbgrader_config\n"
        "here = Path(__file__).resolve().parent\n"
        "c = get_config()  # noqa: F821\n"
        f"c.merge(nbgrader_config(here{', ' + arguments if arguments else ''}))\n")
    return path
