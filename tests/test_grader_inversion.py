"""Checks of notebook 06 both ways: the reference passes, realistic mistakes fail with a hint."""

from __future__ import annotations

import pytest
import torch

from grader_tests import inversion as checks

from tests.helpers import fails


# ------------------------------------------------------------------------ invert mutants ------
def invert_variant(kind):
    def invert(generator, x, z_init, steps=500, lr=0.05):
        z = z_init if kind == "in_place" else z_init.clone()
        z.requires_grad_(True)
        params = [z] + (list(generator.parameters()) if kind == "updates_g" else [])
        opt = torch.optim.Adam(params, lr=lr)
        history = []
        for _ in range(steps):
            per_image = ((generator(z) - x) ** 2).flatten(1).sum(1)
            loss = per_image.sum()
            if kind == "ascent":
                loss = -loss
            if kind == "batch_norm":
                loss = (generator(z) - x).norm()
            opt.zero_grad()
            if kind in ("plain_backward", "updates_g"):
                loss.backward()
            else:
                (z.grad,) = torch.autograd.grad(loss, [z])
            opt.step()
            history.append(float(per_image.mean()))
        if kind == "in_place":
            z_init.requires_grad_(False)
        out = z if kind == "no_detach" else z.detach()
        return out, torch.tensor(history[: steps - 1] if kind == "short" else history)
    return invert


@pytest.mark.parametrize("kind,match,level", [
    ("updates_g", "changed the generator's weights", "visible"),
    ("plain_backward", "left gradients", "visible"),
    ("in_place", "modified z_init", "visible"),
    ("no_detach", "still requires grad", "visible"),
    ("short", "entries for 500 steps", "visible"),
    ("ascent", "did not decrease", "visible"),
    ("batch_norm", "depends on the other images", "hidden"),
])
def test_invert_mutants_fail(kind, match, level):
    fails(checks.check_invert, invert_variant(kind), match, level=level)


# ------------------------------------------------------------------------ energy mutants ------
def energy_variant(kind):
    def path_energy(generator, Z, x_A, x_B):
        images = generator(Z).flatten(1)
        f = ((images - x_A.flatten()) ** 2).sum(1) + ((images - x_B.flatten()) ** 2).sum(1)
        if kind == "only_a":
            f = 2 * ((images - x_A.flatten()) ** 2).sum(1)
        seg = torch.linalg.norm(Z[1:] - Z[:-1], dim=1)
        if kind == "no_length":
            return f[:-1].sum() / (len(Z) - 1)
        if kind == "squared_length":
            return (f[:-1] * seg ** 2).sum()
        if kind == "left":
            return (f[:-1] * seg).sum()
        if kind == "right":
            return (f[1:] * seg).sum()
        if kind == "mean":
            return (0.5 * (f[1:] + f[:-1]) * seg).mean()
        value = (0.5 * (f[1:] + f[:-1]) * seg).sum()
        if kind == "item":
            return torch.tensor(value.item(), dtype=Z.dtype)
        return value
    return path_energy


@pytest.mark.parametrize("kind,match,level", [
    ("no_length", "no length factor", "visible"),
    ("squared_length", "squared segment lengths", "visible"),
    ("left", "left Riemann sum", "visible"),
    ("right", "right Riemann sum", "visible"),
    ("mean", "averages over segments", "visible"),
    ("item", "not differentiable", "visible"),
    ("only_a", "integral is", "visible"),
])
def test_path_energy_mutants_fail(kind, match, level):
    fails(checks.check_path_energy, energy_variant(kind), match, level=level)


def test_midpoint_rule_is_accepted():
    def midpoint(generator, Z, x_A, x_B):
        mid = (Z[1:] + Z[:-1]) / 2
        images = generator(mid).flatten(1)
        f = ((images - x_A.flatten()) ** 2).sum(1) + ((images - x_B.flatten()) ** 2).sum(1)
        return (f * torch.linalg.norm(Z[1:] - Z[:-1], dim=1)).sum()
    checks.check_path_energy(midpoint, level="hidden")


