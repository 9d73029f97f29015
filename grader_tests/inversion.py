"""Checks for notebook 06 (GAN inversion and latent path finding): staff side.

``level="visible"`` runs the student-side checks of :mod:`dgm.checks.inversion` (for ``find_path``,
with the reference :func:`reference_energy` substituted for the notebook's ``path_energy`` and
measuring the path, so that only ``find_path`` is judged); ``"hidden"`` runs them, then the
grading checks. The quadrature is compared with a fine-grid reference computed here (recorded for
the visible check by :func:`record`), on paths traversed at non-uniform speed, so that any
consistent second-order rule passes and the usual slips (no length factor, a first-order Riemann
sum on the wrong points) fail.

The hidden checks also judge inputs drawn at grading time (a seed taken when they run), whose
answers no recorded value knows: a generator with other weights for ``invert``, another generator
and curve for ``path_energy``, and for ``find_path`` two generators whose bump lies on either
side of the segment between new ends, where a path must avoid the bump that is there (measured
with :func:`reference_energy` against the straight line and :func:`reference_find_path`).
"""

from __future__ import annotations

import math
import sys

import torch

from dgm.checks import inversion as visible
from dgm.checks.inversion import BumpG, LinearG  # noqa: F401 - the test generators
from grader_tests import randomised, written_answers  # noqa: F401 - used by the notebooks
from grader_tests.grading_inputs import grading_seed, on_fresh_inputs
from dgm.checks.common import (CheckFailed, call, close, explain_mismatch, generator,
                               on_another_device, require_tensor, with_globals)


def _uniform(g, low, high, *shape, dtype=torch.float32):
    return low + (high - low) * torch.rand(*shape, generator=g, dtype=dtype)


# ------------------------------------------------------------------------ references ----------
def _cost(g, z, x_a, x_b):
    out = g(z).flatten(1)
    return ((out - x_a.flatten()) ** 2).sum(1) + ((out - x_b.flatten()) ** 2).sum(1)


def reference_energy(g, Z, x_a, x_b):
    """Trapezoid rule: sum_k ½ (f(Z_k) + f(Z_{k+1})) ‖Z_{k+1} − Z_k‖."""
    f = _cost(g, Z, x_a, x_b)
    seg = (Z[1:] - Z[:-1]).norm(dim=1)
    return (0.5 * (f[1:] + f[:-1]) * seg).sum()


def _resample_evenly(Z, n):
    seg = torch.linalg.norm(Z[1:] - Z[:-1], dim=1)
    cum = torch.cat([seg.new_zeros(1), torch.cumsum(seg, 0)])
    targets = torch.linspace(0, float(cum[-1]), n, dtype=Z.dtype, device=Z.device)
    idx = torch.searchsorted(cum, targets).clamp(1, len(Z) - 1)
    left, right = cum[idx - 1], cum[idx]
    w = ((targets - left) / (right - left).clamp_min(1e-12)).unsqueeze(1)
    out = Z[idx - 1] + w * (Z[idx] - Z[idx - 1])
    out[0], out[-1] = Z[0], Z[-1]
    return out


@torch.enable_grad()
def reference_find_path(g, z_a, z_b, x_a, x_b, n_points, steps, lr=0.02, resample_every=10):
    """The solution's optimiser: Adam on the interior points of the straight line, resampled at
    equal arc length every ``resample_every`` steps and at the end."""
    t = torch.linspace(0, 1, n_points, dtype=z_a.dtype).unsqueeze(1)
    interior = (z_a + t * (z_b - z_a))[1:-1].detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([interior], lr=lr)
    ends = z_a.detach().unsqueeze(0), z_b.detach().unsqueeze(0)
    for step in range(1, steps + 1):
        path = torch.cat([ends[0], interior, ends[1]])
        (interior.grad,) = torch.autograd.grad(reference_energy(g, path, x_a, x_b), [interior])
        optimizer.step()
        if step % resample_every == 0 or step == steps:
            with torch.no_grad():
                path = torch.cat([ends[0], interior, ends[1]])
                interior.copy_(_resample_evenly(path, n_points)[1:-1])
    return torch.cat([ends[0], interior.detach(), ends[1]])


