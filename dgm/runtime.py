"""Run-time choices every notebook makes the same way: seed, device, budget, paths.

A notebook calls these once, in its set-up cell, so that no cell depends on hidden state:

>>> from dgm.runtime import seed_everything, pick_device, budget
>>> seed_everything(1234)
>>> device = pick_device()
>>> mode = budget()          # "full" for students, "smoke" under autograde and CI
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import torch

Budget = Literal["full", "smoke"]
#: Every budget; each writes to a folder of its own (:func:`output_dir`).
BUDGETS: tuple[Budget, ...] = ("full", "smoke")

# The environment variables the course reads, named once here: every other module (and the
# tests) uses these constants instead of the strings. tasks.py and .ci/run run before the
# environment exists and cannot import dgm; they spell the names out and point here.

#: Forces a budget ("full" or "smoke").
BUDGET_ENV = "DGM_BUDGET"
#: Forces a device ("cpu", "cuda", "cuda:1", "mps").
DEVICE_ENV = "DGM_DEVICE"
#: Where notebooks write figures and checkpoints (default ``outputs/`` in the checkout).
OUTPUT_ENV = "DGM_OUTPUT"
#: Where datasets live (default ``data/`` in the checkout; :func:`dgm.data.data_root`).
DATA_ENV = "DGM_DATA"
#: A local copy of the MNIST wheel to build the dataset from, offline (:mod:`dgm.data`).
MNIST_WHEEL_ENV = "DGM_MNIST_WHEEL"
#: The virtual environment tasks.py creates and uses (default ``.venv`` in the checkout).
VENV_ENV = "DGM_VENV"
#: Set to 0 to start grading kernels without the sandbox (:mod:`dgm_staff.sandbox`).
SANDBOX_ENV = "DGM_SANDBOX"
#: More folders a grading kernel must not see, separated by os.pathsep (:mod:`dgm_staff.sandbox`).
SANDBOX_HIDE_ENV = "DGM_SANDBOX_HIDE"
#: Where .ci/run keeps its environment and caches between CI runs.
CI_CACHE_ENV = "DGM_CI_CACHE"
#: The nbgrader exchange shared with the students (:mod:`dgm_staff.exchange`).
EXCHANGE_ENV = "DGM_EXCHANGE"
#: The course id nbgrader files the course under in that exchange (:mod:`dgm_staff.exchange`).
COURSE_ID_ENV = "DGM_COURSE_ID"
#: Every DGM_* name the course reads; any other one is refused (:func:`check_environment`).
KNOWN_ENV = (BUDGET_ENV, DEVICE_ENV, OUTPUT_ENV, DATA_ENV, MNIST_WHEEL_ENV, VENV_ENV,
             SANDBOX_ENV, SANDBOX_HIDE_ENV, CI_CACHE_ENV, EXCHANGE_ENV, COURSE_ID_ENV)
#: Set by nbgrader while it autogrades: the budget is then always "smoke".
AUTOGRADE_ENV = "NBGRADER_EXECUTION"
#: Set by every CI service: the default budget is then "smoke".
CI_ENV = "CI"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) with one number.

    On a machine without CUDA it also switches on PyTorch's deterministic algorithms: a few CPU
    kernels (the backward of indexing with repeated indices, which notebook 03's echo sampler
    uses) add in an order that depends on thread timing, so two seeded runs would drift apart;
    their deterministic variants make a seeded run repeat bit for bit on the same machine. On a
    GPU the flag is left alone: several CUDA kernels the course uses (upsampling's backward, for
    one) have no deterministic variant, and GPU runs repeat only up to rounding.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def pick_device(prefer: str | None = None) -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the ``DGM_DEVICE`` environment variable) overrides the choice; asking for a
    device that is not there raises a ``RuntimeError`` that says what is available.
    """
    wanted = prefer or os.environ.get(DEVICE_ENV)
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"{DEVICE_ENV}/prefer asks for {wanted!r} but torch sees no CUDA GPU; "
                "unset it or use 'cpu'."
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"{wanted!r} was asked for but MPS is not available; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


