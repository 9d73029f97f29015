"""Grade a whole class: every notebook of every student, in parallel, with nbgrader as the engine.

    python -m dgm_staff.grade_class SUBMISSIONS --out OUT [--workers 2] [--only 01_vae ...]
                                    [--roster roster.csv]

SUBMISSIONS is either nbgrader's layout (``[submitted/]<student>/<assignment>/<notebook>.ipynb``)
or a plain folder of returned notebooks named by student, as an LMS hands them out:
``<student>_<notebook>.ipynb`` (anything before the notebook's name is the student id), or
``<student>/<notebook>.ipynb``.

Design: nbgrader grades one submission at a time into an SQLite gradebook that must not be
written by two processes. Here each worker process grades one (student, assignment) in a course
folder of its own, with its own copy of the gradebook; the parent alone copies the results into
the master gradebook, in a fixed order. Scores are therefore the same for any number of workers,
and the same on a re-run. OUT receives ``course/`` (gradebook, autograded notebooks, HTML
feedback), ``grades.csv``, ``mistakes.csv`` (students per check and per mistake the checks named:
:mod:`dgm_staff.mistakes`) and ``report.txt`` (what could not be graded, and why; the same table
of mistakes). A roster (``id,first_name,last_name,email``, as ``nbgrader db student import``
reads it) puts the students' names into the gradebook.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from dgm_staff import course, mistakes
from dgm.runtime import environ


@dataclass
class Item:
    """One student's submission of one assignment."""

    student: str
    assignment: str
    files: dict[str, Path] = field(default_factory=dict)     # notebook file name -> path
    problems: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    student: str
    assignment: str
    status: str     # "graded", "timed out", "kernel died", "tampering suspected",
    #                 "failed to execute", "not gradable"
    seconds: float = 0.0
    detail: str = ""


# ------------------------------------------------------------------------ finding submissions -
def _notebook_names() -> dict[str, str]:
    """Released notebook stem -> assignment (e.g. ``01_vae`` -> ``01_vae``)."""
    return {p.stem: name for name in course.assignments()
            for p in (course.solutions_dir() / name).glob("*.ipynb")}


def _valid_notebook(path: Path) -> str:
    """Empty if ``path`` is a readable notebook, else what is wrong with it."""
    try:
        import nbformat

        nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        return f"{path.name} is not a valid notebook ({type(e).__name__}: {str(e)[:120]})"
    return ""


def find_submissions(folder: Path, assignments: list[str]) -> tuple[list[Item], list[str]]:
    """Submissions found in ``folder`` (either layout) and files that could not be placed."""
    folder = Path(folder)
    if (folder / "submitted").is_dir():
        folder = folder / "submitted"
    stems = _notebook_names()
    course_assignments = set(stems.values())
    items: dict[tuple[str, str], Item] = {}
    ignored = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.relative_to(folder)
        student = assignment = None
        if len(rel.parts) == 3 and rel.parts[1] in course_assignments:   # nbgrader layout
            if rel.parts[1] not in assignments:
                continue                                  # not among those to grade (--only)
            student, assignment = rel.parts[0], rel.parts[1]
            stem = path.stem
        else:
            stem = next((s for s in sorted(stems, key=len, reverse=True)
                         if path.stem == s or path.stem.endswith("_" + s)
                         or path.stem.endswith("-" + s)), None)
            if stem is not None and stems[stem] not in assignments:
                continue
            if stem is not None:
                assignment = stems[stem]
                prefix = path.stem[: -len(stem)].rstrip("_- ")
                student = prefix or (rel.parts[0] if len(rel.parts) > 1 else None)
        if not student or not assignment:
            ignored.append(f"{rel}: not a course notebook (names: {', '.join(sorted(stems))})")
            continue
        item = items.setdefault((student, assignment), Item(student, assignment))
        if stem not in stems:
            item.problems.append(f"{rel.name}: unknown notebook name (renamed?)")
            continue
        if f"{stem}.ipynb" in item.files:
            item.problems.append(f"{rel}: a second copy of {stem}.ipynb, ignored")
            continue
        problem = _valid_notebook(path)
        if problem:
            item.problems.append(problem)
            continue
        item.files[f"{stem}.ipynb"] = path
    return [items[k] for k in sorted(items)], ignored


