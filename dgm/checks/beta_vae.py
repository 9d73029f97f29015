"""Visible checks of notebook 02 (β-VAE and rate–distortion). Same conventions as notebook 01:
the variance ``sigma_square`` is passed, per-example quantities have shape ``[batch]``. The values
compared with were recorded by the course staff; grading runs further, hidden checks."""

from __future__ import annotations

import torch

from dgm.checks import written_answers  # noqa: F401 - used by the notebooks
from dgm.checks.common import (CheckFailed, call, close, expected, explain_mismatch, generator,
                               known_mistakes, replay, require_tensor, with_globals)

NOTEBOOK = "beta_vae"


def gaussian_inputs(seed, batch, dim):
    g = generator(seed)
    return (torch.randn(batch, dim, generator=g),
            torch.rand(batch, dim, generator=g) * 2 + 0.1)


# ------------------------------------------------------------------------ KL ------------------
KL_VISIBLE = (0, 5, 3)                   # seed, batch, dim

KL_MISTAKES = {
    "std_as_variance": ("you used sigma_square as the standard deviation",
                        "sigma_square is the variance: KL = 1/2 sum(sigma_square + mu^2 - 1 - "
                        "log sigma_square)"),
    "log_variance": ("you treated sigma_square as the log-variance",
                     "sigma_square is the variance itself; take its log"),
    "no_half": ("the factor 1/2 is missing", "KL = 1/2 * sum(...)"),
    "mean_over_dims": ("you averaged over latent dimensions", "sum over them"),
    "reverse": ("this is KL(p || q), the reverse direction",
                "the rate is KL(q(z|x) || p(z)) with q = N(mu, sigma_square), p = N(0, I)"),
    "log_sign": ("the log term has the wrong sign",
                 "KL = 1/2 sum(sigma_square + mu^2 - 1 - log sigma_square)"),
}


def diagnose_kl(what, fn, seed, batch, dim, values):
    """``fn`` on the inputs of (seed, batch, dim), compared with ``values``."""
    mu, var = gaussian_inputs(seed, batch, dim)
    out = require_tensor(what, call(what, fn, mu, var))
    if tuple(out.shape) == (batch, dim):
        raise CheckFailed(what, "returned one value per latent dimension",
                          "sum over the last dimension: shape [batch]")
    require_tensor(what, out, (batch,), "sum over the last dimension only: shape [batch]")
    if close(out, values["ref"]):
        return
    explain_mismatch(what, out, known_mistakes(values, KL_MISTAKES),
                     "values differ from KL(N(mu, sigma_square) || N(0, I))",
                     "KL = 1/2 sum_d (sigma_square_d + mu_d^2 - 1 - log sigma_square_d)")


def check_kl_diagonal_gaussian(fn):
    diagnose_kl("kl_diagonal_gaussian", fn, *KL_VISIBLE,
                expected(NOTEBOOK, "kl_diagonal_gaussian"))


# ------------------------------------------------------------------------ loss ----------------
LOSS_VISIBLE = (0, 6, 20, 2, 0.5)        # seed, batch, dim, latent, beta

LOSS_MISTAKES = {
    "pixel_mean": ("the squared error is averaged over pixels",
                   "sum the squared error over pixels (the distortion of one image), then "
                   "average over the batch"),
    "beta_on_distortion": ("beta multiplies the distortion",
                           "beta weighs the rate: distortion + beta * KL"),
    "batch_sum": ("you summed over the batch", "average over the batch"),
    "no_beta": ("beta is ignored", "multiply the KL term by beta"),
    "bce": ("you used binary cross-entropy",
            "this notebook's distortion is the summed squared error"),
    "kl_sign": ("the KL term has the wrong sign", "add beta * KL"),
}


def loss_inputs(seed, batch, dim, latent):
    g = generator(seed)
    x = torch.rand(batch, dim, generator=g)
    x_recon = torch.rand(batch, dim, generator=g) * 0.9 + 0.05
    mu, var = gaussian_inputs(seed + 100, batch, latent)
    return x, x_recon, mu, var


