"""A mistake costs points once: a function that calls another graded function is judged with the
reference (or a check's stand-in) in place of the student's helper, in the judge as in the
kernel. Each case is run both ways: a wrong helper under a right function costs the helper's
cells only; a wrong function over right helpers still fails.

The student's names live in a namespace of their own, as in a kernel, and the cells are decided
by the judge (:func:`tests.judge_harness.judged`), the student's code answering over the wire."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grader_tests import inversion as inversion_checks
from grader_tests import vae as vae_checks
from tests.conftest import solution_cells
from tests.judge_harness import judged

VAE_NAMES = ["decoder", "logpdf_diagonal_gaussian", "logpdf_bernoulli",
             "sample_diagonal_gaussian", "sample_bernoulli", "elbo_loss", "sample_data_space"]


def student(assignment: str, names: list[str], *overrides: str) -> dict:
    """A kernel's namespace: the reference's cells ``names``, then the student's ``overrides``
    (source defining some of the functions differently)."""
    ns: dict = {"torch": torch, "nn": nn}
    cells = solution_cells(assignment)
    for gid in names:
        exec(compile(cells[gid], f"<{gid}>", "exec"), ns)  # noqa: S102
    for source in overrides:
        exec(compile(source, "<student>", "exec"), ns)  # noqa: S102
    return ns


def cells(check: str, name: str) -> list[str]:
    return [f"checks.{check}({name})", f"checks.{check}({name}, level='hidden')"]


def verdicts(ns: dict, checks, check: str, name: str) -> list[BaseException | None]:
    return [judged(ns, checks, source) for source in cells(check, name)]


WRONG_BERNOULLI = '''
def logpdf_bernoulli(x, p):
    return (x * torch.log(p.clamp(1e-7, 1 - 1e-7))).sum(-1)       # the (1 - x) term is missing
'''

OWN_HELPER_ELBO = '''
def _reconstruction(x, p):
    return logpdf_bernoulli(x, p)

def elbo_loss(sampled_z, mu, sigma_square, x, p):
    d = sampled_z.shape[-1]
    prior = logpdf_diagonal_gaussian(sampled_z, torch.zeros_like(sampled_z),
                                     torch.ones_like(sampled_z))
    log_q = logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)
    return (_reconstruction(x, p) + prior - log_q).mean()
'''

SUMMED_ELBO = '''
def elbo_loss(sampled_z, mu, sigma_square, x, p):
    prior = logpdf_diagonal_gaussian(sampled_z, torch.zeros_like(sampled_z),
                                     torch.ones_like(sampled_z))
    return (logpdf_bernoulli(x, p) + prior
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).sum()   # not the mean
'''

THRESHOLD_SAMPLER = '''
def sample_bernoulli(p):
    return (p > 0.5).float()                    # a threshold, not a sample
'''


def test_a_wrong_helper_costs_its_own_cells_only():
    ns = student("01_vae", VAE_NAMES, WRONG_BERNOULLI)
    assert all(v is not None for v in verdicts(ns, vae_checks, "check_logpdf_bernoulli",
                                               "logpdf_bernoulli"))
    assert verdicts(ns, vae_checks, "check_elbo_loss", "elbo_loss") == [None, None]


def test_the_helper_is_replaced_inside_the_students_own_functions():
    ns = student("01_vae", VAE_NAMES, WRONG_BERNOULLI, OWN_HELPER_ELBO)
    assert verdicts(ns, vae_checks, "check_elbo_loss", "elbo_loss") == [None, None]


def test_a_wrong_function_over_right_helpers_still_fails():
    ns = student("01_vae", VAE_NAMES, SUMMED_ELBO)
    for verdict in verdicts(ns, vae_checks, "check_elbo_loss", "elbo_loss"):
        assert verdict is not None and "How to fix" in str(verdict)


def test_a_decorated_function_sees_the_replacement():
    # sample_data_space is decorated with @torch.no_grad(): the helper is replaced through the
    # decorator's closure
    ns = student("01_vae", VAE_NAMES, THRESHOLD_SAMPLER)
    assert judged(ns, vae_checks, "checks.check_sample_bernoulli(sample_bernoulli, "
                                  "level='hidden')") is not None
    assert verdicts(ns, vae_checks, "check_sample_data_space", "sample_data_space") == \
        [None, None]


def test_a_right_sampler_under_a_wrong_data_space_function_fails():
    ns = student("01_vae", VAE_NAMES, '''
@torch.no_grad()
def sample_data_space(decoder, n_samples=10, latent_dimension=2):
    p = decoder(torch.zeros(n_samples, latent_dimension))      # z is not drawn from the prior
    return p, sample_bernoulli(p)
''')
    assert verdicts(ns, vae_checks, "check_sample_data_space", "sample_data_space")[1] \
        is not None


PATH_NAMES = ["invert", "path_energy", "find_path"]

FLOAT_ENERGY = '''
def path_energy(g, Z, x_A, x_B):
    out = g(Z).flatten(1)
    f = ((out - x_A.flatten()) ** 2).sum(1) + ((out - x_B.flatten()) ** 2).sum(1)
    seg = (Z[1:] - Z[:-1]).norm(dim=1)
    return float((0.5 * (f[1:] + f[:-1]) * seg).sum())     # a Python float: no gradient
'''


def test_find_path_is_judged_with_the_reference_energy():
    # find_path optimises through path_energy: the reference's value and its gradients reach the
    # student's loop in the kernel from the judge
    ns = student("06_inversion", PATH_NAMES, FLOAT_ENERGY)
    assert judged(ns, inversion_checks, "checks.check_path_energy(path_energy, level='hidden')") \
        is not None
    assert verdicts(ns, inversion_checks, "check_find_path", "find_path") == [None, None]


def test_a_find_path_that_does_not_optimise_still_fails():
    ns = student("06_inversion", PATH_NAMES, '''
def find_path(g, z_A, z_B, x_A, x_B, n_points=10, steps=200, lr=0.01):
    t = torch.linspace(0, 1, n_points, device=z_A.device)[:, None]
    return (1 - t) * z_A + t * z_B                            # the straight line, never improved
''')
    assert any(v is not None for v in verdicts(ns, inversion_checks, "check_find_path",
                                               "find_path"))


def test_the_kernel_side_isolation_matches():
    # the visible checks in the student's own kernel isolate the same way (no judge there)
    from dgm.checks import vae as visible

    ns = student("01_vae", VAE_NAMES, WRONG_BERNOULLI)
    visible.check_elbo_loss(ns["elbo_loss"])
    ns = student("01_vae", VAE_NAMES, SUMMED_ELBO)
    with pytest.raises(AssertionError, match="How to fix"):
        visible.check_elbo_loss(ns["elbo_loss"])


@pytest.mark.parametrize("value,kind", [("fractions.Fraction(1, 2)", "Fraction"),
                                        ("decimal.Decimal('0.5')", "Decimal")])
def test_exact_numbers_reach_the_judge_as_themselves(value, kind):
    # a written answer given as a Fraction or a Decimal is judged as that number, not as an
    # object the judge cannot read
    ns = student("01_vae", [], f"import fractions, decimal\nanswer = {value}")
    assert judged(ns, vae_checks, f"assert type(answer).__name__ == {kind!r}\n"
                                  "assert 2 * answer == 1") is None
