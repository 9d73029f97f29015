"""Checks for notebook 02 (β-VAE and rate–distortion): staff side. Same conventions as notebook
01: the variance ``sigma_square`` is passed, per-example quantities have shape ``[batch]``.
``level="visible"`` runs the student-side check of :mod:`dgm.checks.beta_vae`; ``"hidden"`` runs it,
then the grading checks with the references below. :func:`record` gives the values the visible
checks compare with."""

from __future__ import annotations

import contextlib
import math
import sys

import sympy as sp
import torch

from dgm.checks import beta_vae as visible
from grader_tests import randomised, written_answers
from grader_tests.grading_inputs import grading_seed, on_fresh_inputs
from dgm.checks.common import (CheckFailed, backward, call, close, on_another_device,
                               require_tensor)


def _fresh_if(seed, fresh):
    return on_fresh_inputs(seed) if seed == fresh else contextlib.nullcontext()


def ref_kl_diagonal_gaussian(mu, sigma_square):
    return 0.5 * (sigma_square + mu ** 2 - 1 - torch.log(sigma_square)).sum(-1)


def ref_log_aggregate_posterior(z, mu, sigma_square):
    comp = torch.distributions.Normal(mu.unsqueeze(0), sigma_square.sqrt().unsqueeze(0))
    log_q = comp.log_prob(z.unsqueeze(1)).sum(-1)                       # [M, N]
    return torch.logsumexp(log_q, dim=1) - math.log(mu.shape[0])


def kl_values(mu, var):
    ref = ref_kl_diagonal_gaussian(mu, var)
    return {
        "ref": ref,
        "std_as_variance": 0.5 * (var ** 2 + mu ** 2 - 1 - 2 * torch.log(var)).sum(-1),
        "log_variance": 0.5 * (torch.exp(var) + mu ** 2 - 1 - var).sum(-1),
        "no_half": 2 * ref,
        "mean_over_dims": ref / mu.shape[-1],
        "reverse": 0.5 * (1 / var + mu ** 2 / var - 1 + torch.log(var)).sum(-1),
        "log_sign": 0.5 * (var + mu ** 2 - 1 + torch.log(var)).sum(-1),
    }


def loss_values(x, x_recon, mu, var, beta):
    with torch.no_grad():
        dist = ((x - x_recon) ** 2).sum(-1)
        kl = ref_kl_diagonal_gaussian(mu, var)
        return {
            "ref": (dist + beta * kl).mean(),
            "pixel_mean": (((x - x_recon) ** 2).mean(-1) + beta * kl).mean(),
            "beta_on_distortion": (beta * dist + kl).mean(),
            "batch_sum": (dist + beta * kl).sum(),
            "no_beta": (dist + kl).mean(),
            "bce": (torch.nn.functional.binary_cross_entropy(x_recon, x, reduction="none").sum(-1)
                    + beta * kl).mean(),
            "kl_sign": (dist - beta * kl).mean(),
            "kl": kl,                  # what the KL gives on these inputs (the visible stand-in)
        }


