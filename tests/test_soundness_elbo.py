"""``elbo_loss`` is judged on its value, not on how it is reduced: every equal formulation (the
batch mean; the sum over the batch divided by the batch size; sums of each term divided by it;
per-example terms summed over their dimensions inline, then averaged; float64) passes the visible
and the hidden check, in this process and through the judge, and the usual mistakes (the sum
without / B, a mean over pixels too, the sign, the variance taken for the log-variance, the KL
left out) fail both ways with a message that says how to fix them."""

from __future__ import annotations

import math

import pytest
import torch

from grader_tests import vae as checks
from dgm.checks.common import CheckFailed
from tests import judge_harness
from tests.conftest import load_reference

HEAD = '''
def elbo_loss(sampled_z, mu, sigma_square, x, p):
    B = x.shape[0]
    log_px = logpdf_bernoulli(x, p)
    log_pz = logpdf_diagonal_gaussian(sampled_z, torch.zeros_like(sampled_z),
                                      torch.ones_like(sampled_z))
    log_q = logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)
'''

INLINE = '''
def elbo_loss(sampled_z, mu, sigma_square, x, p):
    log_px = (x * torch.log(p) + (1 - x) * torch.log(1 - p)){pixels}
    log_pz = (-0.5 * math.log(2 * math.pi) - 0.5 * sampled_z ** 2).sum(1)
    log_q = (-0.5 * torch.log(2 * math.pi * sigma_square)
             - (sampled_z - mu) ** 2 / (2 * sigma_square)).sum(1)
    return {result}
'''

EQUAL = {
    "mean": HEAD + "    return (log_px + log_pz - log_q).mean()",
    "sum / B": HEAD + "    return (log_px + log_pz - log_q).sum() / B",
    "sum of each term / B": HEAD + "    return (log_px.sum() + log_pz.sum() - log_q.sum()) / B",
    "sum / len(x)": HEAD + "    return torch.sum(log_px + log_pz - log_q) / len(x)",
    "sum * (1 / B)": HEAD + "    return (log_px + log_pz - log_q).sum() * (1.0 / B)",
    "torch.div(sum, tensor B)": HEAD + "    return torch.div(torch.sum(log_px + log_pz - log_q), "
                                       "torch.tensor(B))",
    "mean in float64": HEAD + "    return torch.mean(log_px.double() + log_pz.double() "
                              "- log_q.double())",
    "sum in float64 / B": HEAD + "    return (log_px + log_pz - log_q).double().sum() / B",
    "a loop over the batch / B": HEAD + "    return sum(log_px[i] + log_pz[i] - log_q[i] "
                                        "for i in range(B)) / B",
    "inline: sum over dims, then mean": INLINE.format(
        pixels=".sum(1)", result="(log_px + log_pz - log_q).mean()"),
    "inline: sum over dims, sum over the batch / B": INLINE.format(
        pixels=".sum(-1)", result="(log_px + log_pz - log_q).sum() / x.shape[0]"),
}

WRONG = {
    "sum without / B": (HEAD + "    return (log_px + log_pz - log_q).sum()",
                        "summed over the batch"),
    "mean over pixels too": (INLINE.format(pixels=".mean(1)",
                                           result="(log_px + log_pz - log_q).mean()"),
                             "differs"),
    "sign flipped": (HEAD + "    return -(log_px + log_pz - log_q).mean()", "sign is flipped"),
    "sum / B, sign flipped": (HEAD + "    return -(log_px + log_pz - log_q).sum() / B",
                              "sign is flipped"),
    "variance taken for the log-variance": (
        HEAD.replace("logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)",
                     "logpdf_diagonal_gaussian(sampled_z, mu, torch.exp(sigma_square))")
        + "    return (log_px + log_pz - log_q).sum() / B", "variance|differs"),
    "KL left out": (HEAD + "    return log_px.sum() / B", "missing|differs"),
}


@pytest.fixture(scope="module")
def helpers():
    return load_reference("01_vae", ["logpdf_diagonal_gaussian", "logpdf_bernoulli"])


def _function(helpers, source):
    ns = {**helpers, "torch": torch, "math": math}
    exec(compile(source, "<student>", "exec"), ns)  # noqa: S102
    return ns


CELLS = {"visible": "checks.check_elbo_loss(elbo_loss)",
         "hidden": 'checks.check_elbo_loss(elbo_loss, level="hidden")'}


@pytest.mark.parametrize("level", ["visible", "hidden"])
@pytest.mark.parametrize("name", sorted(EQUAL))
def test_an_equal_formulation_passes_here_and_in_the_judge(helpers, name, level):
    ns = _function(helpers, EQUAL[name])
    checks.check_elbo_loss(ns["elbo_loss"], level=level)
    error = judge_harness.judged(ns, checks, CELLS[level])
    assert error is None, f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("level", ["visible", "hidden"])
@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_usual_mistake_fails_here_and_in_the_judge(helpers, name, level):
    source, match = WRONG[name]
    ns = _function(helpers, source)
    with pytest.raises(CheckFailed, match=match) as info:
        checks.check_elbo_loss(ns["elbo_loss"], level=level)
    assert "How to fix:" in str(info.value)
    error = judge_harness.judged(ns, checks, CELLS[level])
    assert isinstance(error, CheckFailed), f"{type(error).__name__}: {error}"
    assert "How to fix:" in str(error)


def test_the_tolerance_follows_the_scale_of_the_terms_not_only_the_result():
    """Large log-densities that cancel: float32 rounding of the terms, not of the (small)
    result, sets how far a right value may be."""
    big = torch.full((4,), 5000.0)
    values = {"log_px": -big, "log_pz": torch.zeros(4), "log_q": -big}
    assert checks.visible.elbo_tolerance(values) > 0.5
    small = {k: v / 1000 for k, v in values.items()}
    assert checks.visible.elbo_tolerance(small) < 3e-3
