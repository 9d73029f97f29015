"""A trained generator as a file: :func:`save_generator` exports the network and its code sampler
with ``torch.export``, so that notebooks 05 and 06 run notebook 04's generator without its Python
source; :func:`load_generator` and :func:`trained_generator` read it back, or the course's
fallback.

It depends on torch alone, so that :mod:`dgm.artifacts` can read an archive's provenance
(:func:`generator_info`) without an import cycle.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn


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
#: own :func:`dgm.gan_networks.course_generator` (not ``GNet``) with N(0, I) codes, trained by
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
        raise ValueError(f"{path} is not a generator saved by "
                         f"dgm.generator_archive.save_generator ({e}); re-run the notebook that "
                         "trains it") from None
    return ExportedGenerator(program.module(), sampler.module(), int(info["zdim"])), info


def trained_generator(preferred: Path | object | None = None) -> tuple[nn.Module, dict, str]:
    """The generator notebook 04 saved (``preferred``: a path, or the ``Choice`` that
    :func:`dgm.artifacts.choose_input` made, read by its ``path``) if there is one to use, else
    the course's fallback (checked against its SHA-256). Returns the network, its metadata and
    where it came from."""
    preferred = getattr(preferred, "path", preferred)       # a dgm.artifacts.Choice
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
