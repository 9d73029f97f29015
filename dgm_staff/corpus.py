"""Real student code through the real grader: does anyone lose (or gain) points they should not?

    python -m dgm_staff.corpus [--only vae gan wgan] [--limit N]   # prints a table, exit 1 if unfair

Each file of ``tests/corpus`` (public solutions of the assignments this course grew from) is
*transplanted* into a submission of the matching notebook: its code, verbatim, as extra cells in
front of the graded cells (imports of that course's own helper modules, which do not exist here,
are dropped), followed by a few lines of glue that bind the course's names to the student's
functions where the original assignment named or shaped them differently (documented per topic
in :data:`TOPICS`). The rest of the notebook holds the reference answers. The submission is then
autograded by the course's pipeline (review scan, sandboxed kernel, judge).

The expected verdict of each transplanted function comes from running the same cells in this
process and calling the staff check directly (no notebook, no kernel, no judge), hidden checks
included: the device checks run the code on meta tensors or the device stand-in here as they do
in the kernel, and the dtype checks alike, so code that would fail on a GPU earns a fail on both
sides (``tests/test_corpus.py``). A function whose
pipeline verdict differs from its direct verdict lost (or gained) points because of the grading
machinery, not because of its code: that is what this reports, with the review scan's findings
(which cost nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


@dataclass(frozen=True)
class Topic:
    notebook: str             # the course notebook the code goes into
    checks: str               # the staff checks module
    before: str               # grade id of the solution cell the student's cells go in front of
    glue: dict[str, str]      # grade id -> source that replaces that solution cell
    graded: tuple[str, ...]   # the course's names the transplanted code provides


TOPICS = {
    # UIUC hw3/hw5_vae.py: the graded functions are static methods (and elbo_loss a method) of
    # class VAE, with the course's names and signatures; sample_Bernoulli has a capital B.
    "vae": Topic("01_vae", "vae", "decoder", {
        "decoder": "_vae = VAE.__new__(VAE)      # the assignment's methods, without __init__",
        "sample_diagonal_gaussian": "sample_diagonal_gaussian = _vae.sample_diagonal_gaussian",
        "sample_bernoulli": "sample_bernoulli = _vae.sample_Bernoulli",
        "logpdf_diagonal_gaussian": "logpdf_diagonal_gaussian = _vae.logpdf_diagonal_gaussian",
        "logpdf_bernoulli": "logpdf_bernoulli = _vae.logpdf_bernoulli",
        "elbo_loss": "elbo_loss = _vae.elbo_loss",
    }, ("Decoder", "sample_diagonal_gaussian", "sample_bernoulli", "logpdf_diagonal_gaussian",
        "logpdf_bernoulli", "elbo_loss")),
    # UIUC hw3/hw5_gan.py: DNet and GNet (with _weight_init) have the course's names and tables.
    "gan": Topic("04_gan", "gan", "DNet", {
        "DNet": "# DNet: the cells above", "GNet": "# GNet: the cells above",
    }, ("DNet", "GNet")),
    # Coursera C1W3: gradient_penalty(gradient) takes the gradient from get_gradient(crit, real,
    # fake, epsilon); the losses take critic scores.
    "wgan": Topic("05_wgan", "wgan", "critic_loss", {
        "critic_loss": "def critic_loss(critic, real, fake):\n"
                       "    return get_crit_loss(critic(fake), critic(real), 0, 0)",
        "generator_loss": "def generator_loss(critic, fake):\n"
                          "    return get_gen_loss(critic(fake))",
        "gradient_penalty": "_assignment_gradient_penalty = gradient_penalty\n\n\n"
                            "def gradient_penalty(critic, real, fake, lambda_gp=10.0):\n"
                            "    epsilon = torch.rand(len(real), 1, 1, 1, device=real.device,\n"
                            "                         requires_grad=True)\n"
                            "    gradient = get_gradient(critic, real, fake, epsilon)\n"
                            "    return lambda_gp * _assignment_gradient_penalty(gradient)",
    }, ("critic_loss", "generator_loss", "gradient_penalty")),
}
#: The original courses' own helper modules (not available here; their imports are dropped).
MISSING_MODULES = re.compile(r"^\s*(from\s+(hw\d_utils|utils)\s+import|import\s+(hw\d_utils)).*$",
                             re.MULTILINE)


def student_cells(path: Path) -> list[str]:
    """The file's code as notebook cells (``# %% cell`` / ``# In[n]:`` markers split notebooks;
    a ``.py`` file is one cell), with the imports of missing helper modules dropped."""
    text = MISSING_MODULES.sub("pass  # (import of the original course's helpers)",
                               path.read_text())
    cells = re.split(r"^# %% cell\s*$|^# In\[\s*\d*\s*\]:\s*$", text, flags=re.MULTILINE)
    return [c.strip("\n") for c in cells if c.strip()]


def transplant(release_nb, solutions: dict[str, str], topic: Topic, cells: list[str]):
    """The reference submission with the student's cells in front of ``topic.before`` and the
    glue in the transplanted solution cells."""
    from dgm_staff.example_students import filled_submission

    nb = filled_submission(release_nb, solutions)
    out = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == topic.before:
            out += [nbformat.v4.new_code_cell(src) for src in cells]
        if gid in topic.glue:
            cell.source = topic.glue[gid]
        out.append(cell)
    nb.cells = out
    return nb


def test_cells_of(nb, name: str) -> list[str]:
    """Grade ids of the test cells that check ``name`` (``checks.check_<name>(``)."""
    pattern = re.compile(rf"checks\.check_{re.escape(name.lower())}\(")
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and pattern.search(c.source)]


@contextlib.contextmanager
def _quiet_scratch():
    """A scratch working folder, with output and warnings swallowed, for running student cells."""
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _run_cells(release_nb, topic: Topic, cells: list[str]) -> dict:
    ns: dict = {"__name__": "__main__"}
    setup = next(c.source for c in release_nb.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    for source in [setup, *cells, *topic.glue.values()]:
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            exec(compile("\n".join(lines), "<cell>", "exec"), ns)  # noqa: S102
        except BaseException as e:  # noqa: BLE001 - a failing cell, as in a notebook
            if isinstance(e, KeyboardInterrupt):
                raise
    return ns


def corpus_namespace(release_nb, topic: Topic, cells: list[str]) -> dict:
    """The names a corpus file defines: the set-up cell, the student's cells and the glue run in
    this process, each cell on its own with errors kept going, as a notebook runs them."""
    with _quiet_scratch():
        return _run_cells(release_nb, topic, cells)


def direct_verdicts(release_nb, topic: Topic, cells: list[str]) -> dict[str, bool]:
    """Run the corpus file's cells (:func:`corpus_namespace`) and call each staff check
    directly."""
    staff = importlib.import_module(f"grader_tests.{topic.checks}")
    with _quiet_scratch():
        ns = _run_cells(release_nb, topic, cells)
        verdicts = {}
        for name in topic.graded:
            try:
                getattr(staff, f"check_{name.lower()}")(ns[name], level="hidden")
                verdicts[name] = True
            except BaseException as e:  # noqa: BLE001 - any failure: not passed
                if isinstance(e, KeyboardInterrupt):
                    raise
                verdicts[name] = False
    return verdicts


@dataclass
class Row:
    file: str
    topic: str
    direct: dict[str, bool]
    graded: dict[str, bool] = field(default_factory=dict)
    review: list[str] = field(default_factory=list)

    @property
    def unfair(self) -> list[str]:
        return [n for n in self.direct if self.graded.get(n) != self.direct[n]]


def run(only: list[str] | None = None, limit: int | None = None,
        workdir: Path | None = None) -> list[Row]:
    from dgm_staff import class_records, course_folder

    manifest = json.loads((CORPUS / "MANIFEST.json").read_text())
    entries = [e for e in manifest if only is None or e["topic"] in only]
    if limit:
        entries = [e for t in TOPICS for e in [x for x in entries if x["topic"] == t][:limit]]
    root = Path(workdir or tempfile.mkdtemp(prefix="corpus-"))
    root.mkdir(parents=True, exist_ok=True)
    names = sorted({TOPICS[e["topic"]].notebook for e in entries})
    course_folder.generate_release(root / "release", names=names, course=root)
    rows, students = [], {}
    for k, entry in enumerate(entries):
        topic = TOPICS[entry["topic"]]
        release_nb = nbformat.read(root / "release" / topic.notebook /
                                   f"{topic.notebook}.ipynb", 4)
        cells = student_cells(CORPUS / entry["file"])
        solutions = course_folder.solution_sources(topic.notebook)[f"{topic.notebook}.ipynb"]
        student = f"corpus{k:02d}"
        target = root / "submitted" / student / topic.notebook / f"{topic.notebook}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(transplant(release_nb, solutions, topic, cells), target)
        rows.append(Row(entry["file"], entry["topic"], direct_verdicts(release_nb, topic, cells)))
        students.setdefault(topic.notebook, []).append((student, rows[-1]))
    for notebook, group in students.items():
        class_records.grade_course(root, [notebook], [s for s, _ in group])
        for student, row in group:
            nb = nbformat.read(root / "autograded" / student / notebook / f"{notebook}.ipynb", 4)
            failed = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                      if c.metadata.get("nbgrader", {}).get("grade")
                      and any(o.get("output_type") == "error" for o in c.get("outputs", []))}
            row.graded = {n: not (set(test_cells_of(nb, n)) & failed) for n in row.direct}
            row.review = list(nb.metadata.get("dgm_review", []))
    return rows


def format_rows(rows: list[Row]) -> str:
    lines = [f"{'file':<62} {'passed (direct)':>15} {'passed (graded)':>15} {'unfair':>6} "
             f"{'review':>6}"]
    for r in rows:
        lines.append(f"{r.file[:62]:<62} {sum(r.direct.values()):>8}/{len(r.direct):<6} "
                     f"{sum(r.graded.values()):>8}/{len(r.graded):<6} {len(r.unfair):>6} "
                     f"{len(r.review):>6}")
    unfair = [r for r in rows if r.unfair]
    lines.append(f"{len(rows)} files: {len(unfair)} with a verdict the grading machinery changed, "
                 f"{sum(1 for r in rows if r.review)} with review notes (no points lost)")
    for r in unfair:
        lines.append(f"  {r.file}: {', '.join(r.unfair)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(TOPICS))
    parser.add_argument("--limit", type=int, default=None, help="files per topic")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = run(args.only, args.limit, args.workdir)
    print(format_rows(rows))
    return 1 if any(r.unfair for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
