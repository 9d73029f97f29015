"""Shared fixtures: the reference solution, loaded from the solution notebook itself."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DGM_BUDGET", "smoke")

#: Fixtures that grade a course with nbgrader (a kernel per submission): a test that uses one is
#: marked ``slow`` and ``nbgrader`` wherever it is, so that ``-m "not slow and not nbgrader"``
#: leaves it out.
GRADING_FIXTURES = {"graded"}


def pytest_collection_modifyitems(items):
    for item in items:
        if GRADING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.nbgrader)


def solution_cells(assignment: str, notebook: str | None = None) -> dict[str, str]:
    """Source of every nbgrader solution cell of a solution notebook, by grade id."""
    path = ROOT / "solutions" / assignment / f"{notebook or assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def load_reference(assignment: str, names: list[str], namespace: dict | None = None) -> dict:
    """Execute the named solution cells (in notebook order) and return their namespace."""
    cells = solution_cells(assignment)
    ns = {"torch": torch, "nn": nn, **(namespace or {})}
    for gid, source in cells.items():
        if gid in names:
            exec(compile(source, f"<{assignment}:{gid}>", "exec"), ns)  # noqa: S102
    return ns


@pytest.fixture(scope="session")
def vae_reference() -> dict:
    return load_reference("01_vae", ["decoder", "logpdf_diagonal_gaussian", "logpdf_bernoulli",
                                     "sample_diagonal_gaussian", "sample_bernoulli",
                                     "elbo_loss", "sample_data_space", "encode_means",
                                     "interpolation_path"])


@pytest.fixture(scope="session")
def beta_vae_reference() -> dict:
    return load_reference("02_beta_vae", ["kl_diagonal_gaussian", "beta_vae_loss",
                                          "log_aggregate_posterior"],
                          {"Normal": torch.distributions.Normal})


@pytest.fixture(scope="session")
def echo_reference() -> dict:
    return load_reference("03_echo", ["echo_sample", "echo_rate"])


@pytest.fixture(scope="session")
def gan_reference() -> dict:
    return load_reference("04_gan", ["sample_z", "DNet", "GNet", "d_loss", "g_loss"])


@pytest.fixture(scope="session")
def wgan_reference() -> dict:
    return load_reference("05_wgan", ["critic_loss", "generator_loss", "gradient_penalty"])


@pytest.fixture(scope="session")
def inversion_reference() -> dict:
    return load_reference("06_inversion", ["invert", "path_energy", "find_path"])  # noqa: E501
