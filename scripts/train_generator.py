"""Train the generator that notebooks 05 and 06 fall back on when notebook 04 has not saved one.

    python scripts/train_generator.py [--epochs 10]   # writes dgm/assets/gan_generator.{pt2,sha256}

The course's own networks (``dgm.gan_networks.course_generator`` / ``course_critic``, not notebook 04's
``GNet``/``DNet``: the fallback must not reveal a graded class), the non-saturating GAN losses,
Adam (lr 2e-4, β = (0.5, 0.999)), batch 256, zdim 64, seeded. Its codes are N(0, I), not notebook
04's uniform prior, so that the archive's code sampler is not an answer to ``sample_z``. Saved with
``torch.export`` (no Python source travels with it).
"""

from __future__ import annotations

import argparse
import sys

from dgm.data import load_mnist_tensors
from dgm.gan_networks import course_critic, course_generator
from dgm.gan_training import generate, train_gan
from dgm.generator_archive import FALLBACK_GENERATOR, save_generator
from dgm.metrics import SampleQualityMeter, sha256
from dgm.runtime import pick_device, seed_everything
from dgm_staff.references import d_loss, g_loss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    device = pick_device()
    data = load_mnist_tensors(device=device, flatten=False)
    d_net, g_net = course_critic().to(device), course_generator(64).to(device)
    history = train_gan(d_net, g_net, d_loss, g_loss, data.train_x, zdim=64, epochs=args.epochs,
                        seed=args.seed)
    quality = SampleQualityMeter(data.test_x, device=device)(generate(g_net, 10_000, 64))
    out = FALLBACK_GENERATOR
    save_generator(g_net, out, zdim=64, epochs=args.epochs,
                   budget="course fallback", inception_score=round(quality.inception_score, 2),
                   fid=round(quality.fid, 1))
    out.with_suffix(".sha256").write_text(f"{sha256(out)}  {out.name}\n")
    print(f"wrote {out}: {args.epochs} epochs in {history.seconds:.0f} s on {device}; {quality}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
