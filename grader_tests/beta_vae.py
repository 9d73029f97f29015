"""Checks for notebook 02 (β-VAE and rate–distortion). Same conventions as notebook 01: the
variance ``sigma_square`` is passed, per-example quantities have shape ``[batch]``."""

from __future__ import annotations

import math

import sympy as sp
import torch

from grader_tests import symbolic
from grader_tests._core import (CheckFailed, call, close, explain_mismatch, generator,
                                require_tensor, with_globals)


def ref_kl_diagonal_gaussian(mu, sigma_square):
    return 0.5 * (sigma_square + mu ** 2 - 1 - torch.log(sigma_square)).sum(-1)


def ref_log_aggregate_posterior(z, mu, sigma_square):
    comp = torch.distributions.Normal(mu.unsqueeze(0), sigma_square.sqrt().unsqueeze(0))
    log_q = comp.log_prob(z.unsqueeze(1)).sum(-1)                       # [M, N]
    return torch.logsumexp(log_q, dim=1) - math.log(mu.shape[0])


def _answers():
    from derivations import beta_vae

    return beta_vae


# ------------------------------------------------------------------------ written part --------
def check_gaussian_pixel_nll(answer):
    B = _answers()
    symbolic.check_expression(
        "(a) -log p(x_j | z)", answer, B.GAUSSIAN_PIXEL_NLL, [B.x, B.x_hat, B.sigma],
        hint="-log N(x; x_hat, sigma^2) = (x - x_hat)^2 / (2 sigma^2) + log(2 pi sigma^2) / 2")


def check_decoder_variance(answer):
    B = _answers()
    symbolic.check_expression(
        "(b) decoder variance", answer, B.beta / 2, [B.beta],
        hint="divide squared error + beta*KL by beta and compare with "
             "squared error/(2 sigma^2) + KL")


def check_kl_to_standard_normal(answer):
    mu, v = sp.Symbol("mu", real=True), sp.Symbol("v", positive=True)
    reference = (v + mu ** 2 - 1 - sp.log(v)) / 2
    symbolic.check_expression(
        "(d) KL(N(mu, v) || N(0, 1))", answer, reference, [mu, v],
        hint="use the Gaussian KL with m2 = 0, v2 = 1: (log(v2/v1) + (v1 + (m1-m2)^2)/v2 - 1)/2")


# ------------------------------------------------------------------------ code ----------------
def _inputs(seed, batch, dim):
    g = generator(seed)
    return (torch.randn(batch, dim, generator=g),
            torch.rand(batch, dim, generator=g) * 2 + 0.1)


def check_kl_diagonal_gaussian(fn, level: str = "visible"):
    what = "kl_diagonal_gaussian"
    cases = [(0, 5, 3)] if level == "visible" else [(1, 17, 8), (2, 1, 1), (3, 4, 50)]
    for seed, batch, dim in cases:
        mu, var = _inputs(seed, batch, dim)
        out = require_tensor(what, call(what, fn, mu, var))
        if tuple(out.shape) == (batch, dim):
            raise CheckFailed(what, "returned one value per latent dimension",
                              "sum over the last dimension: shape [batch]")
        require_tensor(what, out, (batch,), "sum over the last dimension only: shape [batch]")
        ref = ref_kl_diagonal_gaussian(mu, var)
        if close(out, ref):
            continue
        known = [
            (0.5 * (var ** 2 + mu ** 2 - 1 - 2 * torch.log(var)).sum(-1),
             "you used sigma_square as the standard deviation",
             "sigma_square is the variance: KL = 1/2 sum(sigma_square + mu^2 - 1 - log sigma_square)"),
            (0.5 * (torch.exp(var) + mu ** 2 - 1 - var).sum(-1),
             "you treated sigma_square as the log-variance",
             "sigma_square is the variance itself; take its log"),
            (2 * ref, "the factor 1/2 is missing", "KL = 1/2 * sum(...)"),
            (ref / dim, "you averaged over latent dimensions", "sum over them"),
            (0.5 * (1 / var + mu ** 2 / var - 1 + torch.log(var)).sum(-1),
             "this is KL(p || q), the reverse direction",
             "the rate is KL(q(z|x) || p(z)) with q = N(mu, sigma_square), p = N(0, I)"),
            (0.5 * (var + mu ** 2 - 1 + torch.log(var)).sum(-1), "the log term has the wrong sign",
             "KL = 1/2 sum(sigma_square + mu^2 - 1 - log sigma_square)"),
        ]
        explain_mismatch(what, out, known, "values differ from KL(N(mu, sigma_square) || N(0, I))",
                          "KL = 1/2 sum_d (sigma_square_d + mu_d^2 - 1 - log sigma_square_d)")
    if level == "hidden":
        out = call(what, fn, torch.zeros(3, 4), torch.ones(3, 4))
        if not close(out, torch.zeros(3)):
            raise CheckFailed(what, "is not 0 when q is the prior", "KL(p || p) = 0")


