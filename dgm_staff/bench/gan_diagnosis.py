"""Why a GAN of notebooks 04-05 falls short: candidate causes measured one at a time, at a reduced
budget, on the course's classifier metric; and what the gradient penalty buys.

    python -m dgm_staff.bench.gan_diagnosis fc     [--epochs 4] [--seeds 0] [--every K]
    python -m dgm_staff.bench.gan_diagnosis wgan   [--epochs 4] [--seeds 0] [--every K]
    python -m dgm_staff.bench.gan_diagnosis conv   [--epochs 4] [--seeds 0] [--every K]
    python -m dgm_staff.bench.gan_diagnosis notebook-fc [--epochs 30] [--only 1 4] [--n-eval 10000]
    python -m dgm_staff.bench.gan_diagnosis stability --epochs 4 --seeds 0 1 2 \
        --json dgm/assets/gan_vs_wgan.json

``fc``: notebook 04's fully connected GAN (the second seed's generator and discriminator, Adam
1e-4, notebook 04's uniform codes) against one change each: learning rate, the discriminator's
width or dropout, the codes' law, the initialisation, batch norm in the generator. ``wgan``:
WGAN-GP on notebook 05's networks at the assignment's settings (Adam 1e-4, betas (0.5, 0.9),
n_critic 5) against Gulrajani et al.'s betas (0, 0.9), a larger learning rate, fewer critic
steps, and the plain GAN on the same networks. ``conv``: notebook 04's convolutional tables at
other batch sizes and learning rates. Each row: IS and FID of 2 000 samples, the number of digit
classes that make up at least 2 % of them, and the training seconds; ``--every K`` also scores
after every K epochs. ``stability``: per seed, WGAN-GP against the plain GAN on the same networks
at equal training time, and both on the second seed's FC networks; ``--json`` writes the table
that notebook 05 shows. ``notebook-fc``: a replica of notebook 04's FC training cell, with dropout
only or with the minibatch-spread feature too, at lr 1e-4 or 2e-4 (:data:`NOTEBOOK_FC`), scored
every ``--every`` epochs (default 5) and on ``--n-eval`` samples at the end, with each class's
share. Staff only (it uses reference losses).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from dgm.data import load_mnist_tensors
from dgm.gan_networks import (course_critic, course_generator, fc_discriminator, fc_generator,
                              normal_codes)
from dgm.gan_training import generate, train_gan, train_wgan_gp
from dgm.metrics import SampleQualityMeter
from dgm.runtime import seed_everything
from dgm_staff import references
from dgm_staff.bench.common import solution_namespace


def wgan_losses():
    """Notebook 05's critic loss, generator loss and gradient penalty, from its reference
    solution (as the throughput phase takes them)."""
    ns = solution_namespace("05_wgan")
    return ns["critic_loss"], ns["generator_loss"], ns["gradient_penalty"]


def seed_fc_generator(zdim: int = 128) -> nn.Sequential:
    """The second seed's FC generator, without batch norm."""
    return fc_generator(zdim, batch_norm=False)


def batch_norm_fc_generator(zdim: int = 128) -> nn.Sequential:
    """The FC generator with batch norm after its second and third hidden layers (DCGAN's rule
    for generators; the second seed recommends it for its convolutional GAN): the course's
    ``fc_generator``."""
    return fc_generator(zdim, batch_norm=True)


def seed_fc_discriminator() -> nn.Sequential:
    """The second seed's FC discriminator, without dropout."""
    return fc_discriminator(dropout=0.0, minibatch_std=False)


def dropout_fc_discriminator(p: float = 0.3) -> nn.Sequential:
    """The FC discriminator with dropout after each hidden layer (Goodfellow et al. 2014 trained
    their MNIST discriminator with dropout), without the course's minibatch-std feature."""
    return fc_discriminator(dropout=p, minibatch_std=False)


