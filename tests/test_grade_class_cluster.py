"""grade_class on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1, started here; the same CSV as the embedded one-worker run, nothing lost when a worker is
killed mid-task, a re-run after an interrupted client grades only what is missing, and a
submission that kills its worker twice is reported "kernel died"."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook

from dgm.runtime import repo_root
from dgm_staff.bench.autograde import write_submission
from dgm_staff.grade_class import grade_class

NAME = "03_echo"          # the cheapest notebook to autograde
STUDENTS = ["alice", "bob", "carol", "mallory"]
pytestmark = [pytest.mark.slow, pytest.mark.nbgrader]
BIN = Path(sys.executable).parent

#: A cell that kills the process that started its kernel: the grading worker (the sandbox covers
#: files, not processes, so the kernel can signal its parent).
KILL_WORKER = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inbox")
    for student, kind in zip(STUDENTS[:3], ["reference", "buggy", "untouched"]):
        write_submission(folder, student, NAME, kind)
    path = write_submission(folder, "mallory", NAME, "reference")
    nb = nbformat.read(path, 4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(KILL_WORKER))
    nbformat.write(nb, path)
    return folder


@pytest.fixture(scope="module")
def local(inbox, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    outcomes = grade_class(inbox, out, workers=1, assignments=[NAME], progress=False)
    return out, outcomes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, the two workers' processes) of a cluster started here."""
    tmp = tmp_path_factory.mktemp("cluster")
    sfile = tmp / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                               "0", "--no-dashboard", "--scheduler-file", str(sfile)],
                              cwd=repo_root(), env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp / "scheduler.log", "w"))]  # noqa: SIM115
    try:
        deadline = time.monotonic() + 60
        while not sfile.exists() or not sfile.read_text().strip():
            assert time.monotonic() < deadline, (tmp / "scheduler.log").read_text()[-2000:]
            time.sleep(0.2)
        address = json.loads(sfile.read_text())["address"]
        for k in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"w{k}"], cwd=repo_root(), env=env,
                stdout=subprocess.DEVNULL, stderr=open(tmp / f"worker{k}.log", "w")))  # noqa: SIM115
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address, procs[1:]
    finally:
        for proc in procs:
            for child in psutil.Process(proc.pid).children(recursive=True) \
                    if proc.poll() is None else []:
                child.kill()
            proc.kill()
            proc.wait(timeout=30)


def _command(inbox, out, address):
    return [sys.executable, "-m", "dgm_staff.grade_class", str(inbox), "--out", str(out),
            "--scheduler", address, "--only", NAME]


def _rows(out: Path) -> str:
    return (out / "grades.csv").read_text()


def _kernels_of(worker: psutil.Process) -> list[psutil.Process]:
    """The kernels a worker runs now; none from a process that is gone meanwhile (mallory's
    kernel kills its worker, and kernels end)."""
    try:
        children = worker.children(recursive=True)
    except psutil.Error:
        return []
    return [p for p in children if "ipykernel" in _cmdline(p) or "sandbox.py" in _cmdline(p)]


def test_local_run_reports_the_worker_killer(local):
    out, outcomes = local
    assert [(o.student, o.status) for o in outcomes] == \
        [("alice", "graded"), ("bob", "graded"), ("carol", "graded"), ("mallory", "kernel died")]
    assert "mallory / 03_echo: kernel died" in (out / "report.txt").read_text()
    for student in ("alice", "bob", "carol"):       # feedback came back from the worker as data
        page = out / "course" / "feedback" / student / NAME / f"{NAME}.html"
        assert "hidden tests ran here" in page.read_text()


def test_cluster_same_csv_and_a_killed_worker_loses_nothing(inbox, local, cluster, tmp_path):
    address, workers = cluster
    killed = []

    def kill_first_busy_worker():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            for nanny in workers:
                try:
                    nanny_workers = psutil.Process(nanny.pid).children()
                except psutil.Error:
                    continue
                for worker in nanny_workers:
                    kernels = [k for k in _kernels_of(worker)
                               if "mallory" not in _cmdline(k) + _cwd(k)]
                    if kernels:
                        with contextlib.suppress(psutil.Error):
                            worker.kill()                      # kill -9 mid-task
                            killed.append(_cwd(kernels[0]))
                            return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_first_busy_worker, daemon=True)
    watcher.start()
    run = subprocess.run(_command(inbox, tmp_path / "out", address), check=False,
                         capture_output=True, text=True, cwd=repo_root(), timeout=400)
    watcher.join(timeout=5)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert killed, "no worker was killed while grading: the test did not test anything"
    assert _rows(tmp_path / "out") == _rows(local[0])
    assert "3 graded, 0 timed out, 1 kernel died" in run.stdout
    # once each: one stored reply and one gradebook submission per student
    assert sorted(p.name for p in (tmp_path / "out" / "results").glob("*.pkl")) == \
        [f"{s}__{NAME}.pkl" for s in STUDENTS]
    with Gradebook(f"sqlite:///{tmp_path / 'out' / 'course' / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(NAME)) == STUDENTS
    assert _mistakes(tmp_path / "out") == _mistakes(local[0])


def _mistakes(out: Path) -> list[list[str]]:
    """mistakes.csv without its ``example`` column (which quotes a seed drawn at grading time)."""
    with open(out / "mistakes.csv", newline="") as f:
        return [row[:-1] for row in csv.reader(f)]


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _cwd(proc: psutil.Process) -> str:
    try:
        return proc.cwd()
    except psutil.Error:
        return ""


def _without_mallory(rows: str) -> str:
    return "".join(line for line in rows.splitlines(keepends=True) if "mallory" not in line)


def test_interrupted_client_resumes_with_the_rest(inbox, local, cluster, tmp_path):
    # the three who grade normally: mallory's two worker kills belong to the tests above and
    # would only slow this one down
    address, _ = cluster
    quiet = tmp_path / "inbox"
    quiet.mkdir()
    for path in inbox.iterdir():
        if not path.name.startswith("mallory"):
            shutil.copy2(path, quiet / path.name)
    students = [s for s in STUDENTS if s != "mallory"]
    out = tmp_path / "out"
    client = subprocess.Popen(_command(quiet, out, address), cwd=repo_root(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not list((out / "results").glob("*.pkl")):
            assert client.poll() is None, client.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no result stored in 300 s"
            time.sleep(0.1)
        client.send_signal(signal.SIGINT)                     # Ctrl-C
        _, err = client.communicate(timeout=60)
    finally:
        client.kill()
    assert client.returncode == 130, err[-3000:]
    assert "run the same command again" in err
    stored = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.pkl")}
    assert 1 <= len(stored) < len(students)
    run = subprocess.run(_command(quiet, out, address), check=False, capture_output=True,
                         text=True, cwd=repo_root(), timeout=400)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert f"resuming: {len(stored)} of {len(students)} submissions already graded" in run.stdout
    assert f"grading the other {len(students) - len(stored)}" in run.stdout
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.pkl")}
    assert {k: after[k] for k in stored} == stored               # not graded again
    assert len(after) == len(students)
    assert _rows(out) == _without_mallory(_rows(local[0]))
