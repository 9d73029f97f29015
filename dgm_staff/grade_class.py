"""Grade a whole class: every notebook of every student, in parallel, with nbgrader as the engine.

    python -m dgm_staff.grade_class SUBMISSIONS --out OUT [--workers 2] [--only 01_vae ...]
        [--roster roster.csv] [--scheduler tcp://HOST:PORT] [--resources GPU=1] [--restart]
        [--lms canvas|moodle [--lms-per-question]]

SUBMISSIONS is either nbgrader's layout (``[submitted/]<student>/<assignment>/<notebook>.ipynb``)
or a plain folder of returned notebooks named by student, as an LMS hands them out:
``<student>_<notebook>.ipynb`` (anything before the notebook's name is the student id), or
``<student>/<notebook>.ipynb``.

Design: nbgrader grades one submission at a time into an SQLite gradebook that must not be
written by two processes. Here each task grades one (student, assignment) on a Dask worker
(:mod:`dgm_staff.cluster`: an embedded cluster by default, or ``--scheduler``), in a course
folder of its own with its own copy of the gradebook, from the submission's bytes; it returns
the gradebook rows, the autograded notebooks and the feedback as data
(:func:`grade_submission`). The client alone copies them into the master gradebook, in a fixed
order. Scores are therefore the same for any engine and number of workers, and the same on a
re-run. OUT receives ``course/`` (gradebook, autograded notebooks, HTML feedback),
``grades.csv``, ``mistakes.csv`` (students per check and per mistake the checks named:
:mod:`dgm_staff.mistakes`), ``report.txt`` (what could not be graded, and why; the same table
of mistakes) and ``results/`` (each reply as it arrived: a re-run grades only what is missing;
``--restart`` starts over). A roster (``id,first_name,last_name,email``, as ``nbgrader db student import``
reads it) puts the students' names into the gradebook.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dgm.runtime import SANDBOX_HIDE_ENV, environ, repo_root
from dgm_staff import class_records, cluster, course_folder, mistakes


@dataclass
class Item:
    """One student's submission of one assignment."""

    student: str
    assignment: str
    files: dict[str, Path] = field(default_factory=dict)     # notebook file name -> path
    problems: list[str] = field(default_factory=list)
    #: nbgrader's files beside the notebooks of a collected submission (:data:`SUBMISSION_FILES`)
    extras: dict[str, Path] = field(default_factory=dict)


#: What ``nbgrader collect`` puts beside a submission's notebooks: the time it was submitted (the
#: gradebook's submission time, for late penalties) and the secret its feedback is released
#: under (``release_feedback`` reads both beside each feedback page).
SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")


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
    return {p.stem: name for name in course_folder.assignments()
            for p in (course_folder.solutions_dir() / name).glob("*.ipynb")}


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
        if len(rel.parts) == 3 and rel.parts[1] == assignment and not item.extras:
            item.extras = {n: path.parent / n for n in SUBMISSION_FILES
                           if (path.parent / n).is_file()}
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


