"""Notebook 06's hidden checks test the task, both ways: the reference and other correct code
pass, code that does not do the task fails with a hint.

* ``find_path``: a fixed detour between the ends that never asks the generator (it passes the
  visible check, whose bump always lies on the same side) fails on new ends and generators drawn
  at grading time, with the bump on either side and without one, measured with the reference
  energy against the straight line and the reference's own path.
* ``invert`` must reconstruct the images through the generator it is given, ``path_energy`` must
  integrate along curves it has not seen: the recorded answers of the visible checks
  (``dgm/checks/expected.pt``, shipped) earn nothing.
* NaN never passes a comparison.
"""

from __future__ import annotations

import math

import pytest
import torch

from dgm.checks import common, inversion as visible
from grader_tests import inversion
from dgm.checks.common import CheckFailed
from tests import judge_harness
from tests.helpers import fails


def _seed(monkeypatch, seed):
    from grader_tests import randomised

    for module in (inversion, randomised):
        monkeypatch.setattr(module, "grading_seed", lambda: seed)


# ------------------------------------------------------------------------ find_path -----------
def detour(amplitude):
    """A fixed sine detour, to the right of the direction from z_A to z_B (``amplitude`` < 0:
    to the left), that never calls the generator."""
    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        t = torch.linspace(0, 1, n_points, dtype=z_A.dtype, device=z_A.device).unsqueeze(1)
        d = z_B - z_A
        normal = torch.stack([d[1], -d[0]]) / d.norm()
        return z_A + t * d + amplitude * torch.sin(math.pi * t) * normal
    return find_path


def side_away_from_the_bump(generator, z_A, z_B):
    """+1 for the right of the direction from z_A to z_B, -1 for the left: the side where the
    generator's last pixel is lower, probed once, 0.2 from the middle of the line."""
    d = z_B - z_A
    normal = torch.stack([d[1], -d[0]]) / d.norm()
    mid = (z_A + z_B) / 2
    probe = generator(torch.stack([mid + 0.2 * normal, mid - 0.2 * normal])).flatten(1)
    return 1.0 if float(probe[0, -1]) < float(probe[1, -1]) else -1.0


@pytest.mark.parametrize("amplitude", [0.15, 0.3, 0.5])
def test_a_fixed_detour_passes_the_visible_check_only(amplitude):
    inversion.check_find_path(detour(amplitude), level="visible")
    error = fails(inversion.check_find_path, detour(amplitude), "does not depend on the generator")
    assert "drawn at grading time" in str(error)


def _reference_path_for_one_side(inversion_reference):
    """The reference's optimiser, run for the visible bump's generator whatever it is given."""
    own = inversion_reference["find_path"]
    seen = visible.BumpG()

    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        x_A, x_B = seen(z_A[None]).detach()[0], seen(z_B[None]).detach()[0]
        return own(seen, z_A, z_B, x_A, x_B, n_points, steps, lr)
    return find_path


def test_a_path_found_for_another_generator_fails(inversion_reference):
    """Optimised honestly, but for the visible check's generator, not the one given."""
    fn = _reference_path_for_one_side(inversion_reference)
    inversion.check_find_path(fn, level="visible")
    fails(inversion.check_find_path, fn)


def test_a_detour_on_the_side_away_from_the_bump_fails_without_a_bump(monkeypatch):
    """The side chosen by probing the generator once (the bump's side), amplitude fixed: right
    for bumps, but not the shortest path where there is no bump."""
    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        side = side_away_from_the_bump(generator, z_A, z_B)
        return detour(0.3 * side)(generator, z_A, z_B, x_A, x_B, n_points)

    inversion.check_find_path(find_path, level="visible")
    for seed in (5, 77, 123456):
        _seed(monkeypatch, seed)
        fails(inversion.check_find_path, find_path, "without a bump")


def test_a_path_that_barely_avoids_the_bump_fails(monkeypatch, inversion_reference):
    """Right on the visible ends (the reference's path); elsewhere a detour of 0.03 on the side
    away from the bump (so it depends on the generator), where minimising gains far more."""
    own = inversion_reference["find_path"]

    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        if torch.equal(torch.stack([z_A, z_B]), torch.tensor([[-1.0, 0.0], [1.0, 0.0]])):
            return own(generator, z_A, z_B, x_A, x_B, n_points, steps, lr)
        side = side_away_from_the_bump(generator, z_A, z_B)
        return detour(0.03 * side)(generator, z_A, z_B, x_A, x_B, n_points)

    inversion.check_find_path(find_path, level="visible")
    for seed in (5, 77):
        _seed(monkeypatch, seed)
        error = fails(inversion.check_find_path, find_path, "minimising the energy reaches")
        assert "drawn at grading time" in str(error)


