"""Pieces of the VAE notebook that students do not write: the encoder, data selection and the
importance-weighted log-likelihood estimate used to evaluate the trained model.

The encoder follows the assignment it comes from (Kingma & Welling, 2014, appendix C.2): one
tanh hidden layer, then two linear heads for the mean and the *log*-variance of
q(z|x) = N(mu, diag(sigma_square)); it returns the variance, as the graded functions expect.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Encoder(nn.Module):
    """q(z|x): ``forward(x [B, 784]) -> (mu [B, D], sigma_square [B, D])``."""

    def __init__(self, latent_dimension: int = 2, hidden_units: int = 500,
                 data_dimension: int = 784):
        super().__init__()
        self.fc1 = nn.Linear(data_dimension, hidden_units)
        self.fc2_mu = nn.Linear(hidden_units, latent_dimension)
        self.fc2_sigma = nn.Linear(hidden_units, latent_dimension)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.tanh(self.fc1(x))
        mu = self.fc2_mu(hidden)
        sigma_square = torch.exp(self.fc2_sigma(hidden))
        return mu, sigma_square


def pick_pairs_of_different_classes(labels: torch.Tensor, n_pairs: int = 3,
                                    seed: int = 0) -> list[tuple[int, int]]:
    """``n_pairs`` index pairs ``(i, j)`` with ``labels[i] != labels[j]``, drawn reproducibly."""
    g = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    pairs: list[tuple[int, int]] = []
    while len(pairs) < n_pairs:
        i, j = torch.randint(len(labels), (2,), generator=g).tolist()
        if labels[i] != labels[j]:
            pairs.append((i, j))
    return pairs


@torch.no_grad()
def importance_weighted_log_likelihood(encoder: nn.Module, decoder: nn.Module, x: torch.Tensor,
                                       k: int = 500, batch_size: int = 100,
                                       seed: int = 0) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) for each row of binary ``x`` ``[N, 784]`` -> ``[N]``
    (nats).

    Burda, Grosse & Salakhutdinov, *Importance Weighted Autoencoders*, ICLR 2016, eq. (8):
    log p(x) ≈ log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x) with zᵢ ~ q(z|x) = N(μ, diag σ²) from
    ``encoder`` (which returns the mean and the variance), p(z) = N(0, I) and a Bernoulli decoder
    (``decoder(z)`` gives pixel probabilities). k = 1 is the one-sample ELBO; the bound tightens
    as k grows and reaches log p(x) as k → ∞. The sums are taken with ``logsumexp``.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    out = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        mu, var = encoder(xb)                                    # [B, D]
        std = var.sqrt()
        eps = torch.randn((k, *mu.shape), generator=gen, device=x.device, dtype=mu.dtype)
        z = mu + std * eps                                       # [k, B, D]
        log_q = (-0.5 * (eps ** 2 + torch.log(2 * torch.pi * var))).sum(-1)
        log_prior = (-0.5 * (z ** 2 + math.log(2 * math.pi))).sum(-1)
        p = decoder(z.flatten(0, 1)).clamp(1e-7, 1 - 1e-7).view(k, len(xb), -1)
        log_lik = (xb * torch.log(p) + (1 - xb) * torch.log1p(-p)).sum(-1)   # [k, B]
        log_w = log_lik + log_prior - log_q                      # [k, B]
        out.append(torch.logsumexp(log_w, 0) - math.log(k))
    return torch.cat(out)