# ------------------------------------------------------------------------ find_path mutants ---
def find_variant(inversion_reference, kind):
    reference = inversion_reference["find_path"]
    resample = inversion_reference["resample_evenly"]

    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        t = torch.linspace(0, 1, n_points).unsqueeze(1)
        Z = (z_A + t * (z_B - z_A)).clone().requires_grad_(True)
        params = [Z] + (list(generator.parameters()) if kind == "updates_g" else [])
        opt = torch.optim.Adam(params, lr=lr)
        for step in range(steps):
            if kind == "no_length":                    # an energy that ignores segment lengths
                images = generator(Z).flatten(1)
                loss = (((images - x_A.flatten()) ** 2).sum(1) +
                        ((images - x_B.flatten()) ** 2).sum(1)).sum()
            else:
                loss = path_energy(generator, Z, x_A, x_B)  # noqa: F821 - the notebook's
            opt.zero_grad()
            if kind == "updates_g":
                loss.backward()
            else:
                (Z.grad,) = torch.autograd.grad(loss, [Z])
            if kind != "moves_ends":
                Z.grad[0] = 0
                Z.grad[-1] = 0
            opt.step()
            if kind == "moves_ends" and (step + 1) % 10 == 0:
                with torch.no_grad():
                    Z.copy_(resample(Z.detach(), n_points))
        return Z.detach()
    del reference
    return find_path


@pytest.mark.parametrize("kind,match", [
    ("updates_g", "changed the generator's weights"),
    ("moves_ends", "moved the endpoints"),
    ("no_length", "unevenly spread"),
])
def test_find_path_mutants_fail(inversion_reference, kind, match):
    fails(checks.check_find_path, find_variant(inversion_reference, kind), match, level="visible")


# ------------------------------------------------------------------------ devices -------------
def test_lengths_gathered_on_the_cpu_fail_hidden_only():
    def path_energy(generator, Z, x_A, x_B):
        images = generator(Z).flatten(1)
        f = ((images - x_A.flatten()) ** 2).sum(1) + ((images - x_B.flatten()) ** 2).sum(1)
        seg = torch.zeros(len(Z) - 1, dtype=Z.dtype)          # on the CPU
        for k in range(len(Z) - 1):
            seg[k] = torch.linalg.norm(Z[k + 1] - Z[k])
        return (0.5 * (f[1:] + f[:-1]) * seg).sum()

    checks.check_path_energy(path_energy, level="visible")
    error = fails(checks.check_path_energy, path_energy, "creates a tensor on the CPU")
    assert "device=Z.device" in error.hint


def resample_on_the_cpu(Z, n):
    """The reference's resampling with its tensors made on the CPU."""
    seg = torch.linalg.norm(Z[1:] - Z[:-1], dim=1)
    cum = torch.cat([torch.zeros(1, dtype=Z.dtype), torch.cumsum(seg, 0)])
    targets = torch.linspace(0, float(cum[-1]), n, dtype=Z.dtype)
    idx = torch.searchsorted(cum, targets).clamp(1, len(Z) - 1)
    left, right = cum[idx - 1], cum[idx]
    w = ((targets - left) / (right - left).clamp_min(1e-12)).unsqueeze(1)
    out = Z[idx - 1] + w * (Z[idx] - Z[idx - 1])
    out[0], out[-1] = Z[0], Z[-1]
    return out


def find_path_on(line_device, resample):
    """The reference's optimiser; ``line_device(z_A)`` is where the straight line is made."""
    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        t = torch.linspace(0, 1, n_points, dtype=z_A.dtype, device=line_device(z_A))
        interior = (z_A + t.unsqueeze(1) * (z_B - z_A))[1:-1].clone().requires_grad_(True)
        optimizer = torch.optim.Adam([interior], lr=lr)
        for step in range(1, steps + 1):
            path = torch.cat([z_A[None], interior, z_B[None]])
            (interior.grad,) = torch.autograd.grad(path_energy(generator, path, x_A, x_B),  # noqa: F821
                                                   [interior])
            optimizer.step()
            if step % 10 == 0 or step == steps:
                with torch.no_grad():
                    path = torch.cat([z_A[None], interior, z_B[None]])
                    interior.copy_(resample(path, n_points)[1:-1])
        return torch.cat([z_A[None], interior.detach(), z_B[None]])
    return find_path


@pytest.mark.parametrize("where", ["line", "resampling"])
def test_paths_made_on_the_cpu_fail_hidden_only(inversion_reference, where):
    """Checked on the stand-in (resampling reads float(length), which meta tensors lack)."""
    on_the_cpu = lambda z: "cpu"                                       # noqa: E731
    own = lambda z: z.device                                           # noqa: E731
    mutant = find_path_on(on_the_cpu, inversion_reference["resample_evenly"]) if where == "line" \
        else find_path_on(own, resample_on_the_cpu)
    checks.check_find_path(mutant, level="visible")
    error = fails(checks.check_find_path, mutant, "creates a tensor on the CPU")
    assert "device=z_A.device" in error.hint
    checks.check_find_path(find_path_on(own, inversion_reference["resample_evenly"]), level="hidden")
