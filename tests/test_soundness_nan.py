"""NaN never passes a check: a function that returns NaN everywhere (with the right shape and,
where the check takes gradients, a graph whose gradient is zero, or NaN) fails every graded
function's check of notebooks 01, 02, 03 and 05, visible and hidden, with a message that says how
to fix it. A comparison ``err > tol`` lets NaN through (NaN > tol is False): the checks are
written so that NaN fails.

The right value with a NaN gradient fails the hidden checks that take gradients, and ±inf where
a finite value is asked fails too."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grader_tests import beta_vae, echo, vae, wgan
from dgm.checks.common import CheckFailed

NAN = float("nan")
INF = float("inf")
LEVELS = ["visible", "hidden"]


def _fails(check, fn, level):
    with pytest.raises(CheckFailed) as info:
        check(fn, level=level)
    assert "How to fix:" in str(info.value), str(info.value)


def _zero(*tensors):
    """0 with a graph through every tensor: its gradient is zero."""
    total = 0.0
    for t in tensors:
        total = total + (t * 0).sum()
    return total


# ------------------------------------------------------------------------ all-NaN functions ---
class NanDecoder(nn.Module):
    def __init__(self, latent_dimension, hidden_units, data_dimension):
        super().__init__()
        self.fc1 = nn.Linear(latent_dimension, hidden_units)
        self.fc2 = nn.Linear(hidden_units, data_dimension)

    def forward(self, z):
        return torch.sigmoid(self.fc2(torch.tanh(self.fc1(z)))) * 0 + NAN


def nan_gaussian(z, mu, sigma_square):
    z, mu, sigma_square = torch.broadcast_tensors(z, mu, sigma_square)
    return (z * 0 + mu * 0 + sigma_square * 0).sum(-1) + NAN


def nan_bernoulli(x, p):
    return (x * 0 + p * 0).sum(-1) + NAN


def nan_sample_gaussian(mu, sigma_square):
    return mu * 0 + sigma_square * 0 + NAN


def nan_sample_gaussian_right_gradient(mu, sigma_square):
    return mu + sigma_square.sqrt() * (torch.randn_like(mu) + NAN)


def nan_sample_bernoulli(p):
    return (p * 0 + NAN).float()


def nan_elbo(sampled_z, mu, sigma_square, x, p):
    return _zero(sampled_z, mu, sigma_square, x, p) + NAN


def nan_sample_data_space(decoder, n_samples, latent_dimension):
    device = next(decoder.parameters()).device
    with torch.no_grad():
        p = decoder(torch.randn(n_samples, latent_dimension, device=device))
    return p * NAN, p * NAN


def nan_encode_means(encoder, x):
    with torch.no_grad():
        return encoder(x)[0] * NAN


def nan_interpolation(mu_a, mu_b, step):
    return torch.full((round(1 / step) + 1, mu_a.shape[-1]), NAN, device=mu_a.device)


def nan_kl(mu, sigma_square):
    return (mu * 0 + sigma_square * 0).sum(-1) + NAN


def nan_beta_vae_loss(x, x_recon, mu, sigma_square, beta):
    return _zero(x, x_recon, mu, sigma_square) + NAN


def nan_aggregate(z, mu, sigma_square):
    return (z * 0).sum(-1) + _zero(mu, sigma_square) + NAN


def nan_echo_sample(m_x, s_x, d_max):
    return m_x * 0 + s_x * 0 + NAN


def nan_echo_rate(s_x):
    return (s_x * 0).sum(-1) + NAN


def nan_gradient_penalty(critic, real, fake, lambda_gp=10.0):
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return grad.sum() * 0 + NAN


def nan_critic_loss(critic, real, fake):
    return (critic(fake).mean() - critic(real).mean()) * 0 + NAN


def nan_generator_loss(critic, fake):
    return -critic(fake).mean() * 0 + NAN


ALL_NAN = [
    (vae.check_decoder, NanDecoder),
    (vae.check_logpdf_diagonal_gaussian, nan_gaussian),
    (vae.check_logpdf_bernoulli, nan_bernoulli),
    (vae.check_sample_diagonal_gaussian, nan_sample_gaussian),
    (vae.check_sample_diagonal_gaussian, nan_sample_gaussian_right_gradient),
    (vae.check_sample_bernoulli, nan_sample_bernoulli),
    (vae.check_elbo_loss, nan_elbo),
    (vae.check_sample_data_space, nan_sample_data_space),
    (vae.check_encode_means, nan_encode_means),
    (vae.check_interpolation_path, nan_interpolation),
    (beta_vae.check_kl_diagonal_gaussian, nan_kl),
    (beta_vae.check_beta_vae_loss, nan_beta_vae_loss),
    (beta_vae.check_log_aggregate_posterior, nan_aggregate),
    (echo.check_echo_sample, nan_echo_sample),
    (echo.check_echo_rate, nan_echo_rate),
    (wgan.check_gradient_penalty, nan_gradient_penalty),
    (wgan.check_critic_loss, nan_critic_loss),
    (wgan.check_generator_loss, nan_generator_loss),
]


def _id(case):
    check, fn = case
    return f"{check.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def test_every_graded_function_has_an_all_nan_case():
    graded = {(m.__name__, name) for m in (vae, beta_vae, echo, wgan) for name in dir(m)
              if name.startswith("check_") and callable(getattr(m, name))
              and "level" in getattr(m, name).__code__.co_varnames}
    covered = {(check.__module__, check.__name__) for check, _ in ALL_NAN}
    assert graded - covered == set()


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", ALL_NAN, ids=_id)
def test_an_all_nan_function_fails(case, level):
    check, fn = case
    _fails(check, fn, level)


# ------------------------------------------------------------------------ NaN gradients --------
class _NanGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        return t.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, NAN)


def elbo_nan_gradient(sampled_z, mu, sigma_square, x, p):
    prior = (torch.zeros_like(sampled_z), torch.ones_like(sampled_z))
    return _NanGrad.apply((vae.ref_logpdf_bernoulli(x, p)
                           + vae.ref_logpdf_diagonal_gaussian(sampled_z, *prior)
                           - vae.ref_logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)
                           ).mean())


def generator_loss_nan_gradient(critic, fake):
    return _NanGrad.apply(-critic(fake).mean())


def penalty_nan_gradient(critic, real, fake, lambda_gp=10.0):
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return _NanGrad.apply(lambda_gp * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean())


def critic_loss_nan_gradient(critic, real, fake):
    return _NanGrad.apply(critic(fake).mean() - critic(real).mean())


def beta_vae_loss_nan_gradient(x, x_recon, mu, sigma_square, beta):
    kl = beta_vae.ref_kl_diagonal_gaussian(mu, sigma_square)
    return _NanGrad.apply((((x - x_recon) ** 2).sum(-1) + beta * kl).mean())


@pytest.mark.parametrize("check,fn", [
    (vae.check_elbo_loss, elbo_nan_gradient),
    (wgan.check_generator_loss, generator_loss_nan_gradient),
    (wgan.check_gradient_penalty, penalty_nan_gradient),
    (wgan.check_critic_loss, critic_loss_nan_gradient),
    (beta_vae.check_beta_vae_loss, beta_vae_loss_nan_gradient),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_the_right_value_with_a_nan_gradient_fails_hidden(check, fn):
    _fails(check, fn, "hidden")


# ------------------------------------------------------------------------ infinities ----------
def inf_gaussian(z, mu, sigma_square):
    return vae.ref_logpdf_diagonal_gaussian(z, mu, sigma_square) * 0 - INF


def inf_elbo(sampled_z, mu, sigma_square, x, p):
    return _zero(sampled_z, mu, sigma_square, x, p) - INF


def inf_echo_rate(s_x):
    return (s_x * 0).sum(-1) + INF


def inf_sample_gaussian(mu, sigma_square):
    return mu + sigma_square.sqrt() * torch.randn_like(mu) * INF


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("check,fn", [
    (vae.check_logpdf_diagonal_gaussian, inf_gaussian),
    (vae.check_elbo_loss, inf_elbo),
    (echo.check_echo_rate, inf_echo_rate),
    (vae.check_sample_diagonal_gaussian, inf_sample_gaussian),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_infinity_where_a_finite_value_is_asked_fails(check, fn, level):
    _fails(check, fn, level)

