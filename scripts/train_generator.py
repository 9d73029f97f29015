"""Train the small GAN generator that notebook 06 falls back on when notebook 04 has not been run.

    python scripts/train_generator.py [--epochs 10]   # writes dgm/assets/gan_generator.{pt,sha256}

The networks of notebook 04's tables (``dgm.gan.conv_generator`` / ``conv_discriminator``),
Kaiming-uniform initialisation, the discriminator loss BCE[D(x), 1] + BCE[D(G(z)), 0] and the
non-saturating generator loss, Adam (lr 2e-4, β = (0.5, 0.999)), batch 256, zdim 64, seeded.
About 6 minutes on a 2-core CPU for the default 10 epochs.
"""

from __future__ import annotations

import argparse
import sys

from dgm.data import load_mnist_tensors
from dgm.gan import (conv_discriminator, conv_generator, generate, kaiming_init, save_generator,
                     standard_d_loss, standard_g_loss, train_gan)
from dgm.metrics import SampleQualityMeter, sha256
from dgm.runtime import pick_device, repo_root, seed_everything

CHECKPOINT = repo_root() / "dgm" / "assets" / "gan_generator.pt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    device = pick_device()
    data = load_mnist_tensors(device=device, flatten=False)
    d_net = kaiming_init(conv_discriminator()).to(device)
    g_net = kaiming_init(conv_generator(64)).to(device)
    history = train_gan(d_net, g_net, standard_d_loss, standard_g_loss, data.train_x, zdim=64, epochs=args.epochs,
                        seed=args.seed)
    quality = SampleQualityMeter(data.test_x, device=device)(generate(g_net, 10_000, 64))
    save_generator(g_net.cpu(), CHECKPOINT, zdim=64, kind="conv", epochs=args.epochs)
    CHECKPOINT.with_suffix(".sha256").write_text(f"{sha256(CHECKPOINT)}  {CHECKPOINT.name}\n")
    print(f"wrote {CHECKPOINT}: {args.epochs} epochs in {history.seconds:.0f} s; {quality}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
