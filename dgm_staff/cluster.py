"""The engine behind :mod:`dgm_staff.grade_class`: Dask distributed, embedded by default.

* **Embedded** (the default): a ``LocalCluster`` of ``workers`` processes with one thread each
  on 127.0.0.1, started and stopped by the command.
* **A cluster** (``--scheduler tcp://HOST:PORT``): the work goes to the workers of a running Dask
  scheduler. A worker needs only the course environment (``dask worker tcp://HOST:PORT
  --nthreads 1`` there); nothing is shared with the client but the bytes of each task and reply
  (:func:`dgm_staff.grade_class.grade_submission`).
* ``workers=0``: in this process, one submission at a time (for debugging).

**Faults.** A worker that dies while grading (``kill -9``, memory, a kernel that kills the
process that started it) has its task run again on another worker: the scheduler is told to
allow :data:`ALLOWED_FAILURES` such deaths per task (``distributed.scheduler.allowed-failures``)
and to hand each single-threaded worker one task at a time (``worker-saturation`` 1.0), so that
a death is counted against the task that was running only. A submission that kills its worker
process twice ends as ``KilledWorker`` and is reported "kernel died"; the batch goes on.

**Nothing lost, nothing counted twice.** Each reply is stored in ``OUT/results/`` as it arrives
(:class:`ResultStore`, one file per submission, written atomically), keyed by the submission's
bytes and the course version; the client alone writes the master gradebook, once per submission,
in a fixed order, after every reply is in. An interrupted client run again grades only the
submissions without a stored reply.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Callable

#: Worker deaths a task may cause before it is reported: a submission that kills its worker
#: twice is reported "kernel died" (the scheduler allows ``ALLOWED_FAILURES`` deaths, so the
#: second ends the task).
ALLOWED_FAILURES = 1

#: Assignments whose grading trains networks: with ``--resources GPU=1``, their tasks ask for a
#: GPU where any worker offers one.
GPU_ASSIGNMENTS = ("04_gan", "05_wgan", "06_inversion")

KERNEL_DIED = ("the grading worker process died twice while running this submission (a kernel "
               "that kills the process that started it, or runs it out of memory): not graded, "
               "every test scores 0")


# ------------------------------------------------------------------------ stored replies ------
def task_key(task: dict) -> str:
    """What a stored reply answers: the submission's bytes, the course version, the limits."""
    h = hashlib.sha256()
    for part in (task["student"], task["assignment"], task.get("course") or "",
                 str(task.get("cell_timeout"))):
        h.update(part.encode() + b"\0")
    for name, data in sorted(task["files"].items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:20]


class ResultStore:
    """``OUT/results/<student>__<assignment>.pkl``: one reply per submission, written atomically
    (a temporary file, then a rename) as soon as it arrives. Delete the folder, or pass
    ``restart=True`` (``--restart``), to grade everything again."""

    def __init__(self, folder: Path, restart: bool = False):
        self.folder = Path(folder)
        if restart and self.folder.exists():
            for path in self.folder.glob("*.pkl"):
                path.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, task: dict) -> Path:
        return self.folder / f"{task['student']}__{task['assignment']}.pkl"

    def get(self, task: dict) -> dict | None:
        """The stored reply to ``task``, or None (none, another submission, or unreadable)."""
        path = self.path(task)
        try:
            stored = pickle.loads(path.read_bytes())
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
            return None
        return stored["reply"] if stored.get("key") == task_key(task) else None

    def put(self, task: dict, reply: dict) -> None:
        path = self.path(task)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps({"key": task_key(task), "reply": reply}))
        os.replace(tmp, path)


# ------------------------------------------------------------------------ the cluster ---------
def _tune_scheduler(dask_scheduler=None) -> None:
    """Run on the scheduler: count a worker's death against the task it was running only."""
    dask_scheduler.allowed_failures = ALLOWED_FAILURES
    dask_scheduler.WORKER_SATURATION = 1.0


def _dashboard_available() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def connect(workers: int = 2, scheduler: str | None = None):
    """A ``distributed.Client``: to ``scheduler`` (``tcp://host:port``), or to an embedded
    ``LocalCluster`` of ``workers`` single-threaded processes on 127.0.0.1."""
    import dask
    from distributed import Client, LocalCluster

    settings = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                "distributed.scheduler.worker-saturation": 1.0,
                # nbgrader starts kernels as subprocesses (fine in a daemonic process); a kernel's
                # own multiprocessing needs a non-daemonic parent
                "distributed.worker.daemon": False}
    with dask.config.set(settings):
        if scheduler:
            if "://" not in scheduler:
                raise SystemExit(f"--scheduler {scheduler}: give the scheduler's address as "
                                 "tcp://HOST:PORT (what `dask scheduler` prints)")
            try:
                client = Client(scheduler, timeout="30s")
            except OSError as e:
                raise SystemExit(f"no Dask scheduler answered at {scheduler} ({e}); start one "
                                 "with `dask scheduler` and workers with `dask worker "
                                 f"{scheduler} --nthreads 1`") from None
            try:
                try:
                    client.run_on_scheduler(_tune_scheduler)
                except Exception:  # noqa: BLE001 - a scheduler without the course environment
                    print(f"the scheduler at {scheduler} could not be set to report a submission "
                          "that kills its worker twice (it lacks the course environment): start "
                          "it with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 and "
                          "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0", file=sys.stderr)
                yield client
            finally:
                client.close()
            return
        dashboard = "127.0.0.1:0" if _dashboard_available() else None
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=dashboard,
                          silence_logs=logging.CRITICAL) as local, Client(local) as client:
            client.run_on_scheduler(_tune_scheduler)
            yield client


