"""The student bundle: only what students need, no answer in any form, and enough to run.

* Its files: the release notebooks, the student package ``dgm`` and the files that install it
  (no solutions, staff checks, references, derivations, grading engine or benchmarks).
* No graded definition of ``solutions/`` appears in it, renamed or pasted into other code
  (:mod:`dgm_staff.leaks`, normalised syntax trees), and no callable of the student package passes
  the hidden grading check of a graded function (a drop-in answer, whatever its source).
* No hidden test line, written-answer formula or written-answer name is in it.
* Every release notebook, filled in with the reference answers, runs its visible tests with the
  bundle alone on the kernel's path.
The leak finder is proven both ways: it finds planted copies, and passes ordinary code.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from dgm.manifest import BEGIN_SOLUTION, END_SOLUTION
from dgm_staff import course_folder, example_students, student_bundle, leaks
from tests.helpers import hidden_lines

ROOT = Path(__file__).resolve().parent.parent
#: What an environment like Colab lacks, and the bundle must therefore not ask for.
EXCLUDED = ("nbgrader", "jupyterlab", "distributed", "hypothesis")
STAFF_ONLY = {"solutions", "grader_tests", "dgm_staff", "derivations", "tests", "scripts",
              "benchmarks", ".ci"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder, archive = student_bundle.build_bundle(
        tmp_path_factory.mktemp("bundle") / "student-bundle", release=False)
    return folder, archive


def _errors_of_run(client, env: dict) -> list:
    """Execute ``client``'s notebook with exactly the environment ``env`` (the kernel inherits
    it); the errors its cells raised, as (cell, name, value)."""
    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return [(k, o.get("ename"), o.get("evalue")) for k, c in enumerate(client.nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def test_the_bundle_holds_only_student_files(bundle):
    folder, archive = bundle
    top = {p.name for p in folder.iterdir()}
    assert top == {"notebooks", "dgm", "environment.yml", "constraints.txt", "pyproject.toml",
                   "README.md"}
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert not {part for f in files for part in Path(f).parts} & STAFF_ONLY
    assert {f"notebooks/{p.relative_to(ROOT / 'notebooks').as_posix()}"
            for p in (ROOT / "notebooks").glob("*/*.ipynb")} <= files
    with zipfile.ZipFile(archive) as zf:
        assert {n.split("/", 1)[1] for n in zf.namelist()} == files
    pyproject = (folder / "pyproject.toml").read_text()
    assert "pytest" not in pyproject and "[tool.pytest" not in pyproject
    import tomllib

    project = tomllib.loads(pyproject)["project"]
    assert project["optional-dependencies"] == {"local": ["jupyterlab>=4.2", "nbgrader==0.9.6"]}
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in project["dependencies"]}
    assert {"torch", "torchvision", "ipykernel"} <= names
    assert not names & (set(EXCLUDED) | {"jupyter-server-mathjax"})


def test_colab_links_point_at_every_notebook_of_the_repository_set(tmp_path):
    folder, _ = student_bundle.build_bundle(
        tmp_path / "b", release=False, colab_repo="https://github.com/teacher/dgm-course/tree/2026")
    readme = (folder / "README.md").read_text()
    for path in sorted((folder / "notebooks").glob("*/*.ipynb")):
        rel = path.relative_to(folder).as_posix()
        assert (f"https://colab.research.google.com/github/teacher/dgm-course/blob/2026/{rel}"
                in readme), rel
    plain, _ = student_bundle.build_bundle(tmp_path / "c", release=False)
    assert "colab.research.google.com" not in (plain / "README.md").read_text()
    with pytest.raises(ValueError, match="not a GitHub repository address"):
        student_bundle.colab_links("https://gitlab.com/teacher/dgm-course", [])


def test_the_bundle_holds_no_graded_definition_statement_or_formula(bundle):
    folder, _ = bundle
    found = leaks.find_leaks(folder)
    assert found == [], "\n".join(map(str, found))


def test_no_callable_of_the_student_package_is_a_drop_in_answer():
    found = leaks.drop_in_answers("dgm")
    assert found == [], "\n".join(map(str, found))


def test_the_bundle_holds_no_hidden_test_line(bundle):
    folder, _ = bundle
    text = "\n".join(p.read_text(errors="replace") for p in folder.rglob("*")
                     if p.is_file() and p.suffix in (".py", ".ipynb", ".md", ".toml", ".yml"))
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for line in hidden_lines(nbformat.read(path, 4)):
            assert line not in text, f"hidden test line of {path.name} in the bundle: {line}"


# ------------------------------------------------------------------------ the finder itself ----
def _fake_bundle(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


ORDINARY = '''
import torch

def moving_average(values, window=10):
    out = []
    for k in range(len(values)):
        chunk = values[max(0, k - window + 1): k + 1]
        out.append(sum(chunk) / len(chunk))
    return out

def to_device(x, device):
    return x.to(device)
'''


class _Rename(ast.NodeTransformer):
    """Every name, argument and the definition's own name gets a new spelling."""

    def visit_Name(self, node):
        node.id = f"renamed_{node.id}"
        return node

    def visit_arg(self, node):
        node.arg = f"renamed_{node.arg}"
        return node

    def visit_FunctionDef(self, node):
        node.name = f"renamed_{node.name}"
        self.generic_visit(node)
        return node


