"""Hostile and broken submissions gain nothing and break nothing; ordinary habits cost nothing.

Unit tests of the review scan (every attack reported; no solution or ordinary code reported), of
the output limits and of the no-partial-credit rule, then one graded course with a crafted
submission per attack: each attack is added to the *buggy* submission, so it gains nothing exactly
when it scores no more than the buggy example must (computed from the points of the test cells its
bugs break). The ordinary habits and the harmless oddities (a cell pasted twice, another kernel's
name) go together into one copy of the reference submission, which must keep full marks: each of
them alone would cost a grading of its own, and none of them can make up for another's lost points.
Expected scores come from the points of the test cells, never from a run, so neither the reference
nor the buggy example needs a grading of its own here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbgrader import utils

from dgm_staff import class_records, course_folder, example_students, review
from dgm_staff.pipeline import LimitOutputSize, NoPartialCredit
from tests.helpers import buggy_score, notebook, points, setup_cell, solution_cell, test_cell

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"


def _nb(*cells):
    """A notebook whose first cell is a locked set-up cell and whose others are solutions."""
    return notebook(setup_cell("from grader_tests import vae as checks\nimport torch"),
                    *(solution_cell(src, f"s{k}") for k, src in enumerate(cells)),
                    test_cell("checks.check(f)", "t"))


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
    "subprocess": "import subprocess\nsubprocess.run(['ls'])",
    "import the staff checks": "import grader_tests.vae as g",
    "global inside a function": "def f():\n    global checks\n    checks = None\nf()",
    "an alias of torch": "t = torch\nt.allclose = print",
    "torch imported under another name": "import torch as T\nT.isclose = print",
    "an alias of a submodule": "from torch import testing as tt\ntt.assert_close = print",
}

HARMLESS = [
    "%matplotlib inline\n%time y = 1\n!pip --version",
    "import os\nimport sys\nimport pathlib\nos.environ['X'] = '1'\nsys.path.insert(0, '..')",
    "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (8, 4)",
    "%%time\nz = 1",
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
    findings = review.scan(_nb("def f():\n    return 1", ATTACKS[name]))
    assert findings, f"not detected: {name}"
    assert all(f.cell == "s1" for f in findings)


@pytest.mark.parametrize("source", HARMLESS)
def test_scan_accepts_ordinary_code(source):
    assert review.scan(_nb(source)) == []


def test_scan_accepts_every_reference_solution():
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        assert review.scan(nbformat.read(path, 4)) == [], path.name


def test_scan_reads_cells_a_student_added():
    nb = _nb("def f():\n    return 1")
    nb.cells.insert(2, nbformat.v4.new_code_cell("checks.check = print"))   # no metadata
    assert [f.cell for f in review.scan(nb)] == ["cell 3"]


def _graded_cell(outputs):
    return test_cell("checks.check(f)", "t", points=2, outputs=outputs)


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


PATCHES = {
    "patches_checks": "checks.check_sample_diagonal_gaussian = lambda *a, **k: None\n"
                      "checks.check_logpdf_bernoulli = lambda *a, **k: None",
    "patches_torch": "torch.allclose = lambda *a, **k: True\n"
                     "torch.isclose = lambda a, b, **k: a == a",
    "rebinds_checks": "class _Pass:\n    def __getattr__(self, name):\n"
                      "        return lambda *a, **k: None\nchecks = _Pass()",
    "setattr_alias": "f = setattr\nfor _n in dir(checks):\n    if _n.startswith('check'):\n"
                     "        f(checks, _n, lambda *a, **k: None)",
    "patch_through_parameter": "def q(m):\n    m.check_logpdf_bernoulli = lambda *a, **k: None\n"
                               "    m.check_sample_diagonal_gaussian = m.check_logpdf_bernoulli\n"
                               "q(checks)",
    "vars_dict": "vars(checks)['check_logpdf_bernoulli'] = lambda *a, **k: None\n"
                 "checks.__dict__['check_elbo_loss'] = lambda *a, **k: None",
    "stack_frames": "import sys\nsys.modules['__main__'].__dict__['checks'] = None\n"
                    "sys.setprofile(lambda *a: None)",
    "blank_later_cells": "get_ipython().input_transformers_cleanup.append("
                         "lambda lines: ['pass\\n'])",
    "tensor_subclass": "class T(torch.Tensor):\n    def __eq__(self, o):\n        return True\n"
                       "_old = logpdf_bernoulli\n"
                       "def logpdf_bernoulli(x, p):\n    return _old(x, p).as_subclass(T)",
    "writes_files": "open(checks.__file__, 'a').write('\\n')",
    "imports_staff_checks": "from grader_tests.vae import ref_logpdf_bernoulli\n"
                            "logpdf_bernoulli = ref_logpdf_bernoulli",
    "reads_hidden_tests": "import pathlib\n_found = []\n"
                          f"for _p in [{str(ROOT)!r}, pathlib.Path.cwd().parents[2]]:\n"
                          "    for _pattern in ('solutions/01_vae/*.ipynb', "
                          "'grader_tests/*.py', 'source/01_vae/*.ipynb', 'gradebook.db'):\n"
                          "        _found += [q.read_bytes() for q in "
                          "pathlib.Path(_p).glob(_pattern)]\n"
                          "print(len(_found))",
    "prints_passed": "print('All tests passed!  37 / 37 points')",
    "calls_a_reference": "try:\n    logpdf_bernoulli = checks.ref_logpdf_bernoulli\n"
                         "except AttributeError:\n    pass",
    "imports_staff_package": "try:\n    from dgm_staff import references\n"
                             "    import grader_tests.vae as g\n"
                             "    logpdf_bernoulli = g.ref_logpdf_bernoulli\n"
                             "except ImportError:\n    pass",
    "walks_stack_frames": "import sys\n_f = sys._getframe()\nwhile _f is not None:\n"
                          "    if 'checks' in _f.f_globals:\n"
                          "        _f.f_globals['checks'] = None\n    _f = _f.f_back",
}
#: Ordinary habits: each added to the reference solution, which must keep every point.
HABITS = {
    "magics": "%matplotlib inline\n%time x = 1\n%load_ext autoreload",
    "shell_line": "!python --version",
    "rcparams": "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (8, 4)",
    "os_sys_pathlib": "import os\nimport sys\nfrom pathlib import Path\n"
                      "sys.path.append(os.path.abspath('..'))\nhere = Path.cwd()\n"
                      "os.environ['MY_SETTING'] = '1'",
    "helper_function": "def helper(x):\n    return x * 2\nhelper(3)",
}


def _pasted_twice(nb, grade_id="logpdf_bernoulli"):
    """A solution cell pasted twice, with the same ids."""
    nb = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(index + 1, nbformat.from_dict(nb.cells[index]))
    return nb


def _everyday(reference):
    """The reference submission with every ordinary habit (:data:`HABITS`) in one of its solution
    cells, a cell the student added, a solution cell pasted twice and another kernel's name.
    Should it lose a point, grade each of these alone (``_one_oddity``) to see which one did."""
    nb = _insert_after(reference, "sample_diagonal_gaussian", "\n\n".join(HABITS.values()))
    for oddity in ODDITIES:
        nb = _one_oddity(nb, oddity)
    return nb


#: What a student may do besides the habits, none of which may cost a point.
ODDITIES = ("extra_cell", "duplicates_a_cell", "wrong_kernel")


def _one_oddity(nb, oddity):
    nb = nbformat.from_dict(nb)
    if oddity == "extra_cell":
        nb.cells.insert(3, nbformat.v4.new_code_cell("import numpy as np\nscratch = np.zeros(3)"))
    elif oddity == "duplicates_a_cell":
        nb = _pasted_twice(nb)
    elif oddity == "wrong_kernel":
        nb.metadata["kernelspec"] = {"name": "python3-from-home", "display_name": "Mine",
                                     "language": "python"}
    else:
        raise KeyError(oddity)
    return nb


def _submissions(release_nb, solutions):
    reference = example_students.filled_submission(release_nb, solutions)
    buggy = example_students.filled_submission(release_nb, solutions,
                                               example_students.EXAMPLE_BUGS[NAME])
    subs = {}
    for name, code in PATCHES.items():
        subs[name] = _insert_after(buggy, "sample_diagonal_gaussian", code)
    subs["everyday"] = _everyday(reference)
    subs["huge_outputs"] = _insert_after(
        reference, "sample_diagonal_gaussian",
        "from IPython.display import display\nprint('x' * 5_000_000)\n"
        "display({'image/png': 'A' * 100_000_000}, raw=True)")
    deleted = nbformat.from_dict(reference)
    deleted.cells = [c for c in deleted.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") != "logpdf_bernoulli"]
    subs["deletes_a_solution"] = deleted
    return subs


def test_the_everyday_submission_holds_every_habit_and_oddity():
    """What the graded test below relies on: each habit's code, the added cell, the pasted cell
    and the kernel's name are all in the one submission."""
    release_nb = nbformat.read(ROOT / "notebooks" / NAME / f"{NAME}.ipynb", 4)
    reference = example_students.filled_submission(
        release_nb, course_folder.solution_sources(NAME)[f"{NAME}.ipynb"])
    nb = _everyday(reference)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert all(habit in code for habit in HABITS.values())
    assert "scratch = np.zeros(3)" in code
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count("logpdf_bernoulli") == 2
    assert nb.metadata["kernelspec"]["name"] == "python3-from-home"
    assert len(nb.cells) == len(reference.cells) + 2


