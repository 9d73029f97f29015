"""The instructor's side: nbgrader configuration, and feedback that never leaks hidden tests.

``nbgrader_config.py`` at the top of the course calls :func:`configure`; the course commands
(``python -m dgm.course``) build the same configuration for temporary course folders.

nbgrader's ``generate_feedback`` renders the *autograded* notebook, whose test cells hold the
hidden tests restored from the gradebook, together with their tracebacks (nbgrader issues #917 and
#1363). :class:`HideHiddenTests` runs before the HTML export and, in every test cell that had a
hidden region, replaces the region with a one-line note and each error output with the check's own
message (its exception name and text, which the checks write for students), dropping the
traceback and any printed output.
"""

from __future__ import annotations

from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, GetGrades,
                                    IgnorePattern, LimitOutput, NbGraderPreprocessor,
                                    SaveAutoGrades)

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"

#: Per-cell execution limit while autograding, in seconds (nbgrader's default is 30).
CELL_TIMEOUT = 120


def strip_hidden(source: str) -> tuple[str, bool]:
    """``source`` with every hidden-test region replaced by :data:`HIDDEN_NOTE`."""
    out, hidden, found = [], False, False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN_HIDDEN):
            hidden, found = True, True
            out.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
            continue
        if stripped.startswith(END_HIDDEN):
            hidden = False
            continue
        if not hidden:
            out.append(line)
    if hidden:  # an unterminated region hides everything after it
        found = True
    return "\n".join(out), found


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test code and tracebacks from feedback, keep the checks' messages."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        source, found = strip_hidden(cell.source)
        if not found:
            return cell, resources
        cell.source = source
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                output["traceback"] = [message]
                outputs.append(output)
        cell.outputs = outputs
        return cell, resources


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class RobustExecute(Execute):
    """nbgrader's executor, except that a kernel that dies ends the *execution*, not the grading.

    A submission that calls ``os._exit``, segfaults or runs out of memory kills its kernel; nbgrader
    then fails the whole notebook. Here the cells that ran keep their outputs, the cell that was
    running gets an error saying the kernel died, and the cells after it stay unexecuted, which
    :class:`ZeroUnexecutedTests` scores 0.
    """

    def preprocess_cell(self, cell, resources, index):
        self._running_index = index
        return super().preprocess_cell(cell, resources, index)

    def preprocess(self, nb, resources=None, km=None):
        self._running_index = None
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError as exc:
            self.log.warning("The kernel died while grading (%s); the remaining cells score 0.",
                             exc)
            if self._running_index is not None:
                nb.cells[self._running_index].setdefault("outputs", []).append(_error(
                    "DeadKernelError", "the kernel died while running this cell (it may have "
                    "run out of memory, crashed, or called os._exit): no later cell ran"))
            return nb, resources


class ZeroUnexecutedTests(NbGraderPreprocessor):
    """A test that did not run scores 0 (nbgrader scores a test cell without an error as passed,
    so after a dead kernel every remaining test would count as passed: nbgrader issue #427)."""

    def preprocess_cell(self, cell, resources, cell_index):
        if (cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)
                and cell.get("execution_count") is None
                and not any(o.get("output_type") == "error" for o in cell.get("outputs", []))):
            cell.setdefault("outputs", []).append(_error(
                "TestNotRun", "this test did not run (the notebook stopped before it), so it "
                "scores 0. Make sure the notebook runs from top to bottom."))
        return cell, resources


def configure(c, root: Path | str) -> None:
    """Fill an nbgrader ``Config`` for a course folder ``root`` holding ``solutions/``."""
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "deep-generative-models"
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = "notebooks"
    # Autograde: fixed cell timeout, restore deleted test cells, keep outputs bounded.
    c.ExecutePreprocessor.timeout = CELL_TIMEOUT
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.interrupt_on_timeout = True
    c.RobustExecute.timeout = CELL_TIMEOUT
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.autograde_preprocessors = [
        RobustExecute, ZeroUnexecutedTests, IgnorePattern, ClearMetadataPreprocessor,
        LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.LimitOutput.max_lines = 200
    c.LimitOutput.max_traceback = 60
    # Feedback: hidden tests are removed before the notebook is rendered.
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    # The release keeps no outputs and checks that graded cells are well formed.
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

