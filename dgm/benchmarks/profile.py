"""Where the slowest notebook's time goes, and what the channels-last layout changes.

Notebook 04 is the slowest at the full budget (two GANs, 30 epochs each, on 2 CPU cores), and
notebooks 05 and 06 train the same convolutional networks. This phase times the course's own
training loops (``dgm.gan.train_gan``, ``train_wgan_gp``) on the same images with the layout
switched off and on (``DGM_CHANNELS_LAST=0/1``, alternately, so drift hits both), and lists the
operators that take a conv GAN step's time in each layout (``torch.profiler``).
"""

from __future__ import annotations

import time

import torch

from dgm import gan
from dgm.benchmarks import solution_namespace
from dgm.runtime import environ, pick_device, seed_everything


def _nets(kind: str, device):
    if kind == "FC GAN":
        return gan.fc_discriminator().to(device), gan.fc_generator(128).to(device), 128
    return (gan.kaiming_init(gan.conv_discriminator()).to(device),
            gan.kaiming_init(gan.conv_generator(64)).to(device), 64)


def _train(kind: str, images: torch.Tensor, device) -> tuple[float, int, float]:
    """Seconds, D/critic steps and the last D loss of one epoch over ``images``."""
    ns = solution_namespace("05_wgan") if kind == "WGAN-GP" else {}   # its reference losses
    seed_everything(0)
    d, g, zdim = _nets(kind, device)
    start = time.perf_counter()
    if kind == "WGAN-GP":
        h = gan.train_wgan_gp(d, g, ns["critic_loss"], ns["generator_loss"],
                              ns["gradient_penalty"], images, zdim=zdim, epochs=1,
                              progress=False)
    else:
        h = gan.train_gan(d, g, gan.standard_d_loss, gan.standard_g_loss, images, zdim=zdim,
                          epochs=1, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, h.d_steps, h.d_loss[-1]


def loop_timings(steps: int = 30, rounds: int = 2, device=None) -> list[dict]:
    from dgm.data import load_mnist_tensors

    device = pick_device(device)
    images = load_mnist_tensors(device=device, flatten=False).train_x[: steps * 256]
    rows = []
    for kind in ("conv GAN", "WGAN-GP", "FC GAN"):
        seconds = {"0": 0.0, "1": 0.0}
        losses = {}
        n = 0
        _train(kind, images[:512], device)                    # warm-up
        for _ in range(rounds):
            for flag in ("0", "1"):
                with environ(**{gan.CHANNELS_LAST_ENV: flag}):
                    s, n, loss = _train(kind, images, device)
                seconds[flag] += s
                losses[flag] = loss
        rows.append({"loop": kind, "steps": n * rounds,
                     "before_ms": 1e3 * seconds["0"] / (n * rounds),
                     "after_ms": 1e3 * seconds["1"] / (n * rounds),
                     "speedup": seconds["0"] / seconds["1"],
                     "last_loss_before": losses["0"], "last_loss_after": losses["1"]})
        print(f"  {kind:<9} {rows[-1]['before_ms']:7.1f} -> {rows[-1]['after_ms']:7.1f} ms per "
              f"step ({rows[-1]['speedup']:.2f}x)", flush=True)
    return rows


def operator_table(steps: int = 5, top: int = 6, device=None) -> dict:
    """The operators with the most self time in ``steps`` conv GAN steps, per layout."""
    from torch.profiler import ProfilerActivity, profile

    device = pick_device(device)
    out = {}
    for flag in ("0", "1"):
        seed_everything(0)
        d, g, zdim = _nets("conv GAN", device)
        if flag == "1":
            gan.use_channels_last(d, g, zdim, device)
        real = torch.rand(256, 1, 28, 28, device=device)
        opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))

        def step():
            for opt, loss in ((opt_d, lambda: gan.standard_d_loss(d, g, real, gan.sample_z(256, zdim, device))),
                              (opt_g, lambda: gan.standard_g_loss(d, g, gan.sample_z(256, zdim, device)))):
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
        out["channels-last" if flag == "1" else "default"] = [
            {"op": e.key, "ms_per_step": e.self_cpu_time_total / 1e3 / steps,
             "share": e.self_cpu_time_total / total} for e in events[:top]]
    return out


def measure(device=None) -> dict:
    dev = pick_device(device)
    return {"device": str(dev), "threads": torch.get_num_threads(),
            "loops": loop_timings(device=dev), "operators": operator_table(device=dev)}
