"""Pieces of the VAE notebook that students do not write: the encoder and data selection.

The encoder follows the assignment it comes from (Kingma & Welling, 2014, appendix C.2): one
tanh hidden layer, then two linear heads for the mean and the *log*-variance of
q(z|x) = N(mu, diag(sigma_square)); it returns the variance, as the graded functions expect.
"""

from __future__ import annotations

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
