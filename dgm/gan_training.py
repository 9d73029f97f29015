"""GAN and WGAN-GP training (notebooks 04–06): the two loops, their history and checkpoints, the
per-epoch snapshots, and sampling from a trained generator.

The loss functions are the students' (passed in), so that these loops hold no graded code:

    history = train_gan(d_net, g_net, d_loss, g_loss, data.train_x, zdim=64, epochs=30)

References: Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014 (the minimax game and
the non-saturating generator loss); Gulrajani et al., *Improved Training of Wasserstein GANs*,
NeurIPS 2017 (Algorithm 1: n_critic = 5, λ = 10, Adam lr 1e-4; their MNIST code uses β = (0.5,
0.9)).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from dgm.artifacts import Checkpoint, code_fingerprint
from dgm.data import TensorLoader
from dgm.gan_networks import as_images, draw_codes, latent_smoothness_penalty, normal_codes
from dgm.generator_archive import ExportedGenerator


@dataclass
class GanHistory:
    """Per-step losses (D/critic and G) and per-epoch wall times of a run."""

    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    d_steps: int = 0
    g_steps: int = 0

    @property
    def seconds(self) -> float:
        return float(sum(self.epoch_seconds))


def _check_finite(value: float, what: str, epoch: int, step: int) -> None:
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the {what} became {value} at epoch {epoch}, step {step}: check that your loss "
            "uses BCEWithLogitsLoss on logits (no sigmoid before it) and the learning rate")


def use_channels_last(d_net: nn.Module, g_net: nn.Module, zdim: int,
                      device: torch.device, enabled: bool = True) -> bool:
    """On the CPU, switch both networks to the channels-last memory layout when they have
    convolutions and still run in it; returns whether it did.

    oneDNN's CPU convolutions work channels-last; with PyTorch's default layout each convolution
    and upsampling converts its input and output, which took about half of a GAN step on the
    course's networks (``python -m dgm_staff.bench run --phases profile`` measures it). A network whose ``forward``
    uses ``.view`` on a channels-last activation fails in that layout; then both networks stay as
    they are. The layout does not change what is computed, only the order of the sums (results
    agree to float32 rounding)."""
    if device.type != "cpu" or not enabled:
        return False
    if not any(isinstance(m, nn.Conv2d) for net in (d_net, g_net) for m in net.modules()):
        return False
    modes = [net.training for net in (d_net, g_net)]
    for net in (d_net, g_net):
        net.to(memory_format=torch.channels_last).eval()
    try:                       # a probe that leaves the global random state alone
        with torch.no_grad():
            d_net(g_net(torch.zeros(2, zdim, device=device)))
        ok = True
    except RuntimeError:
        for net in (d_net, g_net):
            net.to(memory_format=torch.contiguous_format)
        ok = False
    for net, mode in zip((d_net, g_net), modes):
        net.train(mode)
    return ok


class _Run:
    """What both training loops share: Adam for each network, the shuffled loader, the noise
    generator, the history, the progress bar, and one optimisation step with its bookkeeping."""

    def __init__(self, d_net, g_net, train_x, *, zdim, epochs, batch_size, lr, betas, seed, desc,
                 progress, d_name, sample_z, channels_last, checkpoint=None, carry=None,
                 settings=None, code=()):
        self.nets = (d_net, g_net)
        self.device = next(g_net.parameters()).device
        self.sample_z = sample_z
        self.channels_last = use_channels_last(d_net, g_net, zdim, self.device, channels_last)
        self.opt_d = torch.optim.Adam(d_net.parameters(), lr=lr, betas=betas)
        self.opt_g = torch.optim.Adam(g_net.parameters(), lr=lr, betas=betas)
        self.loader = TensorLoader(train_x, batch_size=batch_size, shuffle=True, seed=seed,
                                   drop_last=True)
        self.gen = torch.Generator().manual_seed(seed)
        self.history = GanHistory()
        self.pending: list[tuple[str, int, torch.Tensor]] = []
        self.carry = carry
        self.ckpt = Checkpoint(checkpoint, dict(
            loop=d_name, epochs=epochs, batch_size=batch_size, lr=lr, betas=list(betas),
            seed=seed, zdim=zdim, n_train=len(train_x), **(settings or {}),
            shapes=[[list(p.shape) for p in net.parameters()] for net in self.nets]),
            code_fingerprint(*code, sample_z, d_net, g_net))
        first = 1
        saved = self.ckpt.load()
        if saved is not None:
            for net, state in zip(self.nets, saved["nets"]):
                net.load_state_dict(state)
            self.opt_d.load_state_dict(saved["opt_d"])
            self.opt_g.load_state_dict(saved["opt_g"])
            self.loader.generator.set_state(saved["loader"])
            self.gen.set_state(saved["gen"])
            self.history = GanHistory(**saved["history"])
            if carry is not None:
                carry.clear()
                carry.update(saved["carry"])
            Checkpoint.restore_rng(saved)
            first = saved["epoch"] + 1
            for net in self.nets:
                net.eval()
        self.bar = tqdm(range(first, epochs + 1), desc=desc, unit="epoch", disable=not progress,
                        initial=first - 1, total=epochs)
        self.d_name = d_name

    def z(self, n: int, zdim: int) -> torch.Tensor:
        if self.sample_z is not None:
            return self.sample_z(n, zdim, self.device)
        return normal_codes(n, zdim, self.device, self.gen)

    def finish(self) -> GanHistory:
        """Hand the networks back in PyTorch's default memory layout."""
        if self.channels_last:
            for net in self.nets:
                net.to(memory_format=torch.contiguous_format)
        return self.history

    def save(self, epoch: int) -> None:
        """The checkpoint after ``epoch`` (the last one's is kept: a re-run loads it)."""
        self.ckpt.save(epoch, {
            "nets": [net.state_dict() for net in self.nets],
            "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
            "loader": self.loader.generator.get_state(), "gen": self.gen.get_state(),
            "history": asdict(self.history),
            "carry": dict(self.carry) if self.carry is not None else {}})

    def epochs(self, on_epoch):
        """Yield each epoch with the networks in train mode; afterwards time it, switch to eval
        mode, update the bar and call ``on_epoch(epoch, g_net)``."""
        h = self.history
        for epoch in self.bar:
            start = time.perf_counter()
            for net in self.nets:
                net.train()
            yield epoch
            self.flush(epoch)
            h.epoch_seconds.append(time.perf_counter() - start)
            for net in self.nets:
                net.eval()
            self.bar.set_postfix({self.d_name: f"{h.d_loss[-1]:.3f}" if h.d_loss else "-",
                                  "g": f"{h.g_loss[-1]:.3f}" if h.g_loss else "-"})
            if on_epoch is not None:
                on_epoch(epoch, self.nets[1])
            self.save(epoch)

    def step(self, which: str, loss: torch.Tensor, epoch: int, step: int) -> None:
        """One Adam step of the discriminator/critic (``"d"``) or the generator (``"g"``) on
        ``loss``; gradients of both networks are cleared first, so neither sees the other's.

        The loss is kept as a tensor and read once per epoch (:meth:`flush`): reading it here
        would make the CPU wait for the GPU at every step."""
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        (self.opt_d if which == "d" else self.opt_g).step()
        self.pending.append((which, step, loss.detach()))

    def flush(self, epoch: int) -> None:
        """Move the epoch's losses into the history (one device-to-host copy) and stop with a
        message at the first one that is not finite."""
        if not self.pending:
            return
        values = torch.stack([loss for _, _, loss in self.pending]).float().cpu().tolist()
        h = self.history
        for (which, step, _), value in zip(self.pending, values):
            _check_finite(value, f"{self.d_name if which == 'd' else 'generator'} loss", epoch,
                          step)
            if which == "d":
                h.d_loss.append(value)
                h.d_steps += 1
            else:
                h.g_loss.append(value)
                h.g_steps += 1
        self.pending = []


