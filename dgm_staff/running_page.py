"""The course's one page on running the notebooks: ``RUNNING.md`` in every assignment's folder.

Every notebook opens with the same short *Running these notebooks* cell (grade id ``running``),
which links to this page beside it (``notebooks/<id>/RUNNING.md``); the page holds the details:
the budgets (each notebook's settings at each budget, read from the ``FULL`` and ``SMOKE``
configurations of its set-up cell, and the rules of :func:`dgm.runtime.budget`), the device, the
output folders, and how to fill in the cells. ``python -m dgm_staff.course release`` writes it,
the same text, into each assignment's release folder, so that it travels wherever one
assignment's folder goes: the committed release, the students' working copy, the student
bundle, and nbgrader's exchange (``release_assignment`` sends, and ``fetch_assignment`` brings,
the whole folder). ``tests/test_running_page.py`` holds it equal to what the code defines.

    python -m dgm_staff.running_page          # (re)write notebooks/<id>/RUNNING.md
    python -m dgm_staff.running_page --check  # exit 1, saying why, if one is out of date
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

import nbformat

from dgm import runtime
from dgm.manifest import NOTEBOOKS

#: The page's file name, in each assignment's folder (beside its notebook).
PAGE = "RUNNING.md"
#: The grade id of the shared cell that links to the page.
CELL_ID = "running"
#: The link the shared cell holds: from ``<id>/<id>.ipynb`` to the page beside it (a link that
#: leaves the assignment's folder would break where the folder travels alone: nbgrader's
#: exchange moves one assignment's folder and nothing else).
LINK = PAGE
#: The configurations a set-up cell defines, in the page's column order.
BUDGET_CONFIGS = {"full": "FULL", "smoke": "SMOKE"}


def _solutions() -> Path:
    return runtime.repo_root() / "solutions"


def setup_source(notebook_path: Path) -> str:
    """The source of a notebook's set-up cell (grade id ``setup``)."""
    nb = nbformat.read(notebook_path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup":
            return cell.source
    raise ValueError(f"{notebook_path}: no cell with grade id 'setup' (the cell that defines "
                     "Config, FULL and SMOKE)")


def budgets_of(source: str, where: str = "set-up cell") -> dict[str, dict[str, object]]:
    """Each budget's settings, ``{"full": {field: value}, "smoke": {...}}``, as a set-up cell
    defines them: its ``Config`` dataclass and its ``FULL = Config(...)`` and
    ``SMOKE = Config(...)`` lines, run on their own (nothing else of the cell is run)."""
    tree = ast.parse(source)
    wanted = set(BUDGET_CONFIGS.values())
    keep = [node for node in tree.body
            if (isinstance(node, ast.ClassDef) and node.name == "Config")
            or (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id in wanted)]
    found = {n.name if isinstance(n, ast.ClassDef) else n.targets[0].id for n in keep}
    missing = sorted(({"Config"} | wanted) - found)
    if missing:
        raise ValueError(f"{where}: no {', '.join(missing)} defined at the top level (the page "
                         "reads `class Config`, `FULL = Config(...)` and `SMOKE = Config(...)`)")
    namespace = {"dataclass": dataclasses.dataclass}
    exec(compile(ast.Module(body=keep, type_ignores=[]), where, "exec"), namespace)  # noqa: S102
    return {b: dataclasses.asdict(namespace[name]) for b, name in BUDGET_CONFIGS.items()}


def course_budgets(solutions: Path | None = None) -> dict[str, dict[str, dict[str, object]]]:
    """Every notebook's budgets (:func:`budgets_of`), by notebook id, in course order."""
    root = Path(solutions or _solutions())
    return {nb.id: budgets_of(setup_source(root / nb.id / nb.file), f"{nb.id} set-up cell")
            for nb in NOTEBOOKS}


def fmt(value: object) -> str:
    """A setting as the page prints it (``60000``, ``0.001``, ``(0.03,)``)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value) if isinstance(value, str) else f"{value}"


def budget_rows(settings: dict[str, dict[str, object]]) -> list[tuple[str, str, str]]:
    """``(setting, full, smoke)`` for every setting the two budgets set differently (the
    ``budget`` field itself, which names the column, is not a row)."""
    full, smoke = settings["full"], settings["smoke"]
    return [(k, fmt(full[k]), fmt(smoke[k])) for k in full
            if full[k] != smoke[k] and k != "budget"]


def render(solutions: Path | None = None) -> str:
    """The page's text."""
    r = runtime
    full, smoke = r.BUDGETS
    lines = [
        "# Running the notebooks",
        "",
        "This page is the same for every notebook of the course; each notebook's *Running these",
        "notebooks* cell links here. (Generated from the course's code; do not edit by hand.)",
        "",
        "## Budgets",
        "",
        f"Every notebook runs at one of {len(r.BUDGETS)} budgets: `{full}`, the original "
        "assignment's settings, and",
        f"`{smoke}`, a quick end-to-end run (seconds to a minute per notebook) while you work.",
        "Which one applies, first rule first:",
        "",
        f"1. nbgrader's *Validate* and the autograder (they set `{r.AUTOGRADE_ENV}`) always run "
        f"`{smoke}`;",
        f"2. `{r.BUDGET_ENV}={smoke}` (or `{full}`) set before you start Jupyter, for every "
        "notebook;",
        f"3. the notebook's own *budget* cell, just below its header: `choose_budget(\"{full}\")` "
        f"or `choose_budget(\"{smoke}\")`;",
        f"4. `{smoke}` under continuous integration (`{r.CI_ENV}` set);",
        f"5. otherwise `{full}`.",
        "",
        "Change the budget cell and run the notebook again from the top. What each budget "
        "changes, per notebook",
        "(every other setting is the same at both budgets):",
    ]
    for nb_id, settings in course_budgets(solutions).items():
        lines += ["", f"**{nb_id}**", "", f"| setting | `{full}` | `{smoke}` |", "|---|---|---|"]
        lines += [f"| `{k}` | {a} | {b} |" for k, a, b in budget_rows(settings)]
    lines += [
        "",
        "## Outputs",
        "",
        f"Figures, checkpoints and results go to `outputs/{full}/<notebook>/` or "
        f"`outputs/{smoke}/<notebook>/`",
        f"(under `${r.OUTPUT_ENV}` if it is set), one folder per budget: a quick run never "
        "replaces what a",
        "full-budget run saved. Every training cell saves a checkpoint after each epoch: run "
        "the cell again",
        "after an interruption and it carries on from the last finished epoch; after a "
        "finished run it loads",
        "the trained model instead of training again, and says so.",
        "",
        "## Device",
        "",
        f"CUDA, then Apple MPS, then the CPU, chosen automatically; `{r.DEVICE_ENV}=cpu` "
        "(or `cuda`, `cuda:1`, `mps`)",
        "forces one. Make every tensor in your functions on your inputs' device and dtype",
        "(`torch.zeros_like(x)`, `torch.randn_like(mu)`, `device=x.device`), never with a bare",
        "`torch.zeros(n)`: the hidden tests run your functions once more on inputs that live on "
        "another device,",
        "so code that would fail on a GPU fails them on any machine.",
        "",
        "## Filling in the cells",
        "",
        "* **Code cells:** write your code in place of `# YOUR CODE HERE` and delete the line",
        "  `raise NotImplementedError()` under it (left in, it fails the cell and every test "
        "that needs it).",
        "  Keep the functions' names; extra cells, helper functions, imports and magics are fine.",
        "* **Formula, number or choice cells:** assign the value the cell asks for; the visible "
        "test below it",
        "  checks the form, hidden tests grade it when you hand it in.",
        "* **Written answers:** write in the *Written answer* cell, in place of "
        "`YOUR ANSWER HERE`.",
        "* **Reading questions:** quote the numbers of your own run in your answer. The grader "
        "judges the",
        "  numbers you quote: the autograder re-runs your notebook at the quick budget, and the "
        "outputs it",
        "  shows come from that re-run (your own run's outputs are kept beside them, marked as "
        "yours and not",
        "  re-verified).",
        "* **Before you hand in:** run the notebook from top to bottom, then press *Validate* "
        "in the toolbar",
        "  (it runs the notebook at the quick budget with its visible tests). Do not rename, "
        "delete or copy cells.",
        "",
    ]
    return "\n".join(lines)


def _ids(names: list[str] | None) -> list[str]:
    return list(names) if names is not None else [nb.id for nb in NOTEBOOKS]


def write_pages(release: Path, names: list[str] | None = None,
                solutions: Path | None = None) -> list[Path]:
    """Write the page into the folder of each assignment ``names`` (default: all) of the release
    folder ``release``, beside its notebook; returns the pages' paths."""
    release, text = Path(release), render(solutions)
    paths = []
    for nb_id in _ids(names):
        folder = release / nb_id
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no released assignment {nb_id!r} to put "
                                    f"{PAGE} in (generate its release first)")
        (folder / PAGE).write_text(text, encoding="utf-8")
        paths.append(folder / PAGE)
    return paths


