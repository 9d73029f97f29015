"""What the class got wrong: students per check and per mistake, read from the autograded notebooks.

    python -m dgm_staff.mistakes COURSE [--csv mistakes.csv]   # COURSE holds autograded/

The class command (:mod:`dgm_staff.grade_class`) puts the same table in its report and writes
``mistakes.csv``, so that an instructor sees what to teach again.

A graded test cell that fails carries an error output: the judge's verdict (a check's
``CheckFailed`` message, ``what: problem`` and a ``How to fix`` line) or the pipeline's (a test
that did not run, a dead kernel). Each failure is counted under

* its **check**: the ``what`` of the message, the function or question that was checked
  (``d_loss``, ``(a) p(x_j | z)``); for an error that is no check's verdict, the ``what`` that the
  class's other failures of the same test cell name, else the cell's grade id;
* its **mistake**: the problem, normalised so that the same mistake reads the same for every
  student: the student's numbers and shapes become ``#``, a crash is cut after the exception's
  type (``raised TypeError``), and a student's own answer in the message becomes ``…``; a stub
  left as released (not implemented, no answer) is ``not attempted``.

A student counts once per (check, mistake), however many test cells (visible, hidden) show it.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: Errors the pipeline writes into test cells, and what they mean for the table.
PIPELINE_ERRORS = {
    "TestNotRun": "did not run (the notebook stopped before it)",
    "DeadKernelError": "the kernel died",
    "CellTimeoutError": "ran past the time limit",
    "TimeoutError": "ran past the time limit",
    "KeyboardInterrupt": "ran past the time limit",
}
STDERR_MISTAKE = "wrote to stderr (nbgrader scores such a test 0)"
#: One identity for the checks' ways of saying that the student left the stub as released.
NOT_ATTEMPTED = "not attempted"
_UNATTEMPTED = {"is not implemented yet", "has no answer yet", "None is not one of the options"}
MAX_MISTAKE = 160


@dataclass(frozen=True)
class Failure:
    """One failed test cell of one student's notebook."""

    student: str
    notebook: str
    grade_id: str
    check: str          # empty when the output names none (filled in by :func:`collect`)
    mistake: str        # normalised: the identity of the mistake
    text: str           # the problem as the student read it (one line)


@dataclass(frozen=True)
class Row:
    """Students of one notebook who made one mistake in one check."""

    notebook: str
    check: str
    mistake: str
    students: int
    of: int             # students whose notebook was graded
    grade_ids: tuple[str, ...]
    example: str        # the problem as a student read it (the most common wording)
    check_students: int  # students with any failure in this check
    wordings: int = 1   # distinct wordings the students read (1: the table shows ``example``)


# ------------------------------------------------------------------------ normalising --------
_ANSWER_RULES = [   # a student's own answer inside a message -> "…"; applied before numbers
    (re.compile(r"^(?!None )(?!option ).+ is not one of the options$"),
     "… is not one of the options"),
    (re.compile(r"^(?!option ).+ is not right$"), "… is not right"),
    (re.compile(r"^.+ could not be evaluated to a number$"),
     "… could not be evaluated to a number"),
    (re.compile(r"^could not be read as a formula\b.*$"), "could not be read as a formula"),
    (re.compile(r"^(uses the symbol\(s\)) .+?(, which .*)$"), r"\1 …\2"),
    (re.compile(r"^could not be built as (\w+).*$"), r"could not be built as \1(…)"),
]
_RAISED = re.compile(r"\braised ([A-Za-z_][\w.]*)\b.*$")
_DEVICE_DETAIL = re.compile(r" \((?:[A-Za-z_][\w.]*(?:Error|Exception)\b|raised \w).*\)$")
_NUMBER = re.compile(r"(?<![\w.^*])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w)"
                     r"|(?<![\w])[-+]?(?:nan|inf|infinity)(?!\w)", re.IGNORECASE)