def train_gan(d_net: nn.Module, g_net: nn.Module, d_loss: Callable, g_loss: Callable,
              train_x: torch.Tensor, *, zdim: int, epochs: int, batch_size: int = 256,
              lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), seed: int = 0,
              on_epoch: Callable[[int, nn.Module], None] | None = None, progress: bool = True,
              desc: str = "GAN", smoothness: float = 0.0,
              smoothness_step: float = 0.1, sample_z: Callable | None = None,
              channels_last: bool = True, checkpoint: Path | None = None,
              carry: dict | None = None) -> GanHistory:
    """Alternate one discriminator step and one generator step per minibatch (Goodfellow et al.,
    Algorithm 1 with k = 1), with Adam for both.

    ``d_loss(d_net, g_net, real, z)`` and ``g_loss(d_net, g_net, z)`` are the notebook's loss
    functions; ``on_epoch(epoch, g_net)`` is called after each epoch (e.g. to save a grid).

    ``smoothness`` > 0 adds :func:`latent_smoothness_penalty` to the generator's loss (notebook
    06, "training for short paths"). ``sample_z(n, zdim, device)`` draws the codes (notebook 04
    passes its own); without it they come from N(0, I) (:func:`normal_codes`).
    ``channels_last`` trains convolutional networks in that memory layout on the CPU
    (:func:`use_channels_last`; the benchmark's profile switches it off to compare).

    ``checkpoint`` (a file path) saves the run after each epoch and resumes an interrupted run
    from its last finished epoch, with the same result as an uninterrupted one; a finished run's
    checkpoint is loaded instead of training again. ``carry`` is a dict of your own (e.g. sample
    grids per epoch) saved with it and refilled on resume.
    """
    run = _Run(d_net, g_net, train_x, zdim=zdim, epochs=epochs, batch_size=batch_size, lr=lr,
               betas=betas, seed=seed, desc=desc, progress=progress, d_name="discriminator",
               sample_z=sample_z, channels_last=channels_last, checkpoint=checkpoint,
               carry=carry, settings=dict(smoothness=smoothness, step=smoothness_step),
               code=(d_loss, g_loss))
    for epoch in run.epochs(on_epoch):
        for step, (x,) in enumerate(run.loader):
            real = as_images(x)
            run.step("d", d_loss(d_net, g_net, real, run.z(len(real), zdim)), epoch, step)
            z = run.z(len(real), zdim)
            loss_g = g_loss(d_net, g_net, z)
            if smoothness > 0:
                loss_g = loss_g + smoothness * latent_smoothness_penalty(
                    g_net, z, smoothness_step, run.gen)
            run.step("g", loss_g, epoch, step)
    return run.finish()


