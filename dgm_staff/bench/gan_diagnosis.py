"""Why a GAN of notebooks 04-05 falls short: candidate causes measured one at a time, at a reduced
budget, on the course's classifier metric.

    python -m dgm_staff.bench.gan_diagnosis fc     [--epochs 4] [--seeds 0]
    python -m dgm_staff.bench.gan_diagnosis wgan   [--epochs 4] [--seeds 0]

``fc``: notebook 04's fully connected GAN (the second seed's generator and discriminator, Adam
1e-4, notebook 04's uniform codes) against one change each: learning rate, Adam's betas, the
discriminator's width, the codes' law. ``wgan``: notebook 05's WGAN-GP (the course's networks,
Adam 1e-4, betas (0.5, 0.9), n_critic 5) against Gulrajani et al.'s betas (0, 0.9), a larger
learning rate, fewer critic steps, and notebook 04's plain GAN on the same networks at the same
wall time. Each row: IS and FID of 2 000 samples, the number of digit classes that make up at
least 2 % of them, and the training seconds. Staff only (it uses reference losses).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from dgm.data import load_mnist_tensors
from dgm.gan import (course_critic, course_generator, fc_discriminator, fc_generator, generate,
                     train_gan, train_wgan_gp)
from dgm.metrics import SampleQualityMeter, classifier_outputs
from dgm.runtime import seed_everything
from dgm_staff import references


# ------------------------------------------------------------------------ WGAN-GP references ---
def critic_loss(critic, real, fake):
    return critic(fake).mean() - critic(real).mean()


def generator_loss(critic, fake):
    return -critic(fake).mean()


def gradient_penalty(critic, real, fake, lambda_gp=10.0):
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), [mixed], create_graph=True)
    return lambda_gp * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def normal_z(n, zdim, device="cpu"):
    return torch.randn(n, zdim, device=device)


def batch_norm_fc_generator(zdim: int = 128) -> nn.Sequential:
    """The FC generator with batch norm after its second and third hidden layers (DCGAN's rule
    for generators; the second seed recommends it for its convolutional GAN)."""
    return nn.Sequential(
        nn.Linear(zdim, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))


def wide_fc_discriminator() -> nn.Sequential:
    """The FC discriminator with the generator's widths mirrored (784 → 1024 → 512 → 256 → 1)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.LeakyReLU(0.2),
                         nn.Linear(1024, 512), nn.LeakyReLU(0.2),
                         nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))


@dataclass
class Variant:
    name: str
    kind: str                                   # "gan" or "wgan"
    generator: Callable[[], nn.Module]
    discriminator: Callable[[], nn.Module]
    zdim: int
    options: dict = field(default_factory=dict)


def fc_variants() -> list[Variant]:
    base = dict(lr=1e-4, sample_z=references.sample_z)
    g, d = (lambda: fc_generator(128)), fc_discriminator
    kg = lambda: references.kaiming_init(fc_generator(128))          # noqa: E731
    kd = lambda: references.kaiming_init(fc_discriminator())         # noqa: E731
    return [
        Variant("seed settings (PyTorch's default init, lr 1e-4, uniform codes)", "gan", g, d,
                128, base),
        Variant("lr 2e-4", "gan", g, d, 128, {**base, "lr": 2e-4}),
        Variant("wider discriminator (1024-512-256)", "gan", g, wide_fc_discriminator, 128, base),
        Variant("codes N(0, I)", "gan", g, d, 128, {**base, "sample_z": normal_z}),
        Variant("Kaiming init (as DNet/GNet)", "gan", kg, kd, 128, base),
        Variant("Kaiming init, lr 2e-4", "gan", kg, kd, 128, {**base, "lr": 2e-4}),
        Variant("batch norm in G", "gan", batch_norm_fc_generator, d, 128, base),
        Variant("batch norm in G, lr 2e-4", "gan", batch_norm_fc_generator, d, 128,
                {**base, "lr": 2e-4}),
    ]


def code_spread(generator: nn.Module, zdim: int, sample_z: Callable, n: int = 500) -> float:
    """Per-pixel standard deviation of ``generator``'s images over ``n`` codes, averaged over
    pixels (real digits: about 0.19). Near 0, every code gives the same image."""
    with torch.no_grad():
        return float(generator(sample_z(n, zdim)).std(0).mean())


