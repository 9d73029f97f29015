"""A small, reusable training loop: maximise a per-batch objective, report it per epoch.

Notebooks build the objective from the functions students write, so the loop itself holds no
model-specific code::

    history = fit(objective=lambda x: vae_elbo(x), params=model_parameters,
                  train=train_x, test=test_x, epochs=cfg.epochs, batch_size=cfg.batch_size)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

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
        desc: str = "epochs") -> History:
    """Maximise ``objective(x_batch)`` (a scalar, e.g. the ELBO) with Adam.

    Shows a progress bar over the epochs (labelled ``desc``) and, with ``verbose``, prints after
    each epoch the mean objective on the training data (as seen during the epoch) and on ``test``. ``modules`` are switched to train/eval mode around
    the evaluation. A non-finite objective stops the run with an error that says where it broke.
    """
    params = list(params)
    modules = list(modules)
    optimizer = torch.optim.Adam(params, lr=lr)
    loader = TensorLoader(train, batch_size=batch_size, shuffle=True, seed=seed)
    history = History()
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress)
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
    return history
