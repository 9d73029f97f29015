"""Record the values the student-side visible checks compare with (``dgm/checks/expected.pt``).

The visible checks of :mod:`dgm.checks` hold no reference implementation: wherever they compare
with a right result (or with the result of a usual mistake, to name it), the value comes from this
file, produced here by running the staff references of :mod:`grader_tests` on the visible checks'
own inputs. Run it after changing a reference or a visible input::

    PYTHONPATH=. .venv/bin/python -m grader_tests.record_expected

``tests/test_checks_expected.py`` fails while the committed file differs from what the references
give.
"""

from __future__ import annotations

import importlib
import sys

import torch

from dgm.checks.common import EXPECTED_FILE
from dgm.manifest import NOTEBOOKS

#: Notebook key (as the student-side modules name it) -> staff module with ``record()``.
MODULES = {nb.checks: importlib.import_module(nb.staff_checks) for nb in NOTEBOOKS}


def _plain(value) -> torch.Tensor:
    """A detached, contiguous CPU copy that owns its storage (a view would save its base)."""
    return torch.as_tensor(value).detach().to("cpu").clone().contiguous()


def compute() -> dict[str, dict[str, dict[str, torch.Tensor]]]:
    """``{notebook: {check: {value name: tensor}}}`` from the references, on the visible inputs."""
    with torch.no_grad():
        return {notebook: {check: {name: _plain(v) for name, v in values.items()}
                           for check, values in module.record().items()}
                for notebook, module in MODULES.items()}


def main(argv: list[str] | None = None) -> int:
    data = compute()
    torch.save(data, EXPECTED_FILE)
    n = sum(len(values) for checks in data.values() for values in checks.values())
    numbers = sum(t.numel() for checks in data.values() for values in checks.values()
                  for t in values.values())
    print(f"wrote {EXPECTED_FILE} ({n} tensors, {numbers} numbers, "
          f"{EXPECTED_FILE.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
