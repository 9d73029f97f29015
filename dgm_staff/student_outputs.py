"""The student's own outputs, kept for the grader beside the autograder's re-run.

Autograde clears every output and re-runs the notebook at the smoke budget, so the formgrader
would show the re-run's numbers and figures only, never the full-budget run the student's
written answers talk about. Two preprocessors of the autograde pipeline
(:func:`dgm_staff.pipeline.configure`) keep them:

* :class:`KeepStudentOutputs` (sanitize, before nbgrader's ``ClearOutput``) copies the outputs
  the student handed in for each code cell that is *not graded* into the cell's metadata, as
  plain text and images only (an error becomes its text; HTML, markdown and scripts become their
  text; each output is limited in size, with a note saying what was cut);
* :class:`ShowStudentOutputs` (autograde, right after execution) appends them to the same cell,
  after the re-run's outputs, under the label :data:`LABEL`.

Scores cannot change: graded (test) cells never get them, and they are display outputs only,
never errors or results, so nothing nbgrader or the judge reads is touched; an output the
student forged (an error, a "passed" line) is shown as text, under the label, in a cell that is
not graded. The re-run's outputs stay what they are; the limits of
:class:`~dgm_staff.pipeline.LimitOutputSize` still apply after these ones.
"""

from __future__ import annotations

import json
import re

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

#: The cell metadata key that carries the outputs from the sanitize step to the autograde step.
KEY = "dgm_student_outputs"
#: The label above the student's outputs in the autograded notebook (formgrader, feedback).
LABEL = "Your own run — not re-verified by the autograder"
#: Output types kept as images (base64), as they were.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
#: Most lines and bytes kept of one text output, and most bytes (base64) of one image.
MAX_LINES = 500
MAX_TEXT_BYTES = 100_000
MAX_BYTES = 1_000_000
#: Most bytes of kept outputs per notebook; later outputs are replaced by a note.
MAX_NOTEBOOK_BYTES = 20_000_000

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _text_of(data: dict) -> str:
    """The text of an output's data: its text/plain, else another text type's source."""
    for mime in ("text/plain", "text/latex", "text/markdown", "text/html"):
        if mime in data:
            value = data[mime]
            return "".join(value) if isinstance(value, list) else str(value)
    kinds = ", ".join(sorted(data)) or "no data"
    return f"[an output of type {kinds}: only text and images of your run are shown]"


def _limited(text: str) -> str:
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        text = "\n".join(lines[:MAX_LINES]) + (
            f"\n[… {len(lines) - MAX_LINES} more lines of your run not shown: the grader keeps "
            f"at most {MAX_LINES} lines per output]")
    if len(text.encode()) > MAX_TEXT_BYTES:
        text = text.encode()[:MAX_TEXT_BYTES].decode(errors="ignore") + (
            f"\n[… the rest of this output of your run not shown: the grader keeps at most "
            f"{MAX_TEXT_BYTES // 1000} KB of text per output]")
    return text


def _display(text: str | None = None, images: dict | None = None) -> NotebookNode:
    data = dict(images or {})
    if text is not None:
        data["text/plain"] = text
    return NotebookNode(output_type="display_data", data=NotebookNode(data),
                        metadata=NotebookNode())


def converted(output: dict) -> NotebookNode:
    """One handed-in output as the grader is shown it: a display output of text and images."""
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        return _display(_limited(_ANSI.sub("", "".join(text) if isinstance(text, list) else text)))
    if kind == "error":
        lines = [_ANSI.sub("", str(line)) for line in output.get("traceback", [])]
        header = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        if header not in "\n".join(lines):
            lines.insert(0, header)
        return _display(_limited("\n".join(lines)))
    data = output.get("data", {}) or {}
    images = {m: data[m] for m in IMAGE_TYPES if m in data}
    images = {m: v for m, v in images.items() if len(json.dumps(v)) <= MAX_BYTES}
    text = _text_of(data)
    if len(images) < sum(m in data for m in IMAGE_TYPES):
        text = (f"[an image of your run larger than {MAX_BYTES / 1e6:.0f} MB was not kept]\n"
                + text)
    return _display(_limited(text), images)


class KeepStudentOutputs(NbGraderPreprocessor):
    """Sanitize: copy each ungraded code cell's handed-in outputs into its metadata (converted by
    :func:`converted`), before ``ClearOutput`` clears them; any such key the submission brought
    along is dropped first, in every cell."""

    def preprocess(self, nb, resources):
        total = 0
        for cell in nb.cells:
            cell.metadata.pop(KEY, None)
            if cell.cell_type != "code" or utils.is_grade(cell) or not cell.get("outputs"):
                continue
            kept = []
            for output in cell.outputs:
                shown = converted(output)
                size = len(json.dumps(shown))
                if total + size > MAX_NOTEBOOK_BYTES:
                    shown = _display(f"[an output of your run not kept: the grader keeps at "
                                     f"most {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB of them per "
                                     "notebook]")
                    size = len(json.dumps(shown))
                total += size
                kept.append(shown)
            cell.metadata[KEY] = kept
        return nb, resources


class ShowStudentOutputs(NbGraderPreprocessor):
    """Autograde, after execution: append each ungraded cell's kept outputs to it, after the
    re-run's, under :data:`LABEL` (and leave nothing of them in a graded cell's metadata)."""

    def preprocess_cell(self, cell, resources, cell_index):
        kept = cell.metadata.pop(KEY, None)
        if not kept or cell.cell_type != "code" or utils.is_grade(cell):
            return cell, resources
        n = len(kept)
        label = (f"── {LABEL} ──\nThe {n} output{'s' if n > 1 else ''} handed in for this cell, "
                 "as text and images. The outputs above it are the autograder's re-run at the "
                 "smoke budget.")
        cell.setdefault("outputs", [])
        cell.outputs.append(_display(label))
        cell.outputs.extend(nbformat.from_dict(o) for o in kept)
        return cell, resources
