"""One short *Running these notebooks* cell, the same in every notebook, links to one page
(``notebooks/RUNNING.md``, :mod:`dgm_staff.running_page`) that holds the details; the page states
every notebook's budgets as its set-up cell defines them, and ships with the release and the
student bundle."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from dgm import runtime
from dgm.manifest import NOTEBOOKS
from dgm_staff import course, running_page

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


@pytest.mark.parametrize("folder", ["release", "bundle"])
def test_the_link_resolves_in_the_release_and_in_the_bundle(folder, tmp_path):
    if folder == "release":
        root = RELEASE
    else:
        bundle, archive = course.build_bundle(tmp_path / "student-bundle", release=False)
        root = bundle / "notebooks"
        with zipfile.ZipFile(archive) as zf:
            assert f"student-bundle/notebooks/{running_page.PAGE}" in zf.namelist()
    for path in _notebooks(root):
        for target in LINK.findall(_running_cell(path)):
            page = (path.parent / target).resolve()
            assert page == (root / running_page.PAGE).resolve() and page.is_file(), \
                f"{path}: link {target} does not lead to {running_page.PAGE}"
            assert page.read_text(encoding="utf-8").startswith("# Running the notebooks")


def test_the_page_is_what_the_code_defines():
    assert running_page.stale(RELEASE) is None, running_page.stale(RELEASE)


def test_the_page_states_each_budget_as_the_set_up_cells_define_it():
    text = (RELEASE / running_page.PAGE).read_text(encoding="utf-8")
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
        for key in full:
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
    solutions = _solutions_with(tmp_path, "01_vae", "SMOKE = Config(epochs=2,",
                                "SMOKE = Config(epochs=3,")
    why = running_page.stale(RELEASE, solutions)
    assert why and "out of date" in why and "course release" in why
    changed = running_page.budgets_of(running_page.setup_source(solutions / "01_vae/01_vae.ipynb"))
    stated = _page_tables((RELEASE / running_page.PAGE).read_text(encoding="utf-8"))["01_vae"]
    assert stated["epochs"] != ("200", running_page.fmt(changed["smoke"]["epochs"]))
    fresh = tmp_path / "release"
    fresh.mkdir()
    running_page.write_page(fresh, solutions)
    assert _page_tables((fresh / running_page.PAGE).read_text())["01_vae"]["epochs"] == ("200", "3")


def test_a_set_up_cell_without_a_smoke_config_is_refused_with_the_reason(tmp_path):
    solutions = _solutions_with(tmp_path, "02_beta_vae", "SMOKE = Config(", "QUICK = Config(")
    with pytest.raises(ValueError, match=r"02_beta_vae set-up cell: no SMOKE defined"):
        running_page.course_budgets(solutions)
