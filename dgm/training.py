"""A small, reusable training loop: maximise a per-batch objective, report it per epoch.

Notebooks build the objective from the functions students write, so the loop itself holds no
model-specific code::

    history = fit(objective=lambda x: vae_elbo(x), params=model_parameters,
                  train=train_x, test=test_x, epochs=cfg.epochs, batch_size=cfg.batch_size)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from dgm.artifacts import Checkpoint, code_fingerprint
from dgm.data import TensorLoader


@dataclass
class History:
    """Per-epoch record of a run: objective on the training and test sets, and wall time."""

    epoch: list[int] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_rows(self) -> list[dict]:
        return [dict(epoch=e, train=a, test=b, seconds=s)
                for e, a, b, s in zip(self.epoch, self.train, self.test, self.seconds)]


@torch.no_grad()
def evaluate(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
             batch_size: int = 1000) -> float:
    """Mean of a batch-mean objective over the whole of ``x`` (weighted by batch sizes)."""
    total, n = 0.0, 0
    for (batch,) in TensorLoader(x, batch_size=batch_size):
        total += float(objective(batch)) * len(batch)
        n += len(batch)
    return total / max(n, 1)


def fit(objective: Callable[[torch.Tensor], torch.Tensor], params: Iterable[torch.nn.Parameter],
        train: torch.Tensor, test: torch.Tensor | None, *, epochs: int, batch_size: int,
        lr: float = 1e-3, seed: int = 0, modules: Iterable[torch.nn.Module] = (),
        progress: bool = True, verbose: bool = True, name: str = "objective",
        desc: str = "epochs", checkpoint: Path | None = None) -> History:
    """Maximise ``objective(x_batch)`` (a scalar, e.g. the ELBO) with Adam.

    Shows a progress bar over the epochs (labelled ``desc``) and, with ``verbose``, prints after
    each epoch the mean objective on the training data (as seen during the epoch) and on
    ``test``. ``modules`` are switched to train/eval mode around the evaluation. A non-finite
    objective stops the run with an error that says where it broke.

    With ``checkpoint`` (a file path), the run saves its state after each epoch and, if it is
    interrupted, the next call with the same settings and code resumes after the last finished
    epoch, with the same result as an uninterrupted run; after a finished run, the next call
    loads the result instead of training again (:class:`dgm.artifacts.Checkpoint`).
    ``modules`` should then hold every module whose weights or buffers ``params`` belong to.
    """
    params = list(params)
    modules = list(modules)
    optimizer = torch.optim.Adam(params, lr=lr)
    loader = TensorLoader(train, batch_size=batch_size, shuffle=True, seed=seed)
    history = History()
    ckpt = Checkpoint(checkpoint, dict(loop="fit", epochs=epochs, batch_size=batch_size, lr=lr,
                                       seed=seed, n_train=len(train), name=name,
                                       params=[list(p.shape) for p in params]),
                      code_fingerprint(objective, *modules))
    first = 1
    saved = ckpt.load()
    if saved is not None:
        for m, state in zip(modules, saved["modules"]):
            m.load_state_dict(state)
        with torch.no_grad():
            for p, value in zip(params, saved["params"]):
                p.copy_(value)
        optimizer.load_state_dict(saved["optimizer"])
        loader.generator.set_state(saved["loader"])
        history = History(**saved["history"])
        Checkpoint.restore_rng(saved)
        first = saved["epoch"] + 1
        for m in modules:
            m.eval()
    bar = tqdm(range(first, epochs + 1), desc=desc, unit="epoch", disable=not progress,
               initial=first - 1, total=epochs)
    for epoch in bar:
        start = time.perf_counter()
        for m in modules:
            m.train()
        running, seen = 0.0, 0
        for step, (x,) in enumerate(loader):
            value = objective(x)
            if value.dim() != 0:
                raise ValueError(f"the {name} must be a scalar, got shape {tuple(value.shape)}")
            optimizer.zero_grad(set_to_none=True)
            (-value).backward()
            optimizer.step()
            v = float(value.detach())
            if not math.isfinite(v):
                raise FloatingPointError(
                    f"the {name} became {v} at epoch {epoch}, step {step}: check your "
                    "log-densities for log(0) and your variances for negative values"
                )
            running += v * len(x)
            seen += len(x)
        for m in modules:
            m.eval()
        test_value = evaluate(objective, test) if test is not None else float("nan")
        history.epoch.append(epoch)
        history.train.append(running / max(seen, 1))
        history.test.append(test_value)
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(train=f"{history.train[-1]:.2f}", test=f"{test_value:.2f}")
        if progress and verbose:
            bar.write(f"epoch {epoch:4d}  train {name} {history.train[-1]:9.3f}  "
                      f"test {name} {test_value:9.3f}  ({history.seconds[-1]:.1f} s)")
        ckpt.save(epoch, {"modules": [m.state_dict() for m in modules],
                          "params": [p.detach().clone() for p in params],
                          "optimizer": optimizer.state_dict(),
                          "loader": loader.generator.get_state(),
                          "history": asdict(history)})
    return history
