"""Training throughput of every model: tensor-resident data vs. a torchvision ``DataLoader``.

Each model trains with the notebook's own reference code (the solution cells are executed, so the
benchmark measures what students run) at the notebook's batch size. The only difference between
the two columns is where minibatches come from:

* tensor-resident: MNIST decoded once into one tensor on the device, shuffled minibatches by
  index (``dgm.data.TensorLoader``), as the notebooks do;
* ``DataLoader``: torchvision's ``MNIST`` dataset with ``ToTensor`` (and the notebook's
  binarisation/flattening) per image, ``shuffle=True``, ``num_workers`` as given (0 by default:
  the worker processes would compete with training for a laptop's cores), pinned memory on CUDA.

The two are timed in alternating blocks in one process, so that a machine that speeds up or slows
down during the run affects both alike; the ratio is tensor-resident samples/s over DataLoader
samples/s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from dgm.runtime import pick_device, seed_everything
from dgm_staff.bench.common import solution_namespace


# ------------------------------------------------------------------------ data paths ----------
def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1)


def _binarise(x: torch.Tensor) -> torch.Tensor:
    return (x > 0.5).float()


def dataloader_batches(batch_size: int, *, binarize: bool, flatten: bool, device: torch.device,
                       workers: int = 0, seed: int = 0):
    """Endless minibatches from torchvision's MNIST through a ``DataLoader``."""
    from torchvision import transforms

    from dgm.data import mnist_datasets

    steps = [transforms.ToTensor()] + ([transforms.Lambda(_binarise)] if binarize else []) + \
        ([transforms.Lambda(_flatten)] if flatten else [])
    train, _ = mnist_datasets(transform=transforms.Compose(steps))
    loader = torch.utils.data.DataLoader(
        train, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
    while True:
        for x, _ in loader:
            yield x.to(device, non_blocking=True)


def tensor_batches(batch_size: int, *, binarize: bool, flatten: bool, device: torch.device,
                   seed: int = 0):
    """Endless minibatches of MNIST resident on ``device`` (``dgm.data.TensorLoader``)."""
    from dgm.data import TensorLoader, load_mnist_tensors

    data = load_mnist_tensors(device=device, binarize=binarize, flatten=flatten)
    loader = TensorLoader(data.train_x, batch_size=batch_size, shuffle=True, seed=seed,
                          drop_last=True)
    while True:
        for (x,) in loader:
            yield x


# ------------------------------------------------------------------------ models --------------
@dataclass
class Model:
    """One training step of a model on a minibatch, and how the notebook feeds it."""

    name: str
    notebook: str
    batch_size: int
    binarize: bool
    flatten: bool
    step: Callable[[torch.Tensor], None]


def _adam_step(params, lr=1e-3, betas=(0.9, 0.999)):
    opt = torch.optim.Adam(list(params), lr=lr, betas=betas)

    def minimise(loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return minimise


def _vae(device) -> Model:
    from dgm.vae import Encoder

    ns = solution_namespace("01_vae")
    enc, dec = Encoder().to(device), ns["Decoder"]().to(device)
    minimise = _adam_step([*enc.parameters(), *dec.parameters()])

    def step(x):
        mu, var = enc(x)
        z = ns["sample_diagonal_gaussian"](mu, var)
        minimise(-ns["elbo_loss"](z, mu, var, x, dec(z)))
    return Model("VAE", "01", 100, True, True, step)


def _beta_vae(device) -> Model:
    from dgm.rate_distortion import GaussianEncoder, MLPDecoder

    ns = solution_namespace("02_beta_vae")
    enc, dec = GaussianEncoder(8, 256).to(device), MLPDecoder(8, 256).to(device)
    minimise = _adam_step([*enc.parameters(), *dec.parameters()])

    def step(x):
        mu, var = enc(x)
        z = mu + var.sqrt() * torch.randn_like(mu)
        minimise(ns["beta_vae_loss"](x, dec(z), mu, var, 1.0))
    return Model("β-VAE", "02", 100, False, True, step)


def _echo(device) -> Model:
    from dgm.rate_distortion import EchoEncoder, MLPDecoder, echo_clip

    ns = solution_namespace("03_echo")
    enc = EchoEncoder(8, 256, s_max=echo_clip(50)).to(device)
    dec = MLPDecoder(8, 256).to(device)
    minimise = _adam_step([*enc.parameters(), *dec.parameters()])

    def step(x):
        m_x, s_x = enc(x)
        z = ns["echo_sample"](m_x, s_x, 50)
        minimise((((x - dec(z)) ** 2).sum(-1) + 0.03 * ns["echo_rate"](s_x)).mean())
    return Model("echo noise", "03", 100, False, True, step)


def _gan(device, kind: str) -> Model:
    from dgm.gan_networks import fc_discriminator, fc_generator
    from dgm.gan_training import use_channels_last
    from dgm_staff.references import sample_z          # notebook 04's prior (a graded answer)

    ns = solution_namespace("04_gan")
    if kind == "conv":
        d, g, zdim = ns["DNet"]().to(device), ns["GNet"](64).to(device), 64
        use_channels_last(d, g, zdim, device)        # as dgm.gan_training.train_gan does
        lr = ns["FULL"].lr
    else:
        cfg = ns["FULL"]
        d = fc_discriminator().to(device)
        g, zdim, lr = fc_generator(cfg.fc_zdim).to(device), cfg.fc_zdim, cfg.fc_lr
    opt_d = _adam_step(d.parameters(), lr, (0.5, 0.999))
    opt_g = _adam_step(g.parameters(), lr, (0.5, 0.999))

    def step(x):
        real = x.view(-1, 1, 28, 28)
        opt_d(ns["d_loss"](d, g, real, sample_z(len(real), zdim, device)))
        opt_g(ns["g_loss"](d, g, sample_z(len(real), zdim, device)))
    name = "conv GAN" if kind == "conv" else "FC GAN"
    return Model(name, "04", 256, False, False, step)


def _wgan(device) -> Model:
    from dgm.gan_networks import course_critic, course_generator, normal_codes
    from dgm.gan_training import use_channels_last

    ns = solution_namespace("05_wgan")
    c, g = course_critic().to(device), course_generator(64).to(device)     # notebook 05's nets
    use_channels_last(c, g, 64, device)

    def sample_z(n, zdim, device):                   # notebook 05's prior, N(0, I)
        return normal_codes(n, zdim, device)
    cfg = ns["FULL"]                                 # notebook 05's settings
    opt_c = _adam_step(c.parameters(), cfg.lr, tuple(cfg.betas))
    opt_g = _adam_step(g.parameters(), cfg.lr, tuple(cfg.betas))
    count = [0]

    def step(x):              # one critic step per real batch, a G step every n_critic-th
        real = x.view(-1, 1, 28, 28)
        with torch.no_grad():
            fake = g(sample_z(len(real), 64, device))
        opt_c(ns["critic_loss"](c, real, fake)
              + ns["gradient_penalty"](c, real, fake, cfg.lambda_gp))
        count[0] += 1
        if count[0] % cfg.n_critic == 0:
            opt_g(ns["generator_loss"](c, g(sample_z(len(real), 64, device))))
    return Model("WGAN-GP", "05", 256, False, False, step)


MODELS: dict[str, Callable[[torch.device], Model]] = {
    "VAE": _vae, "β-VAE": _beta_vae, "echo noise": _echo,
    "conv GAN": lambda dev: _gan(dev, "conv"), "FC GAN": lambda dev: _gan(dev, "fc"),
    "WGAN-GP": _wgan,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_model(model: Model, device: torch.device, samples: int, rounds: int = 2,
               workers: int = 0) -> dict:
    """Alternate ``rounds`` blocks of each data path, each about ``samples`` training samples."""
    kw = dict(binarize=model.binarize, flatten=model.flatten, device=device)
    sources = {"tensor": tensor_batches(model.batch_size, **kw),
               "dataloader": dataloader_batches(model.batch_size, workers=workers, **kw)}
    steps = max(2, samples // model.batch_size)
    for source in sources.values():                 # warm up both paths and the model
        for _ in range(3):
            model.step(next(source))
    seconds = {k: 0.0 for k in sources}
    for _ in range(rounds):
        for key, source in sources.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                model.step(next(source))
            _sync(device)
            seconds[key] += time.perf_counter() - start
    n = rounds * steps * model.batch_size
    return {"model": model.name, "notebook": model.notebook, "batch_size": model.batch_size,
            "samples": n, "tensor_samples_per_s": n / seconds["tensor"],
            "dataloader_samples_per_s": n / seconds["dataloader"],
            "ratio": seconds["dataloader"] / seconds["tensor"]}


def measure(samples: int = 6_000, models: list[str] | None = None, device: str | None = None,
            workers: int = 0) -> dict:
    dev = pick_device(device)
    rows = []
    for key in models or list(MODELS):
        seed_everything(0)
        row = time_model(MODELS[key](dev), dev, samples, workers=workers)
        print(f"  {row['model']:<11} tensor {row['tensor_samples_per_s']:8.0f} samples/s, "
              f"DataLoader {row['dataloader_samples_per_s']:8.0f} samples/s, "
              f"{row['ratio']:.2f}x", flush=True)
        rows.append(row)
    return {"device": str(dev), "dataloader_workers": workers, "rows": rows}
