"""Train the MNIST classifier behind the course's sample-quality metric (dgm/metrics.py).

    python scripts/train_classifier.py            # writes dgm/assets/mnist_classifier.{pt,sha256}

Seeded; about two minutes on a 2-core CPU. Inputs are shifted by up to two pixels at random
during training so that the classifier does not depend on exact centring (generated digits are
not always centred). It refuses to write a checkpoint below 99 % test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from dgm.data import TensorLoader, load_mnist_tensors
from dgm.metrics import CHECKPOINT, MnistClassifier, accuracy, sha256
from dgm.runtime import pick_device, seed_everything


def random_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Each image moved by up to ``max_shift`` pixels in each direction (zero padding)."""
    b = len(x)
    padded = F.pad(x.view(b, 1, 28, 28), [max_shift] * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    rows = (dy.view(b, 1) + torch.arange(28).view(1, 28)).to(x.device)
    cols = (dx.view(b, 1) + torch.arange(28).view(1, 28)).to(x.device)
    idx = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[idx, 0, rows.view(b, 28, 1), cols.view(b, 1, 28)].reshape(b, -1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    device = pick_device()
    data = load_mnist_tensors(device=device)
    model = MnistClassifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.train()
        for x, y in TensorLoader(data.train_x, data.train_y, batch_size=128, shuffle=True,
                                 seed=args.seed + epoch):
            loss = F.cross_entropy(model(random_shift(x, gen)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        acc = accuracy(model, data.test_x, data.test_y)
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f} ({time.perf_counter() - start:.0f} s)")
    if acc < 0.99:
        print(f"test accuracy {acc:.4f} < 0.99: not written", file=sys.stderr)
        return 1
    CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, CHECKPOINT)
    CHECKPOINT.with_suffix(".sha256").write_text(f"{sha256(CHECKPOINT)}  {CHECKPOINT.name}\n")
    print(f"wrote {CHECKPOINT} ({CHECKPOINT.stat().st_size / 1e3:.0f} kB), test accuracy {acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
