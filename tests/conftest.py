"""Shared fixtures: the reference solution, loaded from the solution notebook itself; one
torch thread per core for each pytest worker; and the check that a test which starts a Jupyter
kernel is marked ``nbgrader``."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path


def threads_per_worker(environ=os.environ) -> int | None:
    """Torch threads for one pytest-xdist worker: the cores shared out among the workers
    (``pytest -n 2`` on 2 cores: 1 each). None outside xdist (torch keeps its default)."""
    workers = environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, int(workers)))


# Two workers that each run torch with a thread per core oversubscribe the cores: on 2 cores a
# module of small judged checks ran 1.6x slower than with one thread per worker. The variables
# also reach the kernels and notebooks the tests start (set before torch is imported here; an
# explicit OMP_NUM_THREADS or MKL_NUM_THREADS is kept).
_THREADS = threads_per_worker()
if _THREADS is not None:
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
    os.environ.setdefault("MKL_NUM_THREADS", str(_THREADS))

import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

if _THREADS is not None:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DGM_BUDGET", "smoke")

#: Fixtures that grade a course with nbgrader (a kernel per submission): a test that uses one is
#: marked ``slow`` and ``nbgrader`` wherever it is, so that ``-m "not slow and not nbgrader"``
#: leaves it out. The cells of the solution notebooks that nbval runs (``--nbval-lax
#: solutions``, a kernel per notebook) are marked alike.
GRADING_FIXTURES = {"graded"}


#: The slowest units of work of ``tasks.py test`` (``--dist loadscope``: a module, or a module and
#: parameter, see :func:`scope_of`), slowest first, from its ``--durations`` on 2 cores: they are
#: handed out first, so that no worker is still in one of them when the other runs out of work
#: (xdist's own order, most tests first, handed these out last). The rest keep their order after.
SLOWEST_FIRST = (
    "tests/test_grade_class_cluster.py", "tests/test_tampering.py", "tests/test_bundle.py",
    "tests/test_browser.py", "tests/test_exchange.py", "tests/test_roundtrip.py[06_inversion]",
    "tests/test_roundtrip.py[04_gan]", "tests/test_checks_quiet.py", "tests/test_jupyterhub.py",
    "tests/test_bench.py", "tests/test_derivations.py", "tests/test_roundtrip.py[05_wgan]",
    "tests/test_corpus.py", "tests/test_grade_class.py", "tests/test_robust_grading.py",
    "tests/test_student_outputs.py", "tests/test_roundtrip.py[01_vae]",
    "tests/test_roundtrip.py[02_beta_vae]", "tests/test_roundtrip.py[03_echo]",
    "tests/test_grader_networks.py", "tests/test_device_checks.py", "tests/test_metrics.py",
)


def _module_of(nodeid: str) -> str:
    return nodeid.partition("::")[0]


def pytest_collection_modifyitems(items):
    for item in items:
        if GRADING_FIXTURES & set(getattr(item, "fixturenames", ())) or \
                Path(str(item.path)).suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.nbgrader)
    rank = {unit: k for k, unit in enumerate(SLOWEST_FIRST)}
    # a stable sort: the tests of one unit stay together and in their order
    items.sort(key=lambda item: rank.get(scope_of(item.nodeid, _module_of), len(rank)))


#: Test modules whose tests share a parametrised module-scoped fixture that grades a course per
#: parameter (test_roundtrip: one per notebook). Under ``--dist loadscope`` (``tasks.py test``) a
#: module is one unit of work, so one worker graded all six notebooks while the other ran out of
#: work; here each parameter is a unit of its own (its fixture still runs once).
SPLIT_BY_PARAMETER = {"tests/test_roundtrip.py"}


def scope_of(nodeid: str, default) -> str:
    """The loadscope unit of a test: its module and parameter in :data:`SPLIT_BY_PARAMETER`,
    else what pytest-xdist's ``default(nodeid)`` says (module or class)."""
    module, _, rest = nodeid.partition("::")
    if module in SPLIT_BY_PARAMETER and rest.endswith("]") and "[" in rest:
        return f"{module}[{rest[rest.index('[') + 1:-1]}]"
    return default(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByParameter(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid, super()._split_scope)

    config.option.loadscopereorder = False     # the collection's order: SLOWEST_FIRST first
    return ByParameter(config, log)


# A test not marked ``nbgrader`` must start no Jupyter kernel (the fast loop, ``-m "not slow and
# not nbgrader"``, relies on it). Every IPython kernel creates its profile in IPYTHONDIR when it
# starts, in this process's children and theirs alike (they inherit the environment): during the
# setup, call and teardown of an unmarked test IPYTHONDIR names a folder that does not exist yet,
# and the test fails at teardown if the folder appeared. (An IPython shell run in this process
# creates it too; a child started with an environment of its own is not seen.)
_WATCHED = pytest.StashKey[tuple]()
_watch_root: Path | None = None
_watch_count = itertools.count()


def _kernel_watch_folder() -> Path:
    global _watch_root
    if _watch_root is None:
        _watch_root = Path(tempfile.mkdtemp(prefix="dgm-kernel-watch-"))
    return _watch_root / f"ipython-{next(_watch_count)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("nbgrader") is None:
        folder = _kernel_watch_folder()
        item.stash[_WATCHED] = (folder, os.environ.get("IPYTHONDIR"))
        os.environ["IPYTHONDIR"] = str(folder)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    watched = item.stash.get(_WATCHED, None)
    try:
        result = yield
    finally:
        if watched is not None:
            folder, before = watched
            if before is None:
                os.environ.pop("IPYTHONDIR", None)
            else:
                os.environ["IPYTHONDIR"] = before
    if watched is not None and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"{item.nodeid} started a Jupyter kernel (or an IPython shell: IPython "
                    "created its profile folder) but is not marked nbgrader. Mark it "
                    "@pytest.mark.nbgrader (and @pytest.mark.slow when it takes more than a few "
                    "seconds), so that the fast loop -m \"not slow and not nbgrader\" leaves it "
                    "out; or, if it needs no kernel, find what starts one.", pytrace=False)
    return result


