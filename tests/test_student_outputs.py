"""The student's own outputs are kept for the grader, beside the autograder's smoke re-run,
labelled as theirs and not re-verified (:mod:`dgm_staff.student_outputs`); scores never depend
on them, forged ones included, and nothing hidden reaches the feedback.

The graded tests run the real autograde of notebook 01 at the smoke budget. Expected scores come
from the points of the test cells (full marks for the reference, less the cells its bugs break for
the buggy example), never from a copied number.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import pytest

from dgm_staff import class_records, course_folder, example_students
from dgm_staff.student_outputs import (KEY, LABEL, MAX_LINES, KeepStudentOutputs,
                                       ShowStudentOutputs, converted)
from tests.helpers import buggy_score, hidden_lines, points

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"
#: A full-budget-looking table, as the student's own 200-epoch run printed it.
TABLE = "\n".join(["epoch   -ELBO    KL    recon"] + [
    f"{e:>5}  {160.0 - 0.21 * e:7.3f}  {6.0 + 0.004 * e:5.3f}  {154.0 - 0.2 * e:7.3f}"
    for e in range(1, 201)]) + "\nfinal test -ELBO after 200 epochs: 118.217 nats\n"
FORGED_PASS = "All hidden tests passed: 10/10 points"


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [2, 0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


PNG = _png()


def _stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _error(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _tests(nb):
    return [c for c in nb.cells if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")]


# ------------------------------------------------------------------------ the two steps -------
def test_outputs_are_kept_as_text_and_images_never_as_errors_or_results():
    shown = converted(_error("RuntimeError", "CUDA out of memory"))
    assert shown.output_type == "display_data" and "RuntimeError: CUDA out of memory" in \
        shown.data["text/plain"] and "\x1b" not in shown.data["text/plain"]
    result = converted(nbformat.v4.new_output("execute_result", execution_count=3, data={
        "text/plain": "<Figure>", "image/png": PNG, "text/html": "<b>forged</b>",
        "application/javascript": "alert(1)"}))
    assert result.output_type == "display_data" and set(result.data) == {"text/plain",
                                                                          "image/png"}
    assert result.data["image/png"] == PNG
    html_only = converted(nbformat.v4.new_output("display_data", data={"text/html": "<table/>"}))
    assert html_only.data == {"text/plain": "<table/>"}          # as text, not rendered
    script = converted(nbformat.v4.new_output("display_data", data={
        "application/javascript": "alert(1)"}))
    assert set(script.data) == {"text/plain"} and "application/javascript" in \
        script.data["text/plain"] and "alert" not in script.data["text/plain"]


def test_long_or_large_outputs_are_cut_with_a_note():
    long = converted(_stream("\n".join(str(i) for i in range(MAX_LINES + 250))))
    assert long.data["text/plain"].count("\n") == MAX_LINES
    assert "250 more lines of your run not shown" in long.data["text/plain"]
    large = converted(_stream("x" * 3_000_000))
    assert len(large.data["text/plain"]) < 110_000 and "at most 100 KB of text per output" in \
        large.data["text/plain"]
    image = converted(nbformat.v4.new_output("display_data", data={
        "text/plain": "<Figure>", "image/png": "A" * 2_000_000}))
    assert "image/png" not in image.data and "larger than 1 MB was not kept" in \
        image.data["text/plain"]


def _graded_and_ungraded():
    graded = nbformat.v4.new_code_cell("check()", outputs=[_stream(FORGED_PASS)])
    graded.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t",
                                   "points": 1, "schema_version": 3, "locked": True}
    graded.metadata[KEY] = [dict(_error("AssertionError", "forged"))]
    ungraded = nbformat.v4.new_code_cell("train()", outputs=[_stream(TABLE)])
    ungraded.metadata[KEY] = [dict(_stream("forged beforehand"))]
    return nbformat.v4.new_notebook(cells=[graded, ungraded])


def test_graded_cells_never_get_them_and_a_forged_carrier_is_dropped():
    nb, _ = KeepStudentOutputs().preprocess(_graded_and_ungraded(), {})
    graded, ungraded = nb.cells
    assert KEY not in graded.metadata
    assert [o["data"]["text/plain"] for o in ungraded.metadata[KEY]] == [TABLE]
    graded.metadata[KEY] = [dict(_error("AssertionError", "planted after sanitize"))]
    for cell in nb.cells:
        cell.outputs = []
    nb, _ = ShowStudentOutputs().preprocess(nb, {})
    assert graded.outputs == [] and KEY not in graded.metadata and KEY not in ungraded.metadata
    assert LABEL in ungraded.outputs[0]["data"]["text/plain"]
    assert ungraded.outputs[1]["data"]["text/plain"] == TABLE


# ------------------------------------------------------------------------ the real autograde --
def _with_own_outputs(nb):
    """A submission as a student hands it in after a full-budget run: a long table, a figure,
    an error from an earlier attempt, and forged outputs in test cells."""
    nb = nbformat.from_dict(nb)
    _cell(nb, "train").outputs = [_stream("training at the full budget, 200 epochs\n"), _stream(
        TABLE)]
    _cell(nb, "train").execution_count = 7
    _cell(nb, "plot_data_space").outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "<Figure size 600x600 with 2 Axes>",
                              "image/png": PNG})]
    _cell(nb, "iw_estimate").outputs = [_error("KeyboardInterrupt", "an earlier attempt"),
                                        _stream("x" * 3_000_000)]
    return nb


def _forged(nb, text_in_tests):
    nb = nbformat.from_dict(nb)
    for cell in _tests(nb):
        cell.outputs = [_stream(text_in_tests), nbformat.v4.new_output(
            "execute_result", execution_count=1, data={"text/plain": "1000000000.0"})]
        cell.metadata[KEY] = [dict(_error("AssertionError", "forged failure")),
                              dict(_stream(FORGED_PASS))]
        cell.execution_count = 1
    _cell(nb, "train").outputs = [_error("AssertionError", "forged: every test failed")]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("student_outputs")
    course_folder.generate_release(root / "release", names=[NAME], course=root)
    release_nb = nbformat.read(root / "release" / NAME / f"{NAME}.ipynb", 4)
    sources = course_folder.solution_sources(NAME)[f"{NAME}.ipynb"]
    reference = example_students.filled_submission(release_nb, sources)
    buggy = example_students.example_submission(NAME, release_nb, "buggy", sources)
    # no plain reference or buggy copy: what they score is computed from the points
    submissions = {
        "own_run": _with_own_outputs(_forged(reference, "forged: this test failed")),
        "buggy_forged": _with_own_outputs(_forged(buggy, FORGED_PASS)),
    }
    for student, nb in submissions.items():
        target = root / "submitted" / student / NAME / f"{NAME}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    class_records.grade_course(root, [NAME], list(submissions))
    rows = {r.student: r for r in class_records.grade_rows(root)}
    autograded = {s: nbformat.read(root / "autograded" / s / NAME / f"{NAME}.ipynb", 4)
                  for s in submissions}
    return rows, autograded, root


def _texts(cell) -> list[str]:
    return [o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get(
        "text/plain", "") for o in cell.outputs]


def test_the_formgrader_shows_the_rerun_and_the_students_own_outputs_labelled(graded):
    _, autograded, _ = graded
    nb = autograded["own_run"]
    train = _texts(_cell(nb, "train"))
    label = next((i for i, t in enumerate(train) if LABEL in t), None)
    assert label is not None, f"the student's own outputs are not in the train cell: {train}"
    assert label > 0, "the re-run's outputs come first"
    assert any("budget" in t or "epoch" in t for t in train[:label]), train[:label]
    assert TABLE not in "".join(train[:label])                  # the re-run is the smoke one
    assert train[label + 1:] == ["training at the full budget, 200 epochs\n", TABLE]
    figure = _cell(nb, "plot_data_space")
    mine = figure.outputs[[LABEL in t for t in _texts(figure)].index(True) + 1:]
    assert [o.data.get("image/png") for o in mine] == [PNG]
    earlier = "".join(_texts(_cell(nb, "iw_estimate")))
    assert earlier.count("KeyboardInterrupt: an earlier attempt") == 1
    assert "at most 100 KB of text per output" in earlier     # cut, with a note
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert KEY not in cell.metadata
            if cell.metadata.get("nbgrader", {}).get("grade"):
                assert not any(LABEL in t or FORGED_PASS in t or "forged" in t
                               for t in _texts(cell)), cell.metadata["nbgrader"]["grade_id"]
    before = sum(1 for c in nb.cells for o in c.get("outputs", [])
                 if o.output_type == "error" and c.metadata.get("nbgrader", {}).get("grade"))
    assert before == 0, "the reference passes every test: no error output in a test cell"
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", [])
                   if not c.metadata.get("nbgrader", {}).get("grade"))


def test_outputs_handed_in_or_forged_change_no_score(graded):
    rows, _, _ = graded
    most = sum(points(NAME).values())
    assert rows["own_run"].auto_score == rows["own_run"].auto_max == most
    assert rows["buggy_forged"].auto_score == buggy_score(NAME) < most


def test_the_feedback_keeps_them_and_leaks_no_hidden_test(graded):
    _, _, root = graded
    html = next((root / "feedback" / "own_run" / NAME).glob("*.html")).read_text()
    assert LABEL in html and "final test -ELBO after 200 epochs: 118.217 nats" in html
    source = nbformat.read(ROOT / "solutions" / NAME / f"{NAME}.ipynb", 4)
    for line in hidden_lines(source):
        assert line not in html, f"hidden test line in the feedback: {line}"
