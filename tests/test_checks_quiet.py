"""No check writes to stderr, whatever ran before it (nbgrader scores a test cell 0 when anything
reaches stderr). Every graded test cell of every notebook, hidden region included, runs against
the reference solution in a fresh process with warnings turned into errors:

* first with the checks' silencing of student warnings switched off, so the reference functions
  must raise no warning either. Nothing can then spend torch's once-only warnings before a check
  runs, and a check that triggers one fails here, however the cells are ordered (a student
  whose code raises no warning meets exactly this state);
* then again after student code has spent those once-only warnings, with the silencing back on.

(Forking a process per cell would isolate them too, but torch's OpenMP pool does not survive a
fork reliably.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())

SCRIPT = r'''
import importlib, sys, warnings
warnings.simplefilter("error")
import nbformat, torch
from dgm_staff.bench.common import solution_namespace
from dgm_staff.judge import checks_module_of
from pathlib import Path

path = Path(sys.argv[1])
nb = nbformat.read(path, 4)
ns = solution_namespace(path.stem, path)
setup = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
for cell in nb.cells:                       # the written answers (cells that define nothing)
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type == "code" and meta.get("solution") and "def " not in cell.source \
            and "class " not in cell.source:
        exec(compile(cell.source, meta["grade_id"], "exec"), ns)
ns["checks"] = importlib.import_module(checks_module_of(setup))
import contextlib, io
from dgm.checks import common

tests = [c for c in nb.cells if c.cell_type == "code"
         and c.metadata.get("nbgrader", {}).get("grade")
         and not c.metadata["nbgrader"].get("solution")]


def run_all():
    for cell in tests:
        exec(compile(cell.source, cell.metadata["nbgrader"]["grade_id"], "exec"), ns)


common.SILENCE_STUDENT_WARNINGS = False       # the references must raise no warning either
run_all()
common.SILENCE_STUDENT_WARNINGS = True
with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()) as shown:
    warnings.simplefilter("always")          # student code that spends the once-only warnings
    x = torch.ones(3, requires_grad=True)
    float((x * 2).sum())
    torch.tensor(torch.ones(2))
assert "requires_grad=True to a scalar" in shown.getvalue()
run_all()
print("ran", len(tests), "test cells twice")
'''


def quiet_run(notebook: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Every test cell of a source notebook, twice, in a fresh process (see the module
    docstring)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DGM_BUDGET": "smoke",
           "DGM_OUTPUT": str(tmp_path), "PYTHONWARNINGS": "error"}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(notebook)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_check_runs_without_a_word_on_stderr(name, tmp_path):
    result = quiet_run(ROOT / "solutions" / name / f"{name}.ipynb", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]
    assert "ran" in result.stdout and not result.stdout.startswith("ran 0 "), result.stdout


def _notebook(tmp_path: Path, reference: str, test: str) -> Path:
    """A source notebook of one reference function and one graded test cell (notebook 06's
    checks module)."""
    import nbformat

    def meta(grade_id, **flags):
        return {"nbgrader": {"grade_id": grade_id, "locked": not flags.get("solution"),
                             "schema_version": 3, "grade": flags.get("grade", False),
                             "solution": flags.get("solution", False), "task": False,
                             **({"points": 1} if flags.get("grade") else {})}}

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import torch\nfrom dgm.checks import inversion as checks",
                                  metadata=meta("setup")),
        nbformat.v4.new_code_cell(reference, metadata=meta("answer", solution=True)),
        nbformat.v4.new_code_cell(test, metadata=meta("test", grade=True)),
    ])
    path = tmp_path / "06_inversion.ipynb"
    nbformat.write(nb, path)
    return path


CONVERT = "def convert(x):\n    return float((x * torch.ones(1, requires_grad=True)).sum())\n"
CLEAN = "def convert(x):\n    return float(x.detach().sum())\n"


@pytest.mark.parametrize("reference, test, why", [
    # a check converting a tensor that requires grad: torch warns once per process
    (CLEAN, "import torch\nfloat(torch.ones(1, requires_grad=True) * 2)", "the check warns"),
    # a reference that warns (silenced while grading) would spend the warning for the checks
    (CONVERT, "checks.call('convert', convert, torch.ones(2))", "the reference warns"),
], ids=["check", "reference"])
@pytest.mark.slow
def test_a_warning_from_a_check_or_a_reference_fails(reference, test, why, tmp_path):
    result = quiet_run(_notebook(tmp_path, reference, test), tmp_path)
    assert result.returncode != 0, why
    assert "requires_grad=True to a scalar" in result.stderr


@pytest.mark.slow
def test_a_quiet_notebook_passes(tmp_path):
    result = quiet_run(_notebook(tmp_path, CLEAN, "checks.call('convert', convert, "
                                                  "torch.ones(2))"), tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