#: The budget a notebook chose with :func:`choose_budget` (``None``: it did not choose).
_chosen: Budget | None = None


def choose_budget(name: str) -> Budget:
    """A notebook's own choice of budget, made in its editable *budget* cell; returns the budget
    in effect, and says so when the environment overrides the choice.

    Running the cell again with another name changes the choice (nothing else remembers it).
    nbgrader's Validate and autograde, ``DGM_BUDGET`` and CI still win (see :func:`budget`)."""
    global _chosen
    name = str(name).strip().lower()
    if name not in BUDGETS:
        raise ValueError(f"choose_budget({name!r}): use 'full' (the assignment's budget) or "
                         "'smoke' (a quick run while you work)")
    _chosen = name  # type: ignore[assignment]
    effective = budget()
    if effective != name:
        why = (f"nbgrader ({AUTOGRADE_ENV}) always runs the smoke budget"
               if os.environ.get(AUTOGRADE_ENV) else
               f"{BUDGET_ENV}={os.environ.get(BUDGET_ENV)} is set in this Jupyter's environment"
               if os.environ.get(BUDGET_ENV) else "CI runs the smoke budget")
        print(f"budget: {effective} ({why}; your choice {name!r} applies without it)")
    else:
        print(f"budget: {effective}")
    return effective


def check_environment(env=None) -> None:
    """Refuse a ``DGM_*`` environment variable the course does not read (a misspelt
    ``DGM_BUGDET=smoke`` would otherwise be ignored without a word); the message names the known
    ones."""
    env = os.environ if env is None else env
    unknown = sorted(k for k in env if k.startswith("DGM_") and k not in KNOWN_ENV)
    if unknown:
        raise ValueError(f"unknown environment variable{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)}: the course reads only {', '.join(KNOWN_ENV)}; "
                         "unset it or correct its name")


def budget() -> Budget:
    """Which training budget to use.

    * under nbgrader (Validate and autograde set ``NBGRADER_EXECUTION``): always ``"smoke"``;
    * else ``DGM_BUDGET`` if set (``"full"`` or ``"smoke"``);
    * else the notebook's own choice (:func:`choose_budget`);
    * else ``"smoke"`` under CI (``CI`` set, as every CI service does);
    * else ``"full"``: the budget of the original assignment, for students.
    """
    check_environment()
    if os.environ.get(AUTOGRADE_ENV):
        return "smoke"
    forced = os.environ.get(BUDGET_ENV, "").strip().lower()
    if forced:
        if forced not in ("full", "smoke"):
            raise ValueError(f"{BUDGET_ENV}={forced!r}: use 'full' or 'smoke'.")
        return forced  # type: ignore[return-value]
    if _chosen is not None:
        return _chosen
    if os.environ.get(CI_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        return "smoke"
    return "full"


def repo_root() -> Path:
    """The course checkout this package lives in (independent of the working directory)."""
    return Path(__file__).resolve().parent.parent


def output_root() -> Path:
    """Where every notebook's outputs live: ``$DGM_OUTPUT``, else ``outputs/`` in the course
    checkout (git-ignored), never the working directory."""
    return Path(os.environ.get(OUTPUT_ENV, repo_root() / "outputs"))


def output_dir(name: str, for_budget: Budget | None = None) -> Path:
    """A folder for a notebook's figures and checkpoints: ``<output root>/<budget>/<name>``.

    Each budget has its own folder (``outputs/full/04_gan``, ``outputs/smoke/04_gan``), so that a
    smoke-budget run (Validate, autograde, CI) never replaces what a full-budget run saved. The
    folder is the same however the notebook is started (see :func:`output_root`).
    """
    chosen = for_budget or budget()
    if chosen not in BUDGETS:
        raise ValueError(f"unknown budget {chosen!r}: use one of {BUDGETS}")
    path = output_root() / chosen / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a ``with`` block (kernels started inside
    inherit them), then restore the previous values."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
