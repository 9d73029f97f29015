#!/usr/bin/env python3
"""The course's two entry points; each creates the environment (.venv) when it is missing.

    python3 tasks.py demo   # set up, build the release, grade examples, run every notebook
    python3 tasks.py test   # set up, lint (ruff), run the whole test suite
    python3 tasks.py lab [student|instructor]   # set up, start JupyterLab on 127.0.0.1
    python3 tasks.py bench [run options]        # set up, measure everything, write the report
                                                # (python -m dgm_staff.bench run, then report:
                                                # benchmarks/REPORT.md; ~1 hour on 2 CPU cores)

Needs only Python >= 3.11 and access to the package registry. The environment is rebuilt when
pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

# The DGM_* environment variable names are defined once, in dgm/runtime.py (VENV_ENV, BUDGET_ENV,
# OUTPUT_ENV, ...). This file runs before the environment exists and cannot import dgm, so it
# spells out the ones it uses; keep them in step with dgm/runtime.py.
VENV_ENV, BUDGET_ENV, OUTPUT_ENV = "DGM_VENV", "DGM_BUDGET", "DGM_OUTPUT"

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get(VENV_ENV, ROOT / ".venv"))
STAMP = VENV / ".dgm-installed"            # which pyproject.toml + constraints.txt it holds
LINKED = VENV / ".dgm-checkout"            # which checkout its editable install points to


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_environment() -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"Python >= 3.11 is needed, this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        print(f"creating the environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not STAMP.exists() or STAMP.read_text() != _fingerprint():
        print("installing the course and its pinned dependencies (first time: a few minutes) ...",
              flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]"], check=True)
        STAMP.write_text(_fingerprint())
        LINKED.write_text(str(ROOT))
    if not LINKED.exists() or LINKED.read_text() != str(ROOT):
        # An environment shared between checkouts (CI's cache): point the course package at
        # this one, or notebook kernels would import it from a checkout that may be gone.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--no-deps", "-e", str(ROOT)], check=True)
        LINKED.write_text(str(ROOT))
    return python


def run(python: Path, *args: str, env: dict | None = None) -> int:
    """Run the environment's Python as if the environment were activated (tools on PATH)."""
    path = os.pathsep.join([str(python.parent), os.environ.get("PATH", "")])
    full_env = {**os.environ, "PATH": path, "VIRTUAL_ENV": str(VENV), **(env or {})}
    child = subprocess.Popen([str(python), *args], cwd=ROOT, env=full_env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the command as well: let it stop and say so itself, without a
        # traceback of this wrapper on top of its own report.
        try:
            return child.wait(timeout=15)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            child.terminate()
            return child.wait()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "lab", "bench") or \
            (argv[0] in ("demo", "test") and len(argv) != 1):
        print(__doc__)
        return 2
    python = ensure_environment()
    code = run(python, "-m", "dgm.data")          # MNIST, built offline when missing
    if code:
        return code
    if argv[0] == "demo":
        return run(python, "-m", "dgm_staff.course", "demo")
    if argv[0] == "lab":
        rest = argv[1:]                                # lab [student|instructor] [options]
        role = rest.pop(0) if rest and rest[0] in ("student", "instructor") else "student"
        return run(python, "-m", "dgm_staff.formgrader" if role == "instructor" else "dgm.lab",
                   *rest)
    if argv[0] == "bench":
        # a failed notebook is recorded and reported; the report is written either way
        code = run(python, "-m", "dgm_staff.bench", "run", *argv[1:])
        out = argv[argv.index("--out") + 1:][:1] if "--out" in argv else []
        return run(python, "-m", "dgm_staff.bench", "report", *(["--out", *out] if out else [])) or code
    workers = "2" if (os.cpu_count() or 1) >= 2 else "1"
    # fresh outputs: a finished training checkpoint of an earlier run would be loaded, not run
    shutil.rmtree(ROOT / "build" / "test-outputs", ignore_errors=True)
    # the JupyterHub test's proxy: configurable-http-proxy from npm, into the course's cache
    # outside the checkout, when it is missing (without npm that test says so and skips)
    run(python, "-m", "dgm_staff.hub", "install-proxy")
    # lint first ([tool.ruff] in pyproject.toml); the tests run either way, and either failing
    # fails the command
    lint = run(python, "-m", "ruff", "check", ".")
    if lint:
        print("ruff found the problems above (`ruff check --fix .` mends most); running the tests",
              flush=True)
    return run(python, "-m", "pytest", "-n", workers, "--dist", "loadscope",
               "tests", "--nbval-lax", "solutions", "-p", "no:cacheprovider", "--durations=15",
               env={BUDGET_ENV: "smoke", OUTPUT_ENV: str(ROOT / "build" / "test-outputs")}) or lint


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
