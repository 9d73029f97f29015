"""The importance-weighted log-likelihood estimate (dgm.vae) against exact quadrature."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dgm.vae import importance_weighted_log_likelihood

W = torch.tensor([[2.0], [-1.5], [0.5]], dtype=torch.float64)
B = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
X = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


class Decoder(nn.Module):
    """p(x|z) = Bernoulli(sigmoid(W z + b)), a 1-D latent and 3 pixels."""

    def forward(self, z):
        return torch.sigmoid(z @ W.T + B)


class FixedEncoder(nn.Module):
    """q(z|x) = N(0.3, 0.8) whatever x is (a poor but valid proposal)."""

    def forward(self, x):
        return (torch.full((len(x), 1), 0.3, dtype=x.dtype),
                torch.full((len(x), 1), 0.8, dtype=x.dtype))


def _quadrature(x: torch.Tensor, integrand: str) -> torch.Tensor:
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64).unsqueeze(1)
    dz = float(z[1] - z[0])
    p = torch.sigmoid(z @ W.T + B)                                    # [Z, 3]
    log_lik = (x[:, None] * p.log() + (1 - x[:, None]) * (1 - p).log()).sum(-1)   # [N, Z]
    log_prior = -0.5 * (z[:, 0] ** 2 + math.log(2 * math.pi))
    log_q = -0.5 * ((z[:, 0] - 0.3) ** 2 / 0.8 + math.log(2 * math.pi * 0.8))
    if integrand == "log p(x)":
        return torch.logsumexp(log_lik + log_prior, 1) + math.log(dz)
    q = log_q.exp() * dz                                               # the ELBO: E_q[log w]
    return ((log_lik + log_prior - log_q) * q).sum(1)


def test_large_k_reaches_the_exact_log_likelihood():
    estimate = importance_weighted_log_likelihood(FixedEncoder(), Decoder(), X, k=200_000)
    torch.testing.assert_close(estimate, _quadrature(X, "log p(x)"), atol=5e-3, rtol=0)


def test_k_equal_one_is_the_elbo_and_below_the_likelihood():
    many = X.repeat_interleave(20_000, 0)
    one_sample = importance_weighted_log_likelihood(FixedEncoder(), Decoder(), many, k=1,
                                                    batch_size=5_000).view(2, -1).mean(1)
    elbo, exact = _quadrature(X, "elbo"), _quadrature(X, "log p(x)")
    torch.testing.assert_close(one_sample, elbo, atol=0.03, rtol=0)
    assert (elbo < exact - 0.05).all(), "this proposal leaves a visible gap"


def test_the_bound_tightens_with_k_and_is_seeded():
    many = X.repeat_interleave(2_000, 0)
    means = [float(importance_weighted_log_likelihood(FixedEncoder(), Decoder(), many, k=k).mean())
             for k in (1, 5, 50)]
    assert means[0] < means[1] < means[2]
    again = importance_weighted_log_likelihood(FixedEncoder(), Decoder(), X, k=50, seed=3)
    assert torch.equal(again, importance_weighted_log_likelihood(FixedEncoder(), Decoder(), X,
                                                                 k=50, seed=3))


@pytest.mark.parametrize("batch_size", [1, 2])
def test_batching_does_not_change_the_estimate_per_row(batch_size):
    full = importance_weighted_log_likelihood(FixedEncoder(), Decoder(), X, k=2_000,
                                              batch_size=2)
    split = importance_weighted_log_likelihood(FixedEncoder(), Decoder(), X, k=2_000,
                                               batch_size=batch_size)
    assert split.shape == (2,)
    torch.testing.assert_close(split, full, atol=0.05, rtol=0)
