"""Visible checks of notebook 06 (GAN inversion and latent path finding).

The checks use small generators whose answers are known: a linear one (inversion is least
squares), and a 2-D "bump" generator whose straight path between two codes crosses a high-cost
region (so a good path detours around it). The path energy is compared, on paths traversed at
non-uniform speed, with values recorded by the course staff (the integral, and the sums the
usual slips give), so that any consistent second-order rule passes and a missing length factor
or a first-order Riemann sum fails. Grading runs further, hidden checks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dgm.checks import written_answers  # noqa: F401 - used by the notebooks
from dgm.checks.common import CheckFailed, call, close, expected, generator, grad, require_tensor

NOTEBOOK = "inversion"


# ------------------------------------------------------------------------ test generators -----
class LinearG(nn.Module):
    """G(z) = W z + b, shown as [B, 1, 2, 2] images."""

    def __init__(self, zdim: int = 3):
        super().__init__()
        g = generator(11)
        self.lin = nn.Linear(zdim, 4)
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(4, zdim, generator=g))
            self.lin.weight.copy_(q * torch.tensor([2.0, 1.5, 1.0][:zdim]))
            self.lin.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))

    def forward(self, z):
        return self.lin(z).view(-1, 1, 2, 2)


class BumpG(nn.Module):
    """A 2-D latent space; image = (z1, z2, c·exp(−‖z − m‖²/w)) with the bump's centre m just off
    the segment from (−1, 0) to (1, 0), which therefore crosses its flank."""

    def __init__(self, c: float = 3.0, w: float = 0.3):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.0, 1.0]))
        self.c, self.w = c, w
        self.register_buffer("centre", torch.tensor([0.0, 0.15]))

    def forward(self, z):
        bump = self.c * torch.exp(-((z - self.centre) ** 2).sum(1, keepdim=True) / self.w)
        return torch.cat([z * self.scale, bump], dim=1).view(-1, 1, 1, 3)


def _snapshot(g):
    return [(p.detach().clone(), p.requires_grad) for p in g.parameters()]


def _untouched(what, g, before):
    for (value, flag), p in zip(before, g.parameters()):
        if not torch.equal(value, p.detach()):
            raise CheckFailed(what, "changed the generator's weights",
                              "optimise only the codes: give the optimizer [z] (or the path's "
                              "interior points), never generator.parameters()")
        if p.grad is not None and bool((p.grad != 0).any()):
            raise CheckFailed(what, "left gradients in the generator's parameters",
                              "take gradients with respect to the codes only: "
                              "torch.autograd.grad(loss, [z]), or switch requires_grad off for "
                              "the generator and back on afterwards")
        if p.requires_grad != flag:
            raise CheckFailed(what, "changed requires_grad of the generator's parameters and "
                                    "did not restore it",
                              "restore each parameter's requires_grad before returning")


# ------------------------------------------------------------------------ invert --------------
def run_invert(fn):
    """The visible contract of ``invert``; returns the generator, the images and z_init."""
    torch.manual_seed(0)
    g = LinearG()
    z_true = torch.rand(3, 3, generator=generator(1)) * 2 - 1
    with torch.no_grad():
        x = g(z_true)
    z_init = torch.zeros(3, 3)
    invert_case("invert", fn, g, x, z_init, z_true)
    return g, x, z_init


def invert_case(what, fn, g, x, z_init, z_true, steps=500, lr=0.05):
    """``invert`` on images ``x = g(z_true)`` of a linear generator (whose least-squares answer is
    ``z_true``), from ``z_init``: the contract, and the codes found; returns them."""
    start = z_init.clone()
    before = _snapshot(g)
    out = call(what, fn, g, x, z_init, steps, lr)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed(what, "must return a pair (z, loss_history)",
                          "return z.detach(), torch.tensor(history)")
    z, history = out
    require_tensor(what, z, tuple(z_init.shape), "return one code per image: the shape of z_init")
    _untouched(what, g, before)
    if not torch.equal(z_init, start):
        raise CheckFailed(what, "modified z_init in place",
                          "start from z = z_init.clone().requires_grad_(True)")
    if z.requires_grad:
        raise CheckFailed(what, "returns a z that still requires grad", "return z.detach()")
    history = torch.as_tensor(history, dtype=torch.float64).flatten()
    if len(history) != steps:
        raise CheckFailed(what, f"loss_history has {len(history)} entries for {steps} steps",
                          "record the loss once per step")
    if not float(history[-1]) < float(history[0]):
        raise CheckFailed(what, "the loss did not decrease",
                          "minimise ||G(z) - x||^2 over z (check the sign and that the "
                          "optimizer steps z)")
    with torch.no_grad():
        err = float(((g(z) - x) ** 2).flatten(1).sum(1).max())
    if not (err <= 1e-2 and close(z, z_true, atol=0.1)):
        raise CheckFailed(what, f"for a linear generator, {steps} Adam steps (lr {lr}) end at a "
                                f"squared error of {err:.3g}, far from the least-squares optimum "
                                "(0)",
                          "use Adam on z with the given lr and steps, and the squared error "
                          "of the generator's images, generator(z), summed over pixels")
    return z


def check_invert(fn):
    run_invert(fn)


# ------------------------------------------------------------------------ path energy ---------
def curved_path(n: int, speed: str = "uniform") -> torch.Tensor:
    t = torch.linspace(0, 1, n, dtype=torch.float64)
    if speed == "uneven":
        t = t ** 2
    angle = math.pi * (1 - t)
    return torch.stack([torch.cos(angle), 0.8 * torch.sin(angle)], dim=1)   # a half ellipse


#: Points of the coarse test path, of the fine one, and of the path the integral was taken on.
COARSE, FINE, EXACT = 9, 401, 20001


def energy_setup():
    """The bump generator in float64 and the targets, chosen so that f differs at the two ends
    of the test path (a first-order sum's error is proportional to that difference)."""
    g = BumpG().double()
    x_a = g(torch.tensor([[-1.0, 0.0]], dtype=torch.float64)).detach()[0]
    x_b = g(torch.tensor([[-0.6, 0.7]], dtype=torch.float64)).detach()[0]
    return g, x_a, x_b


#: The usual slips of the quadrature, as their values on the fine path.
ENERGY_MISTAKES = {
    "no_length": ("has no length factor (it averages f along the points)",
                  "multiply f by the length of each segment, ||Z_{k+1} - Z_k||_2"),
    "squared_length": ("uses squared segment lengths",
                       "the line element is ||dZ||_2, not ||dZ||^2"),
    "segment_mean": ("averages over segments instead of summing",
                     "the integral is a sum over segments"),
    "left": ("is a left Riemann sum (f at the start of each segment only): first-order accurate",
             "use both ends of each segment: ½ (f(Z_k) + f(Z_{k+1})) ||Z_{k+1} - Z_k||"),
    "right": ("is a right Riemann sum (f at the end of each segment only): first-order accurate",
              "use both ends of each segment: ½ (f(Z_k) + f(Z_{k+1})) ||Z_{k+1} - Z_k||"),
}


def run_path_energy(fn):
    """The visible contract of ``path_energy``; returns what the hidden check reuses."""
    g, x_a, x_b = energy_setup()
    fine = curved_path(FINE)
    value = energy_case("path_energy", fn, g, x_a, x_b, curved_path(COARSE), fine,
                        curved_path(FINE, "uneven"), expected(NOTEBOOK, "path_energy"))
    return g, fine, x_a, x_b, value


def energy_case(what, fn, g, x_a, x_b, coarse, fine, uneven, values) -> float:
    """``path_energy`` on a curve given by its points ``coarse``, ``fine`` (400 segments) and
    ``uneven`` (the same curve at uneven speed), against ``values``: the integral along it
    (``"exact"``) and the slips' sums on ``fine``. Returns the value on ``fine``."""
    require_tensor(what, call(what, fn, g, coarse, x_a, x_b), (),
                   "return one number (a scalar tensor) for the whole path")
    exact = float(values["exact"])
    value = float(torch.as_tensor(call(what, fn, g, fine, x_a, x_b)).detach())
    if not abs(value - exact) <= 2e-4 * exact:
        for name, (problem, hint) in ENERGY_MISTAKES.items():
            candidate = float(values[name])
            if abs(value - candidate) <= 1e-6 * max(1.0, abs(candidate)):
                raise CheckFailed(what, problem, hint)
        raise CheckFailed(what, f"on a fine grid (400 segments) of a known path it gives "
                                f"{value:.5f}; the integral is {exact:.5f}",
                          "U = sum_k ½ (f(Z_k) + f(Z_{k+1})) ||Z_{k+1} - Z_k||_2 with "
                          "f(z) = ||G(z) - x_A||^2 + ||G(z) - x_B||^2 summed over pixels")
    # The same curve traversed at uneven speed: U must not change (a first-order sum on the
    # wrong points, or a missing length factor, does).
    slow = float(torch.as_tensor(call(what, fn, g, uneven, x_a, x_b)).detach())
    if not abs(slow - exact) <= 2e-3 * exact:
        raise CheckFailed(what, f"changes with the speed along the path ({slow:.5f} vs "
                                f"{value:.5f} for the same curve)",
                          "weight f by each segment's length and evaluate f on both ends of "
                          "the segment (trapezoid rule); a left or right Riemann sum is only "
                          "first-order accurate")
    Zg = coarse.clone().requires_grad_(True)
    energy = call(what, fn, g, Zg, x_a, x_b)
    differentiable = "build it with torch operations on Z (no .item(), no numpy)"
    if not isinstance(energy, torch.Tensor) or not energy.requires_grad:
        raise CheckFailed(what, "is not differentiable in Z", differentiable)
    (dZ,) = grad(what, energy, (Zg,), differentiable)
    if dZ is None:
        raise CheckFailed(what, "is not differentiable in Z", differentiable)
    if not bool(torch.isfinite(dZ).all()):
        raise CheckFailed(what, "has a non-finite gradient", "avoid sqrt(0): use "
                                                             "torch.linalg.norm / .norm(dim=1)")
    if not float(dZ.abs().sum()) > 0:
        raise CheckFailed(what, "is not differentiable in Z (its gradient is zero)",
                          differentiable)
    return value


def check_path_energy(fn):
    run_path_energy(fn)


# ------------------------------------------------------------------------ find path -----------
def run_find_path(fn, energy, n=12, steps=300):
    """The contract of ``fn`` (already seeing the path energy it should use), the energies of
    its path and of the straight line measured with ``energy(generator, Z, x_A, x_B)``."""
    torch.manual_seed(0)
    g = BumpG()
    z_a, z_b = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.0])
    x_a, x_b = g(z_a[None]).detach()[0], g(z_b[None]).detach()[0]
    _, u_path, u_line = path_case("find_path", fn, energy, g, z_a, z_b, x_a, x_b, n, steps)
    if not u_path < 0.8 * u_line:
        raise CheckFailed("find_path", f"the path's energy {u_path:.3f} is not clearly below the "
                                       f"straight line's {u_line:.3f} (a bump sits on the line)",
                          "start from the straight line and minimise path_energy over the "
                          "interior points with Adam")
    return g, z_a, z_b, x_a, x_b


