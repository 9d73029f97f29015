"""Grading at scale: submissions per minute with the embedded cluster (1 and 2 workers) and with an
external `dask scheduler` and 2 `dask worker` processes, on the same submissions in one run; p50
and p95 per-submission latency; a projection for a class of 500 × 6 notebooks.

    python -m dgm_staff.bench.cluster [--students 6] [--notebook 03_echo]

Writes ``benchmarks/grading_scale.json`` and the section of ``benchmarks/REPORT.md`` rendered from
it (:func:`dgm_staff.bench.report.grading_scale_section`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dgm.runtime import repo_root
from dgm_staff.bench.autograde import write_submission
from dgm_staff.grade_class import grade_class

STUDENTS, NOTEBOOKS = 500, 6


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _external(tmp: Path, workers: int = 2):
    """(address, processes) of a scheduler and ``workers`` workers started on 127.0.0.1."""
    bindir = Path(sys.executable).parent
    tmp.mkdir(parents=True, exist_ok=True)
    sfile = tmp / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo_root())}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env,
             "cwd": repo_root()}
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(sfile)],
                              **quiet)]
    deadline = time.monotonic() + 60
    while not sfile.exists() or not sfile.read_text().strip():
        if time.monotonic() > deadline:
            raise RuntimeError("the scheduler did not start in 60 s")
        time.sleep(0.2)
    address = json.loads(sfile.read_text())["address"]
    procs += [subprocess.Popen([str(bindir / "dask"), "worker", address, "--nthreads", "1",
                                "--no-dashboard", "--host", "127.0.0.1"], **quiet)
              for _ in range(workers)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=90)
    return address, procs


def measure(students: int, notebook: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inbox = tmp / "inbox"
        inbox.mkdir()
        kinds = ["reference", "buggy", "untouched"]
        for k in range(students):
            write_submission(inbox, f"student{k:03d}", notebook, kinds[k % 3])
        rows, csvs = [], {}
        for label, kw in [("embedded, 1 worker", {"workers": 1}),
                          ("embedded, 2 workers", {"workers": 2}),
                          ("external scheduler, 2 workers", {"scheduler": True})]:
            procs = []
            if kw.get("scheduler"):
                kw["scheduler"], procs = _external(tmp / "cluster")
            try:
                out = tmp / label.replace(" ", "_").replace(",", "")
                start = time.perf_counter()
                outcomes = grade_class(inbox, out, assignments=[notebook], progress=False, **kw)
                wall = time.perf_counter() - start
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait(timeout=30)
            seconds = [o.seconds for o in outcomes]
            csvs[label] = (out / "grades.csv").read_text()
            rows.append({"engine": label, "submissions": len(outcomes), "wall_s": wall,
                         "per_minute": 60 * len(outcomes) / wall,
                         "p50_s": statistics.median(seconds), "p95_s": _percentile(seconds, 0.95),
                         "statuses": sorted({o.status for o in outcomes})})
            print(f"  {label}: {wall:.1f} s, {rows[-1]['per_minute']:.1f}/min, "
                  f"p50 {rows[-1]['p50_s']:.1f} s, p95 {rows[-1]['p95_s']:.1f} s", flush=True)
    same = len(set(csvs.values())) == 1
    per_nb = _per_notebook_seconds()
    course_s = sum(per_nb.values())
    projection = [{"workers": n, "hours": STUDENTS * course_s / n / 3600} for n in (1, 2, 8, 32,
                                                                                   128)]
    return {"notebook": notebook, "students": students, "cpus": os.cpu_count(), "rows": rows,
            "grades_identical": same, "per_notebook_s": per_nb, "course_s": course_s,
            "projection": projection, "date": time.strftime("%Y-%m-%d", time.gmtime())}


def _per_notebook_seconds() -> dict[str, float]:
    """Per-notebook autograde seconds of the benchmark's autograde phase (one worker)."""
    data = json.loads((repo_root() / "benchmarks" / "measurements.json").read_text())
    return {r["notebook"]: r["seconds"] for r in data["autograde"]["notebooks"]}


def main(argv=None) -> int:
    from dgm_staff.bench import report

    parser = argparse.ArgumentParser(prog="python -m dgm_staff.bench.cluster",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--notebook", default="03_echo")
    args = parser.parse_args(argv)
    result = measure(args.students, args.notebook)
    dest = repo_root() / "benchmarks"
    (dest / "grading_scale.json").write_text(json.dumps(result, indent=1) + "\n")
    report.update_grading_scale(dest / "REPORT.md", dest / "grading_scale.json")
    print(report.grading_scale_section(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
