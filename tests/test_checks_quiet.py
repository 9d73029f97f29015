"""No check writes to stderr, whatever ran before it (nbgrader scores a test cell 0 when anything
reaches stderr). Every graded test cell of every notebook, hidden region included, runs against
the reference solution with warnings turned into errors, each cell in a fresh process of its own
(forked before any student function ran): once straight away (torch's once-only warnings not yet
given, so a check that triggers one fails here even if an earlier cell would have spent it), and
once after student code that triggered them."""

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
from dgm.runtime import repo_root

name, prime = sys.argv[1], sys.argv[2] == "prime"
nb = nbformat.read(repo_root() / "solutions" / name / f"{name}.ipynb", 4)
ns = solution_namespace(name)
setup = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
for cell in nb.cells:                       # the written answers (cells that define nothing)
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type == "code" and meta.get("solution") and "def " not in cell.source \
            and "class " not in cell.source:
        exec(compile(cell.source, meta["grade_id"], "exec"), ns)
ns["checks"] = importlib.import_module(checks_module_of(setup))
if prime:                                   # student code that spends torch's once-only warnings
    import contextlib, io
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()) as shown:
        warnings.simplefilter("always")
        x = torch.ones(3, requires_grad=True)
        float((x * 2).sum())
        torch.tensor(torch.ones(2))
    assert "requires_grad=True to a scalar" in shown.getvalue()
import os, traceback
torch.set_num_threads(1)                    # forking with a thread pool running is unsafe
ran, failed = 0, []
for cell in nb.cells:
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
        pid = os.fork()
        if pid == 0:                        # the test cell alone, in a process of its own
            try:
                exec(compile(cell.source, meta["grade_id"], "exec"), ns)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            sys.stderr.flush()
            os._exit(0)
        if os.waitpid(pid, 0)[1] != 0:
            failed.append(meta["grade_id"])
        ran += 1
print("ran", ran, "test cells; failed:", failed)
sys.exit(1 if failed else 0)
'''


@pytest.mark.parametrize("prime", ["fresh", "prime"])
@pytest.mark.parametrize("name", NAMES)
def test_every_check_runs_without_a_word_on_stderr(name, prime, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DGM_BUDGET": "smoke",
           "DGM_OUTPUT": str(tmp_path), "PYTHONWARNINGS": "error"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, name, prime], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]
    assert "ran" in result.stdout and not result.stdout.startswith("ran 0 "), result.stdout
