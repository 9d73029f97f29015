"""Figures shared by the notebooks: image grids, latent scatters, interpolations, curves.

Every function draws on a Matplotlib axis (a new figure when none is given), gives it a title and
axis labels, and returns the figure, so that a notebook can also save it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch


def _as_images(images, side: int = 28) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=np.float32)
    return images.reshape(len(images), side, side)


def image_grid(images, nrow: int, side: int = 28, pad: int = 2) -> np.ndarray:
    """Tile ``images`` (``[N, side*side]`` or ``[N, side, side]``) row-major into one array."""
    images = _as_images(images, side)
    ncol = -(-len(images) // nrow)
    grid = np.ones((nrow * (side + pad) - pad, ncol * (side + pad) - pad), dtype=np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, ncol)
        grid[r * (side + pad): r * (side + pad) + side, c * (side + pad): c * (side + pad) + side] = image
    return grid


def show_grid(images, nrow: int, title: str, row_labels: Sequence[str] = (),
              col_labels: Sequence[str] = (), ax=None, side: int = 28):
    """Show a grid of images with a title and optional row and column labels."""
    ncol = -(-len(images) // nrow)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.9 * ncol), max(2.0, 0.9 * nrow + 0.6)))
    ax.imshow(image_grid(images, nrow, side), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_title(title)
    step = side + 2
    ax.set_yticks([r * step + side / 2 for r in range(len(row_labels))], list(row_labels))
    ax.set_xticks([c * step + side / 2 for c in range(len(col_labels))], list(col_labels))
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax.figure


def plot_data_space(p, x, title: str = "Decoder p(x|z) for 10 prior draws z ~ N(0, I)"):
    """Two rows for ``n`` prior draws: the Bernoulli means p(x|z), and one sample x ~ p(x|z)."""
    images = torch.cat([torch.as_tensor(p).detach().cpu(), torch.as_tensor(x).detach().cpu()])
    fig = show_grid(images, nrow=2, title=title, row_labels=["p(x|z)", "x ~ p(x|z)"],
                    col_labels=[f"z{k + 1}" for k in range(len(p))])
    fig.axes[0].set_xlabel("prior draw")
    return fig


def plot_latent_scatter(means, labels, title: str = "Encoder means of the training set",
                        ax=None):
    """Scatter of 2-D latent means, one colour per class, with a legend."""
    means = torch.as_tensor(means).detach().cpu().numpy()
    labels = torch.as_tensor(labels).detach().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10")
    for digit in range(10):
        sel = labels == digit
        ax.scatter(means[sel, 0], means[sel, 1], s=2, color=cmap(digit), label=str(digit),
                   alpha=0.6, rasterized=True)
    ax.set_xlabel("$z_1$ (mean of q(z|x))")
    ax.set_ylabel("$z_2$ (mean of q(z|x))")
    ax.set_title(title)
    ax.legend(title="digit", markerscale=5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax.figure


def plot_interpolations(rows, alphas,
                        title: str = r"Decoder means along $z_\alpha = \alpha\,\mu_a + (1-\alpha)\,\mu_b$"):
    """One row of decoded images per pair, one column per interpolation weight alpha."""
    rows = [torch.as_tensor(r).detach().cpu() for r in rows]
    images = torch.cat(rows)
    fig = show_grid(images, nrow=len(rows), title=title,
                    row_labels=[f"pair {k + 1}" for k in range(len(rows))],
                    col_labels=[f"{a:.1f}" for a in alphas])
    fig.axes[0].set_xlabel(r"$\alpha$")
    return fig


def plot_history(history, ylabel: str = "ELBO (nats)", title: str = "Training curve"):
    """Train and test objective per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history.epoch, history.train, marker=".", label="train")
    ax.plot(history.epoch, history.test, marker=".", label="test")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))     # no "epoch 1.2"
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def save(fig, path: Path) -> Path:
    """Save a figure (PNG, tight box) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_rate_distortion(series: dict, title: str = "Rate–distortion plane (test set)"):
    """Left: each series of :class:`dgm.rate_distortion.RDPoint` on the rate–distortion plane, labelled by beta.
    Right: rate and the minibatch estimate of I(x; z) against beta, with the estimator's cap."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    markers = iter(["o-", "s--", "^:", "D-."])
    offsets = iter([(4, 4), (4, -12), (-30, 6), (-30, -12)])   # keep the series' labels apart
    for name, points in series.items():
        offset = next(offsets)
        if not points:
            continue
        points = sorted(points, key=lambda p: p.rate)
        ax.plot([p.rate for p in points], [p.distortion for p in points], next(markers),
                label=name)
        for p in points:
            ax.annotate(f"β={p.beta:g}", (p.rate, p.distortion), textcoords="offset points",
                        xytext=offset, fontsize=8, color=ax.lines[-1].get_color())
        with_mi = [p for p in points if p.mutual_information == p.mutual_information]
        if with_mi:
            with_mi = sorted(with_mi, key=lambda p: p.beta)
            betas = [p.beta for p in with_mi]
            ax2.plot(betas, [p.rate for p in with_mi], "o-", label=f"{name}: rate")
            ax2.plot(betas, [p.mutual_information for p in with_mi], "s--",
                     label=f"{name}: I(x;z) estimate")
            ax2.axhline(with_mi[0].mi_cap, color="gray", lw=0.8, ls=":",
                        label=f"cap log N = {with_mi[0].mi_cap:.2f}")
    ax.set_xlabel("rate (nats per image)")
    ax.set_ylabel("distortion (summed squared error per image)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    ax2.set_xscale("log")
    ax2.set_xlabel("β")
    ax2.set_ylabel("nats per image")
    ax2.set_title("Rate and mutual information estimate")
    ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _smooth(values, window: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if len(values) < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_gan_losses(histories: dict, labels=("discriminator", "generator"),
                    title: str = "GAN losses", window: int = 50, axes=None):
    """Per-step losses of one or more GAN runs (``{name: GanHistory}``), moving-average smoothed,
    discriminator/critic on the left and generator on the right."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    fig = axes[0].figure
    for name, h in histories.items():
        d_loss = h["d"] if isinstance(h, dict) else h.d_loss
        g_loss = h["g"] if isinstance(h, dict) else h.g_loss
        axes[0].plot(_smooth(d_loss, window), label=name)
        axes[1].plot(_smooth(g_loss, window), label=name)
    for ax, label in zip(axes, labels):
        ax.set_xlabel("step")
        ax.set_ylabel(f"{label} loss")
        ax.set_title(f"{label} (moving average over {window} steps)")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_training_grids(grids: dict, title: str, nrow: int = 4, ncols: int = 3):
    """Sample grids saved during training (``{epoch: images}``), ``ncols`` per row of panels."""
    epochs = sorted(grids)
    ncols = max(1, min(ncols, len(epochs)))
    nrows = -(-len(epochs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 2.5 * nrows + 0.8),
                             squeeze=False)
    for ax, epoch in zip(axes.flat, epochs):
        show_grid(grids[epoch], nrow=nrow, title=f"epoch {epoch}", ax=ax)
    for ax in list(axes.flat)[len(epochs):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_quality_progress(progress: dict, x: str = "seconds",
                          title: str = "Sample quality during training"):
    """IS (higher is better), FID (lower is better) and digit classes present, against training
    ``x`` (``"seconds"`` or ``"epoch"``), for ``{name: rows}`` with rows as
    :meth:`dgm.gan_training.Snapshots.progress` returns them."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, rows in progress.items():
        xs = [row[x] for row in rows]
        for ax, key in zip(axes, ("IS", "FID", "classes")):
            ax.plot(xs, [row[key] for row in rows], marker="o", label=name)
    for ax, (key, note) in zip(axes, [("IS", "higher is better"), ("FID", "lower is better, log scale"),
                                      ("classes", "digit classes with ≥ 2 % of samples")]):
        ax.set_xlabel("training seconds" if x == "seconds" else "epoch")
        ax.set_title(f"classifier {key}" if key != "classes" else "classes present")
        ax.set_ylabel(note)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[2].set_ylim(0, 10.5)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
