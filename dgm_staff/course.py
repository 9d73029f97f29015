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
import contextlib
import copy
import csv
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import warnings

import nbformat
from traitlets.config import Config

from dgm_staff import exchange as shared_exchange
from dgm_staff import mistakes
from dgm_staff.pipeline import configure, encrypted_kernels
from dgm.manifest import BEGIN_SOLUTION, END_SOLUTION
from dgm.runtime import environ, repo_root


def solutions_dir() -> Path:
    return repo_root() / "solutions"


def release_dir() -> Path:
    return repo_root() / "notebooks"


def assignments() -> list[str]:
    """The course's notebooks in course order (``01_vae``, ``02_…``), as the manifest lists them
    (:mod:`dgm.manifest`; ``tests/test_manifest.py`` checks it against ``solutions/``)."""
    from dgm.manifest import IDS

    return list(IDS)


def nbgrader_config(root: Path, *, release: Path | None = None,
                    cell_timeout: int | None = None, exchange: Path | str | None = None,
                    course_id: str | None = None) -> Config:
    """nbgrader configuration for a course folder ``root`` that reads ``solutions/`` in place.

    ``exchange`` and ``course_id`` name the exchange the course releases into and collects from,
    shared with the students (default: ``$DGM_EXCHANGE`` and ``$DGM_COURSE_ID``, else the
    course's own ``exchange/`` folder and :data:`dgm_staff.exchange.COURSE_ID`)."""
    c = Config()
    configure(c, root)
    if cell_timeout is not None:
        c.Execute.timeout = c.RobustExecute.timeout = cell_timeout
    c.CourseDirectory.source_directory = str(solutions_dir())
    if release is not None:
        c.CourseDirectory.release_directory = str(release)
    else:
        c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    c.Exchange.root = shared_exchange.exchange_root(root, exchange)
    c.CourseDirectory.course_id = shared_exchange.course_id(course_id)
    c.Application.log_level = "WARN"
    return c


def _tools_on_path() -> None:
    """nbgrader runs ``alembic`` (its gradebook migrations) by name: make it findable even when
    this environment was not activated."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])


def api(root: Path, **kwargs):
    _tools_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(root, **kwargs)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


@contextlib.contextmanager
def nbgrader_submission_warnings_off():
    """Silence one harmless SQLAlchemy warning that nbgrader's own apps raise while they record a
    submission (autograde): ``Gradebook.add_submission`` builds the submission and its rows
    before it adds them to the session, and under SQLAlchemy 2 (whose backrefs no longer cascade
    new objects into the session) the autoflush in between warns "Object of type
    <SubmittedAssignment> not in session"; nbgrader adds and commits them right after. Where the
    course calls the gradebook itself it avoids the warning instead (``no_autoflush`` in
    :mod:`dgm_staff.grade_class`)."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session",
                                category=SAWarning)
        yield


def _check(result: dict, what: str) -> None:
    if not result.get("success", False):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('error') or result.get('log')}")


def generate_release(dest: Path | None = None, names: list[str] | None = None,
                     course: Path | None = None) -> Path:
    """Run ``generate_assignment`` for every assignment into ``dest`` (default ``notebooks/``).

    With ``course``, the assignments are recorded in that course's gradebook (as autograde
    needs); without, a throw-away gradebook is used. Either way each assignment's folder gets
    the page its *Running these notebooks* cell links to, beside the notebook
    (:mod:`dgm_staff.running_page`), so that ``release_assignment`` sends it with the notebook.
    (nbgrader's own ``generate_assignment --force`` rebuilds the folder from ``solutions/``
    alone: run this after it.)
    """
    from dgm_staff import running_page

    dest = Path(dest or release_dir())
    names = list(names or assignments())
    with tempfile.TemporaryDirectory() as tmp:
        nb_api = api(Path(course or tmp), release=dest)
        for name in names:
            _check(nb_api.generate_assignment(name, force=True, create=True),
                   f"generate_assignment {name}")
    running_page.write_pages(dest, names)
    return dest


