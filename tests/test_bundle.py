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
import os
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from dgm_staff import course, leaks
from tests.test_release import hidden_lines

ROOT = Path(__file__).resolve().parent.parent
STAFF_ONLY = {"solutions", "grader_tests", "dgm_staff", "derivations", "tests", "scripts",
              "benchmarks", ".ci"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder, archive = course.build_bundle(tmp_path_factory.mktemp("bundle") / "student-bundle",
                                          release=False)
    return folder, archive


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
    assert "[project.optional-dependencies]" not in pyproject and "pytest" not in pyproject


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
            return source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
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


# ------------------------------------------------------------------------ it runs ---------------
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").iterdir()
                                        if p.is_dir()))
def test_a_release_notebook_runs_its_visible_tests_from_the_bundle_alone(bundle, tmp_path, name):
    from nbclient import NotebookClient

    folder, _ = bundle
    path = folder / "notebooks" / name / f"{name}.ipynb"
    solutions = course._solution_sources(name)[f"{name}.ipynb"]
    nb = course.filled_submission(nbformat.read(path, 4), solutions)
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
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    errors = [(k, o.get("ename"), o.get("evalue")) for k, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    assert sys.modules.get("dgm") is None or "student-bundle" not in sys.modules["dgm"].__file__