def batch_norm_everywhere_fc_generator(zdim: int = 128) -> nn.Sequential:
    """The FC generator with batch norm after all three hidden layers."""
    return nn.Sequential(
        nn.Linear(zdim, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
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
    g, d = seed_fc_generator, seed_fc_discriminator
    kg = lambda: references.kaiming_init(seed_fc_generator(128))     # noqa: E731
    kd = lambda: references.kaiming_init(seed_fc_discriminator())    # noqa: E731
    return [
        Variant("seed settings (PyTorch's default init, lr 1e-4, uniform codes)", "gan", g, d,
                128, base),
        Variant("lr 2e-4", "gan", g, d, 128, {**base, "lr": 2e-4}),
        Variant("wider discriminator (1024-512-256)", "gan", g, wide_fc_discriminator, 128, base),
        Variant("codes N(0, I)", "gan", g, d, 128, {**base, "sample_z": normal_codes}),
        Variant("Kaiming init (as DNet/GNet)", "gan", kg, kd, 128, base),
        Variant("Kaiming init, lr 2e-4", "gan", kg, kd, 128, {**base, "lr": 2e-4}),
        Variant("batch norm in G", "gan", batch_norm_fc_generator, d, 128, base),
        Variant("batch norm in G, lr 2e-4", "gan", batch_norm_fc_generator, d, 128,
                {**base, "lr": 2e-4}),
        Variant("batch norm in G, dropout 0.3 in D", "gan", batch_norm_fc_generator,
                dropout_fc_discriminator, 128, base),
        Variant("batch norm after all three hidden layers of G", "gan",
                batch_norm_everywhere_fc_generator, d, 128, base),
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
                dict(lr=2e-4, sample_z=normal_codes)),
        # notebook 04's fully connected networks, whose plain GAN collapses (see ``fc``)
        Variant("FC networks: plain GAN (lr 2e-4)", "gan", seed_fc_generator,
                seed_fc_discriminator, 128, dict(lr=2e-4, sample_z=normal_codes)),
        Variant("FC networks: WGAN-GP (n_critic 2, lr 2e-4, betas (0, 0.9))", "wgan",
                seed_fc_generator, seed_fc_discriminator, 128,
                {**base, "n_critic": 2, "lr": 2e-4, "betas": (0.0, 0.9)}),
    ]


def run(variant: Variant, train_x, meter, epochs: int, seed: int, n_eval: int,
        every: int = 0, report: Callable[[dict], None] = print) -> dict:
    """Train ``variant`` for ``epochs``; score it at the end and, with ``every`` > 0, after every
    ``every`` epochs as well (scoring time is not counted in the training seconds). Each score
    is passed to ``report`` as it is taken; the last one is returned."""
    seed_everything(seed)
    g_net, d_net = variant.generator(), variant.discriminator()
    opts = dict(variant.options)
    sample_z = opts.get("sample_z", normal_codes)
    spread = code_spread(g_net, variant.zdim, sample_z)

    def score(epoch, net):
        images = generate(net, n_eval, variant.zdim, seed=seed, sample_z=sample_z)
        q = meter(images)
        return dict(variant=variant.name, seed=seed, epochs=epoch, spread=spread,
                    IS=q.inception_score, FID=q.fid, classes=q.classes)

    clock = dict(start=time.perf_counter(), scoring=0.0)
    steps = len(train_x) // opts.get("batch_size", 256)
    per_g = opts.get("n_critic", 1) if variant.kind == "wgan" else 1

    def on_epoch(epoch, net):
        if every and epoch % every == 0 and epoch < epochs:
            began = time.perf_counter()
            row = score(epoch, net)
            row.update(seconds=began - clock["start"] - clock["scoring"],
                       g_steps=epoch * steps // per_g)
            clock["scoring"] += time.perf_counter() - began
            report(row)

    if variant.kind == "gan":
        history = train_gan(d_net, g_net, references.d_loss, references.g_loss, train_x,
                            zdim=variant.zdim, epochs=epochs, seed=seed, progress=False,
                            on_epoch=on_epoch, **opts)
    else:
        history = train_wgan_gp(d_net, g_net, *wgan_losses(), train_x, zdim=variant.zdim,
                                epochs=epochs, seed=seed, progress=False, on_epoch=on_epoch,
                                **{**opts, "sample_z": normal_codes})
    row = score(epochs, g_net)
    g_net.eval()
    row.update(seconds=history.seconds, g_steps=history.g_steps)
    report(row)
    return row


def conv_variants() -> list[Variant]:
    """Notebook 04's convolutional GAN (the seed's tables, the reference ``DNet``/``GNet``) at
    its settings and with one change each."""
    base = dict(lr=2e-4, sample_z=references.sample_z)
    g = lambda: references.kaiming_init(references.conv_generator(64))  # noqa: E731
    d = lambda: references.kaiming_init(references.conv_discriminator())  # noqa: E731
    return [
        Variant("seed tables, Adam 2e-4, betas (0.5, 0.999), batch 256", "gan", g, d, 64, base),
        Variant("batch 64", "gan", g, d, 64, {**base, "batch_size": 64}),
        Variant("lr 5e-4", "gan", g, d, 64, {**base, "lr": 5e-4}),
    ]


def stability(seeds: list[int], epochs: int, n_eval: int, train_subset: int) -> dict:
    """What the penalty buys, at a reduced budget, per seed: on notebook 05's networks, WGAN-GP
    (notebook 05's settings) against the plain GAN at equal training time (the GAN is scored
    after every epoch and the epoch whose time is nearest WGAN-GP's is kept); and on the second
    seed's fully connected networks (no batch norm), the plain GAN against WGAN-GP."""
    data = load_mnist_tensors(flatten=False)
    meter = SampleQualityMeter(data.test_x)
    train_x = data.train_x[:train_subset]
    wgan, gan, fc_gan, fc_wgan = (wgan_variants()[k] for k in (3, 4, 5, 6))
    rows = []
    for seed in seeds:
        w = run(wgan, train_x, meter, epochs, seed, n_eval, report=print_row)
        tried = []
        run(gan, train_x, meter, epochs + 1, seed, n_eval, every=1, report=tried.append)
        g = min(tried, key=lambda r: abs(r["seconds"] - w["seconds"]))
        print_row(g)
        fc = [run(v, train_x, meter, epochs, seed, n_eval, report=print_row)
              for v in (fc_gan, fc_wgan)]
        for networks, row, loss in [("course's conv (05)", w, "WGAN-GP"),
                                    ("course's conv (05)", g, "GAN"),
                                    ("seed's FC, no batch norm", fc[0], "GAN"),
                                    ("seed's FC, no batch norm", fc[1], "WGAN-GP")]:
            rows.append({"networks": networks, "loss": loss, "seed": seed,
                         "epochs": row["epochs"], "seconds": round(row["seconds"], 1),
                         "IS": round(row["IS"], 3), "FID": round(row["FID"], 1),
                         "classes": row["classes"]})
    return {"n_eval": n_eval, "train_subset": train_subset, "budget_epochs": epochs,
            "settings": {"WGAN-GP": "n_critic 2, Adam 2e-4, betas (0, 0.9), lambda 10",
                         "GAN": "non-saturating, Adam 2e-4, betas (0.5, 0.999)"},
            "rows": rows}


#: ``notebook-fc`` variants: notebook 04's FC training cell with these ``Config`` fields changed
#: (the notebook's defaults fill the rest).
NOTEBOOK_FC = {
    "dropout": dict(fc_minibatch_std=False, fc_lr=1e-4),
    "dropout, lr 2e-4": dict(fc_minibatch_std=False),
    "dropout, minibatch std": dict(fc_lr=1e-4),
    "dropout, minibatch std, lr 2e-4": {},
}


def notebook_fc(name: str, epochs: int, seed: int = 0, every: int = 5,
                n_track: int = 2000, n_eval: int = 10_000,
                train_subset: int | None = None) -> dict:
    """Notebook 04's FC GAN as its training cell trains it (the same calls and settings: its
    reference ``d_loss``, ``g_loss`` and uniform ``sample_z``, the discriminator built first,
    ``Snapshots`` scoring ``n_track`` samples every ``every`` epochs), with the ``Config``
    changes of ``NOTEBOOK_FC[name]``; then the classifier metric on ``n_eval`` samples and
    each class's share of them (percent). A replica, not the cell: its numbers need not match
    a run inside the notebook bit for bit (the course's full run of the notebook differed from
    epoch 5 on)."""
    import dataclasses

    import numpy as np

    from dgm.gan_networks import draw_codes
    from dgm.gan_training import Snapshots
    from dgm.metrics import classifier_outputs

    ns = solution_namespace("04_gan")
    cfg = dataclasses.replace(ns["FULL"], fc_epochs=epochs, seed=seed, grid_every=every,
                              n_track=n_track, n_eval=n_eval, **NOTEBOOK_FC[name],
                              **({"train_subset": train_subset} if train_subset else {}))
    data = load_mnist_tensors(flatten=False)
    meter = SampleQualityMeter(data.test_x)
    sample_z = ns["sample_z"]
    seed_everything(cfg.seed)
    d_net = fc_discriminator(cfg.fc_dropout, minibatch_std=cfg.fc_minibatch_std)
    g_net = fc_generator(cfg.fc_zdim, batch_norm=cfg.fc_batch_norm)
    snaps = Snapshots(draw_codes(32, cfg.fc_zdim, seed=1, sample_z=sample_z), cfg.grid_every,
                      cfg.fc_epochs, meter, cfg.n_track, sample_z=sample_z)
    history = train_gan(d_net, g_net, ns["d_loss"], ns["g_loss"],
                        data.train_x[: cfg.train_subset], zdim=cfg.fc_zdim,
                        epochs=cfg.fc_epochs, batch_size=cfg.batch_size, lr=cfg.fc_lr,
                        seed=cfg.seed, sample_z=sample_z, progress=False, on_epoch=snaps,
                        carry=snaps.store)
    for point in snaps.progress(history):
        print(f"| {name} | {point['epoch']} | {point['seconds']:.0f} | {point['IS']:.2f} | "
              f"{point['FID']:.0f} | {point['classes']} | |", flush=True)
    images = generate(g_net, cfg.n_eval, cfg.fc_zdim, seed=cfg.seed, sample_z=sample_z)
    q = meter(images)
    probs, _ = classifier_outputs(meter.classifier, images)
    shares = np.bincount(probs.argmax(1), minlength=10) / len(probs) * 100
    print(f"| {name}, {n_eval} samples | {epochs} | {history.seconds:.0f} | "
          f"{q.inception_score:.2f} | {q.fid:.0f} | {q.classes} | "
          f"{' / '.join(f'{v:.1f}' for v in shares)} |", flush=True)
    return dict(variant=name, epochs=epochs, seconds=history.seconds, IS=q.inception_score,
                FID=q.fid, classes=q.classes, shares=shares.tolist())


def print_row(r: dict) -> None:
    print(f"| {r['variant']} | {r['seed']} | {r['spread']:.3f} | {r['epochs']} | "
          f"{r['seconds']:.0f} | {r['g_steps']} | {r['IS']:.2f} | {r['FID']:.1f} | "
          f"{r['classes']} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["fc", "wgan", "conv", "stability", "notebook-fc"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--only", nargs="*", default=None, help="variant numbers (1-based)")
    parser.add_argument("--train-subset", type=int, default=60_000)
    parser.add_argument("--every", type=int, default=0,
                        help="also score after every this many epochs")
    parser.add_argument("--json", type=Path, default=None,
                        help="stability: also write the table as the course's asset (JSON)")
    args = parser.parse_args(argv)
    if args.which == "stability":
        from dgm.artifacts import provenance, write_json
        table = stability(args.seeds, args.epochs, args.n_eval, args.train_subset)
        if args.json:
            record = provenance("05_wgan", None, budget="stability", epochs=args.epochs)
            write_json(args.json, table, record)
        return 0
    if args.which == "notebook-fc":
        print("| variant | epochs | train s | IS | FID | classes ≥ 2 % | % per class 0-9 |")
        print("|---|---:|---:|---:|---:|---:|---|")
        names = list(NOTEBOOK_FC)
        for k, name in enumerate(names, 1):
            if args.only and str(k) not in args.only:
                continue
            for seed in args.seeds:
                notebook_fc(name, args.epochs, seed, args.every or 5, n_track=args.n_eval,
                            n_eval=args.n_eval, train_subset=args.train_subset)
        return 0
    data = load_mnist_tensors(flatten=False)
    meter = SampleQualityMeter(data.test_x)
    variants = {"fc": fc_variants, "wgan": wgan_variants, "conv": conv_variants}[args.which]()
    print("| variant | seed | spread of G(z) at init | epochs | train s | G steps | IS | FID | "
          "classes ≥ 2 % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k, variant in enumerate(variants, 1):
        if args.only and str(k) not in args.only:
            continue
        for seed in args.seeds:
            run(variant, data.train_x[: args.train_subset], meter, args.epochs, seed,
                args.n_eval, args.every, report=print_row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