def _graded_def(grade_id: str) -> ast.FunctionDef:
    for _, gid, source in leaks._solution_cells(ROOT / "solutions"):
        if gid == grade_id:
            return next(d for d in ast.parse(source).body if isinstance(d, ast.FunctionDef))
    raise KeyError(grade_id)


def _planted() -> dict[str, str]:
    """Copies of the reference answers as a student package could hide them."""
    renamed = _Rename().visit(_graded_def("logpdf_bernoulli"))
    imports = "import torch as renamed_torch\n\n"
    longest = max(leaks.statements(_graded_def("kl_diagonal_gaussian")), key=leaks.size)
    pasted = ("def training_summary(mu, sigma_square, losses):\n"
              "    print(sum(losses) / len(losses))\n"
              f"    {ast.unparse(longest)}\n")
    formula = next(e for e in ast.walk(ast.parse(_answer_source("answer_d", "03_echo")))
                   if isinstance(e, ast.BinOp) and leaks.size(e) >= leaks.MIN_FORMULA_NODES)
    return {"dgm/a.py": imports + ast.unparse(renamed), "dgm/b.py": "import torch\n" + pasted,
            "dgm/c.py": f"helper_value = {ast.unparse(formula)}\n",
            "dgm/d.py": 'ANSWERS = {"elbo_choice": "A"}\n', "dgm/ok.py": ORDINARY}


def _answer_source(grade_id: str, notebook: str) -> str:
    for nb_name, gid, source in leaks._solution_cells(ROOT / "solutions"):
        if gid == grade_id and nb_name == notebook:
            return source.split(BEGIN_SOLUTION)[1].split(END_SOLUTION)[0]
    raise KeyError(grade_id)


def test_the_finder_catches_copies_renamed_or_pasted(tmp_path):
    folder = _fake_bundle(tmp_path, _planted())
    found = {(leak.kind, leak.where) for leak in leaks.find_leaks(folder)}
    assert ("definition", "dgm/a.py") in found
    assert ("statement", "dgm/b.py") in found
    assert ("formula", "dgm/c.py") in found
    assert ("answer name", "dgm/d.py") in found
    assert not {where for _, where in found} & {"dgm/ok.py"}


