"""One short *Running these notebooks* cell, the same in every notebook, links to one page
(``RUNNING.md`` beside the notebook, the same in every assignment's folder:
:mod:`dgm_staff.running_page`) that holds the details; the page states every notebook's budgets
as its set-up cell defines them, and goes wherever an assignment's folder goes: the release, the
student bundle and nbgrader's exchange (release_assignment, then a student's fetch_assignment)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from dgm import runtime
from dgm.manifest import NOTEBOOKS
from dgm_staff import course_folder, student_bundle, exchange, running_page

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "notebooks"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _running_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade_id") == running_page.CELL_ID]
    assert len(cells) == 1, f"{path}: {len(cells)} cells with grade id {running_page.CELL_ID!r}"
    return cells[0].source


def _notebooks(folder: Path) -> list[Path]:
    return [folder / nb.id / nb.file for nb in NOTEBOOKS]


def _page_tables(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """The page's budget tables read back: notebook id -> setting -> (full, smoke)."""
    tables, current = {}, None
    for line in text.splitlines():
        heading = re.fullmatch(r"\*\*(\w+)\*\*", line.strip())
        if heading:
            current = tables.setdefault(heading.group(1), {})
        row = re.fullmatch(r"\| `(\w+)` \| (.*) \| (.*) \|", line.strip())
        if row and current is not None:
            current[row.group(1)] = (row.group(2), row.group(3))
    return tables


def test_the_shared_cell_is_short_and_the_same_in_every_notebook_and_the_release():
    sources = {p.relative_to(ROOT).as_posix(): _running_cell(p)
               for folder in (ROOT / "solutions", RELEASE) for p in _notebooks(folder)}
    assert len(sources) == 2 * len(NOTEBOOKS)
    first = next(iter(sources.values()))
    differ = [name for name, text in sources.items() if text != first]
    assert not differ, f"the shared running cell differs in {differ}: edit solutions/ and release"
    assert first.startswith("**Running these notebooks**")
    assert "Budget:" in first and "Device:" in first        # tests/test_browser.py reads these
    assert "raise NotImplementedError()" in first
    assert len(first.splitlines()) <= 8, "the shared cell should stay short: details go to the page"
    assert LINK.findall(first) == [running_page.LINK]


def _assert_links_resolve(path: Path) -> None:
    """Every link of ``path``'s running cell leads to the page beside it, in its own folder."""
    targets = LINK.findall(_running_cell(path))
    assert targets, f"{path}: the running cell links to nothing"
    for target in targets:
        page = (path.parent / target).resolve()
        assert page == (path.parent / running_page.PAGE).resolve(), \
            f"{path}: link {target} leads to {page}, not to {running_page.PAGE} beside it"
        assert page.is_file(), f"{path}: its link {target} is broken: no {page}"
        assert page.read_text(encoding="utf-8") == running_page.render(), \
            f"{page}: not the course's page"


@pytest.mark.parametrize("folder", ["release", "bundle"])
def test_the_link_resolves_in_the_release_and_in_the_bundle(folder, tmp_path):
    if folder == "release":
        root = RELEASE
    else:
        bundle, archive = student_bundle.build_bundle(tmp_path / "student-bundle", release=False)
        root = bundle / "notebooks"
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
        for nb in NOTEBOOKS:
            assert f"student-bundle/notebooks/{nb.id}/{running_page.PAGE}" in names, nb.id
    for path in _notebooks(root):
        _assert_links_resolve(path)