def run_beta_vae_loss(fn, kl_diagonal_gaussian, case):
    """``fn`` on the inputs of ``case``, seeing the given KL instead of the notebook's; returns
    the result and the inputs that require gradients (x_recon, mu)."""
    what = "beta_vae_loss"
    iso = with_globals(fn, kl_diagonal_gaussian=kl_diagonal_gaussian)
    seed, batch, dim, latent, beta = case
    x, x_recon, mu, var = loss_inputs(seed, batch, dim, latent)
    x_recon.requires_grad_(True)
    mu.requires_grad_(True)
    out = require_tensor(what, call(what, iso, x, x_recon, mu, var, beta))
    return out, (x_recon, mu)


def diagnose_beta_vae_loss(what, out, values):
    if out.dim() != 0:
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected a scalar",
                          "average the per-image loss over the batch")
    if close(out, values["ref"], atol=1e-4):
        return
    explain_mismatch(what, out, known_mistakes(values, LOSS_MISTAKES),
                     "value differs from mean[sum_j (x_j - x_recon_j)^2 + beta KL]",
                     "compute the per-image distortion and KL, combine, then average", atol=1e-4)


def recorded_kl(values, case):
    """A stand-in for the notebook's KL that knows its value on the inputs of ``case`` only."""
    seed, batch, dim, latent, _ = case
    _, _, mu, var = loss_inputs(seed, batch, dim, latent)
    return replay(("mu", "sigma_square"), [((mu, var), values["kl"])])


def check_beta_vae_loss(fn):
    """Judged on its own: the KL it calls is replaced by a stand-in that gives the right values
    on this check's inputs, so a mistake in ``kl_diagonal_gaussian`` does not show here."""
    values = expected(NOTEBOOK, "beta_vae_loss")
    out, _ = run_beta_vae_loss(fn, recorded_kl(values, LOSS_VISIBLE), LOSS_VISIBLE)
    diagnose_beta_vae_loss("beta_vae_loss", out, values)


# ------------------------------------------------------------------------ aggregate posterior -
AGGREGATE_VISIBLE = (0, 6, 6, 2)         # seed, M, N, dim

AGGREGATE_MISTAKES = {
    "no_log_n": ("the -log N term is missing",
                 "the aggregate posterior is the *mean* of the N components: subtract log N"),
    "mean_of_logs": ("you averaged the log-densities",
                     "average the densities, not their logs: logsumexp(...) - log N"),
    "std_as_variance": ("you used sigma_square as the standard deviation",
                        "sigma_square is the variance"),
    "own_component": ("you used only q(z_i | x_i)", "mix over every x_j of the batch"),
    "transposed": ("the logsumexp runs over the samples z_i: one value per mixture component",
                   "return one value per sample z_i: shape [M]; the logsumexp runs over the "
                   "components j"),
}


def aggregate_inputs(seed, m, n, dim):
    g = generator(seed)
    z = torch.randn(m, dim, generator=g)
    mu, var = gaussian_inputs(seed + 7, n, dim)
    return z, mu, var


def diagnose_aggregate(what, fn, seed, m, n, dim, values):
    """``fn`` on the inputs of (seed, M, N, dim), compared with ``values``."""
    z, mu, var = aggregate_inputs(seed, m, n, dim)
    out = require_tensor(what, call(what, fn, z, mu, var))
    if tuple(out.shape) == (n,) and m != n:
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}: one value per mixture "
                                "component", "return one value per sample z_i: shape [M]; "
                                             "the logsumexp runs over the components j")
    require_tensor(what, out, (m,), "one value per row of z: shape [z.shape[0]]")
    if close(out, values["ref"], atol=1e-4):
        return
    explain_mismatch(what, out, known_mistakes(values, AGGREGATE_MISTAKES),
                     "values differ from log (1/N) sum_j N(z_i; mu_j, sigma_square_j)",
                     "compute the [M, N] matrix of log N(z_i; mu_j, sigma_square_j), then "
                     "torch.logsumexp over j and subtract log N", atol=1e-4)


def check_log_aggregate_posterior(fn):
    """``fn(z [M, D], mu [N, D], sigma_square [N, D]) -> [M]``: log (1/N) sum_j N(z_i; mu_j, var_j)."""
    diagnose_aggregate("log_aggregate_posterior", fn, *AGGREGATE_VISIBLE,
                       expected(NOTEBOOK, "log_aggregate_posterior"))
