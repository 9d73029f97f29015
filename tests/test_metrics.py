"""The sample-quality metric: the committed classifier, and IS/FID validated on real data,
on noise and against closed forms."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from dgm import metrics
from dgm.data import load_mnist_tensors


@pytest.fixture(scope="module")
def mnist():
    return load_mnist_tensors(flatten=False)


@pytest.fixture(scope="module")
def meter(mnist):
    return metrics.SampleQualityMeter(mnist.test_x)


def test_committed_checkpoint_matches_its_checksum():
    expected = metrics.CHECKPOINT.with_suffix(".sha256").read_text().split()[0]
    assert metrics.sha256(metrics.CHECKPOINT) == expected


@pytest.mark.slow
def test_classifier_reaches_99_percent(mnist):
    clf = metrics.load_classifier()
    assert metrics.accuracy(clf, mnist.test_x, mnist.test_y) >= 0.99


def test_corrupt_or_missing_checkpoint_says_how_to_restore(tmp_path):
    pt = tmp_path / "mnist_classifier.pt"
    shutil.copy(metrics.CHECKPOINT, pt)
    shutil.copy(metrics.CHECKPOINT.with_suffix(".sha256"), tmp_path)
    metrics.load_classifier(path=pt)                           # a faithful copy loads
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum.*git checkout"):
        metrics.load_classifier(path=pt)
    with pytest.raises(FileNotFoundError, match="train_classifier"):
        metrics.load_classifier(path=tmp_path / "nothing.pt")


@pytest.mark.slow
def test_real_digits_score_high_and_close(meter, mnist):
    real = meter(mnist.test_x)
    assert real.inception_score > 9.5                      # 10 classes, confidently classified
    assert real.fid < 1e-6                                  # the reference set itself
    train = meter(mnist.train_x[:10_000])
    assert train.inception_score > 9.5
    assert train.fid < 5.0


@pytest.mark.slow
def test_noise_and_a_single_class_score_badly(meter, mnist):
    noise = meter(torch.rand(5_000, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    train = meter(mnist.train_x[:5_000])
    assert noise.inception_score < 1.5 and noise.fid > 100 * train.fid
    threes = meter(mnist.train_x[mnist.train_y == 3][:5_000])
    assert threes.inception_score < 1.5                    # mode collapse: IS near 1
    assert threes.fid > 50 * train.fid
    assert threes.classes == 1 and train.classes == 10


def test_classes_present_counts_classes_with_their_share():
    probs = np.zeros((100, 10))
    labels = [0] * 60 + [1] * 30 + [2] * 8 + [3] * 2      # 3 has exactly 2 %
    probs[np.arange(100), labels] = 1.0
    assert metrics.classes_present(probs) == 4
    assert metrics.classes_present(probs, at_least=0.05) == 3
    assert metrics.classes_present(np.eye(10)[np.arange(1000) % 10]) == 10


@pytest.mark.slow
def test_meter_refuses_nan_images(meter):
    with pytest.raises(ValueError, match="diverged"):
        meter(torch.full((10, 1, 28, 28), float("nan")))


def test_inception_score_bounds():
    uniform = np.full((1000, 10), 0.1)
    assert metrics.inception_score(uniform)[0] == pytest.approx(1.0)
    onehot = np.eye(10)[np.arange(1000) % 10]
    assert metrics.inception_score(onehot)[0] == pytest.approx(10.0, rel=1e-6)


def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=3), rng.normal(size=3)
    a, b = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 2, 3)
    diag = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(diag)
    # 2x2, non-commuting: Tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for M = S1 S2.
    s1 = np.array([[2.0, 0.6], [0.6, 1.0]])
    s2 = np.array([[1.0, -0.4], [-0.4, 3.0]])
    m = s1 @ s2
    tr_root = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    expected = np.trace(s1) + np.trace(s2) - 2 * tr_root
    assert metrics.frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(expected)
    assert metrics.frechet_distance(mu1[:1], s1[:1, :1], mu1[:1], s1[:1, :1]) == pytest.approx(0, abs=1e-12)
