"""GAN and WGAN-GP training (notebooks 04–06): the loops, the fully connected baseline, results.

The loss functions are the students' (passed in), so that these loops hold no graded code:

    history = train_gan(d_net, g_net, d_loss, g_loss, data.train_x, zdim=64, epochs=30)

References: Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014 (the minimax game and
the non-saturating generator loss); Gulrajani et al., *Improved Training of Wasserstein GANs*,
NeurIPS 2017 (Algorithm 1: n_critic = 5, λ = 10, Adam lr 1e-4; their MNIST code uses β = (0.5,
0.9)).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from dgm.artifacts import Checkpoint, Choice, code_fingerprint, read_json, write_json
from dgm.data import TensorLoader


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


# ------------------------------------------------------------------------ models --------------
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


# ------------------------------------------------------------------------ history -------------
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
    loaded generator (:func:`load_generator`), or else from N(0, I)."""
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


# ------------------------------------------------------------------------ results on disk -----
@dataclass(frozen=True)
class GanResult:
    """One trained generator, as the comparison tables show it."""

    name: str
    epochs: int
    seconds: float
    inception_score: float
    inception_score_std: float
    fid: float
    d_steps: int
    g_steps: int
    classes: int = 10              # digit classes with at least 2 % of the samples


def save_results(results: list[GanResult], path: Path, provenance: dict | None = None) -> Path:
    """Save results for a later notebook, with the provenance of the run that made them
    (:func:`dgm.artifacts.provenance`)."""
    return write_json(path, [asdict(r) for r in results], provenance)


def load_results(path: Path) -> list[GanResult]:
    """Results saved by another notebook; ``[]`` if that notebook has not been run yet."""
    if not Path(path).exists():
        return []
    return [GanResult(**row) for row in read_json(Path(path))[0]]


def format_results(results: list[GanResult]) -> str:
    header = (f"{'generator':<22} {'epochs':>6} {'wall s':>8} {'D/critic steps':>14} "
              f"{'G steps':>8} {'IS':>12} {'FID':>8} {'classes':>8}")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r.name:<22} {r.epochs:>6} {r.seconds:>8.0f} {r.d_steps:>14} "
                     f"{r.g_steps:>8} {r.inception_score:>6.2f} ± {r.inception_score_std:<4.2f}"
                     f"{r.fid:>8.2f} {r.classes:>8}")
    return "\n".join(lines)


COURSE_PENALTY_COMPARISON = Path(__file__).resolve().parent / "assets" / "gan_vs_wgan.json"


def course_penalty_comparison() -> tuple[dict, dict]:
    """The course's measurement of what the gradient penalty buys (``dgm_staff.bench.
    gan_diagnosis stability``): per seed, at a reduced budget on a 2-core CPU, WGAN-GP against
    the plain GAN on the same networks at equal training time, and on the second seed's fully
    connected networks. Returns the table and its provenance."""
    table, record = read_json(COURSE_PENALTY_COMPARISON)
    return table, record or {}


def format_penalty_comparison(table: dict) -> str:
    """The comparison as text: one line per networks, loss and seed, then the mean over seeds."""
    header = (f"{'networks':<26} {'loss':<8} {'seed':>4} {'epochs':>6} {'train s':>8} "
              f"{'IS':>6} {'FID':>7} {'classes':>8}")
    lines = [header, "-" * len(header)]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in table["rows"]:
        groups.setdefault((row["networks"], row["loss"]), []).append(row)
    for (networks, loss), rows in groups.items():
        for r in rows:
            lines.append(f"{networks:<26} {loss:<8} {r['seed']:>4} {r['epochs']:>6} "
                         f"{r['seconds']:>8.0f} {r['IS']:>6.2f} {r['FID']:>7.0f} "
                         f"{r['classes']:>8}")
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("seconds", "IS", "FID")}
        lines.append(f"{'':<26} {'mean':<8} {'':>4} {'':>6} {mean['seconds']:>8.0f} "
                     f"{mean['IS']:>6.2f} {mean['FID']:>7.0f}")
    return "\n".join(lines)


class _CodeSampler(nn.Module):
    """``sample_z`` as a module of one input whose batch size is the number of codes (what
    ``torch.export`` can record)."""

    def __init__(self, sample_z: Callable | None, zdim: int):
        super().__init__()
        self.sample_z, self.zdim = sample_z, zdim

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        if self.sample_z is None:
            return torch.randn(like.shape[0], self.zdim)
        return self.sample_z(like.shape[0], self.zdim, "cpu")


def _without_source_paths(program):
    """Drop the source locations ``torch.export`` records for every operation (``stack_trace``):
    they name files, with their folders, on the machine that saved the archive, and nothing
    needs them to run it."""
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        for node in graph.nodes if graph is not None else ():
            node.meta.pop("stack_trace", None)
    return program