_NUMBERS = re.compile(r"#(?:\s*,\s*#)+")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def normalise(problem: str) -> str:
    """The identity of a check's problem text: the same for every student who made the mistake."""
    text = one_line(problem)
    if text in _UNATTEMPTED:
        return NOT_ATTEMPTED
    for pattern, replacement in _ANSWER_RULES:
        if pattern.search(text):
            text = pattern.sub(replacement, text)
            break
    text = _DEVICE_DETAIL.sub("", text)
    match = _RAISED.search(text)
    if match:
        text = text[:match.start()] + f"raised {match.group(1)}"
    text = _NUMBERS.sub("#, …", _NUMBER.sub("#", text))
    return text if len(text) <= MAX_MISTAKE else text[:MAX_MISTAKE - 1] + "…"


# ------------------------------------------------------------------------ reading notebooks --
def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) \
        and not meta.get("solution")


def _failure(output: dict) -> tuple[str, str, str]:
    """(check or "", mistake, text) of a test cell's deciding output."""
    if output.get("output_type") == "stream":
        return "", STDERR_MISTAKE, STDERR_MISTAKE
    ename, evalue = str(output.get("ename", "Error")), str(output.get("evalue", ""))
    if ename == "CheckFailed":
        problem = evalue.split("\n  How to fix:", 1)[0]
        what, sep, rest = problem.partition(": ")
        if sep and what.strip() and "\n" not in what and len(what) <= 80:
            return what.strip(), normalise(rest), one_line(rest)
        return "", normalise(problem), one_line(problem)
    if ename in PIPELINE_ERRORS:
        return "", PIPELINE_ERRORS[ename], PIPELINE_ERRORS[ename]
    if ename == "JudgeError":
        text = f"the grader could not run it: {one_line(evalue)}"
        return "", normalise(text), text
    return "", f"raised {ename}", one_line(f"raised {ename}: {evalue}")


def failures_in(nb, student: str, notebook: str) -> list[Failure]:
    """The failed test cells of one autograded notebook, in notebook order."""
    out = []
    for cell in nb.cells:
        if not _is_test(cell):
            continue
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        stderr = [o for o in outputs if o.get("output_type") == "stream"
                  and o.get("name") == "stderr"]
        deciding = errors[-1] if errors else (stderr[0] if stderr else None)
        if deciding is None:
            continue
        check, mistake, text = _failure(deciding)
        out.append(Failure(student, notebook, cell.metadata.nbgrader["grade_id"], check,
                           mistake, text))
    return out


def _notebooks(autograded: Path):
    """(student, notebook label, path) of every autograded notebook, sorted."""
    for path in sorted(Path(autograded).glob("*/*/*.ipynb")):
        student, assignment = path.parts[-3], path.parts[-2]
        label = path.stem if path.stem == assignment else f"{assignment}/{path.stem}"
        yield student, label, path


def collect(autograded: Path) -> tuple[list[Failure], dict[str, set[str]], dict[str, list[str]]]:
    """Every failure under ``autograded/<student>/<assignment>/``, the students graded per
    notebook, and each notebook's test cells in order."""
    failures, graded, order = [], defaultdict(set), {}
    for student, label, path in _notebooks(autograded):
        nb = nbformat.read(path, as_version=4)
        graded[label].add(student)
        order.setdefault(label, [c.metadata.nbgrader["grade_id"] for c in nb.cells
                                 if _is_test(c)])
        failures += failures_in(nb, student, label)
    named = defaultdict(Counter)          # a test cell's check, as its verdicts name it
    for f in failures:
        if f.check:
            named[(f.notebook, f.grade_id)][f.check] += 1
    filled = []
    for f in failures:
        if not f.check:
            counts = named.get((f.notebook, f.grade_id))
            check = counts.most_common(1)[0][0] if counts else f.grade_id
            f = Failure(f.student, f.notebook, f.grade_id, check, f.mistake, f.text)
        filled.append(f)
    return filled, dict(graded), order