@pytest.mark.parametrize("seed", [3, 4242, 2 ** 31 - 1])
def test_the_reference_passes_fresh_generators(monkeypatch, inversion_reference, seed):
    _seed(monkeypatch, seed)
    inversion.check_find_path(inversion_reference["find_path"], level="hidden")


def test_the_fresh_cases_need_the_generator():
    """Without a bump the straight line is the reference's answer; with it the reference gains
    clearly, on the side away from the bump (so the two mirrored answers differ)."""
    for seed in (1, 99, 31337):
        z_a, z_b, bumps, flat = inversion.fresh_bumps(seed)
        found = []
        for g in (*bumps, flat):
            x_a, x_b = g(z_a[None]).detach()[0], g(z_b[None]).detach()[0]
            Z = inversion.reference_find_path(g, z_a, z_b, x_a, x_b, inversion.FRESH_POINTS,
                                          inversion.FRESH_STEPS)
            line = visible.straight_line(z_a, z_b, inversion.FRESH_POINTS)
            with torch.no_grad():
                found.append((Z, float(inversion.reference_energy(g, Z, x_a, x_b)),
                              float(inversion.reference_energy(g, line, x_a, x_b))))
        assert all(u <= 0.7 * line for _, u, line in found[:2])
        assert found[2][1] <= 1.0001 * found[2][2]
        assert not common.close(found[0][0], found[1][0], atol=0.05)


def test_a_fixed_detour_fails_through_the_judge(inversion_reference):
    ns = {"find_path": detour(0.3), "path_energy": inversion_reference["path_energy"]}
    assert judge_harness.judged(ns, inversion, "checks.check_find_path(find_path)") is None
    error = judge_harness.judged(ns, inversion, 'checks.check_find_path(find_path, level="hidden")')
    assert isinstance(error, CheckFailed) and "depend on the generator" in str(error), error


def test_nan_points_fail(inversion_reference):
    own = inversion_reference["find_path"]

    def find_path(generator, z_A, z_B, x_A, x_B, n_points=16, steps=300, lr=0.02):
        Z = own(generator, z_A, z_B, x_A, x_B, n_points, steps, lr).clone()
        Z[1:-1] = float("nan")
        return Z
    fails(inversion.check_find_path, find_path, "NaN", level="visible")


# ------------------------------------------------------------------------ invert --------------
def invert_known_answer(generator, x, z_init, steps=500, lr=0.05):
    """The visible check's codes (its recipe is public) for its images, z_init elsewhere; a
    loss history that decreases; the generator never called."""
    from dgm.checks.common import generator as seeded

    z_true = torch.rand(3, 3, generator=seeded(1)) * 2 - 1
    out = z_true[:len(x)].clone() if len(x) <= 3 and tuple(z_init.shape[1:]) == (3,) and \
        bool((z_init == 0).all()) else z_init.clone()
    return out, torch.linspace(1, 0, steps)


def test_an_invert_that_does_not_reconstruct_passes_the_visible_check_only():
    inversion.check_invert(invert_known_answer, level="visible")
    error = fails(inversion.check_invert, invert_known_answer, "squared error")
    assert "drawn at grading time" in str(error)


@pytest.mark.parametrize("seed", [8, 1000003])
def test_the_reference_inverts_fresh_generators(monkeypatch, inversion_reference, seed):
    _seed(monkeypatch, seed)
    inversion.check_invert(inversion_reference["invert"], level="hidden")


def _invert_variant(reduce_history="mean", reduce_grad="sum", after=False):
    """The task's invert with one choice changed: how the history reduces the per-image errors
    ("mean" over images, "sum", "pixel_mean"), how the gradient's loss reduces, and whether the
    loss is recorded after the update."""
    def invert(generator, x, z_init, steps=500, lr=0.05):
        z = z_init.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        history = []
        for _ in range(steps):
            per_pixel = ((generator(z) - x) ** 2).flatten(1)
            loss = per_pixel.sum(1)
            (grad,) = torch.autograd.grad(getattr(loss, reduce_grad)(), [z])
            z.grad = grad
            opt.step()
            if after:
                with torch.no_grad():
                    loss = ((generator(z) - x) ** 2).flatten(1).sum(1)
            value = {"mean": loss.mean(), "sum": loss.sum(),
                     "pixel_mean": per_pixel.mean()}[reduce_history]
            history.append(float(value.detach()))
        return z.detach(), torch.tensor(history)
    return invert