def stale(release: Path, solutions: Path | None = None,
          names: list[str] | None = None) -> str | None:
    """Why the pages in ``release`` (one per assignment ``names``, default all) are not what the
    code defines, or ``None`` when they are."""
    release, text = Path(release), render(solutions)
    fix = ("run `python -m dgm_staff.course release` (or `python -m dgm_staff.running_page`) "
           "and commit the pages")
    problems = []
    for nb_id in _ids(names):
        path = release / nb_id / PAGE
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path} is out of date with the notebooks' budgets or dgm.runtime")
    if (release / PAGE).exists():
        problems.append(f"{release / PAGE} is a leftover: the page lives in each assignment's "
                        "folder, beside its notebook; delete it")
    return "; ".join(problems) + f": {fix}" if problems else None


def page_preprocessor():
    """An nbgrader preprocessor class that puts the page beside each notebook nbgrader's own
    ``generate_assignment`` writes (through the writer's ``outputs``, as nbconvert writes
    extracted files), so that a release generated outside
    :func:`dgm_staff.course_folder.generate_release`
    (the formgrader's *Generate*, ``nbgrader generate_assignment`` with the course's
    configuration) carries it too. nbgrader's ``--force`` rebuilds an assignment's release folder
    from ``solutions/`` alone, which holds no page."""
    from nbgrader.preprocessors import NbGraderPreprocessor

    class WriteRunningPage(NbGraderPreprocessor):
        def preprocess(self, nb, resources):
            resources.setdefault("outputs", {})[PAGE] = render().encode("utf-8")
            return nb, resources

    return WriteRunningPage


def configure(c) -> None:
    """Add :func:`page_preprocessor` to ``c``'s ``GenerateAssignment`` preprocessors (after
    nbgrader's own, or those ``c`` already sets; once)."""
    from nbgrader.converters import GenerateAssignment

    current = list(c.GenerateAssignment.preprocessors if "preprocessors" in c.GenerateAssignment
                   else GenerateAssignment.class_traits()["preprocessors"].default())
    if not any(getattr(p, "__name__", "") == "WriteRunningPage" for p in current):
        c.GenerateAssignment.preprocessors = [*current, page_preprocessor()]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is up to date")
    args = parser.parse_args(argv)
    release = runtime.repo_root() / "notebooks"
    if args.check:
        why = stale(release)
        print(why or f"{release}/<id>/{PAGE} are up to date")
        return 1 if why else 0
    for path in write_pages(release):
        print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
