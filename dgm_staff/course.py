"""Course commands: build the student release, grade example submissions, run the notebooks.

    python -m dgm_staff.course release        # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python -m dgm_staff.course demo           # release, grade three example submissions, print the
                                        # grade table, write feedback, run every solution
                                        # notebook at the smoke budget with its figures
    python -m dgm_staff.course run-solutions  # only the last step
    python -m dgm_staff.course bundle         # the student bundle: build/student-bundle/ and .zip

Every temporary course lives under ``build/`` (git-ignored) unless ``--workdir`` says otherwise;
the repository's own ``notebooks/`` is only written by ``release``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from traitlets.config import Config

from dgm_staff import course_folder, mistakes
from dgm_staff.class_records import (format_table, grade_course, grade_rows, import_roster,
                                     write_csv, write_roster)
from dgm_staff.course_folder import assignments, generate_release, release_dir
from dgm_staff.example_students import EXAMPLE_NAMES, write_example_submissions
from dgm_staff.pipeline import encrypted_kernels
from dgm_staff.student_bundle import build_bundle
from dgm.runtime import BUDGET_ENV, OUTPUT_ENV, environ, repo_root


_STUDENT_CHECKS = re.compile(r"^from dgm\.checks import (\w+) as checks$", re.MULTILINE)


def as_judged(source: str) -> str:
    """A solution notebook's cell with ``checks`` bound as the judge binds it: the set-up cell's
    ``from dgm.checks import vae as checks`` becomes ``from grader_tests import vae as checks``
    (the visible checks plus the hidden ones), so that the solution runs whole, hidden regions
    included, outside the grader (nbval, the demo, the benchmark)."""
    return _STUDENT_CHECKS.sub(r"from grader_tests import \1 as checks", source)


def run_notebook(path: Path, out: Path, timeout: int = 600, env: dict | None = None) -> Path:
    """Execute a notebook (in its own folder) and save the executed copy to ``out``. A solution
    notebook runs with the staff checks (:func:`as_judged`, the repository on the kernel's
    path)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = dict(env or {})
    if Path(path).resolve().is_relative_to(course_folder.solutions_dir().resolve()):
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = as_judged(cell.source)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(repo_root()), os.environ.get("PYTHONPATH", "")) if p)
    with environ(**env):
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}},
                       config=encrypted_kernels(Config())).execute()
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def run_solutions(workdir: Path, names: list[str]) -> list[Path]:
    """Every solution notebook at the smoke budget; executed copies and figures in ``workdir``."""
    outputs = []
    env = {BUDGET_ENV: "smoke", OUTPUT_ENV: str(workdir / "figures")}
    for name in names:
        for path in sorted((course_folder.solutions_dir() / name).glob("*.ipynb")):
            start = time.perf_counter()
            out = run_notebook(path, workdir / "executed" / name / path.name, env=env)
            print(f"  {name}/{path.name}: ran in {time.perf_counter() - start:.1f} s -> {out}")
            outputs.append(out)
    return outputs


def demo(workdir: Path, names: list[str]) -> int:
    from dgm.data import ensure_mnist

    ensure_mnist()
    if workdir.exists():
        shutil.rmtree(workdir)
    course = workdir / "course"
    course.mkdir(parents=True)
    print(f"1/4 building the student release in {release_dir()} ...")
    generate_release(names=names)
    generate_release(course / "release", names=names, course=course)
    print("2/4 autograding three example submissions (reference, untouched, buggy) ...")
    students = write_example_submissions(course, names)
    roster = write_roster(workdir / "roster.csv", {s: EXAMPLE_NAMES[s] for s in students})
    import_roster(course, roster)
    timings = grade_course(course, names, students)
    rows = grade_rows(course)
    print(format_table(rows))
    slowest = max(timings, key=timings.get)
    print(f"autograding took {sum(timings.values()):.0f} s for {len(timings)} submissions "
          f"(slowest: {slowest.removeprefix('autograde ')}, {timings[slowest]:.1f} s)")
    csv_path = write_csv(rows, workdir / "grades.csv")
    autograded = course / "autograded"
    found = mistakes.tally(autograded)
    print(mistakes.format_table(found, mistakes.graded_counts(autograded)))
    mistakes_csv = mistakes.write_csv(found, workdir / "mistakes.csv")
    print(f"3/4 grades: {csv_path}; what the class got wrong: {mistakes_csv}; feedback: "
          f"{course / 'feedback'}; roster (names in the formgrader): {roster}")
    print("4/4 running the solution notebooks at the smoke budget ...")
    run_solutions(workdir, names)
    print(f"figures: {workdir / 'figures'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["release", "bundle", "demo", "run-solutions"])
    parser.add_argument("--workdir", type=Path, default=repo_root() / "build" / "demo")
    parser.add_argument("--only", nargs="*", default=None, help="assignments (default: all)")
    parser.add_argument("--colab-repo", default=None, metavar="https://github.com/OWNER/REPO",
                        help="bundle: where the bundle is published; its README links every "
                             "notebook to Colab")
    args = parser.parse_args(argv)
    names = args.only or assignments()
    if args.command == "release":
        print(f"release written to {generate_release(names=names)}")
        return 0
    if args.command == "bundle":
        folder, archive = build_bundle(colab_repo=args.colab_repo)
        print(f"student bundle: {folder} (archive {archive})")
        return 0
    if args.command == "run-solutions":
        run_solutions(args.workdir, names)
        return 0
    return demo(args.workdir, names)


if __name__ == "__main__":
    sys.exit(main())