def straight_line(z_a, z_b, n):
    return torch.stack([z_a + (z_b - z_a) * t for t in torch.linspace(0, 1, n)])


def path_case(what, fn, energy, g, z_a, z_b, x_a, x_b, n, steps, lr=0.02):
    """``fn`` from ``z_a`` to ``z_b``: the contract (shape, a frozen generator, the ends kept,
    even spacing); returns the path and the energies of it and of the straight line, measured
    with ``energy``."""
    before = _snapshot(g)
    Z = require_tensor(what, call(what, fn, g, z_a.clone(), z_b.clone(), x_a, x_b, n, steps, lr),
                       (n, len(z_a)),
                       "return all n_points points, endpoints included: [n_points, zdim]")
    _untouched(what, g, before)
    if not (close(Z[0], z_a, atol=1e-6) and close(Z[-1], z_b, atol=1e-6)):
        raise CheckFailed(what, "moved the endpoints",
                          "optimise only the interior points Z[1:-1]; Z[0] = z_A and "
                          "Z[-1] = z_B exactly")
    Z = Z.detach()
    if not bool(torch.isfinite(Z).all()):
        raise CheckFailed(what, "returned NaN or infinite points",
                          "start from the straight line and take Adam steps on the interior "
                          "points with the gradient of path_energy")
    with torch.no_grad():
        u_path = float(energy(g, Z, x_a, x_b))
        u_line = float(energy(g, straight_line(z_a, z_b, n), x_a, x_b))
    seg = (Z[1:] - Z[:-1]).norm(dim=1)
    ratio = float(seg.max() / seg.min().clamp_min(1e-12))
    if not ratio <= 2.0:
        raise CheckFailed(what, f"the points are unevenly spread (longest / shortest segment "
                                f"= {ratio:.1f})",
                          "every few steps, move the points back to equal arc-length spacing "
                          "along the current path (piecewise-linear interpolation)")
    return Z, u_path, u_line


def check_find_path(fn):
    """``find_path`` with your own ``path_energy`` (checked above), whose values also measure
    the path found against the straight line."""
    what = "find_path"
    own = getattr(fn, "__globals__", {}).get("path_energy")
    if own is None:
        raise CheckFailed(what, "needs your path_energy, which is not defined",
                          "run the cell that defines path_energy first")
    run_find_path(fn, lambda *args: call("path_energy", own, *args))