def tally(autograded: Path) -> list[Row]:
    """Students per (notebook, check, mistake): checks in notebook order, the most common mistake
    first."""
    failures, graded, order = collect(autograded)
    groups = defaultdict(list)
    for f in failures:
        groups[(f.notebook, f.check, f.mistake)].append(f)
    per_check = defaultdict(set)
    for f in failures:
        per_check[(f.notebook, f.check)].add(f.student)
    first_cell = {}
    for f in failures:
        position = order[f.notebook].index(f.grade_id)
        key = (f.notebook, f.check)
        first_cell[key] = min(first_cell.get(key, position), position)
    rows = []
    for (notebook, check, mistake), members in groups.items():
        grade_ids = sorted({f.grade_id for f in members}, key=order[notebook].index)
        rows.append(Row(notebook, check, mistake, len({f.student for f in members}),
                        len(graded[notebook]), tuple(grade_ids),
                        Counter(f.text for f in members).most_common(1)[0][0],
                        len(per_check[(notebook, check)]), len({f.text for f in members})))
    return sorted(rows, key=lambda r: (r.notebook, first_cell[(r.notebook, r.check)], r.check,
                                       -r.students, r.mistake))


# ------------------------------------------------------------------------ output -------------
def format_table(rows: list[Row], graded: dict[str, int] | None = None) -> str:
    """Per notebook, each check that someone got wrong, with the number of students per mistake;
    checks that were only left unattempted share one line. ``graded`` (notebook -> students)
    adds the notebooks in which every check passed."""
    by_notebook = defaultdict(list)
    for r in rows:
        by_notebook[r.notebook].append(r)
    notebooks = sorted(set(by_notebook) | set(graded or {}))
    lines = ["what the class got wrong (students per check and mistake):"]
    if not notebooks:
        lines.append("  no graded notebooks")
    for notebook in notebooks:
        group = by_notebook.get(notebook, [])
        of = group[0].of if group else (graded or {})[notebook]
        students = f"{of} student{'s' * (of != 1)}"
        if not group:
            lines.append(f"{notebook} ({students}): every check passed")
            continue
        lines.append(f"{notebook} ({students})")
        checks = list(dict.fromkeys(r.check for r in group))
        only_unattempted = []
        for check in checks:
            mistakes = [r for r in group if r.check == check and r.mistake != NOT_ATTEMPTED]
            unattempted = sum(r.students for r in group
                              if r.check == check and r.mistake == NOT_ATTEMPTED)
            if not mistakes:
                only_unattempted.append(f"{check}: {unattempted}")
                continue
            failed = next(r.check_students for r in group if r.check == check)
            lines.append(f"  {check}: {failed} of {of}"
                         + (f" ({unattempted} not attempted)" if unattempted else ""))
            for r in mistakes:
                lines.append(f"    {r.students:>3}  {r.example if r.wordings == 1 else r.mistake}")
        if only_unattempted:
            lines += _wrap("  only left as released (students): ", only_unattempted)
    return "\n".join(lines)


def _wrap(head: str, items: list[str], width: int = 100) -> list[str]:
    """``head`` and ``items`` joined by "; ", broken between items only."""
    lines, line = [], head
    for k, item in enumerate(items):
        piece = item + (";" if k < len(items) - 1 else "")
        if line.strip() and len(line) + 1 + len(piece) > width and line != head:
            lines.append(line)
            line = "      " + piece
        else:
            line += ("" if line == head else " ") + piece
    return lines + [line]


CSV_COLUMNS = ["notebook", "check", "mistake", "students", "of", "grade_ids", "example"]


def write_csv(rows: list[Row], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r.notebook, r.check, r.mistake, r.students, r.of,
                             " ".join(r.grade_ids), r.example])
    return path


def graded_counts(autograded: Path) -> dict[str, int]:
    counts = Counter(label for _, label, _ in _notebooks(autograded))
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, help="a course folder holding autograded/")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table as CSV")
    args = parser.parse_args(argv)
    autograded = args.course / "autograded"
    rows = tally(autograded)
    print(format_table(rows, graded_counts(autograded)))
    if args.csv:
        print(f"written: {write_csv(rows, args.csv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
