"""Real, public student code (``tests/corpus``) through the real grader keeps the verdict its code
earns (see :mod:`dgm_staff.corpus`): the review scan may note things, but the sandbox, the judge
and the pipeline never change whether a function passes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from dgm_staff import corpus

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((corpus.CORPUS / "MANIFEST.json").read_text())


def test_the_corpus_has_thirty_files_or_more_from_their_sources():
    assert len(MANIFEST) >= 30
    assert len({e["repo"] for e in MANIFEST}) >= 25
    assert {e["topic"] for e in MANIFEST} == set(corpus.TOPICS)
    for entry in MANIFEST:
        assert (corpus.CORPUS / entry["file"]).is_file(), entry["file"]


def test_a_transplant_keeps_the_students_code_verbatim():
    entry = next(e for e in MANIFEST if e["topic"] == "wgan")
    topic = corpus.TOPICS["wgan"]
    cells = corpus.student_cells(corpus.CORPUS / entry["file"])
    assert len(cells) > 3
    release = nbformat.read(ROOT / "notebooks" / topic.notebook / f"{topic.notebook}.ipynb", 4)
    from dgm_staff import course_folder

    solutions = course_folder.solution_sources(topic.notebook)[f"{topic.notebook}.ipynb"]
    nb = corpus.transplant(release, solutions, topic, cells)
    sources = [c.source for c in nb.cells]
    assert all(cell in sources for cell in cells)
    assert len(nb.cells) == len(release.cells) + len(cells)


@pytest.mark.nbgrader
@pytest.mark.slow
def test_real_student_code_keeps_its_verdict_through_the_grader(tmp_path):
    rows = corpus.run(limit=1, workdir=tmp_path / "course")      # one file per topic
    assert {r.topic for r in rows} == set(corpus.TOPICS)
    assert all(r.graded for r in rows)
    assert [(r.file, r.unfair) for r in rows if r.unfair] == []


def _direct(file: str) -> dict[str, bool]:
    entry = next(e for e in MANIFEST if e["file"] == file)
    topic = corpus.TOPICS[entry["topic"]]
    release = nbformat.read(ROOT / "notebooks" / topic.notebook / f"{topic.notebook}.ipynb", 4)
    return corpus.direct_verdicts(release, topic, corpus.student_cells(corpus.CORPUS / file))


def test_the_earned_verdict_includes_the_device_and_dtype_criteria():
    """The verdict a file earns is the staff check's, hidden device checks included: real
    samplers that draw on the CPU (torch.normal(size=...), torch.rand(p.shape) < p) or return
    p's dtype do not pass, the device-safe ones (torch.randn_like, float32 out) do."""
    on_the_cpu = _direct("vae/aceprime80_Machine-Learning-446__hw3_vae.py")
    assert not on_the_cpu["sample_diagonal_gaussian"] and not on_the_cpu["sample_bernoulli"]
    assert on_the_cpu["logpdf_diagonal_gaussian"]              # device=z.device: passes
    keeps_dtype = _direct("vae/danielhse_CS446-Machine-Learning__hw3_vae.py")
    assert keeps_dtype["sample_diagonal_gaussian"] and not keeps_dtype["sample_bernoulli"]
    assert keeps_dtype["logpdf_diagonal_gaussian"]       # MultivariateNormal, on the stand-in
