"""The course's commands print nothing that nobody can act on: kernels started with transport
keys, restored cells with ids."""

from __future__ import annotations

import warnings

import nbformat
import pytest

from dgm_staff import course
from dgm_staff.pipeline import RestoreCellsWithIds

TRANSPORT_WARNING = "running over TCP without encryption"


@pytest.mark.nbgrader
@pytest.mark.slow
def test_notebook_runner_starts_kernels_without_the_transport_warning(tmp_path, capfd):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    NotebookClient(nbformat.read(tmp_path / "tiny.ipynb", 4), kernel_name="python3",
                   timeout=60).execute()               # a kernel as jupyter_client starts it
    plain = capfd.readouterr()
    if TRANSPORT_WARNING not in plain.out + plain.err:
        pytest.skip("this ipykernel does not warn about its transport")
    out = course.run_notebook(tmp_path / "tiny.ipynb", tmp_path / "ran.ipynb", timeout=60)
    ran = capfd.readouterr()
    assert TRANSPORT_WARNING not in ran.out + ran.err
    assert nbformat.read(out, 4).cells[0].outputs[0]["text"] == "42\n"


def test_restored_cells_get_ids(monkeypatch):
    from nbgrader.preprocessors import OverwriteCells

    def restore(self, nb, resources):              # what OverwriteCells does for a lost cell
        nb.cells.append(nbformat.NotebookNode(cell_type="code", metadata={}, source="# test",
                                              outputs=[], execution_count=None))
        return nb, resources

    monkeypatch.setattr(OverwriteCells, "preprocess", restore)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    kept = nb.cells[0].id
    nb, _ = RestoreCellsWithIds().preprocess(nb, {})
    assert nb.cells[0].id == kept and nb.cells[1].id and nb.cells[1].id != kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbformat.validate(nb)