# ------------------------------------------------------------------------ example submissions -
def _solution_sources(assignment: str) -> dict[str, dict[str, str]]:
    """Per notebook, the source of every solution cell, by cell id."""
    out = {}
    for path in sorted((solutions_dir() / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        out[path.name] = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                          if c.metadata.get("nbgrader", {}).get("solution")}
    return out


def _strip_solution_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))


def filled_submission(release_nb: nbformat.NotebookNode, solutions: dict[str, str],
                      edits: dict[str, tuple[str, str]] | None = None) -> nbformat.NotebookNode:
    """A released notebook with its solution cells filled from the reference solution.

    ``edits`` maps a cell id to ``(old, new)``: a text replacement in that cell, which is how the
    examples (and the tests) write a realistic bug into an otherwise correct submission.
    """
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell.source = _strip_solution_markers(solutions[gid])
            if edits and gid in edits:
                old, new = edits[gid]
                if old not in cell.source:
                    raise ValueError(f"edit for {gid}: {old!r} not found")
                cell.source = cell.source.replace(old, new)
    return nb


#: The realistic bugs of the "buggy" example, per assignment: (cell id -> (old text, new text)).
EXAMPLE_BUGS = {
    "01_vae": {   # the variance used as the standard deviation; log(0) not guarded
        "sample_diagonal_gaussian": ("torch.sqrt(sigma_square) * ", "sigma_square * "),
        "logpdf_bernoulli": ("p = p.clamp(eps, 1 - eps)", "pass"),
    },
    "02_beta_vae": {   # squared error averaged over pixels; log(sum(exp)) instead of logsumexp
        "beta_vae_loss": ("((x - x_recon) ** 2).sum(-1)", "((x - x_recon) ** 2).mean(-1)"),
        "log_aggregate_posterior": ("torch.logsumexp(log_q, dim=1)",
                                    "torch.log(torch.exp(log_q).sum(1))"),
    },
    "03_echo": {   # an off-by-one that lets an example echo itself; log of a negative s
        "echo_sample": ("(rows + shift) % batch", "(rows + shift - 1) % batch"),
        "echo_rate": ("torch.log(torch.abs(s_x))", "torch.log(s_x)"),
    },
    "04_gan": {   # the fake batch not detached in the D step; the wrong LeakyReLU slope
        "d_loss": ("d_net(g_net(z).detach())", "d_net(g_net(z))"),
        "GNet": ("self.act1 = nn.LeakyReLU(0.2)", "self.act1 = nn.LeakyReLU(0.01)"),
    },
    "05_wgan": {   # the squared gradient norm; the critic's loss with the wrong sign
        "gradient_penalty": ("grad.flatten(1).norm(2, dim=1)", "(grad.flatten(1) ** 2).sum(1)"),
        "critic_loss": ("critic(fake).mean() - critic(real).mean()",
                        "critic(real).mean() - critic(fake).mean()"),
    },
    "06_inversion": {   # gradients left in the generator; a left Riemann sum
        "invert": ("(grad,) = torch.autograd.grad(loss.sum(), [z])",
                   "loss.sum().backward()\n        grad = z.grad"),
        "path_energy": ("(0.5 * (f[1:] + f[:-1]) * lengths).sum()", "(f[:-1] * lengths).sum()"),
    },
}


EXAMPLE_STUDENTS = ("reference", "untouched", "buggy")


def example_submission(name: str, released: nbformat.NotebookNode, kind: str,
                       solutions: dict[str, str]) -> nbformat.NotebookNode:
    """A released notebook of assignment ``name`` as one of the example students hands it in:
    filled with the reference solution, untouched, or with the course's realistic bugs
    (:data:`EXAMPLE_BUGS`). ``solutions`` are that notebook's solution cells."""
    if kind == "untouched":
        return released
    if kind not in EXAMPLE_STUDENTS:
        raise ValueError(f"kind {kind!r}: use one of {', '.join(EXAMPLE_STUDENTS)}")
    bugs = EXAMPLE_BUGS.get(name, {}) if kind == "buggy" else None
    return filled_submission(released, solutions, bugs)