def train_wgan_gp(critic: nn.Module, g_net: nn.Module, critic_loss: Callable,
                  generator_loss: Callable, gradient_penalty: Callable, train_x: torch.Tensor,
                  *, zdim: int, epochs: int, batch_size: int = 256, lr: float = 1e-4,
                  betas: tuple[float, float] = (0.5, 0.9), n_critic: int = 5,
                  lambda_gp: float = 10.0, seed: int = 0,
                  on_epoch: Callable[[int, nn.Module], None] | None = None,
                  progress: bool = True, desc: str = "WGAN-GP", sample_z: Callable | None = None,
                  channels_last: bool = True, checkpoint: Path | None = None,
                  carry: dict | None = None) -> GanHistory:
    """Gulrajani et al., Algorithm 1: ``n_critic`` critic steps (each on a fresh real batch) per
    generator step. An epoch is one pass of the critic over the training data, so at equal epochs
    the critic sees as much data as notebook 04's discriminator and the generator takes
    ``1/n_critic`` as many steps.

    ``critic_loss(critic, real, fake)``, ``generator_loss(critic, fake)`` and
    ``gradient_penalty(critic, real, fake, lambda_gp)`` are the notebook's functions; the critic
    step minimises ``critic_loss + gradient_penalty`` on a detached fake batch.
    ``checkpoint`` and ``carry`` work as in :func:`train_gan`.
    """
    run = _Run(critic, g_net, train_x, zdim=zdim, epochs=epochs, batch_size=batch_size, lr=lr,
               betas=betas, seed=seed, desc=desc, progress=progress, d_name="critic",
               sample_z=sample_z, channels_last=channels_last, checkpoint=checkpoint,
               carry=carry, settings=dict(n_critic=n_critic, lambda_gp=lambda_gp),
               code=(critic_loss, generator_loss, gradient_penalty))
    for epoch in run.epochs(on_epoch):
        for step, (x,) in enumerate(run.loader):
            real = as_images(x)
            with torch.no_grad():
                fake = g_net(run.z(len(real), zdim))
            loss_c = critic_loss(critic, real, fake) + gradient_penalty(critic, real, fake,
                                                                         lambda_gp)
            run.step("d", loss_c, epoch, step)
            if (step + 1) % n_critic == 0:
                run.step("g", generator_loss(critic, g_net(run.z(batch_size, zdim))), epoch,
                         step)
    return run.finish()


