"""Checks for notebook 04 (GAN): staff side.

``level="visible"`` runs the student-side check of :mod:`dgm.checks.gan` (the tables as data, the
initialisation, and ``forward`` with fixed weights against recorded outputs); ``"hidden"`` runs it,
then the grading checks: ``forward`` against a reference forward pass built from the *student's
own layers* (inputs outside [0, 1], another zdim) and labels on the logits' device. :func:`record`
gives the values the visible checks compare with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgm.checks import gan as visible
from dgm.checks.gan import DNET_TABLE, check_layers, gnet_table, layers  # noqa: F401
from grader_tests import symbolic
from grader_tests._core import CheckFailed, call, close, generator


# ------------------------------------------------------------------------ references ----------
def _reference_d(found, x):
    c1, _, p1, c2, _, p2, c3, _, lin = found
    h = F.max_pool2d(F.relu(c1(x)), 2, 2)
    h = F.max_pool2d(F.relu(c2(h)), 2, 2)
    h = F.relu(c3(h)).flatten(1)
    return lin(h)


def _reference_g(found, z):
    lin, _, _, c1, _, _, c2, _, c3, _ = found
    h = F.leaky_relu(lin(z), 0.2).view(-1, 32, 7, 7)
    h = F.leaky_relu(c1(F.interpolate(h, scale_factor=2.0)), 0.2)
    h = F.leaky_relu(c2(F.interpolate(h, scale_factor=2.0)), 0.2)
    return torch.sigmoid(c3(h))


def _table_layers(table, seed):
    """The layers of a table, with the fixed weights the visible check gives the student's."""
    found = [kind(**args) for kind, args in table]
    visible.set_parameters(found, seed)
    return found


def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def d_loss_values(d, g, real, z):
    lr, lf = d(real), d(g(z))
    return {
        "ref": _bce(lr, 1) + _bce(lf, 0),
        "halved": (_bce(lr, 1) + _bce(lf, 0)) / 2,
        "summed": F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr), reduction="sum") +
        F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf), reduction="sum"),
        "swapped": _bce(lr, 0) + _bce(lf, 1),
        "double_sigmoid": _bce(torch.sigmoid(lr), 1) + _bce(torch.sigmoid(lf), 0),
        "no_fake": _bce(lr, 1),
    }


def g_loss_values(d, g, z):
    lf = d(g(z))
    return {
        "ref": _bce(lf, 1),
        "saturating": -_bce(lf, 0),
        "label0": _bce(lf, 0),
        "double_sigmoid": _bce(torch.sigmoid(lf), 1),
        "summed": F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf), reduction="sum"),
    }


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.gan` compare with."""
    d_ref = _reference_d(_table_layers(DNET_TABLE, visible.DNET_WEIGHTS_SEED),
                         visible.dnet_input())
    zdim = visible.GNET_ZDIM
    g_ref = _reference_g(_table_layers(gnet_table(zdim), visible.GNET_WEIGHTS_SEED),
                         visible.gnet_input(zdim))
    d, g, real, z = visible.loss_setup()
    return {
        "dnet": {"ref": d_ref, "probabilities": torch.sigmoid(d_ref)},
        "gnet": {"ref": g_ref},
        "d_loss": d_loss_values(d, g, real, z),
        "g_loss": g_loss_values(d, g, z),
    }


# ------------------------------------------------------------------------ written part --------
def _answers():
    from derivations import gan

    return gan


def check_optimal_discriminator(answer):
    G = _answers()
    symbolic.check_expression(
        "(b) optimal discriminator", answer, G.OPTIMAL_D, [G.a, G.b],
        hint="maximise a*log(D) + b*log(1 - D) over D: set the derivative a/D - b/(1-D) to 0")


def check_cost_at_optimum(answer):
    G = _answers()
    symbolic.check_expression(
        "(c) generator cost at D*", answer, G.COST_AT_OPTIMUM, [G.J],
        hint="substitute D* into the value function and add and subtract log 2 inside each "
             "expectation: each becomes a KL to the mixture m = (p_data + p_G)/2")


# ------------------------------------------------------------------------ architecture --------
def check_dnet(cls, level: str = "visible"):
    what = "DNet"
    visible.run_dnet(cls)
    if level == "visible":
        return
    # The student's own initial weights, then inputs outside [0, 1].
    net, found = visible.build(what, cls, DNET_TABLE)
    x = visible.dnet_input()
    if not close(call(what, net, x), _reference_d(found, x), atol=1e-5):
        raise CheckFailed(what, visible.DNET_FORWARD, visible.DNET_ORDER_HINT)
    wide = torch.rand(3, 1, 28, 28, generator=generator(1)) * 40 - 20
    if not close(call(what, net, wide), _reference_d(found, wide), atol=1e-4):
        raise CheckFailed(what, "forward is wrong for inputs outside [0, 1]",
                          "do not clamp or normalise the input inside forward")


def check_gnet(cls, level: str = "visible"):
    what = "GNet"
    visible.run_gnet(cls)
    if level == "visible":
        return
    # The student's own initial weights, then another zdim.
    net, found = visible.build(what, cls, gnet_table(visible.GNET_ZDIM), visible.GNET_ZDIM)
    z = visible.gnet_input(visible.GNET_ZDIM)
    if not close(call(what, net, z), _reference_g(found, z), atol=1e-5):
        raise CheckFailed(what, visible.GNET_FORWARD, visible.GNET_ORDER_HINT)
    net8 = call(what, cls, 8)
    try:
        check_layers(what, net8, gnet_table(8))
    except CheckFailed as e:
        raise CheckFailed(what, f"GNet(8) is wrong ({e.problem}): is zdim hard-coded?",
                          "use the zdim argument for the first layer's input size") from None
    z8 = torch.rand(2, 8, generator=generator(2)) * 2 - 1
    if not close(call(what, net8, z8), _reference_g(layers(net8), z8), atol=1e-5):
        raise CheckFailed(what, "is wrong for zdim = 8", "use the zdim argument for the "
                                                         "first layer's input size")


# ------------------------------------------------------------------------ losses --------------
def _on_meta(what, fn, *args):
    """Run on the meta device: labels made on the CPU (torch.ones(n, 1)) fail here, as they
    would on a GPU."""
    try:
        call(what, fn, *args)
    except CheckFailed as e:
        if "device" in str(e).lower() or "meta" in str(e).lower():
            raise CheckFailed(what, "mixes devices: labels (or other tensors) are created on "
                                    "the CPU while the model's outputs may be on a GPU",
                              "create labels with torch.ones_like(logits) / "
                              "torch.zeros_like(logits), or pass device=logits.device") from None
        raise


def check_d_loss(fn, level: str = "visible"):
    what = "d_loss"
    real, z = visible.run_d_loss(fn)
    if level == "hidden":
        meta_d, meta_g = visible._TinyD().to("meta"), visible._TinyG().to("meta")
        _on_meta(what, fn, meta_d, meta_g, real.to("meta"), z.to("meta"))


def check_g_loss(fn, level: str = "visible"):
    what = "g_loss"
    z = visible.run_g_loss(fn)
    if level == "hidden":
        meta_d, meta_g = visible._TinyD().to("meta"), visible._TinyG().to("meta")
        _on_meta(what, fn, meta_d, meta_g, z.to("meta"))


def check_sample_z(fn, level: str = "visible"):
    visible.check_sample_z(fn)
