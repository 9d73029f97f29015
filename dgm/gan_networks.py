"""The GAN notebooks' networks and fixed losses (notebooks 04–06): the codes (N(0, I) and a
notebook's own sampler), the fully connected baseline of notebook 04 with its minibatch-spread
feature, the course's convolutional critic and generator of notebooks 05 and 06, the
least-squares losses and the latent smoothness penalty of notebook 06.

The graded networks and losses are the students'; these are the course's own, for baselines and
for the notebooks that need a trained generator before their graded part.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def normal_codes(n: int, zdim: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` codes from N(0, I) (the codes of notebook 05's and 06's GANs), drawn on the CPU from
    ``generator`` so that a seed gives the same codes on every device."""
    return torch.randn(n, zdim, generator=generator).to(device)


def draw_codes(n: int, zdim: int, seed: int, sample_z: Callable | None = None) -> torch.Tensor:
    """``n`` codes ``[n, zdim]`` on the CPU, the same for the same ``seed``: from ``sample_z(n,
    zdim, "cpu")`` (a notebook's own sampler) or, without one, from N(0, I). The global random
    state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if sample_z is None:
            return torch.randn(n, zdim)
        return sample_z(n, zdim, "cpu")


def as_images(x: torch.Tensor) -> torch.Tensor:
    """``[B, 784]`` or ``[B, 1, 28, 28]`` -> ``[B, 1, 28, 28]``."""
    return x.reshape(-1, 1, 28, 28)


def fc_generator(zdim: int = 128, batch_norm: bool = True) -> nn.Sequential:
    """The fully connected generator of the second seed: hidden widths 256, 512, 1024, each a
    Linear followed by LeakyReLU(0.2), then Linear(1024 → 784) and a sigmoid (pixels in [0, 1]),
    reshaped to ``[B, 1, 28, 28]``.

    ``batch_norm`` (the course's default) puts a BatchNorm1d after the second and third hidden
    Linear, as DCGAN does in its generator (Radford et al., ICLR 2016). Without it (the seed's
    network, ``batch_norm=False``) every code gives almost the same image at initialisation and
    the GAN collapses to one image within the first epoch, whatever the learning rate, the
    discriminator's width or the codes' law (``benchmarks/gan_diagnosis.md``)."""
    def norm(width: int) -> list[nn.Module]:
        return [nn.BatchNorm1d(width)] if batch_norm else []

    return nn.Sequential(
        nn.Linear(zdim, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), *norm(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), *norm(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, 784), nn.Sigmoid(),
        nn.Unflatten(1, (1, 28, 28)))


class MinibatchStd(nn.Module):
    """Append one feature to every sample: the standard deviation of each feature over the
    minibatch, averaged over features (Karras et al., *Progressive Growing of GANs*, ICLR 2018,
    section 3). ``[B, F]`` → ``[B, F + 1]``.

    A generator that gives many codes the same few images makes batches with a small spread;
    with this feature the discriminator sees that and can reject the whole batch, so dropping
    modes stops paying off. It needs real and fake images in separate calls (as the course's
    losses make them); a batch of one gets a spread of 0."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        spread = (h.var(0, unbiased=False) + self.eps).sqrt().mean()
        return torch.cat([h, spread.expand(len(h), 1)], dim=1)


def fc_discriminator(dropout: float = 0.3, minibatch_std: bool = True) -> nn.Sequential:
    """A fully connected discriminator: 784 → 512 → 256 → 1 logit, LeakyReLU(0.2).

    Two additions to the second seed's network (``fc_discriminator(0.0, minibatch_std=False)``
    gives it exactly), which in the course's diagnosis were what let the FC GAN keep all ten
    digit classes (``benchmarks/gan_diagnosis.md``):

    * ``dropout`` (default 0.3) after each hidden layer, as in the discriminator Goodfellow et al.
      (2014) trained on MNIST: it keeps this discriminator, a thousand times larger than notebook
      04's ``DNet``, from latching onto a few pixels;
    * ``minibatch_std`` (default on): :class:`MinibatchStd` before the output layer, so that the
      discriminator sees how varied a batch is and a generator that favours a few digits loses."""
    def drop() -> list[nn.Module]:
        return [nn.Dropout(dropout)] if dropout > 0 else []

    head = [MinibatchStd(), nn.Linear(257, 1)] if minibatch_std else [nn.Linear(256, 1)]
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.LeakyReLU(0.2), *drop(),
        nn.Linear(512, 256), nn.LeakyReLU(0.2), *drop(),
        *head)


def course_generator(zdim: int = 64) -> nn.Sequential:
    """The course's convolutional generator for notebooks 05 and 06 (not notebook 04's ``GNet``):
    DCGAN-style (Radford et al., ICLR 2016) transposed convolutions with batch norm,
    ``[B, zdim]`` → ``[B, 1, 28, 28]`` in (0, 1)."""
    return nn.Sequential(
        nn.Linear(zdim, 64 * 7 * 7), nn.BatchNorm1d(64 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid())


def course_critic() -> nn.Sequential:
    """The course's convolutional critic / discriminator for notebooks 05 and 06 (not notebook
    04's ``DNet``): two strided convolutions with LeakyReLU(0.2) and no batch norm (the gradient
    penalty is taken per sample, which batch norm would couple; Gulrajani et al., section 4),
    ``[B, 1, 28, 28]`` → ``[B, 1]``."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 1))


def least_squares_d_loss(d_net: nn.Module, g_net: nn.Module, real: torch.Tensor,
                         z: torch.Tensor) -> torch.Tensor:
    """The least-squares GAN's discriminator loss (Mao et al., ICCV 2017, a = 0, b = c = 1):
    ½ E (D(x) − 1)² + ½ E D(G(z))², the fake batch detached. Notebook 06 trains its own GANs
    with it."""
    fake = g_net(z).detach()
    return 0.5 * ((d_net(real) - 1) ** 2).mean() + 0.5 * (d_net(fake) ** 2).mean()


def least_squares_g_loss(d_net: nn.Module, g_net: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The least-squares GAN's generator loss ½ E (D(G(z)) − 1)²."""
    return 0.5 * ((d_net(g_net(z)) - 1) ** 2).mean()


def latent_smoothness_penalty(g_net: nn.Module, z: torch.Tensor, step: float = 0.1,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """E ‖G(z + δ) − G(z)‖² / ‖δ‖² for a random direction δ of length ``step``: a finite-difference
    estimate of the squared Jacobian norm of G along random directions (in the spirit of
    StyleGAN2's path-length regularisation, Karras et al. 2020). Penalising it makes nearby codes
    give nearby images."""
    direction = torch.randn(z.shape, generator=generator).to(z.device)
    delta = step * direction / direction.norm(dim=1, keepdim=True)
    diff = (g_net(z + delta) - g_net(z)).flatten(1)
    return (diff ** 2).sum(1).mean() / step ** 2