#: The part of the notebook the hostile cases are graded on: its budget and set-up cells, then the
#: graded functions from FIRST to LAST with their visible and hidden tests (the buggy example's
#: two bugs, and the cell after which every case is inserted, lie in between). The written
#: answers, the decoder and the training and figure cells come before the insertion point or after
#: every test a case could pass, and would only make each of the 19 gradings slower.
FIRST, LAST = "logpdf_diagonal_gaussian", "test_elbo_hidden"


def _graded_part(source_nb):
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in source_nb.cells]
    start, end = ids.index(FIRST), ids.index(LAST)
    head = [c for c, gid in zip(source_nb.cells[:start], ids[:start]) if gid in (None, "setup")]
    part = nbformat.from_dict(source_nb)
    part.cells = head + source_nb.cells[start:end + 1]
    return part


def test_the_graded_part_holds_the_bugs_and_the_insertion_point():
    part = _graded_part(nbformat.read(ROOT / "solutions" / NAME / f"{NAME}.ipynb", 4))
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in part.cells]
    assert ids.index("setup") < ids.index("sample_diagonal_gaussian") < \
        ids.index("test_sample_gaussian_hidden")
    assert set(example_students.EXAMPLE_BUGS[NAME]) <= set(ids)
    assert "train" not in ids and "decoder" not in ids


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    # nbgrader's own layout (source/ in the course folder), which reads_hidden_tests looks for
    source = root / "source"
    part = _graded_part(nbformat.read(ROOT / "solutions" / NAME / f"{NAME}.ipynb", 4))
    (source / NAME).mkdir(parents=True)
    nbformat.write(part, source / NAME / f"{NAME}.ipynb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(course_folder, "solutions_dir", lambda: source)
        course_folder.generate_release(root / "release", names=[NAME], course=root)
        release_nb = nbformat.read(root / "release" / NAME / f"{NAME}.ipynb", 4)
        subs = _submissions(release_nb, course_folder.solution_sources(NAME)[f"{NAME}.ipynb"])
        for student, nb in subs.items():
            target = root / "submitted" / student / NAME / f"{NAME}.ipynb"
            target.parent.mkdir(parents=True)
            nbformat.write(nb, target)
        watched = [ROOT / "grader_tests" / "vae.py", ROOT / "dgm" / "checks" / "vae.py"]
        before = [p.read_bytes() for p in watched]
        class_records.grade_course(root, [NAME], list(subs))
        assert [p.read_bytes() for p in watched] == before  # nothing reached the course's files
    return root, {r.student: r for r in class_records.grade_rows(root)}


def _part_points(root):
    """The part's maximum, and what the buggy example scores on it (from the test cells' points:
    the attacks are compared with it, not with a grading of the buggy example itself)."""
    part = nbformat.read(root / "source" / NAME / f"{NAME}.ipynb", 4)
    return sum(points(part).values()), buggy_score(part, NAME)


@pytest.mark.parametrize("student", sorted(PATCHES))
def test_hostile_code_with_a_wrong_answer_gains_nothing(graded, student):
    root, rows = graded
    most, buggy = _part_points(root)
    assert 0 < buggy < most == rows[student].auto_max
    assert rows[student].auto_score <= buggy


def test_ordinary_habits_and_harmless_oddities_keep_every_point(graded):
    root, rows = graded
    most, _ = _part_points(root)
    assert rows["everyday"].auto_score == rows["everyday"].auto_max == most, (
        f"the reference with {', '.join([*HABITS, *ODDITIES])} lost points: grade each alone "
        "(_insert_after / _one_oddity) to find which one")


def test_the_review_scan_reports_patches_but_costs_no_points(graded):
    root, rows = graded
    autograded = nbformat.read(root / "autograded" / "setattr_alias" / NAME / f"{NAME}.ipynb", 4)
    assert any("setattr" in f for f in autograded.metadata.get("dgm_review", []))
    everyday = nbformat.read(root / "autograded" / "everyday" / NAME / f"{NAME}.ipynb", 4)
    assert everyday.metadata.get("dgm_review") == []      # magics, os, sys, an added cell ...


def test_the_sandbox_hides_the_grader_files(graded):
    from dgm_staff import sandbox

    if not sandbox.available():
        pytest.skip("user namespaces are not available here: kernels run unconfined")
    root, _ = graded
    autograded = nbformat.read(root / "autograded" / "reads_hidden_tests" / NAME / f"{NAME}.ipynb",
                               4)
    printed = [o.get("text", "") for c in autograded.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert "0\n" in printed, printed   # neither the repository nor the course folder was readable


def test_graded_fairly_despite_huge_outputs(graded):
    root, rows = graded
    most, _ = _part_points(root)
    assert rows["huge_outputs"].auto_score == rows["huge_outputs"].auto_max == most


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


def test_a_cell_marked_locked_by_hand_is_still_reviewed():
    nb = _nb("def f():\n    return 1")
    fake = nbformat.v4.new_code_cell("checks.check = print")
    fake.metadata["nbgrader"] = {"locked": True, "solution": False, "grade": False,
                                 "schema_version": 3}     # no grade id: nbgrader removed it
    nb.cells.insert(2, fake)
    assert [f.cell for f in review.scan(nb)] == ["cell 3"]