def _loss_inputs(seed, batch, dim, latent):
    g = generator(seed)
    x = torch.rand(batch, dim, generator=g)
    x_recon = torch.rand(batch, dim, generator=g) * 0.9 + 0.05
    mu, var = _inputs(seed + 100, batch, latent)
    return x, x_recon, mu, var


def check_beta_vae_loss(fn, level: str = "visible"):
    """Graded with the reference KL substituted, so only ``beta_vae_loss`` is judged."""
    what = "beta_vae_loss"
    iso = with_globals(fn, kl_diagonal_gaussian=ref_kl_diagonal_gaussian)
    cases = [(0, 6, 20, 2, 0.5)] if level == "visible" else [(1, 9, 784, 8, 4.0),
                                                               (2, 1, 5, 3, 0.01)]
    for seed, batch, dim, latent, beta in cases:
        x, x_recon, mu, var = _loss_inputs(seed, batch, dim, latent)
        x_recon.requires_grad_(True)
        mu.requires_grad_(True)
        out = require_tensor(what, call(what, iso, x, x_recon, mu, var, beta))
        if out.dim() != 0:
            raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected a scalar",
                              "average the per-image loss over the batch")
        dist = ((x - x_recon) ** 2).sum(-1)
        kl = ref_kl_diagonal_gaussian(mu, var)
        ref = (dist + beta * kl).mean()
        if close(out, ref, atol=1e-4):
            if level == "hidden":
                out.backward()
                if x_recon.grad is None or mu.grad is None:
                    raise CheckFailed(what, "no gradient reaches x_recon or mu",
                                      "do not detach the inputs")
            continue
        known = [
            ((((x - x_recon) ** 2).mean(-1) + beta * kl).mean(),
             "the squared error is averaged over pixels",
             "sum the squared error over pixels (the distortion of one image), then average "
             "over the batch"),
            ((beta * dist + kl).mean(), "beta multiplies the distortion",
             "beta weighs the rate: distortion + beta * KL"),
            ((dist + beta * kl).sum(), "you summed over the batch", "average over the batch"),
            ((dist + kl).mean(), "beta is ignored", "multiply the KL term by beta"),
            ((torch.nn.functional.binary_cross_entropy(x_recon, x, reduction="none").sum(-1)
              + beta * kl).mean(), "you used binary cross-entropy",
             "this notebook's distortion is the summed squared error"),
            ((dist - beta * kl).mean(), "the KL term has the wrong sign", "add beta * KL"),
        ]
        explain_mismatch(what, out, known,
                         "value differs from mean[sum_j (x_j - x_recon_j)^2 + beta KL]",
                         "compute the per-image distortion and KL, combine, then average", atol=1e-4)


def check_log_aggregate_posterior(fn, level: str = "visible"):
    """``fn(z [M, D], mu [N, D], sigma_square [N, D]) -> [M]``: log (1/N) sum_j N(z_i; mu_j, var_j)."""
    what = "log_aggregate_posterior"
    cases = [(0, 6, 6, 2)] if level == "visible" else [(1, 7, 11, 3), (2, 1, 5, 1), (3, 40, 40, 8)]
    for seed, m, n, dim in cases:
        g = generator(seed)
        z = torch.randn(m, dim, generator=g)
        mu, var = _inputs(seed + 7, n, dim)
        out = require_tensor(what, call(what, fn, z, mu, var))
        if tuple(out.shape) == (n,) and m != n:
            raise CheckFailed(what, f"returned shape {tuple(out.shape)}: one value per mixture "
                                    "component", "return one value per sample z_i: shape [M]; "
                                                 "the logsumexp runs over the components j")
        require_tensor(what, out, (m,), "one value per row of z: shape [z.shape[0]]")
        ref = ref_log_aggregate_posterior(z, mu, var)
        if close(out, ref, atol=1e-4):
            continue
        comp = torch.distributions.Normal(mu.unsqueeze(0), var.sqrt().unsqueeze(0))
        log_q = comp.log_prob(z.unsqueeze(1)).sum(-1)
        known = [
            (torch.logsumexp(log_q, 1), "the -log N term is missing",
             "the aggregate posterior is the *mean* of the N components: subtract log N"),
            (log_q.mean(1), "you averaged the log-densities",
             "average the densities, not their logs: logsumexp(...) - log N"),
            (ref_log_aggregate_posterior(z, mu, var ** 2), "you used sigma_square as the "
             "standard deviation", "sigma_square is the variance"),
        ]
        if m == n:
            known.append((log_q.diagonal(), "you used only q(z_i | x_i)",
                          "mix over every x_j of the batch"))
        explain_mismatch(what, out, known,
                         "values differ from log (1/N) sum_j N(z_i; mu_j, sigma_square_j)",
                         "compute the [M, N] matrix of log N(z_i; mu_j, sigma_square_j), then "
                         "torch.logsumexp over j and subtract log N", atol=1e-4)
    if level == "hidden":
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