def grade_submission(task: dict) -> dict:
    """The unit of work, run on a worker (:mod:`dgm_staff.cluster`): autograde one submission
    sent as bytes, in a private course folder of its own, and return everything as data.

    ``task`` holds ``student``, ``assignment``, ``files`` (notebook name -> bytes, and those of
    :data:`SUBMISSION_FILES` the submission has, which nbgrader carries into the autograded
    folder and the feedback), ``gradebook``
    (the bytes of the release gradebook the client built), ``cell_timeout``, ``threads`` (caps the
    kernel's math threads so that the workers of one machine do not oversubscribe its cores; None:
    the machine's cores shared by ``workers_on_host``), ``course`` (the course version the client
    grades with) and ``hide`` (client folders a kernel must not see where they exist here).
    The reply holds the outcome (``status``, ``detail``, ``seconds``), the gradebook rows of the
    submission, the autograded files and the feedback HTML (relative path -> bytes). The worker
    needs only the course environment; nothing is shared with the client but these bytes."""
    start = time.perf_counter()
    student, assignment = task["student"], task["assignment"]
    if task.get("course") and task["course"] != course_version(assignment):
        raise RuntimeError(f"this worker's course ({repo_root()}) differs from the "
                           f"client's for {assignment}: start the worker from the same version "
                           "of the course")
    root = Path(tempfile.gettempdir()) / "dgm-grading"
    root.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{student}__{assignment}-", dir=root))
    try:
        target = work / "submitted" / student / assignment
        target.mkdir(parents=True)
        (work / "gradebook.db").write_bytes(task["gradebook"])
        for name, data in task["files"].items():
            (target / name).write_bytes(data)
        hide = [str(root)] + [p for p in task.get("hide", []) if Path(p).is_dir()]
        env = {SANDBOX_HIDE_ENV: os.pathsep.join(hide)}
        threads = task.get("threads") or _threads_here(task.get("workers_on_host") or {})
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        with environ(**env), course_folder.nbgrader_submission_warnings_off():
            nb_api = course_folder.api(work, cell_timeout=task.get("cell_timeout"))
            result = nb_api.autograde(assignment, student, force=True, create=True)
            if result.get("success"):
                nb_api.generate_feedback(assignment, student, force=True)
        if not result.get("success"):
            log = (result.get("error") or result.get("log") or "").strip().splitlines()
            return {"status": "failed to execute", "seconds": time.perf_counter() - start,
                    "detail": log[-1][:300] if log else "nbgrader reported a failure"}
        autograded = work / "autograded" / student / assignment
        status, detail = _what_happened(autograded)
        return {"status": status, "detail": detail, "seconds": time.perf_counter() - start,
                "gradebook": _submission_rows(work / "gradebook.db", assignment, student),
                "autograded": _read_tree(autograded),
                "feedback": _read_tree(work / "feedback" / student / assignment)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _threads_here(workers_on_host: dict[str, int]) -> int:
    """This machine's cores shared by the grading workers the client counted on it."""
    try:
        from distributed import get_worker

        host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except (ImportError, ValueError):
        host = ""
    return max(1, (os.cpu_count() or 1) // max(1, workers_on_host.get(host, 1)))


#: Largest autograded folder a reply carries (a notebook's own outputs included).
MAX_REPLY_BYTES = 200_000_000


def _read_tree(folder: Path) -> dict[str, bytes]:
    files, total = {}, 0
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > MAX_REPLY_BYTES:
                raise RuntimeError(f"the autograded folder is over {MAX_REPLY_BYTES / 1e6:.0f} MB")
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in files.items():
        path = (folder / rel).resolve()
        if folder.resolve() not in path.parents:
            raise ValueError(f"a reply names a file outside its folder: {rel}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _submission_rows(db: Path, assignment: str, student: str) -> dict:
    """One submission's rows of a gradebook, as data: its timestamp, and per notebook the
    autograded score and manual flag of every grade and the comment of every comment."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        sub = gb.find_submission(assignment, student)
        return {"timestamp": sub.timestamp,
                "notebooks": {nb.name: {
                    "grades": {g.name: (g.auto_score, bool(g.needs_manual_grade))
                               for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments}}
                    for nb in sub.notebooks}}


def course_version(assignment: str) -> str:
    """A digest of the solution notebooks of ``assignment`` (they define its graded cells)."""
    h = hashlib.sha256()
    for path in sorted((course_folder.solutions_dir() / assignment).glob("*.ipynb")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _merge(master: Path, student: str, assignment: str, reply: dict) -> None:
    """Copy one reply's grades, autograded notebooks and feedback into the master course (the
    client only)."""
    from nbgrader.api import Gradebook

    rows = reply["gradebook"]
    with Gradebook(f"sqlite:///{master / 'gradebook.db'}") as mgb:
        mgb.update_or_create_student(student)
        with mgb.db.no_autoflush:      # see course_folder.nbgrader_submission_warnings_off
            mgb.update_or_create_submission(assignment, student, timestamp=rows["timestamp"])
        for nb_name, nb in rows["notebooks"].items():
            for name, (auto_score, needs_manual) in nb["grades"].items():
                mgrade = mgb.find_grade(name, nb_name, assignment, student)
                mgrade.auto_score = auto_score
                mgrade.needs_manual_grade = needs_manual
            for name, comment in nb["comments"].items():
                mgb.find_comment(name, nb_name, assignment, student).auto_comment = comment
        mgb.db.commit()
    _write_tree(master / "autograded" / student / assignment, reply["autograded"])
    _write_tree(master / "feedback" / student / assignment, reply["feedback"])


def _record_zero(master: Path, item: Item) -> None:
    """A student whose submission could not be graded appears with zero autograded points."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{master / 'gradebook.db'}") as mgb:
        mgb.update_or_create_student(item.student)
        with mgb.db.no_autoflush:      # see course_folder.nbgrader_submission_warnings_off
            sub = mgb.update_or_create_submission(item.assignment, item.student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type == "code":
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = False
        mgb.db.commit()


# ------------------------------------------------------------------------ the command ---------
def _fresh_course(out: Path, names: list[str]) -> Path:
    """``out/course``, emptied, with the release of ``names`` recorded in its gradebook."""
    master = out / "course"
    if master.exists():
        shutil.rmtree(master)
    master.mkdir(parents=True)
    course_folder.generate_release(master / "release", names=names, course=master)
    return master


def _tasks(gradable: list[Item], master: Path, submissions: Path, names: list[str],
           cell_timeout: int | None) -> list[dict]:
    """One :func:`grade_submission` task per gradable submission, all its data as bytes."""
    gradebook = (master / "gradebook.db").read_bytes()
    versions = {name: course_version(name) for name in names}
    return [{"student": i.student, "assignment": i.assignment,
             "files": {n: p.read_bytes() for n, p in sorted({**i.files, **i.extras}.items())},
             "gradebook": gradebook, "cell_timeout": cell_timeout,
             "course": versions[i.assignment],
             "hide": [str(master), str(Path(submissions).resolve())]} for i in gradable]


def _record_replies(master: Path, items: list[Item], replies: dict) -> list[Outcome]:
    """Every submission's outcome; the replies' grades merged into the master gradebook and the
    submissions that could not be graded recorded at zero, in a fixed order (the same gradebook
    whichever engine graded)."""
    outcomes = [Outcome(i.student, i.assignment, "not gradable", 0.0, "; ".join(i.problems))
                for i in items if not i.files]
    for item in (i for i in items if i.files):
        reply = replies[(item.student, item.assignment)]
        outcome = Outcome(item.student, item.assignment, reply["status"],
                          reply.get("seconds", 0.0), reply.get("detail", ""))
        if item.problems:
            outcome.detail = "; ".join(item.problems + ([outcome.detail] if outcome.detail else []))
        if "gradebook" in reply:
            _merge(master, item.student, item.assignment, reply)
        else:
            _record_zero(master, item)
        outcomes.append(outcome)
    for item in items:
        if not item.files:
            _record_zero(master, item)
    return sorted(outcomes, key=lambda o: (o.student, o.assignment))


def _write_results(out: Path, master: Path, outcomes: list[Outcome], ignored: list[str],
                   enrolled: list[str] | None) -> None:
    """``grades.csv``, ``mistakes.csv`` and ``report.txt`` from the master course."""
    rows = class_records.grade_rows(master)
    class_records.write_csv(rows, out / "grades.csv")
    autograded = master / "autograded"
    found = mistakes.tally(autograded)
    mistakes.write_csv(found, out / "mistakes.csv")
    write_report(out / "report.txt", outcomes, ignored, rows, enrolled,
                 mistakes.format_table(found, mistakes.graded_counts(autograded)))


def grade_class(submissions: Path, out: Path, workers: int = 2,
                assignments: list[str] | None = None, cell_timeout: int | None = None,
                progress: bool = True, roster: Path | None = None,
                scheduler: str | None = None, resources: dict[str, float] | None = None,
                restart: bool = False, lms: str | None = None,
                lms_per_question: bool = False) -> list[Outcome]:
    """Grade every submission in ``submissions`` into ``out`` (see the module's docstring).

    The work runs on Dask distributed (:mod:`dgm_staff.cluster`): an embedded cluster of
    ``workers`` processes, or the cluster whose scheduler is at ``scheduler``
    (``tcp://host:port``); ``workers=0`` grades in this process, one at a time. Each reply is
    stored in ``out/results/`` as it arrives, and a re-run grades only the submissions without a
    stored reply (``restart`` deletes them first). ``resources`` (e.g. ``{"GPU": 1}``) is what
    a notebook that trains networks asks of a worker, where any worker offers it. ``lms``
    (``canvas`` or ``moodle``) also writes the LMS's import file (:func:`dgm_staff.lms.export`).
    """
    names = assignments or course_folder.assignments()
    out = Path(out).resolve()
    master = _fresh_course(out, names)
    enrolled = class_records.import_roster(master, roster) if roster else None
    items, ignored = find_submissions(Path(submissions), names)
    gradable = [item for item in items if item.files]
    replies = cluster.run(grade_submission,
                          _tasks(gradable, master, submissions, names, cell_timeout),
                          cluster.ResultStore(out / "results", restart=restart),
                          workers=workers, scheduler=scheduler, resources=resources,
                          progress=progress)
    outcomes = _record_replies(master, items, replies)
    _write_results(out, master, outcomes, ignored, enrolled)
    if lms:
        from dgm_staff import lms as lms_export

        lms_export.export(lms, out_dir=out, grades_csv=out / "grades.csv",
                          gradebook=master / "gradebook.db", roster=roster,
                          per_question=lms_per_question)
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
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Each submission's result is stored in OUT/results/ as it arrives; after an "
               "interruption (Ctrl-C), the same command grades only the submissions without a "
               "stored result. To start over, pass --restart (or delete OUT/results/).")
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)),
                        help="worker processes of the embedded Dask cluster (default: the "
                             "cores); 0 grades in this process, one at a time")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="grade on the workers of this running Dask scheduler instead of an "
                             "embedded cluster (--workers is then ignored)")
    parser.add_argument("--resources", default=None, metavar="GPU=1",
                        help="what a notebook that trains networks asks of a worker, where any "
                             "worker advertises it (`dask worker ... --resources GPU=1`)")
    parser.add_argument("--restart", action="store_true",
                        help="forget the results stored in OUT/results/ and grade everything")
    parser.add_argument("--only", nargs="*", default=None, help="assignments (default: all)")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV with columns id,first_name,last_name,email: the students' names "
                             "in the gradebook (the formgrader shows them)")
    parser.add_argument("--lms", choices=("canvas", "moodle"), default=None,
                        help="also write the grades as this LMS's import file")
    parser.add_argument("--lms-per-question", action="store_true",
                        help="with --lms: one column per question instead of per notebook")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        outcomes = grade_class(args.submissions, args.out, args.workers, args.only,
                               roster=args.roster, scheduler=args.scheduler,
                               resources=cluster.parse_resources(args.resources),
                               restart=args.restart,
                               lms=args.lms, lms_per_question=args.lms_per_question)
    except KeyboardInterrupt:
        stored = len(list((args.out / "results").glob("*.pkl")))
        print(f"\ninterrupted: {stored} results are stored in {args.out / 'results'}; run the "
              "same command again to grade the rest (--restart starts over)", file=sys.stderr)
        return 130
    print(class_records.format_table(class_records.grade_rows(args.out.resolve() / "course")))
    print((args.out / "report.txt").read_text(), end="")
    engine = f"on {args.scheduler}" if args.scheduler else f"with {args.workers} workers"
    print(f"{len(outcomes)} submissions in {time.perf_counter() - start:.0f} s {engine}; "
          f"grades: {args.out / 'grades.csv'}, what the class got wrong: "
          f"{args.out / 'mistakes.csv'}, feedback: {args.out / 'course' / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