def test_the_finder_reads_notebook_cells(tmp_path):
    copy = _planted()["dgm/a.py"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%matplotlib inline\n" + copy)])
    nb_path = tmp_path / "notebooks" / "x" / "x.ipynb"
    nb_path.parent.mkdir(parents=True)
    nbformat.write(nb, nb_path)
    found = leaks.find_leaks(tmp_path)
    assert "definition" in {leak.kind for leak in found}
    assert {leak.where for leak in found} == {"notebooks/x/x.ipynb cell 0"}


def test_the_drop_in_search_finds_a_helper_that_computes_an_answer(tmp_path, monkeypatch):
    package = tmp_path / "helpers_with_answers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "codes.py").write_text(
        "import torch\n\n\ndef codes(n, zdim, device='cpu', generator=None):\n"
        "    u = torch.empty(n, zdim).uniform_(-1, 1, generator=generator)\n"
        "    return u.to(device)\n\n\n"
        "def loss(d_net, g_net, real, z):\n"
        "    import torch.nn.functional as F\n"
        "    a, b = d_net(real), d_net(g_net(z).detach())\n"
        "    return F.binary_cross_entropy_with_logits(a, torch.ones_like(a)) + \\\n"
        "        F.binary_cross_entropy_with_logits(b, torch.zeros_like(b))\n\n\n"
        "def normal(n, zdim, device='cpu'):\n    return torch.randn(n, zdim, device=device)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {(leak.answer, leak.where) for leak in leaks.drop_in_answers("helpers_with_answers")}
    assert ("04_gan/sample_z", "helpers_with_answers.codes.codes") in found
    assert ("04_gan/d_loss", "helpers_with_answers.codes.loss") in found
    assert not any(where.endswith(".normal") for _, where in found)


def test_the_drop_in_search_starts_no_process(tmp_path, monkeypatch):
    """A helper that starts a process (the student launcher dgm.lab starts a JupyterLab and waits
    for it) is called by the search with the checks' inputs: no process may start, or the search
    would wait for a server forever."""
    import subprocess

    package = tmp_path / "helpers_that_launch"
    package.mkdir()
    (package / "__init__.py").write_text("")
    marks = tmp_path / "marks"
    marks.mkdir()
    (package / "launch.py").write_text(
        "import os\nimport subprocess\nimport sys\n\n\n"
        f"MARKS = {str(marks)!r}\n\n\n"
        "def launch(*args):\n"
        "    subprocess.call([sys.executable, '-c',\n"
        "                     f'open({MARKS!r} + \"/popen\", \"w\").close()'])\n\n\n"
        "def shell(*args):\n"
        "    os.system(f'touch {MARKS}/system')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    popen = subprocess.Popen
    found = leaks.drop_in_answers("helpers_that_launch")
    assert found == []
    assert sorted(p.name for p in marks.iterdir()) == [], "a candidate started a process"
    assert subprocess.Popen is popen, "the search left subprocess.Popen replaced"


# ------------------------------------------------------------------------ it runs ---------------
@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").iterdir()
                                        if p.is_dir()))
def test_a_release_notebook_runs_its_visible_tests_from_the_bundle_alone(bundle, tmp_path, name):
    from nbclient import NotebookClient

    folder, _ = bundle
    path = folder / "notebooks" / name / f"{name}.ipynb"
    solutions = course_folder.solution_sources(name)[f"{name}.ipynb"]
    nb = example_students.filled_submission(nbformat.read(path, 4), solutions)
    graded = [k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")]
    nb.cells = nb.cells[: graded[-1] + 1]           # up to the last test; not the training runs
    probe = nbformat.v4.new_code_cell(
        "import importlib.util, dgm\n"
        f"assert dgm.__file__.startswith({str(folder)!r}), dgm.__file__\n"
        "for staff in ('grader_tests', 'dgm_staff', 'derivations'):\n"
        "    assert importlib.util.find_spec(staff) is None, staff\n")
    nb.cells.insert(0, probe)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    from dgm.data import data_root

    env.update(PYTHONPATH=str(folder), DGM_BUDGET="smoke", DGM_OUTPUT=str(tmp_path / "outputs"),
               DGM_DATA=str(data_root()))
    assert _errors_of_run(NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}}),
                          env) == []
    assert sys.modules.get("dgm") is None or "student-bundle" not in sys.modules["dgm"].__file__


# ------------------------------------------------------------------------ preinstalled torch ----
def _dist_name(entry: str) -> str:
    return re.sub(r"[-_.]+", "-", entry.removesuffix(".dist-info").rsplit("-", 1)[0]).lower()


