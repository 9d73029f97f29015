"""The course's notebooks, named once: every list of notebooks, and every map from a notebook to
its checks or its derivations, reads this module.

>>> from dgm.manifest import NOTEBOOKS, notebook
>>> [nb.id for nb in NOTEBOOKS][:2]
['01_vae', '02_beta_vae']
>>> notebook("06_inversion").staff_checks
'grader_tests.inversion'

It is part of the student package and holds only names: the staff checks are named as a string
and never imported here. The markers nbgrader reads in a source notebook are named here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from dgm.runtime import BUDGETS


@dataclass(frozen=True)
class Notebook:
    #: The notebook's folder in ``solutions/`` and ``notebooks/``, and its file's name.
    id: str
    #: Its title (the first heading of the notebook).
    title: str
    #: The short name of its checks: ``dgm.checks.<checks>`` (visible), ``grader_tests.<checks>``
    #: (visible and hidden, staff only) and ``derivations.<checks>`` (the written answers' key).
    checks: str

    @property
    def student_checks(self) -> str:
        """The module the release notebook binds to ``checks``."""
        return f"dgm.checks.{self.checks}"

    @property
    def staff_checks(self) -> str:
        """The module the judge binds to ``checks`` when it grades (a name only)."""
        return f"grader_tests.{self.checks}"

    @property
    def derivations(self) -> str:
        """The module in ``derivations/`` that verifies the notebook's written results."""
        return f"derivations.{self.checks}"

    @property
    def file(self) -> str:
        return f"{self.id}.ipynb"

    #: The budgets every notebook runs at (:mod:`dgm.runtime`).
    budgets = BUDGETS


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("01_vae", "Variational auto-encoders", "vae"),
    Notebook("02_beta_vae", "β-VAE and rate–distortion", "beta_vae"),
    Notebook("03_echo", "Echo noise", "echo"),
    Notebook("04_gan", "Generative adversarial networks", "gan"),
    Notebook("05_wgan", "Wasserstein GAN with gradient penalty", "wgan"),
    Notebook("06_inversion", "GAN inversion and latent path finding", "inversion"),
)
#: The notebooks' ids in course order.
IDS: tuple[str, ...] = tuple(nb.id for nb in NOTEBOOKS)


def notebook(notebook_id: str) -> Notebook:
    """The notebook ``notebook_id`` (``"01_vae"``); an unknown id raises a ``KeyError`` that
    lists the known ones."""
    for nb in NOTEBOOKS:
        if nb.id == notebook_id:
            return nb
    raise KeyError(f"no notebook {notebook_id!r} in the course: use one of {', '.join(IDS)}")


# nbgrader's markers in a source notebook (solutions/): the region the release replaces by a stub,
# the region it removes from test cells, and the graders' notes in a manually graded question.
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
BEGIN_MARK_SCHEME, END_MARK_SCHEME = "### BEGIN MARK SCHEME", "### END MARK SCHEME"
