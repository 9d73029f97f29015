"""What the benchmark's runner and report share: the phases, the notebooks, the published anchor,
the reproducibility tolerances, the run directory's files, and the reference solutions.

Nothing here imports another module of the benchmark, so ``runner`` can import ``report`` (and
both this module) without a cycle.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import types
from datetime import datetime, timezone
from pathlib import Path

from dgm import manifest
from dgm.runtime import BUDGET_ENV, OUTPUT_ENV, environ, repo_root

PHASES = ("smoke", "full", "throughput", "profile", "autograde")
NOTEBOOKS = manifest.IDS
#: Published anchor for notebook 01: a Gaussian VAE with a 2-D latent on dynamically binarised
#: MNIST (Davidson et al., *Hyperspherical Variational Auto-Encoders*, UAI 2018, table 1).
ANCHOR = {"elbo": -137.08, "log_likelihood": -135.73}
#: How far a second run with the same seeds may move each quality number (absolute, in the
#: number's unit; FID relative). On one machine with the same thread count seeded CPU runs repeat
#: bit for bit, so there any difference is a failure of seeding. These bounds are for another
#: machine, thread count or a GPU, where sums are ordered differently and trajectories drift:
#: GAN training amplifies such differences most (the same conv GAN trained in two memory layouts
#: ended at FID 169 and 212), so FID gets a relative 30 %.
#: How far a wall time stated in a notebook's header may be from the benchmark's measurement
#: (relative): a header whose figure drifts further fails ``tests/test_notebook_numbers.py``.
WALL_TOLERANCE = 0.25

TOLERANCES = {"nats": 1.0, "IS": 0.25, "FID": 0.3, "ratio": 0.05, "rate": 1.0,
              "distortion": 0.5, "fraction": 0.1}


def default_out() -> Path:
    """Where ``run`` measures into and ``report`` reads from unless told (``--out``)."""
    return repo_root() / "build" / "bench" / "latest"


def machine() -> dict:
    """Python, torch, platform, cores and GPU of this machine, and the date (UTC)."""
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_phase(out: Path, phase: str, payload: dict) -> Path:
    """Save ``payload`` as ``out/<phase>.json``, never as a half-written file (even if killed)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{phase}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path


def load_phase(out: Path, phase: str) -> dict | None:
    """The measurements of ``phase`` in run directory ``out``; ``None`` if not measured."""
    path = Path(out) / f"{phase}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _read_json(path: Path):
    """The data of a JSON file a notebook saved (without its provenance record)."""
    from dgm.artifacts import read_json

    return read_json(path)[0] if path.exists() else None


def notebook_folder(outputs: Path, name: str) -> Path:
    """Where notebook ``name`` saved its files under the output root ``outputs``:
    ``<budget>/<name>`` (see :func:`dgm.runtime.output_dir`), or ``<name>`` in runs made before
    budgets had folders of their own."""
    from dgm.runtime import BUDGETS

    for budget in BUDGETS:
        if (Path(outputs) / budget / name).is_dir():
            return Path(outputs) / budget / name
    return Path(outputs) / name


def notebook_quality(name: str, outputs: Path) -> dict:
    """The headline numbers a notebook saved under ``outputs`` (empty when it saved none)."""
    folder = notebook_folder(outputs, name)
    if name == "01_vae":
        r = _read_json(folder / "results.json") or {}
        return {k: r[k] for k in ("test_elbo", "best_test_elbo", "best_epoch", "train_elbo",
                                  "iw_log_likelihood", "iw_samples", "train_seconds") if k in r}
    if name in ("02_beta_vae", "03_echo"):
        return {"points": _read_json(folder / "rd_points.json") or []}
    if name in ("04_gan", "05_wgan"):
        return {"generators": _read_json(folder / "results.json") or []}
    if name == "06_inversion":
        r = _read_json(folder / "results.json")
        if not r:
            return {}
        rows = r["inversion"]
        errors = sorted(row["error_min"] for row in rows)
        return {"generator": r["generator"].split(" (")[0],       # without the file's path
                "inversion_error_min_median": errors[len(errors) // 2],
                "inversion_code_distance_mean": sum(row["code_distance_mean"] for row in rows)
                / len(rows),
                "known_codes": r["known_codes"], "path": r["path"], "part3": r["part3"]}
    return {}


def solution_namespace(name: str, path: Path | None = None) -> dict:
    """The reference solution of notebook ``name`` (read from ``path``, by default the course's
    ``solutions/``): its set-up cell and every solution cell that defines a function or class,
    executed in one namespace (at the smoke budget, outputs in a temporary folder)."""
    import nbformat

    nb = nbformat.read(path or repo_root() / "solutions" / name / f"{name}.ipynb", 4)
    module = types.ModuleType(f"solution_{name}")       # a real module, as a kernel's __main__
    sys.modules[module.__name__] = module
    with tempfile.TemporaryDirectory() as tmp, environ(**{BUDGET_ENV: "smoke", OUTPUT_ENV: tmp}), \
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
