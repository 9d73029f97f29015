#!/usr/bin/env python3
"""Time one VAE training epoch: tensor-resident MNIST vs. a torchvision DataLoader.

Same model (notebook 01's reference solution), same batch size (100), same binarisation; the only
difference is how minibatches are produced. Prints a Markdown table.

    python scripts/bench_vae_epoch.py [--epochs 1] [--workers 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nbformat
import torch
from torch import nn
from torchvision import transforms

from dgm.data import TensorLoader, load_mnist_tensors, mnist_datasets
from dgm.runtime import pick_device, seed_everything
from dgm.vae import Encoder

ROOT = Path(__file__).resolve().parent.parent


def reference_functions() -> dict:
    """The solution cells of notebook 01, executed (the benchmark trains the real thing)."""
    nb = nbformat.read(ROOT / "solutions" / "01_vae" / "01_vae.ipynb", 4)
    ns = {"torch": torch, "nn": nn}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code" \
                and ("def " in cell.source or "class " in cell.source):
            exec(compile(cell.source, "<01_vae>", "exec"), ns)  # noqa: S102
    return ns


def _binarise(x):
    return (x > 0.5).float().view(-1)


def epoch_seconds(batches, ns, device, max_batches=None) -> tuple[float, int]:
    seed_everything(0)
    enc, dec = Encoder().to(device), ns["Decoder"]().to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()])
    n = 0
    start = time.perf_counter()
    for step, x in enumerate(batches):
        if max_batches and step >= max_batches:
            break
        x = x.to(device, non_blocking=True)
        mu, var = enc(x)
        z = ns["sample_diagonal_gaussian"](mu, var)
        loss = -ns["elbo_loss"](z, mu, var, x, dec(z))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    device = pick_device()
    ns = reference_functions()
    data = load_mnist_tensors(device=device, binarize=True)
    tensor_batches = (x for (x,) in TensorLoader(data.train_x, batch_size=args.batch_size,
                                                  shuffle=True, seed=0))
    t_tensor, n_tensor = epoch_seconds(tensor_batches, ns, device)

    train, _ = mnist_datasets(transform=transforms.Compose([transforms.ToTensor(),
                                                            transforms.Lambda(_binarise)]))
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True,
                                         num_workers=args.workers,
                                         pin_memory=device.type == "cuda")
    t_loader, n_loader = epoch_seconds((x for x, _ in loader), ns, device)

    print(f"device: {device}, torch threads: {torch.get_num_threads()}, "
          f"batch size: {args.batch_size}, DataLoader workers: {args.workers}\n")
    print("| data path | seconds / epoch | samples / s |")
    print("|---|---:|---:|")
    print(f"| tensor-resident (TensorLoader) | {t_tensor:.1f} | {n_tensor / t_tensor:,.0f} |")
    print(f"| torchvision DataLoader + ToTensor | {t_loader:.1f} | {n_loader / t_loader:,.0f} |")
    print(f"\nDataLoader / tensor-resident time ratio: {t_loader / t_tensor:.2f}x")


if __name__ == "__main__":
    main()