def wgan_variants() -> list[Variant]:
    base = dict(lr=1e-4, betas=(0.5, 0.9), n_critic=5)
    g, d = (lambda: course_generator(64)), course_critic
    return [
        Variant("seed settings (lr 1e-4, betas (0.5, 0.9), n_critic 5)", "wgan", g, d, 64, base),
        Variant("betas (0, 0.9) (Gulrajani et al.)", "wgan", g, d, 64,
                {**base, "betas": (0.0, 0.9)}),
        Variant("lr 2e-4, betas (0, 0.9)", "wgan", g, d, 64, {**base, "lr": 2e-4,
                                                              "betas": (0.0, 0.9)}),
        Variant("n_critic 2, lr 2e-4, betas (0, 0.9)", "wgan", g, d, 64,
                {**base, "n_critic": 2, "lr": 2e-4, "betas": (0.0, 0.9)}),
        Variant("plain GAN, same networks (lr 2e-4)", "gan", g, d, 64,
                dict(lr=2e-4, sample_z=normal_z)),
        # notebook 04's fully connected networks, whose plain GAN collapses (see ``fc``)
        Variant("FC networks: plain GAN (lr 2e-4)", "gan", lambda: fc_generator(128),
                fc_discriminator, 128, dict(lr=2e-4, sample_z=normal_z)),
        Variant("FC networks: WGAN-GP (n_critic 2, lr 2e-4, betas (0, 0.9))", "wgan",
                lambda: fc_generator(128), fc_discriminator, 128,
                {**base, "n_critic": 2, "lr": 2e-4, "betas": (0.0, 0.9)}),
    ]


def classes_present(meter: SampleQualityMeter, images: torch.Tensor, at_least: float = 0.02):
    probs, _ = classifier_outputs(meter.classifier, images)
    share = torch.bincount(torch.as_tensor(probs.argmax(1)), minlength=10).float() / len(images)
    return int((share >= at_least).sum())


def run(variant: Variant, train_x, meter, epochs: int, seed: int, n_eval: int) -> dict:
    seed_everything(seed)
    g_net, d_net = variant.generator(), variant.discriminator()
    spread = code_spread(g_net, variant.zdim, variant.options.get("sample_z", normal_z))
    start = time.perf_counter()
    opts = dict(variant.options)
    if variant.kind == "gan":
        history = train_gan(d_net, g_net, references.d_loss, references.g_loss, train_x,
                            zdim=variant.zdim, epochs=epochs, seed=seed, progress=False, **opts)
    else:
        history = train_wgan_gp(d_net, g_net, critic_loss, generator_loss, gradient_penalty,
                                train_x, zdim=variant.zdim, epochs=epochs, seed=seed,
                                progress=False, sample_z=normal_z, **opts)
    seconds = time.perf_counter() - start
    images = generate(g_net, n_eval, variant.zdim, seed=seed,
                      sample_z=opts.get("sample_z", normal_z))
    q = meter(images)
    return dict(variant=variant.name, seed=seed, epochs=epochs, seconds=seconds, spread=spread,
                g_steps=history.g_steps, IS=q.inception_score, FID=q.fid,
                classes=classes_present(meter, images))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["fc", "wgan"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--only", nargs="*", default=None, help="variant numbers (1-based)")
    parser.add_argument("--train-subset", type=int, default=60_000)
    args = parser.parse_args(argv)
    data = load_mnist_tensors(flatten=False)
    meter = SampleQualityMeter(data.test_x)
    variants = fc_variants() if args.which == "fc" else wgan_variants()
    print("| variant | seed | spread of G(z) at init | epochs | train s | G steps | IS | FID | "
          "classes ≥ 2 % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, variant in enumerate(variants, 1):
        if args.only and str(k) not in args.only:
            continue
        for seed in args.seeds:
            r = run(variant, data.train_x[: args.train_subset], meter, args.epochs, seed,
                    args.n_eval)
            print(f"| {r['variant']} | {seed} | {r['spread']:.3f} | {r['epochs']} | "
                  f"{r['seconds']:.0f} | "
                  f"{r['g_steps']} | {r['IS']:.2f} | {r['FID']:.1f} | {r['classes']} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
