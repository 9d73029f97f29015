"""JupyterLab for the course's instructors, on this machine only (loopback), opened on nbgrader's
formgrader (create, release, autograde, feedback), which reads ``nbgrader_config.py`` from the
course folder::

    python -m dgm_staff.formgrader     # or: python3 tasks.py lab instructor

Options: ``--port`` (default 8888), ``--no-browser``. The students' launcher is :mod:`dgm.lab`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dgm.lab import lab_command, launch
from dgm.runtime import repo_root


def command(port: int = 8888, token: str | None = None, open_browser: bool = True,
            root: Path | None = None) -> tuple[list[str], Path]:
    """The instructors' ``jupyter lab`` command line and the folder it serves (the course
    folder, with nbgrader's ``exchange/`` for release and collect)."""
    root = Path(root or repo_root())
    (root / "exchange").mkdir(exist_ok=True)
    return lab_command(root, "/formgrader", port, token, open_browser), root


def main(argv: list[str] | None = None) -> int:
    return launch(command, argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
