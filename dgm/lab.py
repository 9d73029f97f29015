"""JupyterLab for a student of the course, on this machine only (loopback), with nbgrader's
extension (*Validate*)::

    python -m dgm.lab     # the release, copied once into work/ (git-ignored): your own copy

``python3 tasks.py lab`` does the same after setting up the environment. Options: ``--port``
(default 8888), ``--no-browser``. The instructors' side, nbgrader's formgrader, is
``python -m dgm_staff.formgrader`` (``python3 tasks.py lab instructor``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dgm.runtime import repo_root


def student_folder(root: Path | None = None) -> Path:
    """The student's working copy of the release (created from ``notebooks/`` once; never
    overwritten, so work is not lost when the release changes)."""
    root = Path(root or repo_root())
    work = root / "work"
    if not work.exists():
        shutil.copytree(root / "notebooks", work)
    return work


#: JupyterLab settings the course's environment starts with: no pop-up asking whether to fetch
#: Jupyter's news or check for updates, a question a student meets on the first screen and that
#: has nothing to do with the course.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                                  "checkForUpdates": False}}


def quiet_lab_settings(prefix: Path | None = None) -> Path:
    """Write :data:`LAB_OVERRIDES` into the environment's ``share/jupyter/lab/settings/
    overrides.json`` (JupyterLab's place for an installation's defaults; a user's own settings
    still win), keeping any other overrides there."""
    path = Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    merged = {**current, **{k: {**current.get(k, {}), **v} for k, v in LAB_OVERRIDES.items()}}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2))
    return path


def lab_command(folder: Path, default_url: str, port: int = 8888, token: str | None = None,
                open_browser: bool = True) -> list[str]:
    """The ``jupyter lab`` command line that serves ``folder`` on 127.0.0.1 only and opens
    ``default_url`` (the students' and the instructors' launchers share it)."""
    quiet_lab_settings()
    args = [sys.executable, "-m", "jupyter", "lab", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", f"--ServerApp.root_dir={folder}",
            f"--ServerApp.default_url={default_url}"]
    if token is not None:
        args.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:       # containers often run as root
        args.append("--allow-root")
    return args


def command(port: int = 8888, token: str | None = None, open_browser: bool = True,
            root: Path | None = None) -> tuple[list[str], Path]:
    """The student's ``jupyter lab`` command line and the folder it serves (their copy)."""
    folder = student_folder(root)
    return lab_command(folder, "/lab", port, token, open_browser), folder


def serve(cmd: list[str], folder: Path, port: int) -> int:
    """Run ``cmd`` (from :func:`lab_command`) in ``folder`` until Ctrl-C."""
    print(f"serving {folder} on http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
    bindir = str(Path(sys.executable).parent)       # nbgrader runs its tools by name
    env = {**os.environ, "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")])}
    return subprocess.call(cmd, cwd=folder, env=env)


def arguments(argv: list[str] | None, description: str) -> argparse.Namespace:
    """``--port`` and ``--no-browser``, the options of both launchers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--no-browser", action="store_true")
    return parser.parse_args(argv)


def launch(build, argv: list[str] | None, description: str) -> int:
    """Both launchers' command line: read ``--port`` and ``--no-browser``, build the
    ``jupyter lab`` command with ``build`` (a ``command`` function) and serve it."""
    args = arguments(argv, description)
    cmd, folder = build(args.port, open_browser=not args.no_browser)
    return serve(cmd, folder, args.port)


def main(argv: list[str] | None = None) -> int:
    return launch(command, argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