# ------------------------------------------------------------------------ workers -------------
def _what_happened(autograded: Path) -> tuple[str, str]:
    """("graded" or a problem status, detail) read from the autograded notebooks."""
    import nbformat

    status, details = "graded", []
    for path in sorted(autograded.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        review = nb.metadata.get("dgm_review") or []
        if review:
            details.append(f"{path.name}: for review (no points lost): " + "; ".join(review[:3]))
        names = {o.get("ename") for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []) if o.get("output_type") == "error"}
        if "DeadKernelError" in names:
            status = "kernel died" if status == "graded" else status
            details.append(f"{path.name}: the kernel died; the tests after it score 0")
        elif names & {"CellTimeoutError", "TimeoutError", "KeyboardInterrupt"}:
            status = "timed out" if status == "graded" else status
            details.append(f"{path.name}: a cell ran past the time limit and was interrupted")
    return status, "; ".join(details)


def _grade_one(master: str, item: Item, cell_timeout: int | None,
               threads: int | None = None) -> Outcome:
    """Run in a worker: autograde one submission in a private copy of the course. Its kernel runs
    in the sandbox (:mod:`dgm_staff.sandbox`), which also hides the whole class folder, so nothing
    a submission reads or writes reaches another one. ``threads`` caps the kernel's math threads
    (so that parallel workers do not oversubscribe the cores)."""
    start = time.perf_counter()
    work = Path(master) / "work" / f"{item.student}__{item.assignment}"
    if work.exists():
        shutil.rmtree(work)
    target = work / "submitted" / item.student / item.assignment
    target.mkdir(parents=True)
    shutil.copy2(Path(master) / "gradebook.db", work / "gradebook.db")
    for name, path in item.files.items():
        shutil.copy2(path, target / name)
    env = {"DGM_SANDBOX_HIDE": str(Path(master).resolve())}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with environ(**env), course.nbgrader_submission_warnings_off():
        result = course.api(work, cell_timeout=cell_timeout).autograde(
            item.assignment, item.student, force=True, create=True)
    seconds = time.perf_counter() - start
    if not result.get("success"):
        log = (result.get("error") or result.get("log") or "").strip().splitlines()
        return Outcome(item.student, item.assignment, "failed to execute", seconds,
                       log[-1][:300] if log else "nbgrader reported a failure")
    status, detail = _what_happened(work / "autograded" / item.student / item.assignment)
    return Outcome(item.student, item.assignment, status, seconds, detail)


