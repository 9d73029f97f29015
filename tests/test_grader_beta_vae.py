"""Checks of notebook 02 both ways: the reference passes, realistic mistakes fail with a hint."""

from __future__ import annotations

import math
import re

import pytest
import sympy as sp
import torch

from grader_tests import beta_vae as checks
from dgm.checks.common import CheckFailed

from tests.helpers import fails


# ------------------------------------------------------------------------ KL ------------------
@pytest.mark.parametrize("mutant,match", [
    (lambda mu, v: 0.5 * (v ** 2 + mu ** 2 - 1 - 2 * torch.log(v)).sum(-1), "standard deviation"),
    (lambda mu, v: 0.5 * (torch.exp(v) + mu ** 2 - 1 - v).sum(-1), "log-variance"),
    (lambda mu, v: (v + mu ** 2 - 1 - torch.log(v)).sum(-1), "factor 1/2"),
    (lambda mu, v: 0.5 * (v + mu ** 2 - 1 - torch.log(v)).mean(-1), "averaged"),
    (lambda mu, v: 0.5 * (1 / v + mu ** 2 / v - 1 + torch.log(v)).sum(-1), "reverse direction"),
    (lambda mu, v: 0.5 * (v + mu ** 2 - 1 - torch.log(v)), "per latent dimension"),
])
def test_kl_mutants_fail(mutant, match):
    fails(checks.check_kl_diagonal_gaussian, mutant, match)


# ------------------------------------------------------------------------ loss ----------------
kl_diagonal_gaussian = None  # the check substitutes the reference for this name


@pytest.mark.parametrize("mutant,match", [
    (lambda x, r, mu, v, b: (((x - r) ** 2).mean(-1) + b * kl_diagonal_gaussian(mu, v)).mean(), "averaged over pixels"),
    (lambda x, r, mu, v, b: (b * ((x - r) ** 2).sum(-1) + kl_diagonal_gaussian(mu, v)).mean(), "multiplies the distortion"),
    (lambda x, r, mu, v, b: (((x - r) ** 2).sum(-1) + b * kl_diagonal_gaussian(mu, v)).sum(), "summed over the batch"),
    (lambda x, r, mu, v, b: (((x - r) ** 2).sum(-1) + kl_diagonal_gaussian(mu, v)).mean(), "beta is ignored"),
    (lambda x, r, mu, v, b: (torch.nn.functional.binary_cross_entropy(r, x, reduction="none").sum(-1)
                             + b * kl_diagonal_gaussian(mu, v)).mean(), "binary cross-entropy"),
])
def test_loss_mutants_fail(mutant, match):
    fails(checks.check_beta_vae_loss, mutant, match, level="visible")


# ------------------------------------------------------------------------ aggregate posterior -
def _log_q(z, mu, v):
    comp = torch.distributions.Normal(mu.unsqueeze(0), v.sqrt().unsqueeze(0))
    return comp.log_prob(z.unsqueeze(1)).sum(-1)


def agg_no_log_n(z, mu, v):
    return torch.logsumexp(_log_q(z, mu, v), 1)


def agg_mean_of_logs(z, mu, v):
    return _log_q(z, mu, v).mean(1)


def agg_naive(z, mu, v):
    return torch.log(torch.exp(_log_q(z, mu, v)).mean(1))


def agg_transposed(z, mu, v):
    return torch.logsumexp(_log_q(z, mu, v), 0) - math.log(z.shape[0])


def agg_own_component(z, mu, v):
    return torch.distributions.Normal(mu, v.sqrt()).log_prob(z).sum(-1)


@pytest.mark.parametrize("mutant,match,level", [
    (agg_no_log_n, "-log N term is missing", "visible"),
    (agg_mean_of_logs, "averaged the log-densities", "visible"),
    (agg_naive, "logsumexp", "hidden"),
    (agg_transposed, "one value per mixture component", "hidden"),
    (agg_own_component, "only q\\(z_i \\| x_i\\)", "visible"),
])
def test_aggregate_mutants_fail(mutant, match, level):
    fails(checks.check_log_aggregate_posterior, mutant, match, level=level)


# ------------------------------------------------------------------------ written answers -----
x, x_hat = sp.symbols("x x_hat", real=True)
sigma, beta = sp.symbols("sigma beta", positive=True)
mu, v = sp.Symbol("mu", real=True), sp.Symbol("v", positive=True)


def test_written_answers_accept_the_right_forms():
    checks.check_gaussian_pixel_nll((x - x_hat) ** 2 / (2 * sigma ** 2) + sp.log(sigma)
                                    + sp.log(2 * sp.pi) / 2)
    checks.check_decoder_variance(beta / 2)
    checks.check_kl_to_standard_normal(sp.Rational(1, 2) * (v + mu ** 2) - sp.Rational(1, 2)
                                       - sp.log(sp.sqrt(v)))


@pytest.mark.parametrize("check,answer", [
    (checks.check_gaussian_pixel_nll, (x - x_hat) ** 2),                        # constants dropped
    (checks.check_gaussian_pixel_nll, (x - x_hat) ** 2 / (2 * sigma) + sp.log(2 * sp.pi * sigma) / 2),
    (checks.check_decoder_variance, beta),
    (checks.check_decoder_variance, 2 * beta),
    (checks.check_kl_to_standard_normal, (v + mu ** 2 - 1 - sp.log(v))),
    (checks.check_kl_to_standard_normal, (v ** 2 + mu ** 2 - 1 - 2 * sp.log(v)) / 2),
])
def test_written_answers_reject_common_mistakes(check, answer):
    with pytest.raises(CheckFailed, match="not equivalent"):
        check(answer)


# ------------------------------------------------------------------------ devices -------------
def kl_cpu_ones(mu, sigma_square):
    return 0.5 * (sigma_square + mu ** 2 - torch.ones(mu.shape) - torch.log(sigma_square)).sum(-1)


def agg_cpu_log_n(z, mu, v):                    # torch.distributions: checked on the stand-in
    return torch.logsumexp(_log_q(z, mu, v), 1) - torch.log(torch.Tensor([mu.shape[0]]))


@pytest.mark.parametrize("check,mutant,fix", [
    (checks.check_kl_diagonal_gaussian, kl_cpu_ones, "torch.ones_like\\(mu\\)"),
    (checks.check_log_aggregate_posterior, agg_cpu_log_n, "math.log\\(mu.shape\\[0\\]\\)"),
])
def test_tensors_made_on_the_cpu_fail_hidden_only(check, mutant, fix):
    check(mutant, level="visible")
    error = fails(check, mutant, "creates a tensor on the CPU")
    assert re.search(fix, error.hint), error.hint
