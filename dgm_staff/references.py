"""Reference implementations of graded notebook-04 answers, for staff scripts and benchmarks
only (the training of the course's fallback generator and the step profile). Students never
receive this module: ``dgm`` holds no graded answer (a test compares every graded definition with
the student bundle)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def sample_z(n: int, zdim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Notebook 04's prior: uniform on [-1, 1]^zdim."""
    return 2 * torch.rand(n, zdim, device=device) - 1


def conv_discriminator() -> nn.Sequential:
    """Notebook 04's DNet as one Sequential."""
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(4, 8, 3, 1, 0), nn.ReLU(), nn.Flatten(),
        nn.Linear(200, 1))


def conv_generator(zdim: int = 64) -> nn.Sequential:
    """Notebook 04's GNet as one Sequential."""
    return nn.Sequential(
        nn.Linear(zdim, 1568), nn.LeakyReLU(0.2), nn.Unflatten(1, (32, 7, 7)),
        nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2), nn.Conv2d(16, 8, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid())


def kaiming_init(module: nn.Module) -> nn.Module:
    """Kaiming-uniform weights and zero biases for every Linear and Conv2d in ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def d_loss(d_net: nn.Module, g_net: nn.Module, real: torch.Tensor,
           z: torch.Tensor) -> torch.Tensor:
    """BCE[D(x), 1] + BCE[D(G(z)), 0] on logits, the fake batch detached."""
    lr, lf = d_net(real), d_net(g_net(z).detach())
    return F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr)) + \
        F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))


def g_loss(d_net: nn.Module, g_net: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss BCE[D(G(z)), 1]."""
    lf = d_net(g_net(z))
    return F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf))
