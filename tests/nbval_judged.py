"""pytest plugin (``-p tests.nbval_judged``, set in pyproject.toml): nbval runs each solution
notebook the way the grader judges it.

The judge binds a notebook's ``checks`` to the staff module (``grader_tests.<notebook>``: the
visible checks plus the hidden ones), so the set-up cell's ``from dgm.checks import vae as checks``
becomes ``from grader_tests import vae as checks`` when nbval runs a solution notebook whole,
hidden regions included (:func:`dgm_staff.course.as_judged`, which the demo and the benchmark use
too). Release notebooks keep the student module.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The kernels nbval starts import the staff checks from the repository root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and Path(str(item.path)).is_relative_to(ROOT / "solutions"):
            from dgm_staff.course import as_judged

            cell.source = as_judged(cell.source)