def write_example_submissions(course: Path, names: list[str]) -> list[str]:
    """Put three students in ``course/submitted``: reference, untouched, buggy."""
    release = course / "release"
    for name in names:
        solutions = _solution_sources(name)
        for path in sorted((release / name).glob("*.ipynb")):
            released = nbformat.read(path, as_version=4)
            for student in EXAMPLE_STUDENTS:
                target = course / "submitted" / student / name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(example_submission(name, released, student,
                                                  solutions[path.name]), target)
    return list(EXAMPLE_STUDENTS)


#: Names of the example students, for the demo's roster (the formgrader lists "last, first").
EXAMPLE_NAMES = {"reference": ("Rita", "Reference"), "untouched": ("Umar", "Untouched"),
                 "buggy": ("Bea", "Buggy")}


# ------------------------------------------------------------------------ roster --------------
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")


def write_roster(path: Path, names: dict[str, tuple[str, str]]) -> Path:
    """A roster CSV (``id,first_name,last_name,email``) for students ``id -> (first, last)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ROSTER_COLUMNS)
        for student, (first, last) in names.items():
            writer.writerow([student, first, last, f"{student}@example.org"])
    return path


def import_roster(course: Path, roster: Path) -> list[str]:
    """Add the students of a roster CSV to the gradebook of ``course``, or update their names, as
    ``nbgrader db student import`` does: an ``id`` column (required) and any of ``first_name``,
    ``last_name``, ``email``, ``lms_user_id``; other columns are ignored, an empty cell is no
    value. Returns the ids, in the roster's order."""
    from nbgrader.api import Gradebook

    entries, columns = read_roster(roster)
    fields = [c for c in ("first_name", "last_name", "email", "lms_user_id") if c in columns]
    _tools_on_path()                  # a new gradebook runs alembic
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for student, entry in entries.items():
            gb.update_or_create_student(student, **{k: entry.get(k) or None for k in fields})
    return list(entries)