def aggregate_values(z, mu, var):
    comp = torch.distributions.Normal(mu.unsqueeze(0), var.sqrt().unsqueeze(0))
    log_q = comp.log_prob(z.unsqueeze(1)).sum(-1)
    values = {
        "ref": ref_log_aggregate_posterior(z, mu, var),
        "no_log_n": torch.logsumexp(log_q, 1),
        "mean_of_logs": log_q.mean(1),
        "std_as_variance": ref_log_aggregate_posterior(z, mu, var ** 2),
    }
    if z.shape[0] == mu.shape[0]:
        values["own_component"] = log_q.diagonal()
        values["transposed"] = torch.logsumexp(log_q, 0) - math.log(z.shape[0])
    return values


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.beta_vae` compare with."""
    seed, batch, dim = visible.KL_VISIBLE
    seed_l, batch_l, dim_l, latent, beta = visible.LOSS_VISIBLE
    return {
        "kl_diagonal_gaussian": kl_values(*visible.gaussian_inputs(seed, batch, dim)),
        "beta_vae_loss": loss_values(*visible.loss_inputs(seed_l, batch_l, dim_l, latent), beta),
        "log_aggregate_posterior": aggregate_values(
            *visible.aggregate_inputs(*visible.AGGREGATE_VISIBLE)),
    }


def _answers():
    from derivations import beta_vae

    return beta_vae


# ------------------------------------------------------------------------ written part --------
def check_gaussian_pixel_nll(answer):
    B = _answers()
    written_answers.check_expression(
        "(a) -log p(x_j | z)", answer, B.GAUSSIAN_PIXEL_NLL, [B.x, B.x_hat, B.sigma],
        hint="-log N(x; x_hat, sigma^2) = (x - x_hat)^2 / (2 sigma^2) + log(2 pi sigma^2) / 2")


def check_decoder_variance(answer):
    B = _answers()
    written_answers.check_expression(
        "(b) decoder variance", answer, B.beta / 2, [B.beta],
        hint="divide squared error + beta*KL by beta and compare with "
             "squared error/(2 sigma^2) + KL")


def check_kl_to_standard_normal(answer):
    mu, v = sp.Symbol("mu", real=True), sp.Symbol("v", positive=True)
    reference = (v + mu ** 2 - 1 - sp.log(v)) / 2
    written_answers.check_expression(
        "(d) KL(N(mu, v) || N(0, 1))", answer, reference, [mu, v],
        hint="use the Gaussian KL with m2 = 0, v2 = 1: (log(v2/v1) + (v1 + (m1-m2)^2)/v2 - 1)/2")


# ------------------------------------------------------------------------ code ----------------
def check_kl_diagonal_gaussian(fn, level: str = "visible"):
    what = "kl_diagonal_gaussian"
    visible.check_kl_diagonal_gaussian(fn)
    if level == "visible":
        return
    fresh = grading_seed()
    for seed, batch, dim in [(1, 17, 8), (2, 1, 1), (3, 4, 50), (fresh, 6, 4)]:
        with _fresh_if(seed, fresh):
            visible.diagnose_kl(what, fn, seed, batch, dim,
                                kl_values(*visible.gaussian_inputs(seed, batch, dim)))
    out = call(what, fn, torch.zeros(3, 4), torch.ones(3, 4))
    if not close(out, torch.zeros(3)):
        raise CheckFailed(what, "is not 0 when q is the prior", "KL(p || p) = 0")
    randomised.check("kl_diagonal_gaussian", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): torch.ones(mu.shape) is on the CPU.
    on_another_device(what, fn, *visible.gaussian_inputs(4, 3, 2),
                      hint="write constants as Python numbers (sigma_square + mu ** 2 - 1 - "
                           "log sigma_square), or make tensors with torch.ones_like(mu); a tensor "
                           "you create needs device=mu.device")


def check_beta_vae_loss(fn, level: str = "visible"):
    """Graded with the reference KL substituted, so only ``beta_vae_loss`` is judged."""
    what = "beta_vae_loss"
    visible.check_beta_vae_loss(fn)
    if level == "visible":
        return
    fresh = grading_seed()
    for case in [(1, 9, 784, 8, 4.0), (2, 1, 5, 3, 0.01), (fresh, 5, 30, 2, 2.5)]:
        seed, batch, dim, latent, beta = case
        with _fresh_if(seed, fresh):
            _check_loss_case(what, fn, case)
    randomised.check("beta_vae_loss", fn, sys.modules[__name__])


def _loss_gradients(x, x_recon, mu, var, beta):
    """The gradients of the reference loss with respect to x_recon and mu."""
    x_recon, mu = (t.detach().clone().requires_grad_(True) for t in (x_recon, mu))
    loss = (((x - x_recon) ** 2).sum(-1) + beta * ref_kl_diagonal_gaussian(mu, var)).mean()
    return torch.autograd.grad(loss, (x_recon, mu))


def _check_loss_case(what, fn, case):
    seed, batch, dim, latent, beta = case
    out, (x_recon, mu) = visible.run_beta_vae_loss(fn, ref_kl_diagonal_gaussian, case)
    inputs = visible.loss_inputs(seed, batch, dim, latent)
    visible.diagnose_beta_vae_loss(what, out, loss_values(*inputs, beta))
    backward(what, out, "do not detach the inputs")
    for name, t, ref in zip(("x_recon", "mu"), (x_recon, mu), _loss_gradients(*inputs, beta)):
        if t.grad is None:
            raise CheckFailed(what, "no gradient reaches x_recon or mu",
                              "do not detach the inputs")
        if not close(t.grad, ref, atol=1e-5, rtol=1e-3):
            raise CheckFailed(what, f"the gradient with respect to {name} is wrong (or NaN), "
                                    "though the value is right",
                              "compute the loss with differentiable torch operations on the "
                              "inputs (no .detach() or .item())")


def check_log_aggregate_posterior(fn, level: str = "visible"):
    """``fn(z [M, D], mu [N, D], sigma_square [N, D]) -> [M]``: log (1/N) sum_j N(z_i; mu_j, var_j)."""
    what = "log_aggregate_posterior"
    visible.check_log_aggregate_posterior(fn)
    if level == "visible":
        return
    fresh = grading_seed()
    for seed, m, n, dim in [(1, 7, 11, 3), (2, 1, 5, 1), (3, 40, 40, 8), (fresh, 9, 6, 2)]:
        with _fresh_if(seed, fresh):
            visible.diagnose_aggregate(
                what, fn, seed, m, n, dim,
                aggregate_values(*visible.aggregate_inputs(seed, m, n, dim)))
    # Far-away components: exp underflows to 0, so a naive log(sum(exp(...))) gives -inf.
    z = torch.tensor([[40.0], [-40.0]])
    mu, var = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.5], [0.5]])
    out = require_tensor(what, call(what, fn, z, mu, var), (2,))
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, f"returned {out.tolist()} for samples far from every "
                                "component", "use torch.logsumexp instead of log(sum(exp(.)))")
    if not close(out, ref_log_aggregate_posterior(z, mu, var), atol=1e-3, rtol=1e-5):
        raise CheckFailed(what, "is inaccurate far from the components",
                          "use torch.logsumexp")
    randomised.check("log_aggregate_posterior", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): log N made as torch.log(torch.Tensor([N]))
    # is on the CPU.
    on_another_device(what, fn, *visible.aggregate_inputs(4, 5, 3, 2),
                      hint="write log N as a Python number (math.log(mu.shape[0])); a tensor you "
                           "create needs device=z.device")
