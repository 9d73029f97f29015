"""Every measured number a student reads comes from the benchmark's measurements: the wall time in
each notebook's header agrees with ``benchmarks/measurements.json`` (within the stated
tolerance), and no model answer or heading quotes sample-quality scores that a run would make
stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from dgm_staff.bench.common import WALL_TOLERANCE

ROOT = Path(__file__).resolve().parent.parent
MEASURED = json.loads((ROOT / "benchmarks" / "measurements.json").read_text())
NAMES = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
STATED = re.compile(r"about (\d+) minutes? on a 2-core CPU\s*\(measured by the course's\s+"
                    r"benchmark: (\d+) s")


def _cells(name: str, folder: str = "solutions"):
    return nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4).cells


def header_time_problem(name: str, header: str) -> str | None:
    """What is wrong with the measured time ``header`` states for notebook ``name`` (``None``:
    nothing)."""
    found = STATED.findall(" ".join(header.split()))
    if len(found) != 1:
        return f"{name}: the header must state its measured full-budget time once"
    minutes, seconds = (int(v) for v in found[0])
    measured = MEASURED["full"]["notebooks"][name]["seconds"]
    if abs(seconds - measured) > WALL_TOLERANCE * measured:
        return f"{name}: the header says {seconds} s, the benchmark measured {measured:.0f} s"
    if abs(minutes - seconds / 60) > 1:
        return f"{name}: {minutes} minutes vs {seconds} s"
    return None


@pytest.mark.parametrize("name", NAMES)
def test_the_header_states_the_measured_full_budget_time(name):
    header = _cells(name)[0].source
    assert header_time_problem(name, header) is None
    assert "GPU times have not been measured yet" in header or MEASURED["full"]["machine"]["gpu"]


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.parametrize("name", NAMES)
def test_no_text_quotes_a_sample_quality_score(name, folder):
    """IS / FID and optimal path energies change with every run: model answers and task texts
    state them qualitatively, and the students read their own numbers in their tables."""
    score = re.compile(r"\b(IS|FID|U\^?\*?)\s*(=|:)?\s*\d+(\.\d+)?\b")
    for cell in _cells(name, folder):
        if cell.cell_type == "markdown":
            assert not score.search(cell.source), (name, cell.source[:200])


def test_the_check_catches_a_stale_or_missing_header_time():
    stated = "ran in about {} minutes on a 2-core CPU (measured by the course's benchmark: {} s)"
    measured = MEASURED["full"]["notebooks"]["02_beta_vae"]["seconds"]
    assert header_time_problem("02_beta_vae", stated.format(round(measured / 60),
                                                            round(measured))) is None
    assert "measured" in header_time_problem("02_beta_vae", stated.format(19, 1139))  # stale
    assert "minutes vs" in header_time_problem("02_beta_vae",
                                               stated.format(20, round(measured)))
    assert "once" in header_time_problem("02_beta_vae", "19 minutes on a 2-core CPU")
