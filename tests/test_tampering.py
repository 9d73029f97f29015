"""Hostile and broken submissions gain nothing and break nothing.

Unit tests of the static scan (every attack found; no solution or ordinary code flagged), of the
output limits and of the no-partial-credit rule, then one graded course with a crafted submission
per case. Expected scores come from the points of the test cells, never from a run.
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils

from dgm import course, tamper
from dgm.grading import LimitOutputSize, NoPartialCredit

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"


def _nb(*cells):
    """A notebook whose first cell is a locked set-up cell and whose others are solutions."""
    setup = nbformat.v4.new_code_cell("from grader_tests import vae as checks\nimport torch")
    setup.metadata["nbgrader"] = {"locked": True, "grade": False, "solution": False,
                                  "grade_id": "setup", "schema_version": 3}
    test = nbformat.v4.new_code_cell("checks.check(f)")
    test.metadata["nbgrader"] = {"locked": True, "grade": True, "solution": False,
                                 "grade_id": "t", "points": 1, "schema_version": 3}
    sols = []
    for k, src in enumerate(cells):
        c = nbformat.v4.new_code_cell(src)
        c.metadata["nbgrader"] = {"locked": False, "grade": False, "solution": True,
                                  "grade_id": f"s{k}", "schema_version": 3}
        sols.append(c)
    return nbformat.v4.new_notebook(cells=[setup, *sols, test])


ATTACKS = {
    "patch a check": "checks.check_sample = lambda *a, **k: None",
    "patch a check through the package": "import grader_tests.vae\n"
                                         "grader_tests.vae.check_x = print",
    "patch torch": "torch.allclose = lambda *a, **k: True",
    "patch numpy": "import numpy as np\nnp.testing.assert_allclose = print",
    "rebind checks": "class Fake:\n    pass\nchecks = Fake()",
    "import checks under the name": "from math import *\nimport json as checks",
    "setattr": "setattr(checks, 'check_sample', print)",
    "builtins": "__builtins__['len'] = lambda x: 0",
    "exec": "exec('checks.check_sample = print')",
    "code objects": "def f(): pass\nf.__code__ = print.__code__",
    "globals": "globals()['checks'] = None",
    "os": "import os\nos._exit(0)",
    "write a file": "open('../grader_tests/vae.py', 'w').write('')",
    "write with pathlib": "from pathlib import Path\nPath('x').write_text('')",
    "shell escape": "!rm -rf ../grader_tests",
    "magic": "%run evil.py",
    "global inside a function": "def f():\n    global checks\n    checks = None\nf()",
    "an alias of torch": "t = torch\nt.allclose = print",
    "torch imported under another name": "import torch as T\nT.isclose = print",
    "an alias of a submodule": "from torch import testing as tt\ntt.assert_close = print",
}

HARMLESS = [
    "import torch\nfrom torch import nn\nimport torch.nn.functional as F\nimport numpy as np",
    "def f(x):\n    checks = 3\n    torch = x\n    return checks + torch",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(2, 1)\n    def forward(self, x):\n        return self.fc(x)",
    "with open('data.txt') as f:\n    pass\nwith open('data.txt', 'rb') as f:\n    pass",
    "x = [1, 2]\nx[0] = 3\nd = {}\nd['a'] = 1\nprint('All tests passed! 37/37')",
    "from dataclasses import dataclass\nimport math\nvalue = math.log(2)",
    "def step(z, grad):\n    z.grad = grad\n    model = torch.nn.Linear(2, 1)\n"
    "    model.weight.requires_grad = False\n    return z",
]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_scan_finds_every_attack(name):
    findings = tamper.scan(_nb("def f():\n    return 1", ATTACKS[name]))
    assert findings, f"not detected: {name}"
    assert all(f.cell == "s1" for f in findings)


@pytest.mark.parametrize("source", HARMLESS)
def test_scan_accepts_ordinary_code(source):
    assert tamper.scan(_nb(source)) == []


def test_scan_accepts_every_reference_solution():
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        assert tamper.scan(nbformat.read(path, 4)) == [], path.name


def test_scan_reads_cells_a_student_added():
    nb = _nb("def f():\n    return 1")
    nb.cells.insert(2, nbformat.v4.new_code_cell("checks.check = print"))   # no metadata
    assert [f.cell for f in tamper.scan(nb)] == ["cell 3"]


def _graded_cell(outputs):
    cell = nbformat.v4.new_code_cell("checks.check(f)", outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "grade_id": "t", "points": 2, "schema_version": 3}
    return cell


def _result(text):
    return nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)


def test_a_number_shown_by_a_test_cell_is_not_read_as_a_grade():
    # nbgrader alone: a shown number is partial credit, and one above the cell's points makes
    # grading of the whole notebook fail with an exception.
    assert utils.determine_grade(_graded_cell([_result("0.5")]))[0] == 0.5
    with pytest.raises(ValueError, match="greater than maximum"):
        utils.determine_grade(_graded_cell([_result("1000000")]))
    for text in ("0.5", "1000000"):
        nb = nbformat.v4.new_notebook(cells=[_graded_cell([_result(text)])])
        nb, _ = NoPartialCredit().preprocess(nb, {})
        assert utils.determine_grade(nb.cells[0])[0] == 2     # passed: the cell's own points


def test_huge_outputs_are_replaced_by_a_note():
    big_text = nbformat.v4.new_output("stream", name="stdout", text="x" * 5_000_000)
    big_png = nbformat.v4.new_output("display_data", data={"image/png": "A" * 3_000_000})
    small = nbformat.v4.new_output("stream", name="stdout", text="ok\n")
    nb = nbformat.v4.new_notebook(cells=[_graded_cell([big_text, small, big_png])])
    nb, _ = LimitOutputSize().preprocess(nb, {})
    outs = nb.cells[0].outputs
    assert len(outs) == 3 and outs[1].text == "ok\n"
    assert all("was removed" in o.text and len(o.text) < 200 for o in (outs[0], outs[2]))
    assert utils.determine_grade(nb.cells[0])[0] == 2         # a stdout note costs nothing


# ------------------------------------------------------------------------ one graded course ----
def _insert_after(nb, grade_id: str, source: str):
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source += "\n\n" + source
            return nb
    raise KeyError(grade_id)


def _submissions(release_nb, solutions):
    reference = course.filled_submission(release_nb, solutions)
    buggy = course.filled_submission(release_nb, solutions, course.EXAMPLE_BUGS[NAME])
    subs = {
        "reference": reference,
        "buggy": buggy,
        "patches_checks": _insert_after(
            buggy, "sample_diagonal_gaussian",
            "checks.check_sample_diagonal_gaussian = lambda *a, **k: None\n"
            "checks.check_logpdf_bernoulli = lambda *a, **k: None"),
        "patches_torch": _insert_after(
            buggy, "sample_diagonal_gaussian",
            "torch.allclose = lambda *a, **k: True\ntorch.isclose = lambda a, b, **k: a == a"),
        "rebinds_checks": _insert_after(
            buggy, "sample_diagonal_gaussian",
            "class _Pass:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"
            "checks = _Pass()"),
        "writes_files": _insert_after(
            buggy, "sample_diagonal_gaussian",
            "open(checks.__file__, 'a').write('\\n')"),
        "prints_passed": _insert_after(
            buggy, "sample_diagonal_gaussian",
            "print('All tests passed!  37 / 37 points')"),
        "huge_outputs": _insert_after(
            reference, "sample_diagonal_gaussian",
            "from IPython.display import display\nprint('x' * 5_000_000)\n"
            "display({'image/png': 'A' * 100_000_000}, raw=True)"),
    }
    dup = nbformat.from_dict(reference)           # a solution cell pasted twice, same ids
    index = next(i for i, c in enumerate(dup.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "logpdf_bernoulli")
    dup.cells.insert(index + 1, nbformat.from_dict(dup.cells[index]))
    subs["duplicates_a_cell"] = dup
    kernel = nbformat.from_dict(reference)
    kernel.metadata["kernelspec"] = {"name": "python3-from-home", "display_name": "Mine",
                                     "language": "python"}
    subs["wrong_kernel"] = kernel
    deleted = nbformat.from_dict(reference)
    deleted.cells = [c for c in deleted.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") != "logpdf_bernoulli"]
    subs["deletes_a_solution"] = deleted
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course.generate_release(root / "release", names=[NAME], course=root)
    release_nb = nbformat.read(root / "release" / NAME / f"{NAME}.ipynb", 4)
    subs = _submissions(release_nb, course._solution_sources(NAME)[f"{NAME}.ipynb"])
    for student, nb in subs.items():
        target = root / "submitted" / student / NAME / f"{NAME}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    checks_file = ROOT / "grader_tests" / "vae.py"
    before = checks_file.read_bytes()
    course.grade_course(root, [NAME], list(subs))
    assert checks_file.read_bytes() == before        # the hostile code never ran
    return root, {r.student: r for r in course.grade_rows(root)}


@pytest.mark.parametrize("student", ["patches_checks", "patches_torch", "rebinds_checks",
                                     "writes_files"])
def test_tampering_scores_zero_and_says_why(graded, student):
    root, rows = graded
    assert rows["buggy"].auto_score > 0
    assert rows[student].auto_score == 0
    text = html.unescape((root / "feedback" / student / NAME / f"{NAME}.html").read_text())
    assert "TamperingSuspected" in text and "sample_diagonal_gaussian, line" in text


def test_printing_passed_gains_nothing(graded):
    _, rows = graded
    assert rows["prints_passed"].auto_score == rows["buggy"].auto_score < rows["buggy"].auto_max


@pytest.mark.parametrize("student", ["huge_outputs", "duplicates_a_cell", "wrong_kernel"])
def test_graded_fairly_despite(graded, student):
    _, rows = graded
    assert rows[student].auto_score == rows["reference"].auto_score == rows["reference"].auto_max


def test_huge_outputs_stay_out_of_gradebook_and_feedback(graded):
    root, _ = graded
    autograded = root / "autograded" / "huge_outputs" / NAME / f"{NAME}.ipynb"
    feedback = root / "feedback" / "huge_outputs" / NAME / f"{NAME}.html"
    assert autograded.stat().st_size < 3_000_000
    assert feedback.stat().st_size < 4_000_000
    assert "was removed" in feedback.read_text()
    assert (root / "gradebook.db").stat().st_size < 5_000_000


def test_a_deleted_solution_cell_costs_only_its_own_tests(graded):
    _, rows = graded
    row = rows["deletes_a_solution"]
    assert 0 < row.auto_score < row.auto_max


def test_a_cell_marked_locked_by_hand_is_still_scanned():
    nb = _nb("def f():\n    return 1")
    fake = nbformat.v4.new_code_cell("checks.check = print")
    fake.metadata["nbgrader"] = {"locked": True, "solution": False, "grade": False,
                                 "schema_version": 3}     # no grade id: nbgrader removed it
    nb.cells.insert(2, fake)
    assert [f.cell for f in tamper.scan(nb)] == ["cell 3"]
