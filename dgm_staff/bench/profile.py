"""Where the slowest notebook's time goes, and what the channels-last layout changes.

Notebook 04 is the slowest at the full budget (two GANs, 30 epochs each, on 2 CPU cores), and
notebooks 05 and 06 train the course's convolutional networks (``dgm.gan_networks.course_critic`` /
``course_generator``). This phase times the course's own training loops
(``dgm.gan_training.train_gan``, ``train_wgan_gp``) on the same images with the layout switched off
and on (their ``channels_last=False/True`` argument, alternately, so drift hits both), and lists
the operators that take a conv GAN step's time in each layout (``torch.profiler``).
"""

from __future__ import annotations

import time

import torch

from dgm import gan_networks, gan_training
from dgm.runtime import pick_device, seed_everything
from dgm_staff import references as ref
from dgm_staff.bench.common import solution_namespace

#: The loops timed, in order: notebook 04's conv GAN (its reference DNet/GNet and losses),
#: notebook 05's WGAN-GP and notebook 06's own GANs (the course's networks), and the fully
#: connected GAN (no convolutions: the same code in both layouts, a control).
LOOPS = ("conv GAN", "WGAN-GP", "course GAN", "FC GAN")


def _nets(kind: str, device):
    """Discriminator/critic, generator and code size of loop ``kind``."""
    if kind == "FC GAN":
        return (gan_networks.fc_discriminator().to(device),
                gan_networks.fc_generator(128).to(device), 128)
    if kind in ("WGAN-GP", "course GAN"):
        return (gan_networks.course_critic().to(device),
                gan_networks.course_generator(64).to(device), 64)
    return (ref.kaiming_init(ref.conv_discriminator()).to(device),
            ref.kaiming_init(ref.conv_generator(64)).to(device), 64)


def _train(kind: str, images: torch.Tensor, device, channels_last: bool
           ) -> tuple[float, int, float]:
    """Seconds, D/critic steps and the last D loss of one epoch over ``images``."""
    ns = solution_namespace("05_wgan") if kind == "WGAN-GP" else {}   # its reference losses
    seed_everything(0)
    d, g, zdim = _nets(kind, device)
    start = time.perf_counter()
    common = dict(zdim=zdim, epochs=1, progress=False, channels_last=channels_last)
    if kind == "WGAN-GP":
        h = gan_training.train_wgan_gp(d, g, ns["critic_loss"], ns["generator_loss"],
                                       ns["gradient_penalty"], images, **common)
    elif kind == "course GAN":
        h = gan_training.train_gan(d, g, gan_networks.least_squares_d_loss,
                                   gan_networks.least_squares_g_loss, images,
                                   **common)
    else:
        h = gan_training.train_gan(d, g, ref.d_loss, ref.g_loss, images,
                                   sample_z=ref.sample_z, **common)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, h.d_steps, h.d_loss[-1]


def loop_timings(steps: int = 30, rounds: int = 2, device=None,
                 loops: tuple[str, ...] = LOOPS) -> list[dict]:
    from dgm.data import load_mnist_tensors

    device = pick_device(device)
    images = load_mnist_tensors(device=device, flatten=False).train_x[: steps * 256]
    rows = []
    for kind in loops:
        seconds = {False: 0.0, True: 0.0}
        losses = {}
        n = 0
        _train(kind, images[:512], device, True)                    # warm-up
        for _ in range(rounds):
            for channels_last in (False, True):
                s, n, loss = _train(kind, images, device, channels_last)
                seconds[channels_last] += s
                losses[channels_last] = loss
        rows.append({"loop": kind, "steps": n * rounds,
                     "before_ms": 1e3 * seconds[False] / (n * rounds),
                     "after_ms": 1e3 * seconds[True] / (n * rounds),
                     "speedup": seconds[False] / seconds[True],
                     "last_loss_before": losses[False], "last_loss_after": losses[True]})
        print(f"  {kind:<10} {rows[-1]['before_ms']:7.1f} -> {rows[-1]['after_ms']:7.1f} ms per "
              f"step ({rows[-1]['speedup']:.2f}x)", flush=True)
    return rows


def operator_table(steps: int = 5, top: int = 6, device=None) -> dict:
    """The operators with the most self time in ``steps`` conv GAN steps, per layout."""
    from torch.profiler import ProfilerActivity, profile

    device = pick_device(device)
    out = {}
    for channels_last in (False, True):
        seed_everything(0)
        d, g, zdim = _nets("conv GAN", device)
        if channels_last:
            gan_training.use_channels_last(d, g, zdim, device)
        real = torch.rand(256, 1, 28, 28, device=device)
        opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))

        def z():
            return ref.sample_z(256, zdim, device)

        def step():
            for opt, loss in ((opt_d, lambda: ref.d_loss(d, g, real, z())),
                              (opt_g, lambda: ref.g_loss(d, g, z()))):
                value = loss()
                opt_d.zero_grad(), opt_g.zero_grad()
                value.backward()
                opt.step()

        for _ in range(2):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        out["channels-last" if channels_last else "default"] = [
            {"op": e.key, "ms_per_step": e.self_cpu_time_total / 1e3 / steps,
             "share": e.self_cpu_time_total / total} for e in events[:top]]
    return out


def measure(device=None) -> dict:
    dev = pick_device(device)
    return {"device": str(dev), "threads": torch.get_num_threads(),
            "loops": loop_timings(device=dev), "operators": operator_table(device=dev)}
