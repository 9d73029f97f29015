"""The example students: submissions written from the reference solution, handed in untouched,
or with the course's realistic bugs (:data:`EXAMPLE_BUGS`). The demo grades them, and the tests
and benchmarks build their submissions the same way.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from dgm.manifest import BEGIN_SOLUTION, END_SOLUTION
from dgm_staff.course_folder import solution_sources


def strip_solution_markers(source: str) -> str:
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
            cell.source = strip_solution_markers(solutions[gid])
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
        solutions = solution_sources(name)
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
