"""Rate–distortion experiments (notebooks 02 and 03): models, evaluation, results on disk.

Both notebooks use the same decoder and the same budget, so that their points can share one
rate–distortion plane: *rate* in nats per image (KL to the prior for a β-VAE, −Σ log s(x) for
echo noise), *distortion* the summed squared error per image, Σ_j (x_j − x̂_j)².
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from dgm.artifacts import read_json, write_json
from dgm.data import TensorLoader


def _relu_body(data_dimension: int, hidden_units: int) -> nn.Sequential:
    """The two ReLU layers both encoders share."""
    return nn.Sequential(nn.Linear(data_dimension, hidden_units), nn.ReLU(),
                         nn.Linear(hidden_units, hidden_units), nn.ReLU())


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mu(x), diag(sigma_square(x))): two ReLU layers, then mean and log-variance heads."""

    def __init__(self, latent_dimension: int = 8, hidden_units: int = 256, data_dimension: int = 784):
        super().__init__()
        self.body = _relu_body(data_dimension, hidden_units)
        self.mu = nn.Linear(hidden_units, latent_dimension)
        self.log_sigma_square = nn.Linear(hidden_units, latent_dimension)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), torch.exp(self.log_sigma_square(h).clamp(-20, 10))


class EchoEncoder(nn.Module):
    """Echo noise's encoder: ``x -> (m(x), s(x))`` with ``0 < s(x) < s_max`` elementwise.

    ``s_max`` is the clip that makes the truncated echo series exact to float precision
    (see :func:`echo_clip`). The means are left unbounded: with ``s <= s_max < 1`` the series is
    bounded anyway, and squashing m(x) (e.g. with tanh) cost about 11 units of distortion after
    3 epochs at beta = 0.003 in our runs (27.7 vs. 16.5).
    """

    def __init__(self, latent_dimension: int = 8, hidden_units: int = 256,
                 data_dimension: int = 784, s_max: float = 0.7):
        super().__init__()
        self.s_max = float(s_max)
        self.body = _relu_body(data_dimension, hidden_units)
        self.m = nn.Linear(hidden_units, latent_dimension)
        self.s = nn.Linear(hidden_units, latent_dimension)

    def forward(self, x):
        h = self.body(x)
        return self.m(h), self.s_max * torch.sigmoid(self.s(h))


class MLPDecoder(nn.Module):
    """``z -> x_recon`` in (0, 1): two ReLU layers and a sigmoid output."""

    def __init__(self, latent_dimension: int = 8, hidden_units: int = 256, data_dimension: int = 784):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dimension, hidden_units), nn.ReLU(),
                                 nn.Linear(hidden_units, hidden_units), nn.ReLU(),
                                 nn.Linear(hidden_units, data_dimension), nn.Sigmoid())

    def forward(self, z):
        return self.net(z)


def echo_clip(d_max: int, eps: float = float(torch.finfo(torch.float32).eps)) -> float:
    """Largest s_max with s_max ** d_max <= eps: the neglected tail of the series vanishes in float32."""
    return eps ** (1.0 / d_max)


@dataclass
class RDPoint:
    """One model on the rate–distortion plane (all means over the test images, in nats)."""

    label: str
    beta: float
    rate: float
    distortion: float
    mutual_information: float = math.nan
    mi_cap: float = math.nan
    seconds: float = math.nan


@torch.no_grad()
def evaluate_rd(measure: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                x: torch.Tensor, batch_size: int = 1000) -> tuple[float, float, float, float]:
    """Means of ``measure(batch) -> (rate [B], distortion [B], mi_estimate scalar)`` over ``x``.

    Returns (rate, distortion, mutual information estimate, log(batch_size)): the minibatch
    estimate of I(x; z) can never exceed log of the batch size, so that cap is reported with it.
    """
    rates, dists, mis, weights = [], [], [], []
    for (batch,) in TensorLoader(x, batch_size=batch_size):
        rate, dist, mi = measure(batch)
        rates.append(rate.sum().item())
        dists.append(dist.sum().item())
        mis.append(float(mi) * len(batch))
        weights.append(len(batch))
    n = sum(weights)
    return sum(rates) / n, sum(dists) / n, sum(mis) / n, math.log(min(batch_size, len(x)))


def save_points(points: list[RDPoint], path: Path, provenance: dict | None = None) -> Path:
    """Save points for a later notebook, with the provenance of the run that made them
    (:func:`dgm.artifacts.provenance`)."""
    return write_json(path, [asdict(p) for p in points], provenance)


def load_points(path: Path) -> list[RDPoint]:
    """Points saved by :func:`save_points`; an empty list if the file is not there."""
    path = Path(path)
    if not path.exists():
        return []
    return [RDPoint(**p) for p in read_json(path)[0]]


#: Notebook 02's points from the course's own full-budget run (the benchmark's), which notebook 03
#: shows when your notebook 02 has not saved points at this budget.
COURSE_BETA_VAE_POINTS = Path(__file__).resolve().parent / "assets" / "beta_vae_points.json"


def course_beta_vae_points() -> tuple[list[RDPoint], dict]:
    """The course's own notebook-02 points and their provenance."""
    rows, record = read_json(COURSE_BETA_VAE_POINTS)
    return [RDPoint(**p) for p in rows], record or {}


def format_points(points: list[RDPoint]) -> str:
    """A Markdown table of the points."""
    lines = ["| model | beta | rate (nats) | distortion | I(x;z) estimate (cap) | train s |",
             "|---|---:|---:|---:|---:|---:|"]
    for p in points:
        mi = "–" if math.isnan(p.mutual_information) else \
            f"{p.mutual_information:.2f} ({p.mi_cap:.2f})"
        lines.append(f"| {p.label} | {p.beta:g} | {p.rate:.2f} | {p.distortion:.2f} | {mi} | "
                     f"{p.seconds:.0f} |")
    return "\n".join(lines)
