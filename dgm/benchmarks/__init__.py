"""The phases of `python -m dgm.bench` that are more than running notebooks, and its report."""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import types

import nbformat

from dgm.runtime import environ, repo_root


def solution_namespace(name: str) -> dict:
    """The reference solution of notebook ``name``: its set-up cell and every solution cell that
    defines a function or class, executed in one namespace (at the smoke budget, outputs in a
    temporary folder)."""
    nb = nbformat.read(repo_root() / "solutions" / name / f"{name}.ipynb", 4)
    module = types.ModuleType(f"solution_{name}")       # a real module, as a kernel's __main__
    sys.modules[module.__name__] = module
    with tempfile.TemporaryDirectory() as tmp, environ(DGM_BUDGET="smoke", DGM_OUTPUT=tmp), \
            contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            is_setup = meta.get("grade_id") == "setup"
            defines = meta.get("solution") and ("def " in cell.source or "class " in cell.source)
            if cell.cell_type == "code" and (is_setup or defines):
                code = compile(cell.source, f"<{name}:{meta.get('grade_id')}>", "exec",
                               dont_inherit=True)
                exec(code, module.__dict__)  # noqa: S102
    return module.__dict__
