"""Sample quality of an MNIST generator, measured with the course's own MNIST classifier.

The Inception Score (Salimans et al., 2016) and the Fréchet Inception Distance (Heusel et al.,
2017) are defined with an ImageNet Inception network. On MNIST the course uses the same formulas
with a small MNIST classifier in its place (``dgm/assets/mnist_classifier.pt``, trained by
``scripts/train_classifier.py``, test accuracy ≥ 99 %):

* **classifier IS** = exp(E_x KL(p(y|x) ‖ p(y))): between 1 and 10 (the number of classes); high
  when every sample is clearly one digit and all ten digits occur;
* **classifier FID** = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½) between Gaussians fitted to the
  classifier's penultimate features of real test images and of samples; 0 for identical laws.

These numbers are **not** comparable with published Inception-network IS/FID values: another
network, another feature space, another scale. They compare generators within this course.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dgm.data import file_digest

#: The committed checkpoint; its SHA-256 is committed beside it (``.sha256``) and checked on
#: every load.
CHECKPOINT = Path(__file__).resolve().parent / "assets" / "mnist_classifier.pt"


class MnistClassifier(nn.Module):
    """A small CNN: two conv–ReLU–max-pool blocks, a 64-unit feature layer, 10 logits.

    Accepts ``[B, 784]`` or ``[B, 1, 28, 28]`` images with pixels in [0, 1].
    """

    feature_dimension = 64

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 32 x 14 x 14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 64 x 7 x 7
            nn.Flatten())
        self.features = nn.Sequential(nn.Linear(64 * 7 * 7, self.feature_dimension), nn.ReLU())
        self.head = nn.Linear(self.feature_dimension, 10)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.conv(x.reshape(-1, 1, 28, 28)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def load_classifier(device: torch.device | str = "cpu", path: Path | None = None) -> MnistClassifier:
    """The committed classifier, in eval mode, after checking its checksum."""
    path = Path(path or CHECKPOINT)
    if not path.exists():
        raise FileNotFoundError(
            f"the MNIST classifier checkpoint {path} is missing: restore it from the course "
            "repository (git checkout -- dgm/assets) or retrain it with "
            "`python scripts/train_classifier.py`")
    sha_file = path.with_suffix(".sha256")
    expected = sha_file.read_text().split()[0] if sha_file.exists() else None
    if path == CHECKPOINT and expected is None:
        raise FileNotFoundError(f"{sha_file} is missing: restore it with `git checkout -- "
                                "dgm/assets`")
    if expected is not None and sha256(path) != expected:
        raise ValueError(
            f"the MNIST classifier checkpoint {path} does not match its checksum "
            f"({sha_file.name}): it is corrupt or was replaced. Restore it with "
            "`git checkout -- dgm/assets`, or retrain with `python scripts/train_classifier.py` "
            "(which rewrites both files)")
    model = MnistClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


@torch.no_grad()
def classifier_outputs(classifier: MnistClassifier, images: torch.Tensor,
                       batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``[N, 10]`` and features ``[N, 64]`` (float64 NumPy) of ``images``."""
    device = next(classifier.parameters()).device
    probs, feats = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device, torch.float32)
        f = classifier.embed(x)
        probs.append(torch.softmax(classifier.head(f), dim=1).double().cpu())
        feats.append(f.double().cpu())
    return torch.cat(probs).numpy(), torch.cat(feats).numpy()


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) ‖ p(y))) over ``splits`` equal parts: (mean, standard deviation)."""
    probs = np.asarray(probs, dtype=np.float64)
    scores = []
    for part in np.array_split(probs, splits):
        p_y = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(p_y + 1e-12))).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) for two Gaussians.

    Tr (Σ₁Σ₂)^½ is computed as the sum of the square roots of the eigenvalues of the symmetric
    PSD matrix Σ₁^½ Σ₂ Σ₁^½ (which has the same eigenvalues as Σ₁Σ₂), so no complex square root
    of a non-symmetric matrix is needed.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = float(np.sqrt(np.clip(eig, 0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)
    return max(value, 0.0)          # >= 0 in exact arithmetic; rounding can give -1e-12


@dataclass(frozen=True)
class SampleQuality:
    """Classifier IS (mean ± std over 10 splits) and FID against the real test set, and how many
    of the ten digit classes make up at least :data:`CLASS_SHARE` of the samples (10 for real
    digits; 1 for a generator that collapsed to one image)."""

    inception_score: float
    inception_score_std: float
    fid: float
    n: int
    classes: int = 10

    def __str__(self) -> str:
        return (f"classifier IS {self.inception_score:.2f} ± {self.inception_score_std:.2f}, "
                f"classifier FID {self.fid:.2f}, {self.classes} classes (n = {self.n})")


#: A digit class counts as present in a sample set when at least this share of the samples is
#: classified as it (a tenth would be an even share).
CLASS_SHARE = 0.02


def classes_present(probs: np.ndarray, at_least: float = CLASS_SHARE) -> int:
    """How many of the ten classes take at least ``at_least`` of the samples, by the
    classifier's most likely label (``probs``: ``[N, 10]``)."""
    share = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    return int((share >= at_least).sum())


class SampleQualityMeter:
    """Scores sample sets against one reference set (the real test images), reusing its stats.

    >>> meter = SampleQualityMeter(data.test_x)
    >>> meter(generated_images)     # SampleQuality(inception_score=..., fid=..., n=...)
    """

    def __init__(self, reference: torch.Tensor, classifier: MnistClassifier | None = None,
                 device: torch.device | str = "cpu"):
        self.classifier = classifier or load_classifier(device)
        _, feats = classifier_outputs(self.classifier, reference)
        self.mu, self.sigma = gaussian_stats(feats)

    def __call__(self, images: torch.Tensor) -> SampleQuality:
        if len(images) < 2:
            raise ValueError("score at least two images (10 000 is the usual number)")
        if not torch.isfinite(images).all():
            raise ValueError("the images contain NaN or inf: the generator diverged")
        probs, feats = classifier_outputs(self.classifier, images)
        mean, std = inception_score(probs)
        mu, sigma = gaussian_stats(feats)
        return SampleQuality(mean, std, frechet_distance(self.mu, self.sigma, mu, sigma),
                             len(images), classes_present(probs))


@torch.no_grad()
def accuracy(classifier: MnistClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    probs, _ = classifier_outputs(classifier, images)
    return float((probs.argmax(1) == labels.cpu().numpy()).mean())
