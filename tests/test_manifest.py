"""The course manifest (dgm.manifest) says what the repository holds: every notebook, its title,
its checks and its derivations; and nbgrader's markers are the ones the source notebooks use."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import nbformat
import pytest

from dgm import manifest

ROOT = Path(__file__).resolve().parent.parent


def test_the_manifest_lists_every_notebook_folder_in_course_order():
    folders = sorted(p.name for p in (ROOT / "solutions").iterdir()
                     if p.is_dir() and any(p.glob("*.ipynb")))
    assert list(manifest.IDS) == folders
    assert sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir()) == folders


@pytest.mark.parametrize("nb", manifest.NOTEBOOKS, ids=lambda nb: nb.id)
def test_each_entry_names_what_is_there(nb):
    source = nbformat.read(ROOT / "solutions" / nb.id / nb.file, 4)
    heading = next(c.source.splitlines()[0] for c in source.cells if c.cell_type == "markdown")
    assert heading.endswith(nb.title), heading
    setup = "\n".join(c.source for c in source.cells if c.cell_type == "code")
    assert f"from dgm.checks import {nb.checks} as checks" in setup
    importlib.import_module(nb.student_checks)
    importlib.import_module(nb.derivations)
    assert importlib.util.find_spec(nb.staff_checks) is not None


def test_an_unknown_notebook_names_the_known_ones():
    assert manifest.notebook("03_echo").checks == "echo"
    with pytest.raises(KeyError, match="01_vae, 02_beta_vae"):
        manifest.notebook("07_diffusion")


def test_the_markers_are_the_ones_the_source_notebooks_use():
    text = "\n".join((ROOT / "solutions" / nb.id / nb.file).read_text()
                     for nb in manifest.NOTEBOOKS)
    for marker in (manifest.BEGIN_SOLUTION, manifest.END_SOLUTION, manifest.BEGIN_HIDDEN,
                   manifest.END_HIDDEN, manifest.BEGIN_MARK_SCHEME, manifest.END_MARK_SCHEME):
        assert marker in text, marker
    from dgm_staff import pipeline

    assert (pipeline.BEGIN_HIDDEN, pipeline.END_HIDDEN) == (manifest.BEGIN_HIDDEN,
                                                            manifest.END_HIDDEN)