def read_roster(roster: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """A roster CSV's rows by student id, in its order (cells stripped, an empty cell as ""; rows
    without an id left out), and its column names. It needs an ``id`` column."""
    with open(roster, newline="", encoding="utf-8-sig") as f:      # -sig: spreadsheets' BOM
        reader = csv.DictReader(f)
        columns = [name.strip() for name in reader.fieldnames or []]
        if "id" not in columns:
            raise ValueError(f"{roster}: a roster needs an 'id' column (it has: "
                             f"{', '.join(columns) or 'none'}); expected "
                             f"{','.join(ROSTER_COLUMNS)}")
        reader.fieldnames = columns
        rows = {}
        for entry in reader:
            student = (entry.get("id") or "").strip()
            if student:
                rows[student] = {k: (v or "").strip() for k, v in entry.items() if k}
    return rows, columns


# ------------------------------------------------------------------------ grading -------------
@dataclass(frozen=True)
class GradeRow:
    student: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    auto_score: float
    auto_max: float
    needs_manual: bool


def grade_rows(course: Path) -> list[GradeRow]:
    """Scores per student and notebook, read from the course's gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except Exception:  # noqa: BLE001 - no submission for this student
                    continue
                for nb in sub.notebooks:
                    auto_max = sum(g.max_score for g in nb.grades if g.cell.cell_type == "code")
                    auto_score = sum((g.auto_score or 0.0) for g in nb.grades
                                     if g.cell.cell_type == "code")
                    rows.append(GradeRow(student.id, assignment.name, nb.name, nb.score,
                                         nb.max_score, auto_score, auto_max,
                                         bool(nb.needs_manual_grade)))
    return sorted(rows, key=lambda r: (r.student, r.assignment, r.notebook))


def write_csv(rows: list[GradeRow], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", "notebook", "score", "max_score",
                         "autograded_score", "autograded_max", "needs_manual_grade"])
        for r in rows:
            writer.writerow([r.student, r.assignment, r.notebook, f"{r.score:g}",
                             f"{r.max_score:g}", f"{r.auto_score:g}", f"{r.auto_max:g}",
                             r.needs_manual])
    return path


def format_table(rows: list[GradeRow]) -> str:
    header = f"{'student':<12} {'notebook':<16} {'autograded':>12} {'total':>12}  manual"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.student:<12} {r.notebook:<16} {r.auto_score:>5g} / {r.auto_max:<4g} "
                     f"{r.score:>5g} / {r.max_score:<4g}  "
                     f"{'pending' if r.needs_manual else 'done'}")
    if any(r.needs_manual for r in rows):
        lines.append("pending: written answers still to be graded by hand (in the formgrader); "
                     "until then they count 0 in the total")
    return "\n".join(lines)


def grade_course(course: Path, names: list[str], students: list[str],
                 cell_timeout: int | None = None) -> dict[str, float]:
    """Autograde and generate feedback for every student and assignment; seconds per step."""
    nb_api = api(course, cell_timeout=cell_timeout)
    timings = {}
    with nbgrader_submission_warnings_off():
        for name in names:
            for student in students:
                start = time.perf_counter()
                _check(nb_api.autograde(name, student, force=True, create=True),
                       f"autograde {name} {student}")
                timings[f"autograde {name} {student}"] = time.perf_counter() - start
            _check(nb_api.generate_feedback(name, force=True), f"generate_feedback {name}")
    return timings


# ------------------------------------------------------------------------ running notebooks ---
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
    if Path(path).resolve().is_relative_to(solutions_dir().resolve()):
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
    env = {"DGM_BUDGET": "smoke", "DGM_OUTPUT": str(workdir / "figures")}
    for name in names:
        for path in sorted((solutions_dir() / name).glob("*.ipynb")):
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


#: What the student bundle holds, relative to the repository: the release notebooks, the student
#: package (helpers, visible contract checks, the metric's classifier and the fallback generator),
#: and the files that install it. Nothing else: no solutions/, grader_tests/, derivations/,
#: dgm_staff/, scripts/, tests/ or benchmarks/.
BUNDLE_CONTENTS = ("notebooks", "dgm", "environment.yml", "constraints.txt", "LICENSE")
BUNDLE_README = """# Deep generative models: student notebooks

    python -m venv .venv && . .venv/bin/activate      # Windows: .venv\\Scripts\\activate
    pip install -c constraints.txt -e ".[local]"      # or: conda env create -f environment.yml
    python -m dgm.data                                # MNIST into data/ (no download needed)
    jupyter lab notebooks                             # then open 01_vae/01_vae.ipynb

Fill in the cells marked `YOUR CODE HERE` and the *Written answer* cells, run the notebook from
top to bottom, and use *Validate* before you hand it in. Set `DGM_BUDGET=smoke` before starting
Jupyter for a quick end-to-end run; the default trains at the assignments' full budgets.

**Where PyTorch is already installed** (Colab, a JupyterHub image, a conda environment):
`pip install -e .` without the constraints file. The package needs `torch>=2.4` and
`torchvision>=0.19` and keeps the copies it finds; JupyterLab and nbgrader's *Validate* are only
in the `[local]` extra, for your own machine.
"""

#: Colab's address of a notebook on GitHub: owner/repository, branch, path in the repository.
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/{branch}/{path}"


def colab_links(repo_url: str, notebooks: list[str]) -> str:
    """The README section with an "Open in Colab" link per notebook of a bundle published at
    ``repo_url`` (``https://github.com/OWNER/REPO``, optionally ``/tree/BRANCH``; default branch
    ``main``); ``notebooks`` are paths in that repository."""
    import re as _re

    m = _re.fullmatch(r"(?:https?://)?github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?"
                      r"(?:/tree/([\w./-]+))?/?", repo_url.strip())
    if not m:
        raise ValueError(f"{repo_url!r} is not a GitHub repository address: Colab opens notebooks "
                         "from https://github.com/OWNER/REPO (or .../tree/BRANCH)")
    repo, branch = m.group(1), m.group(2) or "main"
    lines = ["", "## Open in Colab", "",
             ("Each link opens the notebook in Google Colab; run "
              f"`!git clone https://github.com/{repo} course && pip install -e course` in its "
              "first cell (Colab's own PyTorch is kept)."), ""]
    for path in notebooks:
        url = COLAB_URL.format(repo=repo, branch=branch, path=path)
        lines.append(f"* [{Path(path).stem}]({url}) "
                     f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                     f"({url})")
    return "\n".join(lines) + "\n"


#: Dependencies the student package does not need on a machine that has Jupyter (Colab, a hub):
#: the notebook server and nbgrader's Validate go to the ``[local]`` extra; the staff tools
#: (cluster grading, randomised checks, offline feedback) are left out.
LOCAL_EXTRA = ("jupyterlab", "nbgrader")
STAFF_ONLY_DEPENDENCIES = ("distributed", "hypothesis", "jupyter-server-mathjax")


def _student_pyproject(text: str) -> str:
    """The course's pyproject.toml for the bundle: the same package; its dependencies without the
    staff tools, JupyterLab and nbgrader moved to the ``[local]`` extra (so that the bundle
    installs over an existing PyTorch and Jupyter, as on Colab); test extras left out."""
    import re as _re

    out, skip, local = [], False, []
    in_deps = False
    for line in text.splitlines():
        if line.startswith("[project.optional-dependencies]") or line.startswith("[tool.pytest"):
            skip = True
        elif line.startswith("[") and skip:
            skip = False
        if skip:
            continue
        if line.startswith("dependencies = ["):
            in_deps = True
        elif in_deps and line.strip() == "]":
            in_deps = False
        elif in_deps:
            name = _re.match(r'\s*"([A-Za-z0-9_.-]+)', line)
            if name and name.group(1).lower() in STAFF_ONLY_DEPENDENCIES:
                continue
            if name and name.group(1).lower() in LOCAL_EXTRA:
                local.append(line.strip().rstrip(","))
                continue
        out.append(line)
    text = "\n".join(out) + "\n"
    extra = "[project.optional-dependencies]\nlocal = [" + ", ".join(local) + "]\n\n"
    return text.replace("[tool.setuptools.packages.find]", extra + "[tool.setuptools.packages.find]")


def build_bundle(dest: Path | None = None, release: bool = True,
                 colab_repo: str | None = None) -> tuple[Path, Path]:
    """The folder and ``.zip`` archive to hand to students (``build/student-bundle``). With
    ``colab_repo`` (the GitHub address where the bundle is published) its README gets an
    "Open in Colab" link per notebook."""
    import shutil
    import zipfile

    root = repo_root()
    dest = Path(dest or root / "build" / "student-bundle")
    if release:
        generate_release()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
    for name in BUNDLE_CONTENTS:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / "pyproject.toml").write_text(_student_pyproject((root / "pyproject.toml").read_text()))
    readme = BUNDLE_README
    if colab_repo:
        readme += colab_links(colab_repo, sorted(p.relative_to(dest).as_posix()
                                                 for p in (dest / "notebooks").glob("*/*.ipynb")))
    (dest / "README.md").write_text(readme)
    archive = dest.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(dest.rglob("*")):
            if path.is_file():
                zf.write(path, Path(dest.name) / path.relative_to(dest))
    return dest, archive


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
