"""What the class got wrong: which check and which mistake, read from autograded notebooks."""

from __future__ import annotations

import csv

import nbformat
import pytest

from dgm_staff import mistakes
from dgm_staff.mistakes import NOT_ATTEMPTED, normalise


def _error(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"{ename}: {evalue}"])


def _verdict(what, problem, hint="do it right"):
    """The error output the judge writes for a CheckFailed (see dgm.checks.common.CheckFailed)."""
    return _error("CheckFailed", f"{what}: {problem}\n  How to fix: {hint}")


def _test_cell(grade_id, outputs=(), points=1):
    cell = nbformat.v4.new_code_cell(f"checks.{grade_id}()", outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "grade_id": grade_id, "points": points}
    return cell


def _notebook(cells):
    solution = nbformat.v4.new_code_cell("def d_loss(): ...")
    solution.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                     "grade_id": "d_loss"}
    return nbformat.v4.new_notebook(cells=[solution, *cells])


def _class(tmp_path, notebooks: dict[str, list]):
    """``autograded/<student>/04_gan/04_gan.ipynb`` for each student's test cells."""
    root = tmp_path / "autograded"
    for student, cells in notebooks.items():
        folder = root / student / "04_gan"
        folder.mkdir(parents=True)
        nbformat.write(_notebook(cells), folder / "04_gan.ipynb")
    return root


@pytest.mark.parametrize("problem, identity", [
    # the same mistake with the student's own values reads the same
    ("returned 0.12345, expected BCE[D(x),1] + BCE[D(G(z)),0] = 1.38629",
     "returned #, expected BCE[D(x),#] + BCE[D(G(z)),#] = #"),
    ("returned [nan, -inf, 3e-07] for samples far from every component",
     "returned [#, …] for samples far from every component"),
    ("returned shape (64, 784), expected (64,)", "returned shape (#, …), expected (#,)"),
    # a crash keeps its exception type, not its message (which names the student's shapes)
    ("raised RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x20 and 784x400) "
     "(called with (64, 784))", "raised RuntimeError"),
    ("backward() through the returned value raised RuntimeError: element 0 of tensors does "
     "not require grad", "backward() through the returned value raised RuntimeError"),
    # a device mistake keeps the problem, not the device error in brackets
    ("makes its labels on the CPU (RuntimeError: Expected all tensors to be on the same "
     "device, but found at least two devices, meta and cpu!)", "makes its labels on the CPU"),
    # the student's own answer is not part of the mistake
    ("2*sigma**2 + 1 is not right", "… is not right"),
    ("'E' is not one of the options", "… is not one of the options"),
    ("could not be read as a formula (invalid syntax at 'x +')", "could not be read as a formula"),
    ("uses the symbol(s) q, w, which the question does not define",
     "uses the symbol(s) …, which the question does not define"),
    # which option was chosen is the mistake: kept
    ("option 'B' is not right", "option 'B' is not right"),
    # names with digits, exponents and fixed wording stay as they are
    ("the samples have variance sigma_square^2", "the samples have variance sigma_square^2"),
    ("use the L2 norm of x_1", "use the L2 norm of x_1"),
    # a stub left as released, in each check's words, is one mistake
    ("is not implemented yet", NOT_ATTEMPTED),
    ("has no answer yet", NOT_ATTEMPTED),
    ("None is not one of the options", NOT_ATTEMPTED),
    # whitespace and line breaks do not matter
    ("sends gradients\n   into the  generator", "sends gradients into the generator"),
])
def test_normalise(problem, identity):
    assert normalise(problem) == identity


def test_failures_of_one_notebook():
    nb = _notebook([
        _test_cell("test_d_loss_contract", [_verdict("d_loss", "sends gradients into the "
                                                               "generator")]),
        _test_cell("test_passed", [nbformat.v4.new_output("stream", name="stdout", text="ok")]),
        _test_cell("test_warned", [nbformat.v4.new_output("stream", name="stderr",
                                                          text="UserWarning: careful")]),
        _test_cell("test_crashed", [_error("NameError", "name 'd_loss' is not defined")]),
        # the kernel's own error is display only; the judge's verdict comes last and decides
        _test_cell("test_d_loss_hidden", [_error("ValueError", "kernel"),
                                          _verdict("d_loss", "returned 0.5, expected 1.3")]),
    ])
    found = mistakes.failures_in(nb, "ann", "04_gan")
    assert [(f.grade_id, f.check, f.mistake) for f in found] == [
        ("test_d_loss_contract", "d_loss", "sends gradients into the generator"),
        ("test_warned", "", mistakes.STDERR_MISTAKE),
        ("test_crashed", "", "raised NameError"),
        ("test_d_loss_hidden", "d_loss", "returned #, expected #"),
    ]
    assert found[-1].text == "returned 0.5, expected 1.3" and found[-1].student == "ann"