@pytest.mark.slow                # 5.6 s: one assignment generated, released, fetched
def test_the_page_travels_with_one_assignment_through_the_exchange(tmp_path):
    """The instructor generates and releases one assignment alone (release_assignment copies
    only its folder); a student, in a home of their own with only the students'
    nbgrader_config.py, fetches it: the fetched folder holds the page the cell links to."""
    name = "02_beta_vae"
    shared, root, home = tmp_path / "exchange", tmp_path / "course", tmp_path / "home" / "ada"
    root.mkdir()
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        exchange.student_config(shared, student="ada"))
    course_folder.generate_release(root / "release", names=[name], course=root)
    result = course_folder.api(root, exchange=shared).release_assignment(name)
    assert result.get("success"), result.get("error") or result.get("log")
    env = {"HOME": str(home), "USER": "ada", "LOGNAME": "ada",
           "PATH": os.environ.get("PATH", ""), "LANG": os.environ.get("LANG", "C.UTF-8")}
    run = subprocess.run([sys.executable, "-m", "nbgrader", "fetch_assignment", name], cwd=home,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"fetch_assignment failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    fetched = home / name
    assert sorted(p.name for p in fetched.iterdir()) == sorted([f"{name}.ipynb",
                                                                running_page.PAGE]), \
        f"the fetched {name}/ must hold the notebook and the {running_page.PAGE} it links to"
    _assert_links_resolve(fetched / f"{name}.ipynb")


@pytest.mark.slow                # 3 s: one nbgrader generate_assignment
def test_nbgrader_generate_assignment_writes_the_page_with_its_preprocessor(tmp_path):
    """nbgrader's own generate_assignment (the formgrader's Generate) rebuilds the release folder
    from solutions/ alone; the course's configuration (pipeline.configure calls
    :func:`running_page.configure`) has it write the page beside the notebook."""
    name = "02_beta_vae"
    (tmp_path / "release" / name).mkdir(parents=True)
    (tmp_path / "release" / name / running_page.PAGE).write_text("old")   # --force drops it
    c = course_folder.nbgrader_config(tmp_path, release=tmp_path / "release")
    assert "WriteRunningPage" in [p.__name__ for p in c.GenerateAssignment.preprocessors], \
        "the course's configuration lacks running_page.configure(c) (in pipeline.configure)"
    running_page.configure(c)                                             # once only
    added = [p for p in c.GenerateAssignment.preprocessors if p.__name__ == "WriteRunningPage"]
    assert len(added) == 1 and c.GenerateAssignment.preprocessors[-1] is added[0]
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course_folder.tools_on_path()
    result = NbGraderAPI(CourseDirectory(config=c), config=c).generate_assignment(
        name, force=True, create=True)
    assert result.get("success"), result.get("error") or result.get("log")
    _assert_links_resolve(tmp_path / "release" / name / f"{name}.ipynb")


def test_the_page_is_what_the_code_defines():
    assert running_page.stale(RELEASE) is None, running_page.stale(RELEASE)
    assert not (RELEASE / running_page.PAGE).exists(), "no page outside the assignments' folders"


def test_a_missing_or_leftover_page_is_stale(tmp_path):
    release = tmp_path / "release"
    for nb in NOTEBOOKS:
        (release / nb.id).mkdir(parents=True)
    running_page.write_pages(release)
    assert running_page.stale(release) is None
    (release / "03_echo" / running_page.PAGE).unlink()
    (release / running_page.PAGE).write_text("old")
    why = running_page.stale(release)
    assert why and "03_echo" in why and "missing" in why and "leftover" in why, why
    with pytest.raises(FileNotFoundError, match="no released assignment '07_x'"):
        running_page.write_pages(release, ["07_x"])


def test_the_page_states_each_budget_as_the_set_up_cells_define_it():
    text = (RELEASE / "01_vae" / running_page.PAGE).read_text(encoding="utf-8")
    for name in runtime.BUDGETS:
        assert f"`{name}`" in text
    for env in (runtime.BUDGET_ENV, runtime.DEVICE_ENV, runtime.OUTPUT_ENV, runtime.AUTOGRADE_ENV):
        assert env in text
    assert "raise NotImplementedError()" in text and "YOUR CODE HERE" in text
    tables = _page_tables(text)
    assert list(tables) == [nb.id for nb in NOTEBOOKS]
    for nb in NOTEBOOKS:
        settings = running_page.budgets_of(
            running_page.setup_source(ROOT / "solutions" / nb.id / nb.file))
        full, smoke = settings["full"], settings["smoke"]
        stated = tables[nb.id]
        assert stated, f"{nb.id}: the page states no budget"
        assert (full["budget"], smoke["budget"]) == ("full", "smoke"), nb.id
        assert "budget" not in stated, nb.id       # the columns name it; it is not a setting row
        for key in full.keys() - {"budget"}:
            if full[key] != smoke[key]:
                assert stated.get(key) == (running_page.fmt(full[key]),
                                           running_page.fmt(smoke[key])), (nb.id, key)
            else:
                assert key not in stated, (nb.id, key)


def _solutions_with(tmp_path: Path, nb_id: str, old: str, new: str) -> Path:
    root = tmp_path / "solutions"
    shutil.copytree(ROOT / "solutions", root)
    path = root / nb_id / f"{nb_id}.ipynb"
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    assert old in setup.source
    setup.source = setup.source.replace(old, new)
    nbformat.write(nb, path)
    return root


def test_a_changed_budget_makes_the_page_out_of_date(tmp_path):
    """A notebook whose smoke budget trains 3 epochs instead of 2: the committed page is stale,
    and its table no longer states the budget."""
    solutions = _solutions_with(tmp_path, "01_vae", 'SMOKE = Config(budget="smoke", epochs=2,',
                                'SMOKE = Config(budget="smoke", epochs=3,')
    why = running_page.stale(RELEASE, solutions)
    assert why and "out of date" in why and "course release" in why
    for nb in NOTEBOOKS:         # every assignment's copy is stale, not only 01's
        assert f"{nb.id}/{running_page.PAGE} is out of date" in why, nb.id
    changed = running_page.budgets_of(running_page.setup_source(solutions / "01_vae/01_vae.ipynb"))
    stated = _page_tables((RELEASE / "01_vae" / running_page.PAGE).read_text(encoding="utf-8"))
    assert stated["01_vae"]["epochs"] != ("200", running_page.fmt(changed["smoke"]["epochs"]))
    fresh = tmp_path / "release"
    (fresh / "04_gan").mkdir(parents=True)
    [page] = running_page.write_pages(fresh, ["04_gan"], solutions)
    assert _page_tables(page.read_text())["01_vae"]["epochs"] == ("200", "3")


def test_a_set_up_cell_without_a_smoke_config_is_refused_with_the_reason(tmp_path):
    solutions = _solutions_with(tmp_path, "02_beta_vae", "SMOKE = Config(", "QUICK = Config(")
    with pytest.raises(ValueError, match=r"02_beta_vae set-up cell: no SMOKE defined"):
        running_page.course_budgets(solutions)