@pytest.fixture(scope="module")
def preinstalled(tmp_path_factory):
    """A fresh environment that already has this machine's torch, torchvision and the rest of
    the scientific stack (as Colab has), but no nbgrader, JupyterLab or staff tools: a venv
    whose site-packages links every installed distribution of this one except those."""
    env = tmp_path_factory.mktemp("preinstalled") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True,
                   timeout=120)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    target = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                  "get_paths()['purelib'])"], capture_output=True, text=True,
                                 check=True).stdout.strip())
    source = Path(sysconfig.get_paths()["purelib"])
    hidden = set(EXCLUDED) | {"jupyter-server-mathjax", "dgm-course"}
    dropped_tops = set()
    for entry in source.glob("*.dist-info"):
        if _dist_name(entry.name) in hidden:
            top = entry / "top_level.txt"
            dropped_tops |= set(top.read_text().split()) if top.exists() else set()
            dropped_tops.add(_dist_name(entry.name).replace("-", "_"))
    for entry in source.iterdir():
        if entry.name.endswith(".dist-info") and _dist_name(entry.name) in hidden:
            continue
        if entry.name.split(".")[0] in dropped_tops or entry.suffix == ".pth" \
                or entry.name.startswith("__editable__") or entry.name == "dgm":
            continue
        (target / entry.name).symlink_to(entry)
    assert (target / "torch").exists() and not (target / "nbgrader").exists()
    return python


def _pip(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """This environment's pip, installing into ``python``'s environment, offline."""
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-index", "--no-build-isolation", "--disable-pip-version-check",
                           *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_bundle_installs_over_an_existing_torch_and_pulls_no_staff_tool(bundle, preinstalled,
                                                                             tmp_path):
    folder = shutil.copytree(bundle[0], tmp_path / "student-bundle")
    run = _pip(preinstalled, folder, "--dry-run", "--report", str(tmp_path / "r.json"), ".")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    installs = [i["metadata"]["name"] for i in json.loads((tmp_path / "r.json").read_text())
                ["install"]]
    assert installs == ["dgm-course"], f"pip would also install {installs}"
    # both ways: the [local] extra asks for what this environment lacks (offline, pip says so)
    run = _pip(preinstalled, folder, "--dry-run", ".[local]")
    assert run.returncode != 0 and re.search(r"nbgrader|jupyterlab", run.stderr), run.stderr


@pytest.mark.nbgrader
@pytest.mark.slow
def test_notebook_01_runs_at_the_smoke_budget_with_the_bundle_installed(bundle, preinstalled,
                                                                        tmp_path):
    from nbclient import NotebookClient

    folder = shutil.copytree(bundle[0], tmp_path / "student-bundle")
    run = _pip(preinstalled, folder, "--no-deps", ".")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    where = subprocess.run([str(preinstalled), "-c", "import dgm, torch; print(dgm.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert where.returncode == 0 and str(folder) not in where.stdout, where.stderr
    kernels = tmp_path / "jupyter" / "kernels" / "bundle"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(preinstalled), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "bundle", "language": "python"}))
    name = "01_vae"
    work = tmp_path / "work"
    work.mkdir()
    nb = example_students.filled_submission(
        nbformat.read(folder / "notebooks" / name / f"{name}.ipynb", 4),
        course_folder.solution_sources(name)[f"{name}.ipynb"])
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import importlib.util, sys\n"
        f"assert sys.executable == {str(preinstalled)!r}, sys.executable\n"
        "for staff in ('nbgrader', 'jupyterlab', 'grader_tests', 'dgm_staff'):\n"
        "    assert importlib.util.find_spec(staff) is None, staff\n"))
    from dgm.data import data_root

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(DGM_BUDGET="smoke", DGM_OUTPUT=str(tmp_path / "outputs"), DGM_DATA=str(data_root()),
               JUPYTER_PATH=str(tmp_path / "jupyter"))
    assert _errors_of_run(NotebookClient(nb, timeout=600, kernel_name="bundle",
                                         resources={"metadata": {"path": str(work)}}), env) == []