def test_class_table_counts_students_per_check_and_mistake(tmp_path):
    detached = _verdict("d_loss", "sends gradients into the generator")
    root = _class(tmp_path, {
        # both test cells of d_loss show the same mistake: ann counts once
        "ann": [_test_cell("test_d_loss_contract", [detached]),
                _test_cell("test_d_loss_hidden", [detached]),
                _test_cell("test_g_loss", [])],
        "ben": [_test_cell("test_d_loss_contract", []),
                _test_cell("test_d_loss_hidden", [detached]),
                _test_cell("test_g_loss", [_verdict("g_loss", "returned 0.3, expected 0.69")])],
        "cat": [_test_cell("test_d_loss_contract", [_verdict("d_loss", "returned 2.1, expected "
                                                                        "1.38")]),
                # a test that never ran is counted under the check its cell tests
                _test_cell("test_d_loss_hidden", [_error("TestNotRun", "this test did not run")]),
                _test_cell("test_g_loss", [_verdict("g_loss", "returned 0.1, expected 0.69")])],
        "dan": [_test_cell("test_d_loss_contract", [_verdict("d_loss", "is not implemented "
                                                                        "yet")]),
                _test_cell("test_d_loss_hidden", []),
                _test_cell("test_g_loss", [_verdict("g_loss", "is not implemented yet")])],
        "eve": [_test_cell("test_d_loss_contract", []), _test_cell("test_d_loss_hidden", []),
                _test_cell("test_g_loss", [])],
    })
    rows = mistakes.tally(root)
    assert [(r.check, r.mistake, r.students, r.of, r.grade_ids) for r in rows] == [
        ("d_loss", "sends gradients into the generator", 2, 5,
         ("test_d_loss_contract", "test_d_loss_hidden")),
        ("d_loss", "did not run (the notebook stopped before it)", 1, 5, ("test_d_loss_hidden",)),
        ("d_loss", NOT_ATTEMPTED, 1, 5, ("test_d_loss_contract",)),
        ("d_loss", "returned #, expected #", 1, 5, ("test_d_loss_contract",)),
        ("g_loss", "returned #, expected #", 2, 5, ("test_g_loss",)),
        ("g_loss", NOT_ATTEMPTED, 1, 5, ("test_g_loss",)),
    ]
    assert {r.check: r.check_students for r in rows} == {"d_loss": 4, "g_loss": 3}

    table = mistakes.format_table(rows, mistakes.graded_counts(root))
    assert table.splitlines() == [
        "what the class got wrong (students per check and mistake):",
        "04_gan (5 students)",
        "  d_loss: 4 of 5 (1 not attempted)",
        "      2  sends gradients into the generator",
        "      1  did not run (the notebook stopped before it)",
        "      1  returned 2.1, expected 1.38",       # one student: shown as they read it
        "  g_loss: 3 of 5 (1 not attempted)",
        "      2  returned #, expected #",            # two wordings: the mistake's identity
    ]

    path = mistakes.write_csv(rows, tmp_path / "mistakes.csv")
    with open(path, newline="") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == ["notebook", "check", "mistake", "students", "of", "grade_ids",
                                "example"]
    assert written[0] == {"notebook": "04_gan", "check": "d_loss",
                          "mistake": "sends gradients into the generator", "students": "2",
                          "of": "5", "grade_ids": "test_d_loss_contract test_d_loss_hidden",
                          "example": "sends gradients into the generator"}


def test_table_of_a_class_without_mistakes(tmp_path):
    root = _class(tmp_path, {"ann": [_test_cell("test_d_loss_contract", [])]})
    assert mistakes.tally(root) == []
    assert mistakes.format_table([], mistakes.graded_counts(root)).splitlines()[1:] == \
        ["04_gan (1 student): every check passed"]


def test_checks_left_unattempted_share_one_line(tmp_path):
    unattempted = [_test_cell(f"test_{q}", [_verdict(f"({q}) question {q}", "has no answer yet")])
                   for q in "abcdefghij"]
    root = _class(tmp_path, {"ann": unattempted, "ben": [_test_cell(f"test_{q}")
                                                         for q in "abcdefghij"]})
    lines = mistakes.format_table(mistakes.tally(root)).splitlines()
    assert lines[2].startswith("  only left as released (students): (a) question a: 1; ")
    assert all(len(line) <= 100 for line in lines) and len(lines) == 5   # wrapped
    assert lines[-1].endswith("(j) question j: 1")