class Snapshots:
    """The ``on_epoch`` callback of the GAN notebooks: every ``every`` epochs and after the last
    one, a grid of samples from the fixed codes ``fixed_z`` and, given a ``meter``
    (:class:`dgm.metrics.SampleQualityMeter`), the quality of ``n_eval`` samples drawn with the
    same seed each time (so the curve shows the generator changing, not the codes).

    Pass ``store`` as the training loop's ``carry`` so that an interrupted run resumes with its
    snapshots; the scoring draws its codes from a seed of its own and leaves the training's random
    state alone.

    >>> snaps = Snapshots(fixed_z, every=5, last=30, meter=meter, zdim=64)
    >>> history = train_gan(..., on_epoch=snaps, carry=snaps.store)
    >>> show_training_grids(snaps.grids, "...");  snaps.progress(history)
    """

    def __init__(self, fixed_z: torch.Tensor, every: int, last: int, meter=None,
                 n_eval: int = 2000, zdim: int | None = None, sample_z: Callable | None = None,
                 seed: int = 0):
        self.fixed_z, self.every, self.last = fixed_z, every, last
        self.meter, self.n_eval, self.zdim = meter, n_eval, zdim or fixed_z.shape[1]
        self.sample_z, self.seed = sample_z, seed
        self.store: dict[int, dict] = {}

    def __call__(self, epoch: int, g_net: nn.Module) -> None:
        if epoch % self.every and epoch != self.last:
            return
        with torch.no_grad():
            snap = {"grid": g_net(self.fixed_z).cpu()}
        if self.meter is not None:
            q = self.meter(generate(g_net, self.n_eval, self.zdim, seed=self.seed,
                                    sample_z=self.sample_z))
            snap.update(IS=q.inception_score, FID=q.fid, classes=q.classes)
        self.store[epoch] = snap

    @property
    def grids(self) -> dict[int, torch.Tensor]:
        """``{epoch: images}`` for :func:`dgm.plotting.show_training_grids`."""
        return {epoch: snap["grid"] for epoch, snap in sorted(self.store.items())}

    def progress(self, history: GanHistory) -> list[dict]:
        """One row per scored epoch: ``epoch``, ``seconds`` (training time up to the end of that
        epoch, from ``history``), ``IS``, ``FID``, ``classes``."""
        clock = [sum(history.epoch_seconds[:e]) for e in range(len(history.epoch_seconds) + 1)]
        return [{"epoch": epoch, "seconds": clock[min(epoch, len(clock) - 1)],
                 **{k: snap[k] for k in ("IS", "FID", "classes")}}
                for epoch, snap in sorted(self.store.items()) if "IS" in snap]


@torch.no_grad()
def generate(g_net: nn.Module, n: int, zdim: int | None = None, seed: int = 0,
             batch_size: int = 1000, sample_z: Callable | None = None) -> torch.Tensor:
    """``n`` samples ``[n, 1, 28, 28]`` from fixed codes (the same ``seed``, the same z).

    The codes come from ``sample_z`` (notebook 04 passes its own), from the sampler saved with a
    loaded generator (:func:`dgm.generator_archive.load_generator`), or else from N(0, I)."""
    device = next(g_net.parameters()).device
    if isinstance(g_net, ExportedGenerator) and sample_z is None:
        z = g_net.sample_codes(n, seed)
    else:
        if zdim is None:
            raise ValueError("generate needs zdim for a network that was not loaded from a file")
        z = draw_codes(n, zdim, seed, sample_z)
    was_training = g_net.training
    g_net.eval()
    out = [g_net(z[k:k + batch_size].to(device)).reshape(-1, 1, 28, 28)
           for k in range(0, n, batch_size)]
    g_net.train(was_training)
    return torch.cat(out)
