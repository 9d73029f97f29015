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

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader import utils
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
from traitlets import Unicode

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

    note = Unicode(HIDDEN_NOTE).tag(config=True)

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
    c.OverwriteCells.add_missing_cells = True
    c.LimitOutput.max_lines = 200
    c.LimitOutput.max_traceback = 60
    # Feedback: hidden tests are removed before the notebook is rendered.
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    # The release keeps no outputs and checks that graded cells are well formed.
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


def is_grade_cell(cell) -> bool:
    return bool(utils.is_grade(cell))
