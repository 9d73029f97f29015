"""The course's benchmark: wall times, throughput, quality and grading speed, and its report.

    python -m dgm_staff.bench run [--phases ...] [--out DIR] [--only 01_vae ...]
    python -m dgm_staff.bench report [--out DIR] [--repeat DIR2]
    python3 tasks.py bench        # every phase, then the report (about an hour on 2 CPU cores)

``run`` executes the phases below and writes one JSON file per phase into ``--out`` (default
``build/bench/latest``); a phase whose file exists is skipped unless ``--force``, so an
interrupted benchmark resumes where it stopped and phases can run on different days.

* ``smoke``, ``full``: every solution notebook, in course order, at that budget
  (:data:`dgm.runtime.BUDGET_ENV`), with its outputs in ``DIR/outputs-<budget>``: wall seconds
  per notebook, and (``full``) the quality numbers each notebook saves (``results.json``,
  ``rd_points.json``);
* ``throughput``: training samples per second of each model, tensor-resident data
  (``dgm.data.TensorLoader``) vs. a torchvision ``DataLoader``, measured alternately in one run;
* ``profile``: the slowest notebook's training step with and without the channels-last layout
  (``channels_last=`` of ``dgm.gan_training.train_gan``), and the operators that take its time;
* ``autograde``: nbgrader autograde seconds per notebook and for a whole-course submission.

``report`` turns a run directory into ``benchmarks/REPORT.md`` with figures in
``benchmarks/figures/``, copies the measurements to ``benchmarks/measurements.json`` and puts the
summary table into README.md (between the ``bench:begin``/``bench:end`` markers). With
``--repeat DIR2`` (a second run with the same seeds) it adds a reproducibility table: each quality
number of the two runs and whether they agree within :data:`TOLERANCES`.
"""

from __future__ import annotations

import argparse
import sys
import shutil
import time
import traceback
from pathlib import Path

from dgm.runtime import BUDGET_ENV, OUTPUT_ENV, repo_root
from dgm_staff.bench import report
from dgm_staff.bench.common import (ANCHOR, NOTEBOOKS, PHASES, TOLERANCES, default_out,
                                    load_phase, machine, notebook_quality, write_phase)

__all__ = ["ANCHOR", "NOTEBOOKS", "PHASES", "TOLERANCES", "default_out", "load_phase", "machine",
           "main", "notebook_quality", "run", "run_notebooks", "run_phase"]


# ------------------------------------------------------------------------ notebooks -----------
def run_notebooks(out: Path, budget: str, names: list[str], timeout: int) -> dict:
    """Run the solution notebooks ``names`` at ``budget``, one after the other, recording as it
    goes. Notebooks of an earlier measurement of this phase that are not in ``names`` are kept,
    so one notebook can be measured again after a change."""
    from dgm_staff.course import run_notebook
    from dgm_staff.course_folder import solutions_dir

    outputs = out / f"outputs-{budget}"
    payload = {"budget": budget, "machine": machine(), "notebooks": {}}
    earlier = load_phase(out, budget) or {}
    payload["notebooks"].update({n: row for n, row in earlier.get("notebooks", {}).items()
                                 if n not in names})
    previous = load_phase(out, budget + ".partial") or {}
    payload["notebooks"].update(previous.get("notebooks", {}))
    for name in names:
        if name in payload["notebooks"] and payload["notebooks"][name].get("ok"):
            print(f"[{budget}] {name}: done earlier, kept")
            continue
        path = solutions_dir() / name / f"{name}.ipynb"
        # a fresh folder: a finished checkpoint left there would be loaded, not trained and timed
        shutil.rmtree(outputs / budget / name, ignore_errors=True)
        print(f"[{budget}] {name} ...", flush=True)
        start = time.perf_counter()
        row: dict = {}
        try:
            run_notebook(path, out / f"executed-{budget}" / f"{name}.ipynb", timeout=timeout,
                         env={BUDGET_ENV: budget, OUTPUT_ENV: str(outputs)})
            row["ok"] = True
        except Exception as exc:                         # keep going: report what failed
            row["ok"] = False
            row["error"] = "".join(traceback.format_exception_only(type(exc), exc))[-2000:]
        row["seconds"] = time.perf_counter() - start
        row["quality"] = notebook_quality(name, outputs)
        payload["notebooks"][name] = row
        write_phase(out, budget + ".partial", payload)
        print(f"[{budget}] {name}: {'ok' if row['ok'] else 'FAILED'} in {row['seconds']:.0f} s",
              flush=True)
    return payload


# ------------------------------------------------------------------------ phases --------------
def run_phase(phase: str, out: Path, names: list[str], timeout: int) -> dict:
    if phase in ("smoke", "full"):
        return run_notebooks(out, phase, names, timeout)
    if phase == "throughput":
        from dgm_staff.bench import throughput
        return throughput.measure()
    if phase == "profile":
        from dgm_staff.bench import profile
        return profile.measure()
    if phase == "autograde":
        from dgm_staff.bench import autograde
        return autograde.measure(names)
    raise ValueError(f"unknown phase {phase!r}: use one of {', '.join(PHASES)}")


def run(out: Path, phases: list[str], names: list[str], force: bool = False,
        timeout: int = 4 * 3600) -> int:
    from dgm.data import ensure_mnist

    ensure_mnist()
    out = Path(out).resolve()       # notebooks run in their own folders: no relative paths
    failed = 0
    for phase in phases:
        if load_phase(out, phase) is not None and not force:
            print(f"{phase}: {out / (phase + '.json')} exists, skipped (--force to redo)")
            continue
        start = time.perf_counter()
        payload = run_phase(phase, out, names, timeout)
        payload["phase_seconds"] = time.perf_counter() - start
        payload.setdefault("machine", machine())
        write_phase(out, phase, payload)
        (out / f"{phase}.partial.json").unlink(missing_ok=True)
        bad = [n for n, r in payload["notebooks"].items() if not r.get("ok")] \
            if phase in ("smoke", "full") else []
        failed += len(bad)
        print(f"{phase}: {payload['phase_seconds']:.0f} s -> {out / (phase + '.json')}"
              + (f"; FAILED: {', '.join(bad)}" if bad else ""), flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm_staff.bench",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="measure (writes DIR/<phase>.json)")
    p_run.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    p_run.add_argument("--out", type=Path, default=default_out())
    p_run.add_argument("--only", nargs="+", default=list(NOTEBOOKS), choices=NOTEBOOKS)
    p_run.add_argument("--force", action="store_true", help="redo phases already measured")
    p_run.add_argument("--cell-timeout", type=int, default=4 * 3600)
    p_rep = sub.add_parser("report", help="write benchmarks/REPORT.md from a run")
    p_rep.add_argument("--out", type=Path, default=default_out())
    p_rep.add_argument("--repeat", type=Path, default=None,
                       help="a second run with the same seeds, for the reproducibility table")
    p_rep.add_argument("--dest", type=Path, default=repo_root() / "benchmarks")
    p_rep.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.out, args.phases, args.only, args.force, args.cell_timeout)
    path = report.write_report(args.out, args.dest, repeat=args.repeat,
                        readme=None if args.no_readme else repo_root() / "README.md")
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