def slip_values(g, fine, exact_path, x_a, x_b):
    """The integral along a curve (the trapezoid rule on its points ``exact_path``), and the
    slips' sums on its points ``fine``."""
    with torch.no_grad():
        seg = (fine[1:] - fine[:-1]).norm(dim=1)
        f = _cost(g, fine, x_a, x_b)
        return {
            "exact": reference_energy(g, exact_path, x_a, x_b),
            "no_length": f[:-1].sum() / (len(fine) - 1),
            "squared_length": (f[:-1] * seg ** 2).sum(),
            "segment_mean": (0.5 * (f[1:] + f[:-1]) * seg).mean(),
            "left": (f[:-1] * seg).sum(),
            "right": (f[1:] * seg).sum(),
        }


def energy_values():
    """The integral along the visible check's path, and the slips' sums on its fine grid."""
    g, x_a, x_b = visible.energy_setup()
    return slip_values(g, visible.curved_path(visible.FINE), visible.curved_path(visible.EXACT),
                       x_a, x_b)


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.inversion` compare with."""
    return {"path_energy": energy_values()}


# ------------------------------------------------------------------------ invert --------------
def fresh_linear_g(seed: int):
    """A linear generator with weights drawn from ``seed`` (singular values from 1 to 2), codes
    of 4 images and starting codes."""
    g_ = generator(seed)
    g = LinearG()
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(4, 3, generator=g_))
        g.lin.weight.copy_(q * _uniform(g_, 1.0, 2.0, 3))
        g.lin.bias.copy_(torch.randn(4, generator=g_) * 0.3)
    z_true = _uniform(g_, -1.0, 1.0, 4, 3)
    z_init = _uniform(g_, -1.0, 1.0, 4, 3)
    with torch.no_grad():
        x = g(z_true)
    return g, x, z_init, z_true


def check_invert(fn, level: str = "visible"):
    what = "invert"
    g, x, z_init = visible.run_invert(fn)
    if level != "hidden":
        return
    # Each image's code is optimised on its own: a batch gives the same codes as one by one.
    z_batch, _ = call(what, fn, g, x[:2], z_init[:2], 200, 0.05)
    z_one, _ = call(what, fn, g, x[:1], z_init[:1], 200, 0.05)
    if not close(z_batch[:1], z_one, atol=1e-3):
        raise CheckFailed(what, "the code found for an image depends on the other images of "
                                "the batch",
                          "sum (or average) the per-image errors; do not mix images, e.g. "
                          "through a norm over the whole batch")
    # A generator, images and starting codes drawn at grading time: the codes must reconstruct
    # the images through this generator, and the loss history must hold what the task says.
    seed = grading_seed()
    with on_fresh_inputs(seed):
        visible.invert_case(what, fn, *fresh_linear_g(seed))
        g, x, z_init, _ = fresh_linear_g(seed)
        _check_history(what, fn, g, x, z_init)


def reference_invert_history(g, x, z_init, steps, lr):
    """The loss history of the task's Adam run: entry k is the mean over the images of the
    per-image squared error (summed over pixels) at the codes after k updates."""
    z = z_init.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    history = []
    for _ in range(steps):
        loss = ((g(z) - x) ** 2).flatten(1).sum(1)
        (grad,) = torch.autograd.grad(loss.sum(), [z])
        z.grad = grad
        optimizer.step()
        history.append(float(loss.detach().mean()))
    return torch.tensor(history, dtype=torch.float64)


INVERT_HISTORY_STEPS = 6


def _check_history(what, fn, g, x, z_init, lr=0.05):
    """The first steps of the history, against the reference's (Adam is deterministic; a
    gradient of the batch mean instead of the sum moves z the same way)."""
    steps = INVERT_HISTORY_STEPS
    out = call(what, fn, g, x, z_init, steps, lr)
    history = torch.as_tensor(out[1], dtype=torch.float64).detach().flatten()
    ref = reference_invert_history(g, x, z_init, steps, lr)
    if close(history, ref, atol=1e-5, rtol=1e-3):
        return
    pixels = x[0].numel()
    hint = ("append, before each Adam update, the mean over the B images of the per-image error "
            "||G(z_i) - x_i||^2 summed over pixels: float(loss.detach().mean()) with loss of "
            "shape [B]")
    known = [(ref * len(x), "loss_history is summed over the batch, not averaged over the images",
              hint),
             (ref / pixels, "loss_history is averaged over the pixels too, not summed over them",
              hint)]
    if len(history) == steps and close(history[:-1], ref[1:], atol=1e-5, rtol=1e-3):
        raise CheckFailed(what, "loss_history[k] is recorded after the k-th update (entry 0 must "
                                "be the loss at z_init)", hint)
    explain_mismatch(what, history, known,
                     f"the loss history of {steps} steps is {[round(v, 4) for v in history.tolist()]}"
                     f", expected {[round(v, 4) for v in ref.tolist()]}", hint, atol=1e-5, rtol=1e-3)


# ------------------------------------------------------------------------ path energy ---------
def fresh_curve(seed: int):
    """A bump generator (float64) with its centre, height, width and scales drawn from ``seed``,
    targets, and a curve through the bump's region at three resolutions: coarse (9 points),
    fine (401), uneven (401, at uneven speed) and the integral's grid (20001)."""
    g_ = generator(seed)
    dt = torch.float64
    theta = float(_uniform(g_, 0, 2 * math.pi, 1, dtype=dt))
    u = torch.tensor([math.cos(theta), math.sin(theta)], dtype=dt)
    normal = torch.tensor([-u[1], u[0]], dtype=dt)
    mid = _uniform(g_, -0.3, 0.3, 2, dtype=dt)
    r = float(_uniform(g_, 0.7, 1.0, 1, dtype=dt))
    a1 = float(_uniform(g_, 0.3, 0.8, 1, dtype=dt)) * (1 if float(torch.rand(1, generator=g_))
                                                       < 0.5 else -1)
    a2 = float(_uniform(g_, -0.3, 0.3, 1, dtype=dt))
    z_a, z_b = mid - r * u, mid + r * u
    g = BumpG(c=float(_uniform(g_, 2.0, 4.0, 1)), w=float(_uniform(g_, 0.3, 0.5, 1))).double()
    with torch.no_grad():
        g.centre.copy_(mid + _uniform(g_, -0.3, 0.3, 2, dtype=dt))
        g.scale.copy_(_uniform(g_, 0.7, 1.3, 2, dtype=dt))
    far = _uniform(g_, -1.0, 1.0, 1, 2, dtype=dt)

    def curve(n, speed="uniform"):
        t = torch.linspace(0, 1, n, dtype=dt)
        if speed == "uneven":
            t = t ** 2
        bend = a1 * torch.sin(math.pi * t) + a2 * torch.sin(2 * math.pi * t)
        return z_a + t[:, None] * (z_b - z_a) + bend[:, None] * normal

    with torch.no_grad():
        x_a, x_b = g(z_a[None])[0], g(far)[0]
    paths = {"coarse": curve(visible.COARSE), "fine": curve(visible.FINE),
             "uneven": curve(visible.FINE, "uneven"), "exact": curve(visible.EXACT)}
    return g, x_a, x_b, paths


def check_path_energy(fn, level: str = "visible"):
    what = "path_energy"
    g, fine, x_a, x_b, value = visible.run_path_energy(fn)
    if level != "hidden":
        return
    # Only the two targets matter, symmetrically, and every pixel counts.
    swapped = float(torch.as_tensor(call(what, fn, g, fine, x_b, x_a)).detach())
    if not abs(swapped - value) <= 1e-9 * abs(value):
        raise CheckFailed(what, "is not symmetric in x_A and x_B",
                          "f(z) = ||G(z) - x_A||^2 + ||G(z) - x_B||^2")
    # Another generator and curve, drawn at grading time.
    seed = grading_seed()
    g, x_a, x_b, paths = fresh_curve(seed)
    with on_fresh_inputs(seed):
        visible.energy_case(what, fn, g, x_a, x_b, paths["coarse"], paths["fine"],
                            paths["uneven"],
                            slip_values(g, paths["fine"], paths["exact"], x_a, x_b))
    randomised.check("path_energy", fn, sys.modules[__name__])
    # The generator and the path on another device than the CPU (a GPU): a sum started as
    # torch.zeros(1) is on the CPU.
    g, x_a, x_b = visible.energy_setup()
    on_another_device(what, fn, g, visible.curved_path(visible.COARSE), x_a, x_b,
                      hint="compute with torch operations on Z and the generator's images; "
                           "start a sum from 0 (a Python number), not torch.zeros(1); a "
                           "tensor you create needs device=Z.device")


# ------------------------------------------------------------------------ find path -----------
#: Points and steps of the hidden runs on fresh generators (the visible run has 12 and 300; the
#: reference gains as much in 50 steps, and the judge pays a round trip per step).
FRESH_POINTS, FRESH_STEPS = 10, 50
#: The share of the reference's gain over the straight line that a path must reach.
GAIN_SHARE = 0.5
#: How far above the straight line's energy a path may end for a generator without a bump.
FLAT_EXCESS = 1.01


def fresh_bumps(seed: int):
    """New ends, two bump generators whose bump sits on either side of the segment between them
    (mirror images), and a flat one (no bump): ``(z_a, z_b, [bump, mirrored bump], flat)``. A
    path must detour to the side without the bump, which differs between the two, and keep to the
    straight line (the shortest path, there) for the flat one."""
    g_ = generator(seed)
    theta = float(_uniform(g_, 0, 2 * math.pi, 1))
    u = torch.tensor([math.cos(theta), math.sin(theta)])
    normal = torch.tensor([-float(u[1]), float(u[0])])
    mid = _uniform(g_, -0.3, 0.3, 2)
    r = float(_uniform(g_, 0.9, 1.1, 1))
    along = float(_uniform(g_, -0.2, 0.2, 1))
    off = float(_uniform(g_, 0.12, 0.2, 1))
    c, w = float(_uniform(g_, 2.5, 3.5, 1)), float(_uniform(g_, 0.25, 0.35, 1))
    gens = []
    for side in (1.0, -1.0):
        g = BumpG(c=c, w=w)
        with torch.no_grad():
            g.centre.copy_(mid + along * u + side * off * normal)
        gens.append(g)
    return mid - r * u, mid + r * u, gens, BumpG(c=0.0)


def check_find_path(fn, level: str = "visible"):
    what = "find_path"
    fn = with_globals(fn, path_energy=reference_energy)
    g, z_a, z_b, x_a, x_b = visible.run_find_path(fn, reference_energy)
    if level != "hidden":
        return
    Z2 = call(what, fn, g, z_a.clone(), z_b.clone(), x_a, x_b, 5, 50, 0.02)
    require_tensor(what, Z2, (5, 2), "n_points sets the number of points")
    # New ends and generators drawn at grading time: with the bump on either side of the
    # segment the path must avoid the bump that is there, as well as the reference does (at
    # least GAIN_SHARE of its gain over the straight line); without a bump it must keep to the
    # straight line. So it depends on the generator, as minimising the energy does.
    seed = grading_seed()
    z_a2, z_b2, bumps, flat = fresh_bumps(seed)
    with on_fresh_inputs(seed):
        found = []
        for g2 in (*bumps, flat):
            x_a2, x_b2 = g2(z_a2[None]).detach()[0], g2(z_b2[None]).detach()[0]
            found.append((g2, x_a2, x_b2, *visible.path_case(
                what, fn, reference_energy, g2, z_a2, z_b2, x_a2, x_b2, FRESH_POINTS,
                FRESH_STEPS)))
        minimise = ("start from the straight line and minimise path_energy(generator, Z, x_A, "
                    "x_B) over the interior points with Adam (lr and steps as given), "
                    "resampling evenly every few steps")
        if close(found[0][3], found[1][3], atol=1e-4):
            raise CheckFailed(what, "finds the same path for two generators whose bump lies on "
                                    "opposite sides of the segment: the path does not depend on "
                                    "the generator", minimise)
        for g2, x_a2, x_b2, _, u_path, u_line in found[:2]:
            best = reference_find_path(g2, z_a2, z_b2, x_a2, x_b2, FRESH_POINTS, FRESH_STEPS)
            with torch.no_grad():
                u_ref = float(reference_energy(g2, best, x_a2, x_b2))
            if not u_path <= u_line - GAIN_SHARE * (u_line - u_ref):
                raise CheckFailed(what, f"for another generator and other ends the path's energy "
                                        f"is {u_path:.3f}, against {u_line:.3f} for the straight "
                                        f"line; minimising the energy reaches {u_ref:.3f}",
                                  minimise)
        u_path, u_line = found[2][4:]
        if not u_path <= FLAT_EXCESS * u_line:
            raise CheckFailed(what, f"for a generator without a bump, where the straight line is "
                                    f"the shortest path, the path's energy is {u_path:.3f}, "
                                    f"above the straight line's {u_line:.3f}", minimise)
    # The generator and the codes on another device than the CPU (a GPU): a straight line
    # made from torch.linspace(0, 1, n) is on the CPU. (On the stand-in only: resampling
    # reads values, float(length), which meta tensors do not hold.)
    on_another_device(what, fn, g, z_a, z_b, x_a, x_b, 6, 20, 0.02, meta=False,
                      hint="make the straight line, and any resampling, on the codes' "
                           "device: torch.linspace(0, 1, n_points, device=z_A.device)")
