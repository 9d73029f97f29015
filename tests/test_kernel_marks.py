"""The markers mean what they say: a test that starts a Jupyter kernel without the ``nbgrader``
marker fails (``tests/conftest.py``), whether the kernel is started by the test's own process or
by a child of it; a marked test, and an unmarked test that starts none, pass. Proven in a pytest
run of its own, on three real kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import threads_per_worker

ROOT = Path(__file__).resolve().parent.parent

INNER_TESTS = '''
import subprocess
import sys

import pytest

START = """
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120)
try:
    kc.execute_interactive("6 * 7", timeout=60)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
"""


def test_unmarked_starts_a_kernel():
    exec(START, {})


def test_unmarked_child_starts_a_kernel():
    subprocess.run([sys.executable, "-c", START], check=True, timeout=300)


@pytest.mark.nbgrader
def test_marked_starts_a_kernel():
    exec(START, {})


def test_unmarked_starts_none():
    assert 6 * 7 == 42
'''

INNER_CONFTEST = '''
from tests.conftest import (  # noqa: F401
    pytest_runtest_setup, pytest_runtest_teardown, pytest_unconfigure)
'''


@pytest.mark.slow
@pytest.mark.nbgrader
def test_a_kernel_started_by_an_unmarked_test_fails_it(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    nbgrader: starts kernels\n")
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    # the inner marked test's kernel makes its profile in the run's own IPython folder
    env = {**os.environ, "PYTHONPATH": path, "IPYTHONDIR": str(tmp_path / "ipython-of-the-run")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
                          "no:xdist", "-rA", "test_inner.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=540)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-4000:]
    assert "4 passed, 2 errors" in out, out[-4000:]     # the calls pass, the teardowns fail
    for name in ("test_unmarked_starts_a_kernel", "test_unmarked_child_starts_a_kernel"):
        assert f"ERROR test_inner.py::{name}" in out, out[-4000:]
        assert (f"test_inner.py::{name} started a Jupyter kernel (or an IPython shell: IPython "
                "created its profile folder) but is not marked nbgrader") in out, out[-4000:]
    for name in ("test_marked_starts_a_kernel", "test_unmarked_starts_none"):
        assert f"PASSED test_inner.py::{name}" in out, out[-4000:]
        assert f"ERROR test_inner.py::{name}" not in out, out[-4000:]
    assert "Mark it @pytest.mark.nbgrader" in out
    assert (tmp_path / "ipython-of-the-run").is_dir()        # the marked test's kernel


@pytest.mark.parametrize("workers, cores, expected", [(None, 2, None), ("2", 2, 1),
                                                      ("1", 2, 2), ("4", 2, 1), ("2", 8, 4)])
def test_each_worker_gets_its_share_of_the_cores(monkeypatch, workers, cores, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    environ = {} if workers is None else {"PYTEST_XDIST_WORKER_COUNT": workers}
    assert threads_per_worker(environ) == expected


def test_this_worker_runs_torch_with_its_share():
    import torch

    expected = threads_per_worker()
    if expected is None:
        pytest.skip("not under pytest-xdist: torch keeps its default")
    assert torch.get_num_threads() == int(os.environ.get("OMP_NUM_THREADS", expected))


def test_the_round_trip_is_shared_out_by_notebook():
    """Under --dist loadscope each notebook's round trip is a unit of its own; other modules
    stay one unit (their module fixtures run once)."""
    from tests.conftest import scope_of

    def module(nodeid):
        return nodeid.rsplit("::", 1)[0]

    trip = "tests/test_roundtrip.py::"
    assert scope_of(trip + "test_csv_export[06_inversion]", module) == \
        "tests/test_roundtrip.py[06_inversion]"
    assert scope_of(trip + "test_csv_export[01_vae]", module) == \
        scope_of(trip + "test_feedback_keeps_the_checks_hints[01_vae]", module)
    assert scope_of(trip + "test_csv_export[01_vae]", module) != \
        scope_of(trip + "test_csv_export[02_beta_vae]", module)
    assert scope_of("tests/test_tampering.py::test_attack_fails[a]", module) == \
        scope_of("tests/test_tampering.py::test_attack_fails[b]", module) == \
        "tests/test_tampering.py"
