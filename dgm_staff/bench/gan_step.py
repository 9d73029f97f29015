"""Cost of one training step: GAN (notebook 04) vs. WGAN-GP (notebook 05), same networks.

    python -m dgm_staff.bench.gan_step [--steps 40] [--device cpu] [--channels-last] [--nets course]

Prints a table: milliseconds per GAN step (one discriminator + one generator update), per
WGAN-GP critic step (critic loss + gradient penalty, a double backward), and per WGAN-GP
generator iteration (``--n-critic`` critic steps, default notebook 05's 2, + one generator
update), with ratios. Batch 256,
both kinds of step on one pair of networks: notebook 04's ``DNet``/``GNet``
(``dgm_staff.references.conv_discriminator`` / ``conv_generator``, the default) or the course's
networks of notebooks 05 and 06 (``--nets course``: ``dgm.gan_networks.course_critic`` /
``course_generator``).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from dgm.gan_networks import course_critic, course_generator
from dgm.gan_training import use_channels_last
from dgm.runtime import pick_device, seed_everything
from dgm_staff.references import (conv_discriminator, conv_generator, d_loss, g_loss,
                                  kaiming_init, sample_z)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def gan_step(d, g, opt_d, opt_g, real, zdim):
    loss = d_loss(d, g, real, sample_z(len(real), zdim, real.device))
    opt_d.zero_grad(), loss.backward(), opt_d.step()
    loss = g_loss(d, g, sample_z(len(real), zdim, real.device))
    opt_g.zero_grad(), loss.backward(), opt_g.step()


def critic_step(c, g, opt_c, real, zdim, lam=10.0):
    with torch.no_grad():
        fake = g(sample_z(len(real), zdim, real.device))
    eps = torch.rand(len(real), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(c(x_hat).sum(), x_hat, create_graph=True)
    penalty = lam * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    loss = c(fake).mean() - c(real).mean() + penalty
    opt_c.zero_grad(), loss.backward(), opt_c.step()


def generator_step(c, g, opt_g, batch, zdim, device):
    loss = -c(g(sample_z(batch, zdim, device))).mean()
    opt_g.zero_grad(), loss.backward(), opt_g.step()


def timed(fn, steps, device, warmup=3):
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / steps * 1e3


def networks(kind: str, zdim: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Discriminator/critic and generator: notebook 04's (``"04"``) or the course's."""
    if kind == "course":
        return course_critic(), course_generator(zdim)
    if kind == "04":
        return kaiming_init(conv_discriminator()), kaiming_init(conv_generator(zdim))
    raise ValueError(f"unknown networks {kind!r}: use '04' or 'course'")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm_staff.bench.gan_step",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default=None)
    parser.add_argument("--nets", choices=("04", "course"), default="04",
                        help="notebook 04's DNet/GNet (default) or the course's networks")
    parser.add_argument("--channels-last", action="store_true",
                        help="the layout the training loops use on the CPU "
                             "(dgm.gan_training.use_channels_last)")
    parser.add_argument("--n-critic", type=int, default=2,
                        help="critic steps per generator step (notebook 05: 2; the assignment: 5)")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    seed_everything(0)
    zdim, n_critic = 64, args.n_critic
    real = torch.rand(args.batch, 1, 28, 28, device=device)
    d, g = (net.to(device) for net in networks(args.nets, zdim))
    layout = "channels-last" if args.channels_last and use_channels_last(d, g, zdim, device) \
        else "default"
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    t_gan = timed(lambda: gan_step(d, g, opt_d, opt_g, real, zdim), args.steps, device)
    t_critic = timed(lambda: critic_step(d, g, opt_d, real, zdim), args.steps, device)
    t_gen = timed(lambda: generator_step(d, g, opt_g, args.batch, zdim, device), args.steps,
                  device)
    t_iter = n_critic * t_critic + t_gen
    rows = [("GAN step (1 D + 1 G update)", t_gan, 1.0),
            ("WGAN-GP critic step (with penalty)", t_critic, t_critic / t_gan),
            ("WGAN-GP generator update", t_gen, t_gen / t_gan),
            (f"WGAN-GP iteration ({n_critic} critic + 1 G)", t_iter, t_iter / t_gan)]
    nets = "notebook 04's networks" if args.nets == "04" else "the course's networks"
    print(f"device {device}, batch {args.batch}, {args.steps} timed steps each, {nets}, "
          f"{layout} layout")
    print("| step | ms | relative to a GAN step |\n|---|---:|---:|")
    for name, ms, ratio in rows:
        print(f"| {name} | {ms:.1f} | {ratio:.2f}x |")
    epoch_steps = 60_000 // args.batch
    print(f"one epoch ({epoch_steps} real batches): GAN {epoch_steps * t_gan / 1e3:.0f} s, "
          f"WGAN-GP {epoch_steps * (t_critic + t_gen / n_critic) / 1e3:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
