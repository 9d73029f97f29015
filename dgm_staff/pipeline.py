"""The instructor's side: nbgrader configuration, and feedback that never leaks hidden tests.

``nbgrader_config.py`` at the top of the course calls :func:`configure`; the course commands
(``python -m dgm_staff.course``) build the same configuration for temporary course folders.

nbgrader's ``generate_feedback`` renders the *autograded* notebook, whose test cells hold the
hidden tests restored from the gradebook, together with their tracebacks (nbgrader issues #917 and
#1363). :class:`HideHiddenTests` runs before the HTML export and, in every test cell that had a
hidden region, replaces the region with a one-line note and each error output with the check's own
message (its exception name and text, which the checks write for students), dropping the
traceback and any printed output.
"""

from __future__ import annotations

import json
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,
                                    DeduplicateIds, Execute, GetGrades, IgnorePattern,
                                    LimitOutput, NbGraderPreprocessor, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

from dgm_staff import exchange as shared_exchange
from dgm_staff.student_outputs import KeepStudentOutputs, ShowStudentOutputs

# The hidden tests' region of a test cell, and the mark scheme: graders' notes in the question
# cell above a manually graded answer (the markers are defined once, in dgm.manifest).
from dgm.manifest import BEGIN_HIDDEN, BEGIN_MARK_SCHEME, END_HIDDEN, END_MARK_SCHEME

HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"

#: Per-cell execution limit while autograding, in seconds (nbgrader's default is 30).
CELL_TIMEOUT = 120


def _strip_region(source: str, begin: str, end: str, note: str | None) -> tuple[str, bool]:
    """``source`` with every ``begin``…``end`` region removed (replaced by ``note``, indented as
    the region, when given); an unterminated region hides everything after it. Returns the new
    source and whether there was a region."""
    out, inside, found = [], False, False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(begin):
            inside, found = True, True
            if note is not None:
                out.append(line[: len(line) - len(line.lstrip())] + note)
            continue
        if stripped.startswith(end):
            inside = False
            continue
        if not inside:
            out.append(line)
    return "\n".join(out), found


def strip_hidden(source: str, note: bool = True) -> tuple[str, bool]:
    """``source`` with every hidden-test region replaced by :data:`HIDDEN_NOTE` (or ``pass``)."""
    return _strip_region(source, BEGIN_HIDDEN, END_HIDDEN, HIDDEN_NOTE if note else "pass")


def strip_mark_scheme(source: str) -> tuple[str, bool]:
    """``source`` without its mark-scheme regions (an unterminated one hides the rest)."""
    stripped, found = _strip_region(source, BEGIN_MARK_SCHEME, END_MARK_SCHEME, None)
    return stripped.rstrip() + ("\n" if source.endswith("\n") else ""), found


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test code and tracebacks, and mark schemes, from feedback; keep the checks'
    messages."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            cell.source, _ = strip_mark_scheme(cell.source)
            return cell, resources
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
                output["traceback"] = [_wrapped(message)]
                outputs.append(output)
        cell.outputs = outputs
        return cell, resources