def _workers_by_host(client) -> dict[str, int]:
    counts: dict[str, int] = {}
    for address in client.scheduler_info(n_workers=-1)["workers"]:
        host = address.split("://")[-1].rsplit(":", 1)[0]
        counts[host] = counts.get(host, 0) + 1
    return counts


def _offers(client, resources: dict[str, float]) -> bool:
    """Whether any worker advertises every resource in ``resources``."""
    return any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items())
               for w in client.scheduler_info(n_workers=-1)["workers"].values())


def dashboard_link(client) -> str | None:
    if not _dashboard_available():
        return None
    with contextlib.suppress(Exception):
        port = client.scheduler_info()["services"].get("dashboard")
        if port:
            return client.dashboard_link
    return None


def run(grade_submission: Callable[[dict], dict], tasks: list[dict], store: ResultStore, *,
        workers: int = 2, scheduler: str | None = None,
        resources: dict[str, float] | None = None, progress: bool = True,
        log=print) -> dict[tuple[str, str], dict]:
    """Replies to every task, by (student, assignment): the stored ones, and the others graded
    on the cluster by ``grade_submission(task)`` (each stored as it arrives). Dask sends the
    function to the workers by name, so it must be importable there (a module's top-level
    function, such as :func:`dgm_staff.grade_class.grade_submission`). A ``KeyboardInterrupt``
    leaves the stored ones for the next run."""
    from tqdm.auto import tqdm

    replies, todo = {}, []
    for task in tasks:
        reply = store.get(task)
        if reply is None:
            todo.append(task)
        else:
            replies[(task["student"], task["assignment"])] = reply
    if replies:
        log(f"resuming: {len(replies)} of {len(tasks)} submissions already graded (stored in "
            f"{store.folder}; --restart grades them again); grading the other {len(todo)}",
            flush=True)
    if not todo:
        return replies
    bar = tqdm(total=len(todo), desc="grading", unit="submission", disable=not progress,
               smoothing=0.1)

    def done(task: dict, reply: dict) -> None:
        store.put(task, reply)
        replies[(task["student"], task["assignment"])] = reply
        bar.update()

    try:
        if workers <= 0 and not scheduler:
            for task in todo:
                done(task, _guarded(grade_submission, task))
            return replies
        with connect(workers, scheduler) as client:
            link = dashboard_link(client)
            if link:
                log(f"Dask dashboard: {link}", flush=True)
            if scheduler:
                client.wait_for_workers(1, timeout=120)
            hosts = _workers_by_host(client)
            threads = None if scheduler else max(1, (os.cpu_count() or workers) // workers)
            gpu = bool(resources) and _offers(client, resources)
            if resources and not gpu:
                log(f"no worker offers {resources}: every task runs without it", flush=True)
            from distributed import as_completed

            futures = {}
            for task in todo:
                payload = {**task, "threads": threads, "workers_on_host": hosts}
                wants = resources if gpu and task["assignment"] in GPU_ASSIGNMENTS else None
                future = client.submit(grade_submission, payload, pure=False, resources=wants,
                                       key=f"grade-{task['student']}__{task['assignment']}-"
                                           f"{task_key(task)[:8]}-{os.getpid()}-{time.time_ns()}")
                futures[future] = task
            for future in as_completed(futures):
                done(futures[future], _reply_of(future))
    finally:
        bar.close()
    return replies


def _reply_of(future) -> dict:
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        return {"status": "kernel died", "detail": KERNEL_DIED, "seconds": 0.0}
    except Exception as e:  # noqa: BLE001 - one submission fails, the batch goes on
        return {"status": "failed to execute", "seconds": 0.0,
                "detail": f"{type(e).__name__}: {str(e)[:300]}"}


def _guarded(fn, task: dict) -> dict:
    try:
        return fn(task)
    except Exception as e:  # noqa: BLE001 - one submission fails, the batch goes on
        return {"status": "failed to execute", "seconds": 0.0,
                "detail": f"{type(e).__name__}: {str(e)[:300]}"}


def parse_resources(text: str | None) -> dict[str, float] | None:
    """``"GPU=1"`` (or ``"GPU=1,MEM=2"``) -> ``{"GPU": 1.0}``."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise SystemExit(f"--resources {text}: write NAME=AMOUNT, e.g. GPU=1")
    return out


if __name__ == "__main__":
    sys.exit("use python -m dgm_staff.grade_class")
