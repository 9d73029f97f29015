"""Files one notebook saves for another, with their provenance, and checkpoints that resume.

Every file a later notebook reads (notebook 02's rate-distortion points, notebook 04's generator,
its results and loss curves) carries a *provenance* record::

    {"notebook": "04_gan", "budget": "full", "epochs": 30, "config": {...},
     "course_version": "0.2.0", "created": "2026-11-22T14:03:05+00:00",
     "torch": "2.5.1", "device": "cpu"}

Runs at different budgets never share a folder (:func:`dgm.runtime.output_dir` puts them in
``outputs/full/<notebook>`` and ``outputs/smoke/<notebook>``), so pressing *Validate* (which runs
at the smoke budget) cannot replace a full-budget result. A reading notebook calls
:func:`choose_input`, which prints the file it uses, and refuses a file made at another budget or
by another version of the course, saying why; the notebook then falls back on the course's own
copy.

Long training loops (:func:`dgm.training.fit`, :func:`dgm.gan_training.train_gan`,
:func:`dgm.gan_training.train_wgan_gp`) take ``checkpoint=<path>``: they save everything a run
needs after each epoch (weights, optimiser moments, random states, the loss history) and, after an
interruption or a kernel restart, carry on from the last finished epoch with the same result as a
run that was never interrupted. A finished run keeps its checkpoint: running the cell again with
the same settings and the same code loads it instead of training again (and says so); delete the
file, or change a setting, to train again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import random
import types
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

import dgm
from dgm.generator_archive import generator_info
from dgm.runtime import BUDGETS, output_root

#: Version of the provenance record (bump when its fields change meaning).
PROVENANCE_FORMAT = 1


def course_version() -> str:
    """The version of the course package (``dgm.__version__``)."""
    return dgm.__version__


def _plain(value: Any) -> Any:
    """``value`` as JSON data (dataclasses become dicts, tuples lists, devices strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def provenance(notebook: str, config: Any = None, *, budget: str | None = None,
               epochs: int | None = None, device: torch.device | str | None = None,
               **extra: Any) -> dict:
    """The provenance record of a file ``notebook`` saves now.

    ``config`` is the notebook's frozen dataclass of hyper-parameters; ``budget`` and ``epochs``
    default to its ``budget`` and ``epochs`` fields (the environment is not read: the notebook's
    ``cfg`` knows the budget it runs at)."""
    if budget is None:
        budget = getattr(config, "budget", None)
    if not budget:
        raise ValueError(f"provenance({notebook!r}, ...): the run's budget is not known; pass the "
                         "notebook's cfg (its Config has a `budget` field) or budget='full' or "
                         "'smoke'")
    if epochs is None and config is not None:
        epochs = getattr(config, "epochs", None)
    record = {
        "format": PROVENANCE_FORMAT,
        "notebook": notebook,
        "budget": str(budget),
        "epochs": epochs,
        "config": _plain(config) if config is not None else None,
        "course_version": course_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "device": str(device) if device is not None else None,
    }
    record.update(_plain(extra))
    return record


def describe(record: dict | None) -> str:
    """One line a student can read: ``full budget, 30 epochs, course 0.2.0, made 2026-11-22
    14:03 UTC``."""
    if not record:
        return "no provenance recorded"
    parts = [f"{record.get('budget', '?')} budget"]
    if record.get("epochs") is not None:
        parts.append(f"{record['epochs']} epochs")
    parts.append(f"course {record.get('course_version', '?')}")
    created = record.get("created")
    if created:
        try:
            when = datetime.fromisoformat(created).astimezone(timezone.utc)
            parts.append(f"made {when:%Y-%m-%d %H:%M} UTC")
        except ValueError:
            parts.append(f"made {created}")
    return ", ".join(parts)


# ------------------------------------------------------------------------ JSON files ----------
def write_json(path: Path, data: Any, record: dict | None) -> Path:
    """Write ``{"provenance": record, "data": data}`` to ``path`` (``data`` alone when there is no
    ``record``) in one step: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    content = data if record is None else {"provenance": record, "data": data}
    tmp.write_text(json.dumps(content, indent=1))
    tmp.replace(path)
    return path


def read_json(path: Path) -> tuple[Any, dict | None]:
    """``(data, provenance)`` of a file :func:`write_json` wrote; a file from before provenance
    existed (a bare list) gives ``(data, None)``."""
    content = json.loads(Path(path).read_text())
    if isinstance(content, dict) and "provenance" in content and "data" in content:
        return content["data"], content["provenance"]
    return content, None


def read_provenance(path: Path) -> dict | None:
    """The provenance stored in a JSON file or a saved generator (``None`` if it has none)."""
    path = Path(path)
    if path.suffix == ".pt2":
        return generator_info(path).get("provenance")
    return read_json(path)[1]


# ------------------------------------------------------------------------ choosing an input ---
@dataclass(frozen=True)
class Choice:
    """What :func:`choose_input` decided: ``path`` is the file to use, or ``None`` when the
    notebook should use the course's own copy; ``message`` says which and why."""

    path: Path | None
    provenance: dict | None
    message: str

    @property
    def found(self) -> bool:
        return self.path is not None


def why_not(record: dict | None, want: str) -> str | None:
    """Why a file with provenance ``record`` must not be used by a ``want``-budget run (``None``
    when it may be)."""
    if not record:
        return "it has no provenance record (it was saved by an older version of the course)"
    if record.get("budget") != want:
        epochs = record.get("epochs")
        made = f" ({epochs} epochs)" if epochs is not None else ""
        return (f"it was made at the {record.get('budget')} budget{made}, and this is a "
                f"{want}-budget run")
    if record.get("course_version") != course_version():
        return (f"it was made by course version {record.get('course_version')}, and this is "
                f"version {course_version()}")
    return None


def choose_input(notebook: str, filename: str, *, want: str, what: str,
                 verbose: bool = True) -> Choice:
    """Decide whether this run, at budget ``want`` (the notebook's ``cfg.budget``), may use the
    file ``notebook`` saved as ``filename``.

    Only the folder of that budget is looked at; a file there whose provenance names another
    budget, or another course version, is refused. The decision (which file, made how, or why
    none) is printed unless ``verbose`` is false."""
    if want not in BUDGETS:
        raise ValueError(f"choose_input({notebook!r}, {filename!r}): want={want!r} is not a "
                         f"budget; use one of {BUDGETS} (the notebook's cfg.budget)")
    path = output_root() / want / notebook / filename
    if not path.exists():
        others = [b for b in BUDGETS if b != want
                  and (output_root() / b / notebook / filename).exists()]
        extra = (f" (there is one from a {others[0]}-budget run, e.g. Validate, which a "
                 f"{want}-budget run does not use)" if others else "")
        choice = Choice(None, None, f"{what}: notebook {notebook} has not saved one at the {want} "
                                    f"budget yet{extra}")
    else:
        try:
            record = read_provenance(path)
        except Exception as e:  # noqa: BLE001 - a corrupt file is refused with its reason
            choice = Choice(None, None, f"{what}: {path} is not used: it cannot be read "
                                        f"({type(e).__name__}: {e}); re-run notebook {notebook}")
        else:
            problem = why_not(record, want)
            if problem:
                choice = Choice(None, record, f"{what}: {path} is not used: {problem}; re-run "
                                              f"notebook {notebook} at the {want} budget")
            else:
                choice = Choice(path, record, f"{what}: {path} ({describe(record)})")
    if verbose:
        print(choice.message)
    return choice


# ------------------------------------------------------------------------ checkpoints ---------
def code_fingerprint(*functions: Any) -> str:
    """A hash of the source of ``functions`` (and of the methods of classes, or of modules'
    classes) and of the notebook functions they call, followed recursively through globals and
    closures: a checkpoint made by other code is not resumed."""
    seen: set[int] = set()
    digest = hashlib.sha256()

    def source(obj: Any) -> None:
        try:
            digest.update(inspect.getsource(obj).encode())
        except (OSError, TypeError):
            digest.update(str(getattr(obj, "__qualname__", type(obj).__qualname__)).encode())

    def visit(fn: Any) -> None:
        if fn is None or id(fn) in seen:
            return
        seen.add(id(fn))
        if isinstance(fn, torch.nn.Module):
            fn = type(fn)
        if isinstance(fn, type):
            digest.update(fn.__qualname__.encode())
            if fn.__module__.startswith(("torch", "dgm")):
                return
            for member in vars(fn).values():
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, types.FunctionType):
                    visit(member)
            return
        fn = getattr(fn, "__func__", fn)
        if not isinstance(fn, types.FunctionType):
            digest.update(type(fn).__qualname__.encode())
            return
        source(fn)
        scope = fn.__globals__
        for name in _names(fn.__code__):
            if _is_notebook_code(scope.get(name)):
                visit(scope.get(name))
        for cell in fn.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if _is_notebook_code(value) or isinstance(value, torch.nn.Module):
                visit(value)

    for fn in functions:
        visit(fn)
    return digest.hexdigest()[:16]