def _wrapped(message: str, width: int = 100) -> str:
    """A check's message with its long lines wrapped (feedback pages do not wrap code output, so
    a long "How to fix" line ran off the page)."""
    import textwrap

    lines = []
    for line in message.splitlines() or [""]:
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        lines.append(textwrap.fill(line, width, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False) or line)
    return "\n".join(lines)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _is_test(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


class RobustExecute(Execute):
    """nbgrader's executor with two changes.

    * **The judge decides every graded test cell** (:mod:`dgm_staff.judge`): the kernel runs the
      cell without its hidden region, for display only; the judge then runs the whole cell in the
      grader's process against the kernel and its verdict replaces whatever the kernel reported.
      The kernel is started in a sandbox (:mod:`dgm_staff.sandbox`) that hides the course's files.
    * A kernel that dies (``os._exit``, a segfault, memory) ends the *execution*, not the grading:
      the cells that ran keep their outputs, the cell that was running gets an error saying the
      kernel died, and the cells after it stay unexecuted, which :class:`ZeroUnexecutedTests`
      scores 0.
    """

    def __init__(self, *args, **kwargs):
        from dgm_staff.sandbox import SandboxedKernelManager

        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        self._running_index = index
        if not _is_test(cell):
            return super().preprocess_cell(cell, resources, index)
        full = cell.source
        cell.source, _ = strip_hidden(full, note=False)
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = full
        self._judge_cell(cell)
        return cell, resources

    def _judge_cell(self, cell) -> None:
        from dgm_staff.judge import Judge, JudgeError, verdict_output

        # What the kernel said about a graded test is display only: its errors are dropped, and
        # what it wrote to stderr (a student's progress bar, a library's warning) is kept as
        # ordinary output, because nbgrader scores 0 any test cell with stderr in its outputs.
        cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
        for output in cell.outputs:
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["name"] = "stdout"
        if self._judge is None:
            self._judge = Judge(self.kc, self._checks_module, timeout=self.timeout or 600)
        try:
            error = self._judge.run_cell(cell.source)
        except JudgeError as e:
            error = e
        if error is not None:
            cell.outputs.append(NotebookNode(verdict_output(error)))

    def preprocess(self, nb, resources=None, km=None):
        from dgm_staff.judge import checks_module_of

        self._running_index = None
        self._judge = None
        self._checks_module = next((checks_module_of(c.source) for c in nb.cells
                                    if c.cell_type == "code" and checks_module_of(c.source)),
                                   None)
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
        finally:
            if self._judge is not None:
                self._judge.close()
                self._judge = None


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


class DeduplicateCells(DeduplicateIds):
    """nbgrader's ``DeduplicateIds``, fixed: a cell pasted twice (same grade id) keeps its
    metadata in its last copy only. nbgrader empties the earlier copy's metadata to ``{}``, and
    its next step (``OverwriteCells``) then fails on the missing grade id, so the whole notebook
    could not be graded; here the earlier copy becomes a plain cell."""

    def preprocess_cell(self, cell, resources, cell_index):
        if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id in self.grade_ids:
            self.log.warning("Cell with id '%s' exists more than once; the last copy is graded.",
                             grade_id)
            del cell.metadata["nbgrader"]
        else:
            self.grade_ids.add(grade_id)
        return cell, resources


class RestoreCellsWithIds(OverwriteCells):
    """nbgrader's ``OverwriteCells``, whose restored cells get a cell id: a graded cell that a
    submission lost (deleted, or handed in from an older release) is put back without the id that
    nbformat 4.5 requires, and nbformat then warns "Cell is missing an id field" on every
    validation, lines per such notebook that nobody grading can act on."""

    def preprocess(self, nb, resources):
        from nbformat.v4.nbbase import random_cell_id

        nb, resources = super().preprocess(nb, resources)
        if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5):
            for cell in nb.cells:
                if not cell.get("id"):
                    cell["id"] = random_cell_id()
        return nb, resources


class ReviewScan(NbGraderPreprocessor):
    """Runs :func:`dgm_staff.review.scan` on the submission and records what it finds in the
    notebook's metadata, for the class report. It changes no score: the judge decides every
    test (:class:`RobustExecute`)."""

    def preprocess(self, nb, resources):
        from dgm_staff.review import scan

        findings = [str(f) for f in scan(nb)]
        nb.metadata["dgm_review"] = findings
        if findings:
            self.log.info("For review: %s", "; ".join(findings))
        return nb, resources