def pytest_unconfigure(config):
    if _watch_root is not None:
        shutil.rmtree(_watch_root, ignore_errors=True)


def solution_cells(assignment: str, notebook: str | None = None) -> dict[str, str]:
    """Source of every nbgrader solution cell of a solution notebook, by grade id."""
    path = ROOT / "solutions" / assignment / f"{notebook or assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def load_reference(assignment: str, names: list[str], namespace: dict | None = None) -> dict:
    """Execute the named solution cells (in notebook order) and return their namespace."""
    cells = solution_cells(assignment)
    ns = {"torch": torch, "nn": nn, **(namespace or {})}
    for gid, source in cells.items():
        if gid in names:
            exec(compile(source, f"<{assignment}:{gid}>", "exec"), ns)  # noqa: S102
    return ns


@pytest.fixture(scope="session")
def vae_reference() -> dict:
    return load_reference("01_vae", ["decoder", "logpdf_diagonal_gaussian", "logpdf_bernoulli",
                                     "sample_diagonal_gaussian", "sample_bernoulli",
                                     "elbo_loss", "sample_data_space", "encode_means",
                                     "interpolation_path"])


@pytest.fixture(scope="session")
def beta_vae_reference() -> dict:
    return load_reference("02_beta_vae", ["kl_diagonal_gaussian", "beta_vae_loss",
                                          "log_aggregate_posterior"],
                          {"Normal": torch.distributions.Normal})


@pytest.fixture(scope="session")
def echo_reference() -> dict:
    return load_reference("03_echo", ["echo_sample", "echo_rate"])


@pytest.fixture(scope="session")
def gan_reference() -> dict:
    return load_reference("04_gan", ["sample_z", "DNet", "GNet", "d_loss", "g_loss"])


@pytest.fixture(scope="session")
def wgan_reference() -> dict:
    return load_reference("05_wgan", ["critic_loss", "generator_loss", "gradient_penalty"])


@pytest.fixture(scope="session")
def inversion_reference() -> dict:
    return load_reference("06_inversion", ["invert", "path_energy", "find_path"])  # noqa: E501