@pytest.mark.parametrize("variant", [dict(reduce_grad="mean"), dict()],
                         ids=["gradient_of_the_mean", "as_the_task_says"])
def test_invert_histories_as_the_task_says_pass(monkeypatch, variant):
    _seed(monkeypatch, 4242)
    inversion.check_invert(_invert_variant(**variant), level="hidden")


@pytest.mark.parametrize("variant,match", [
    (dict(reduce_history="sum"), "summed over the batch"),
    (dict(reduce_history="pixel_mean"), "averaged over the pixels"),
    (dict(after=True), "after the k-th update"),
], ids=["summed_over_images", "averaged_over_pixels", "recorded_after_the_update"])
def test_a_wrong_loss_history_fails(monkeypatch, variant, match):
    _seed(monkeypatch, 4242)
    fn = _invert_variant(**variant)
    inversion.check_invert(fn, level="visible")
    error = fails(inversion.check_invert, fn, match)
    assert "drawn at grading time" in str(error)


def test_nan_codes_fail():
    def invert(generator, x, z_init, steps=500, lr=0.05):
        return torch.full_like(z_init, float("nan")), torch.linspace(1, 0, steps)
    fails(inversion.check_invert, invert, "squared error of nan", level="visible")


# ------------------------------------------------------------------------ path_energy ---------
SHIPPED = common.expected("inversion", "path_energy")["exact"]


def energy_shipped(generator, Z, x_A, x_B):
    """The recorded integral of the visible check's curve, whatever the path, with a live term
    that is 0 but has a gradient."""
    images = generator(Z).flatten(1)
    live = ((images - x_A.flatten()) ** 2).sum() + ((images - x_B.flatten()) ** 2).sum()
    return SHIPPED.to(Z.dtype) + live - live.detach()


def energy_midpoint(generator, Z, x_A, x_B):
    mid = (Z[1:] + Z[:-1]) / 2
    images = generator(mid).flatten(1)
    f = ((images - x_A.flatten()) ** 2).sum(1) + ((images - x_B.flatten()) ** 2).sum(1)
    return (f * torch.linalg.norm(Z[1:] - Z[:-1], dim=1)).sum()


def test_the_shipped_integral_passes_the_visible_check_only():
    inversion.check_path_energy(energy_shipped, level="visible")
    error = fails(inversion.check_path_energy, energy_shipped, "the integral is")
    assert "drawn at grading time" in str(error)


@pytest.mark.parametrize("seed", [2, 65537, 2 ** 31 - 1])
@pytest.mark.parametrize("name", ["reference", "midpoint"])
def test_consistent_rules_pass_fresh_curves(monkeypatch, inversion_reference, name, seed):
    _seed(monkeypatch, seed)
    fn = inversion_reference["path_energy"] if name == "reference" else energy_midpoint
    inversion.check_path_energy(fn, level="hidden")


def test_nan_energy_with_a_zero_gradient_fails():
    def path_energy(generator, Z, x_A, x_B):
        return torch.tensor(float("nan"), dtype=Z.dtype) + 0 * Z.sum()
    fails(inversion.check_path_energy, path_energy, "gives nan", level="visible")


def test_an_energy_without_gradient_fails():
    def path_energy(generator, Z, x_A, x_B):
        value = inversion.reference_energy(generator, Z.detach(), x_A, x_B).detach()
        return value + 0 * Z.sum()
    fails(inversion.check_path_energy, path_energy, "gradient is zero", level="visible")


def test_nan_in_the_swapped_call_fails():
    """The symmetry comparison fails on NaN (it used to pass: NaN > tol is False)."""
    x_b = visible.energy_setup()[2]

    def path_energy(generator, Z, x_A, x_B):
        value = inversion.reference_energy(generator, Z, x_A, x_B)
        return value * float("nan") if torch.equal(x_A, x_b) else value
    fails(inversion.check_path_energy, path_energy, "not symmetric")