class NoPartialCredit(NbGraderPreprocessor):
    """nbgrader reads a number shown as a test cell's result as partial credit; this course gives
    none, so such results are dropped from test cells (a tampered check could return 1e9)."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            cell.outputs = [o for o in cell.get("outputs", [])
                            if o.get("output_type") != "execute_result"]
        return cell, resources


#: Largest output kept per cell output (bytes of its JSON): larger ones are replaced by a note.
MAX_OUTPUT_BYTES = 1_000_000


class LimitOutputSize(NbGraderPreprocessor):
    """Replace any single output larger than :data:`MAX_OUTPUT_BYTES` (a megabyte print on one
    line, a 100 MB figure) by a short note, so that the gradebook and the feedback stay small.
    nbgrader's ``LimitOutput`` counts lines only."""

    max_bytes = MAX_OUTPUT_BYTES

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for output in cell.get("outputs", []):
            size = len(json.dumps(output, default=str))
            if size <= self.max_bytes:
                kept.append(output)
                continue
            note = (f"[an output of {size / 1e6:.1f} MB was removed: outputs are limited to "
                    f"{self.max_bytes / 1e6:.0f} MB each while grading]\n")
            if output.get("output_type") == "error":
                kept.append(_error(output.get("ename", "Error"), str(output.get("evalue",
                                                                                 ""))[:2000]))
            else:
                kept.append(NotebookNode(output_type="stream", name="stdout", text=note))
        cell.outputs = kept
        return cell, resources


def encrypted_kernels(c):
    """Let jupyter_client give every kernel that ``c`` starts CurveZMQ keys (where pyzmq has
    CurveZMQ; the kernel takes them where its kernelspec says it can, as ipykernel 7 does), and
    return ``c``. A kernel started without keys logs "Kernel is running over TCP without
    encryption" on stderr, once per graded notebook, which nobody grading can act on. (IPC
    transport would silence it too, but jupyter_client then names the sockets relative to the
    working folder, which differs between the kernel, in the notebook's folder, and its client.)
    """
    import zmq
    from jupyter_client.manager import KernelManager

    if hasattr(KernelManager, "transport_encryption") and zmq.has("curve"):
        c.KernelManager.transport_encryption = "auto"
    return c


def configure(c, root: Path | str) -> None:
    """Fill an nbgrader ``Config`` for a course folder ``root`` holding ``solutions/``."""
    encrypted_kernels(c)
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = shared_exchange.course_id()
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = "notebooks"
    # The exchange (nbgrader's release/collect folders): the course's own, inside it and
    # git-ignored, unless DGM_EXCHANGE names one shared with the students (dgm_staff.exchange).
    c.Exchange.root = shared_exchange.exchange_root(root)
    # Autograde: fixed cell timeout, restore deleted test cells, keep outputs bounded.
    c.ExecutePreprocessor.timeout = CELL_TIMEOUT
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.interrupt_on_timeout = True
    c.RobustExecute.timeout = CELL_TIMEOUT
    c.OverwriteCells.add_missing_cells = True
    # The student's own outputs (their full-budget run) are kept before ClearOutput and shown
    # after the re-run in each ungraded cell, labelled as theirs (dgm_staff.student_outputs).
    c.Autograde.sanitize_preprocessors = [KeepStudentOutputs, ClearOutput, DeduplicateCells,
                                          OverwriteKernelspec, RestoreCellsWithIds,
                                          CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [
        ReviewScan, RobustExecute, ShowStudentOutputs, ZeroUnexecutedTests, NoPartialCredit,
        IgnorePattern, ClearMetadataPreprocessor, LimitOutput, LimitOutputSize, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata]
    c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {("language_info", "name"),
                                                             ("dgm_review",)}
    c.LimitOutput.max_lines = 200
    c.LimitOutput.max_traceback = 60
    # Feedback: hidden tests are removed before the notebook is rendered.
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    # ... and the page reads offline: MathJax inline, nothing from the network.
    from dgm_staff import offline_feedback

    offline_feedback.configure(c)
    # Mark schemes sit in the locked question cell above each manually graded answer, between
    # BEGIN/END MARK SCHEME. The release drops them (nbgrader's ClearMarkScheme; its check that
    # they sit in "task" cells is off because these cells are plain locked cells). The gradebook
    # keeps the whole cell and autograde restores it, so graders read the scheme in the
    # formgrader; HideHiddenTests drops it again from the feedback.
    c.ClearMarkScheme.enforce_metadata = False
    # The release keeps no outputs and checks that graded cells are well formed.
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    # ... and each assignment's folder gets the page its "Running these notebooks" cell links to,
    # also when nbgrader's own generate_assignment (the formgrader's Generate) rebuilds it.
    from dgm_staff import running_page

    running_page.configure(c)

