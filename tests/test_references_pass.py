"""The reference solution of every graded function passes its check, at both levels: one test
over the manifest and the graded cells of ``solutions/``, so that a new graded function is
covered without writing its test, and one without a check fails here."""

from __future__ import annotations

import importlib

import pytest

from dgm.manifest import notebook
from dgm_staff import leaks

GRADED = sorted(leaks._graded_signatures(leaks.ROOT / "solutions"))


def test_every_notebook_has_graded_functions():
    assert {nb for nb, _ in GRADED} == {"01_vae", "02_beta_vae", "03_echo", "04_gan", "05_wgan",
                                        "06_inversion"}


@pytest.mark.parametrize("level", ["visible", "hidden"])
@pytest.mark.parametrize("nb,name", GRADED, ids=[f"{nb}/{name}" for nb, name in GRADED])
def test_reference_passes(request, nb, name, level):
    staff = importlib.import_module(notebook(nb).staff_checks)
    check = getattr(staff, f"check_{name.lower()}", None)
    assert check is not None, (f"{nb}: the graded {name} has no check_{name.lower()} in "
                               f"{notebook(nb).staff_checks}: write one (see grader_tests/README.md)")
    reference = request.getfixturevalue(f"{notebook(nb).checks}_reference")
    assert name in reference, (f"{nb}: the reference fixture does not define {name}: add its "
                               "solution cell to the fixture in tests/conftest.py")
    check(reference[name], level=level)