def _merge(master: Path, outcome: Outcome) -> None:
    """Copy one worker's grades and autograded notebooks into the master course (parent only)."""
    from nbgrader.api import Gradebook

    work = master / "work" / f"{outcome.student}__{outcome.assignment}"
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as wgb, \
            Gradebook(f"sqlite:///{master / 'gradebook.db'}") as mgb:
        wsub = wgb.find_submission(outcome.assignment, outcome.student)
        mgb.update_or_create_student(outcome.student)
        with mgb.db.no_autoflush:      # see course.nbgrader_submission_warnings_off
            mgb.update_or_create_submission(outcome.assignment, outcome.student,
                                            timestamp=wsub.timestamp)
        for wnb in wsub.notebooks:
            for wgrade in wnb.grades:
                mgrade = mgb.find_grade(wgrade.name, wnb.name, outcome.assignment, outcome.student)
                mgrade.auto_score = wgrade.auto_score
                mgrade.needs_manual_grade = wgrade.needs_manual_grade
            for wcomment in wnb.comments:
                mcomment = mgb.find_comment(wcomment.name, wnb.name, outcome.assignment,
                                            outcome.student)
                mcomment.auto_comment = wcomment.auto_comment
        mgb.db.commit()
    src = work / "autograded" / outcome.student / outcome.assignment
    dst = master / "autograded" / outcome.student / outcome.assignment
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def _record_zero(master: Path, item: Item) -> None:
    """A student whose submission could not be graded appears with zero autograded points."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{master / 'gradebook.db'}") as mgb:
        mgb.update_or_create_student(item.student)
        with mgb.db.no_autoflush:      # see course.nbgrader_submission_warnings_off
            sub = mgb.update_or_create_submission(item.assignment, item.student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type == "code":
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        mgb.db.commit()


# ------------------------------------------------------------------------ the command ---------
def grade_class(submissions: Path, out: Path, workers: int = 2,
                assignments: list[str] | None = None, cell_timeout: int | None = None,
                progress: bool = True, roster: Path | None = None) -> list[Outcome]:
    names = assignments or course.assignments()
    out = Path(out).resolve()
    master = out / "course"
    if master.exists():
        shutil.rmtree(master)
    master.mkdir(parents=True)
    course.generate_release(master / "release", names=names, course=master)
    enrolled = course.import_roster(master, roster) if roster else None
    items, ignored = find_submissions(Path(submissions), names)
    outcomes: list[Outcome] = []
    gradable = []
    for item in items:
        if item.files:
            gradable.append(item)
        else:
            outcomes.append(Outcome(item.student, item.assignment, "not gradable", 0.0,
                                    "; ".join(item.problems)))
    bar = tqdm(total=len(gradable), desc="grading", unit="submission", disable=not progress)
    results: dict[tuple[str, str], Outcome] = {}
    if workers <= 1:
        for item in gradable:
            results[(item.student, item.assignment)] = _grade_one(str(master), item, cell_timeout)
            bar.update()
    else:
        threads = max(1, (os.cpu_count() or workers) // workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_grade_one, str(master), item, cell_timeout, threads): item
                       for item in gradable}
            for future in as_completed(futures):
                item = futures[future]
                try:
                    results[(item.student, item.assignment)] = future.result()
                except Exception as e:  # noqa: BLE001 - a worker crash fails one item only
                    results[(item.student, item.assignment)] = Outcome(
                        item.student, item.assignment, "failed to execute", 0.0, repr(e)[:300])
                bar.update()
    bar.close()
    for item in gradable:                                  # fixed order: same db for any workers
        outcome = results[(item.student, item.assignment)]
        if item.problems:
            outcome.detail = "; ".join(item.problems + ([outcome.detail] if outcome.detail else []))
        if outcome.status != "failed to execute":
            _merge(master, outcome)
        else:
            _record_zero(master, item)
        outcomes.append(outcome)
    for item in items:
        if not item.files:
            _record_zero(master, item)
    nb_api = course.api(master)
    for name in names:
        nb_api.generate_feedback(name, force=True)
    rows = course.grade_rows(master)
    course.write_csv(rows, out / "grades.csv")
    autograded = master / "autograded"
    found = mistakes.tally(autograded)
    mistakes.write_csv(found, out / "mistakes.csv")
    outcomes.sort(key=lambda o: (o.student, o.assignment))
    write_report(out / "report.txt", outcomes, ignored, rows, enrolled,
                 mistakes.format_table(found, mistakes.graded_counts(autograded)))
    shutil.rmtree(master / "work", ignore_errors=True)
    return outcomes


def write_report(path: Path, outcomes: list[Outcome], ignored: list[str], rows,
                 enrolled: list[str] | None = None, mistakes_table: str = "") -> None:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    manual = sum(1 for r in rows if r.needs_manual)
    order = ["graded", "timed out", "kernel died", "tampering suspected", "failed to execute",
             "not gradable"]
    lines = ["summary: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in order)
             + f"; {manual} notebooks need manual grading"]
    for o in outcomes:
        if o.status != "graded" or o.detail:
            lines.append(f"{o.student} / {o.assignment}: {o.status}. {o.detail}".strip())
    lines += [f"ignored: {line}" for line in ignored]
    if enrolled is not None:
        submitted = {o.student for o in outcomes}
        missing = [s for s in enrolled if s not in submitted]
        unknown = sorted(submitted - set(enrolled))
        if missing:
            lines.append(f"roster: no submission from {len(missing)}: {', '.join(missing)}")
        if unknown:
            lines.append(f"roster: {len(unknown)} not on the roster (no names in the "
                         f"formgrader; check their ids): {', '.join(unknown)}")
    if mistakes_table:
        lines += ["", mistakes_table]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument("--only", nargs="*", default=None, help="assignments (default: all)")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV with columns id,first_name,last_name,email: the students' names "
                             "in the gradebook (the formgrader shows them)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    outcomes = grade_class(args.submissions, args.out, args.workers, args.only,
                           roster=args.roster)
    print(course.format_table(course.grade_rows(args.out.resolve() / "course")))
    print((args.out / "report.txt").read_text(), end="")
    print(f"{len(outcomes)} submissions in {time.perf_counter() - start:.0f} s with "
          f"{args.workers} workers; grades: {args.out / 'grades.csv'}, what the class got wrong: "
          f"{args.out / 'mistakes.csv'}, feedback: {args.out / 'course' / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