def _names(code: types.CodeType) -> Iterable[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _is_notebook_code(value: Any) -> bool:
    """A function or class of the notebook (or of a student's own module), not a library's."""
    module = getattr(value, "__module__", None)
    return (isinstance(value, (types.FunctionType, type)) and module is not None
            and not str(module).startswith(("torch", "dgm", "numpy", "builtins")))


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpoint:
    """The per-epoch checkpoint of one training run.

    ``settings`` (epochs, learning rate, seed, ...) and ``code`` (:func:`code_fingerprint`) must
    match for a checkpoint to be resumed; a checkpoint of other settings or other code is left
    alone and the run starts from epoch 1 (and then replaces it)."""

    def __init__(self, path: Path | None, settings: dict, code: str = ""):
        self.path = Path(path) if path is not None else None
        self.key = {"settings": _plain(settings), "code": code,
                    "course_version": course_version()}

    def load(self) -> dict | None:
        """The saved state to resume from, or ``None`` (printing why a file was not used)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - an unreadable checkpoint is not fatal
            print(f"checkpoint {self.path} cannot be read ({type(e).__name__}); starting from "
                  "epoch 1")
            return None
        if state.get("key") != self.key:
            print(f"checkpoint {self.path} is from other settings or other code; starting from "
                  "epoch 1 (it will be replaced)")
            return None
        if state["epoch"] >= self.key["settings"].get("epochs", float("inf")):
            print(f"already trained with these settings and this code: loaded from {self.path} "
                  f"(saved {state.get('saved', '?')}); delete that file to train again")
        else:
            print(f"resuming from {self.path}: epoch {state['epoch']} was the last one finished "
                  f"(saved {state.get('saved', '?')})")
        return state

    def save(self, epoch: int, state: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".partial")
        torch.save({"key": self.key, "epoch": epoch, "rng": _rng_state(),
                    "saved": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), **state},
                   tmp)
        os.replace(tmp, self.path)

    @staticmethod
    def restore_rng(state: dict) -> None:
        _set_rng_state(state["rng"])
