"""Checks for notebook 06 (GAN inversion and latent path finding): staff side.

``level="visible"`` runs the student-side checks of :mod:`dgm.checks.paths` (for ``find_path``,
with the reference :func:`reference_energy` substituted for the notebook's ``path_energy`` and
measuring the path, so that only ``find_path`` is judged); ``"hidden"`` runs them, then the
grading checks. The quadrature is compared with a fine-grid reference computed here (recorded for
the visible check by :func:`record`), on paths traversed at non-uniform speed, so that any
consistent second-order rule passes and the usual slips (no length factor, a first-order Riemann
sum on the wrong points) fail.
"""

from __future__ import annotations

import torch

from dgm.checks import paths as visible
from dgm.checks.paths import BumpG, LinearG  # noqa: F401 - the test generators
from grader_tests import symbolic  # noqa: F401 - the notebook's formula cells use checks.symbolic
from grader_tests._core import (CheckFailed, call, close, on_another_device, require_tensor,
                                with_globals)


# ------------------------------------------------------------------------ references ----------
def _cost(g, z, x_a, x_b):
    out = g(z).flatten(1)
    return ((out - x_a.flatten()) ** 2).sum(1) + ((out - x_b.flatten()) ** 2).sum(1)


def reference_energy(g, Z, x_a, x_b):
    """Trapezoid rule: sum_k ½ (f(Z_k) + f(Z_{k+1})) ‖Z_{k+1} − Z_k‖."""
    f = _cost(g, Z, x_a, x_b)
    seg = (Z[1:] - Z[:-1]).norm(dim=1)
    return (0.5 * (f[1:] + f[:-1]) * seg).sum()


def energy_values():
    """The integral along the visible check's path, and the slips' sums on its fine grid."""
    g, x_a, x_b = visible.energy_setup()
    fine = visible.curved_path(visible.FINE)
    with torch.no_grad():
        seg = (fine[1:] - fine[:-1]).norm(dim=1)
        f = _cost(g, fine, x_a, x_b)
        return {
            "exact": reference_energy(g, visible.curved_path(visible.EXACT), x_a, x_b),
            "no_length": f[:-1].sum() / (len(fine) - 1),
            "squared_length": (f[:-1] * seg ** 2).sum(),
            "segment_mean": (0.5 * (f[1:] + f[:-1]) * seg).mean(),
            "left": (f[:-1] * seg).sum(),
            "right": (f[1:] * seg).sum(),
        }


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.paths` compare with."""
    return {"path_energy": energy_values()}


# ------------------------------------------------------------------------ invert --------------
def check_invert(fn, level: str = "visible"):
    what = "invert"
    g, x, z_init = visible.run_invert(fn)
    if level == "hidden":
        # Each image's code is optimised on its own: a batch gives the same codes as one by one.
        z_batch, _ = call(what, fn, g, x[:2], z_init[:2], 200, 0.05)
        z_one, _ = call(what, fn, g, x[:1], z_init[:1], 200, 0.05)
        if not close(z_batch[:1], z_one, atol=1e-3):
            raise CheckFailed(what, "the code found for an image depends on the other images of "
                                    "the batch",
                              "sum (or average) the per-image errors; do not mix images, e.g. "
                              "through a norm over the whole batch")


# ------------------------------------------------------------------------ path energy ---------
def check_path_energy(fn, level: str = "visible"):
    what = "path_energy"
    g, fine, x_a, x_b, value = visible.run_path_energy(fn)
    if level == "hidden":
        # Only the two targets matter, symmetrically, and every pixel counts.
        swapped = float(torch.as_tensor(call(what, fn, g, fine, x_b, x_a)).detach())
        if abs(swapped - value) > 1e-9 * abs(value):
            raise CheckFailed(what, "is not symmetric in x_A and x_B",
                              "f(z) = ||G(z) - x_A||^2 + ||G(z) - x_B||^2")
        # The generator and the path on another device than the CPU (a GPU): a sum started as
        # torch.zeros(1) is on the CPU.
        g, x_a, x_b = visible.energy_setup()
        on_another_device(what, fn, g, visible.curved_path(visible.COARSE), x_a, x_b,
                          hint="compute with torch operations on Z and the generator's images; "
                               "start a sum from 0 (a Python number), not torch.zeros(1); a "
                               "tensor you create needs device=Z.device")


# ------------------------------------------------------------------------ find path -----------
def check_find_path(fn, level: str = "visible"):
    what = "find_path"
    fn = with_globals(fn, path_energy=reference_energy)
    g, z_a, z_b, x_a, x_b = visible.run_find_path(fn, reference_energy)
    if level == "hidden":
        Z2 = call(what, fn, g, z_a.clone(), z_b.clone(), x_a, x_b, 5, 50, 0.02)
        require_tensor(what, Z2, (5, 2), "n_points sets the number of points")
        # The generator and the codes on another device than the CPU (a GPU): a straight line
        # made from torch.linspace(0, 1, n) is on the CPU. (On the stand-in only: resampling
        # reads values, float(length), which meta tensors do not hold.)
        on_another_device(what, fn, g, z_a, z_b, x_a, x_b, 6, 20, 0.02, meta=False,
                          hint="make the straight line, and any resampling, on the codes' "
                               "device: torch.linspace(0, 1, n_points, device=z_A.device)")