def _export_bytes(program) -> str:
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def save_generator(g_net: nn.Module, path: Path, *, zdim: int,
                   sample_z: Callable | None = None, **meta) -> Path:
    """Save a trained generator, and how its codes are drawn, so that a later notebook can use it
    without its Python source.

    Both are exported with ``torch.export`` (graphs of tensor operations and the weights, for any
    batch size): the network, and ``sample_z(n, zdim, device)`` (the notebook's own code sampler;
    without one, N(0, I)). Notebooks 05 and 06 run *your* notebook-04 generator on codes of *your*
    prior without needing your ``GNet`` or ``sample_z``. ``meta`` (e.g. ``epochs``, ``budget``)
    is stored beside them as JSON.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(g_net).to("cpu", memory_format=torch.contiguous_format).eval()
    batch = torch.export.Dim("batch", min=1)
    try:
        sampler = torch.export.export(_CodeSampler(sample_z, zdim), (torch.empty(2, 0),),
                                      dynamic_shapes=({0: batch},))
    except Exception as e:  # noqa: BLE001 - say which of the two could not be saved
        raise ValueError(f"sample_z could not be saved ({type(e).__name__}: {e}); build the codes "
                         "with torch operations from n, zdim and device only") from None
    codes = sampler.module()(torch.empty(3, 0))
    if tuple(codes.shape) != (3, zdim):
        raise ValueError(f"sample_z(3, {zdim}, 'cpu') gave shape {tuple(codes.shape)}, expected "
                         f"(3, {zdim})")
    program = torch.export.export(net, (codes,), dynamic_shapes=({0: batch},))
    info = {"zdim": int(zdim), "codes": "normal" if sample_z is None else "sample_z", **meta}
    tmp = path.with_name(path.stem + ".partial.pt2")
    torch.export.save(_without_source_paths(program), tmp, extra_files={
        "meta.json": json.dumps(info), "codes.pt2": _export_bytes(_without_source_paths(sampler))})
    tmp.replace(path)                 # never a half-written file
    return path


#: The generator notebooks 05 and 06 fall back on before notebook 04 has been run: the course's
#: own :func:`course_generator` (not ``GNet``) with N(0, I) codes, trained by
#: ``scripts/train_generator.py``.
FALLBACK_GENERATOR = Path(__file__).resolve().parent / "assets" / "gan_generator.pt2"


class ExportedGenerator(nn.Module):
    """A generator loaded from a :func:`save_generator` archive, fixed in evaluation mode (it was
    exported that way: batch norm uses its running statistics). ``.eval()`` and ``.train()`` are
    accepted and change nothing; ``.to(device)`` moves its weights; gradients flow to the codes.
    :meth:`sample_codes` draws codes of the prior it was trained with."""

    def __init__(self, graph: nn.Module, sampler: nn.Module, zdim: int):
        super().__init__()
        self.graph = graph
        self.zdim = zdim
        object.__setattr__(self, "_sampler", sampler)     # CPU only, holds no weights
        self.training = False

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.graph(z)

    def train(self, mode: bool = True) -> "ExportedGenerator":
        return self

    def sample_codes(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` codes ``[n, zdim]`` on the CPU, the same for the same ``seed`` on every device
        (the global random state is left as it was)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._sampler(torch.empty(n, 0))


def generator_info(path: Path) -> dict:
    """The metadata :func:`save_generator` stored with a generator (zdim, epochs, ...)."""
    extra = {"meta.json": ""}
    torch.export.load(Path(path), extra_files=extra)
    return json.loads(extra["meta.json"] or "{}")


def load_generator(path: Path) -> tuple[ExportedGenerator, dict]:
    """A generator saved by :func:`save_generator` and its metadata."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no generator at {path}: run the notebook that trains it first")
    extra = {"meta.json": "", "codes.pt2": ""}
    try:
        program = torch.export.load(path, extra_files=extra)
        sampler = torch.export.load(io.BytesIO(base64.b64decode(extra["codes.pt2"])))
        info = json.loads(extra["meta.json"] or "{}")
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file gets one clear message
        raise ValueError(f"{path} is not a generator saved by dgm.gan.save_generator ({e}); "
                         "re-run the notebook that trains it") from None
    return ExportedGenerator(program.module(), sampler.module(), int(info["zdim"])), info


def trained_generator(preferred: Path | Choice | None = None) -> tuple[nn.Module, dict, str]:
    """The generator notebook 04 saved (``preferred``: a path, or what
    :func:`dgm.artifacts.choose_input` decided) if there is one to use, else the course's
    fallback (checked against its SHA-256). Returns the network, its metadata and where it came
    from."""
    if isinstance(preferred, Choice):
        preferred = preferred.path
    if preferred is not None and Path(preferred).exists():
        net, info = load_generator(preferred)
        return net, info, f"your notebook 04 ({preferred})"
    from dgm.metrics import sha256

    expected = FALLBACK_GENERATOR.with_suffix(".sha256").read_text().split()[0]
    if sha256(FALLBACK_GENERATOR) != expected:
        raise ValueError(f"{FALLBACK_GENERATOR} does not match its checksum: restore the file "
                         "from the course's release")
    net, info = load_generator(FALLBACK_GENERATOR)
    return net, info, ("the course's generator (no generator of your notebook 04 to use at this "
                       "budget)")
