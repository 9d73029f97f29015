"""Checks for notebook 04 (GAN): staff side.

``level="visible"`` runs the student-side check of :mod:`dgm.checks.gan` (the layers with weights
of the tables, in order, the initialisation, and ``forward`` with fixed weights against recorded
outputs); ``"hidden"`` runs it, then the grading checks: ``forward`` against a reference forward
pass built from the *student's own layers with weights*, with their own initial weights (inputs
outside [0, 1], another zdim), labels on the logits' device, and codes on the device asked for.
Activations, pooling and upsampling are judged by what ``forward`` computes: modules, shared
modules and functions (``F.relu``) are all fine. :func:`record` gives the values the visible checks
compare with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgm.checks import gan as visible
from dgm.checks.gan import DNET_TABLE, check_layers, gnet_table  # noqa: F401
from grader_tests import symbolic
from grader_tests._core import CheckFailed, call, close, generator, require_tensor


# ------------------------------------------------------------------------ references ----------
def _same(h):
    return h


def _reference_d(found, x, *, act=F.relu, skip=(), pool=F.max_pool2d, sigmoid=False):
    """The table's discriminator on its layers with weights ``found``; the keywords give the
    usual mistakes (another activation, activation ``k`` left out, another pooling, a sigmoid)."""
    c1, c2, c3, lin = found
    acts = [_same if k in skip else act for k in range(3)]
    h = pool(acts[0](c1(x)), 2, 2)
    h = pool(acts[1](c2(h)), 2, 2)
    h = acts[2](c3(h)).flatten(1)
    out = lin(h)
    return torch.sigmoid(out) if sigmoid else out


def dnet_values(found, x) -> dict[str, torch.Tensor]:
    """The right output and those of :data:`dgm.checks.gan.DNET_MISTAKES`."""
    return {
        "ref": _reference_d(found, x),
        "probabilities": _reference_d(found, x, sigmoid=True),
        "no_relu": _reference_d(found, x, skip=(0, 1, 2)),
        "no_relu1": _reference_d(found, x, skip=(0,)),
        "no_relu2": _reference_d(found, x, skip=(1,)),
        "no_relu3": _reference_d(found, x, skip=(2,)),
        "avg_pool": _reference_d(found, x, pool=F.avg_pool2d),
        "leaky": _reference_d(found, x, act=lambda h: F.leaky_relu(h, 0.2)),
        "leaky_default": _reference_d(found, x, act=F.leaky_relu),
    }


def _reference_g(found, z, *, slope=0.2, act=None, skip=(), conv_before_up=False,
                 channels_last=False, mode="nearest"):
    """The table's generator on its layers with weights ``found``; the keywords give the usual
    mistakes."""
    lin, c1, c2, c3 = found
    a = act or (lambda h: F.leaky_relu(h, slope))
    acts = [_same if k in skip else a for k in range(3)]

    def up(h):
        return F.interpolate(h, scale_factor=2.0, mode=mode)

    h = acts[0](lin(z))
    h = h.view(-1, 7, 7, 32).permute(0, 3, 1, 2) if channels_last else h.view(-1, 32, 7, 7)
    if conv_before_up:
        h = up(acts[1](c1(h)))
        h = up(acts[2](c2(h)))
    else:
        h = acts[1](c1(up(h)))
        h = acts[2](c2(up(h)))
    return torch.sigmoid(c3(h))


def gnet_values(found, z) -> dict[str, torch.Tensor]:
    """The right output and those of :data:`dgm.checks.gan.GNET_MISTAKES`."""
    return {
        "ref": _reference_g(found, z),
        "slope_default": _reference_g(found, z, slope=0.01),
        "relu": _reference_g(found, z, act=F.relu),
        "no_act": _reference_g(found, z, skip=(0, 1, 2)),
        "no_act1": _reference_g(found, z, skip=(0,)),
        "no_act2": _reference_g(found, z, skip=(1,)),
        "no_act3": _reference_g(found, z, skip=(2,)),
        "conv_before_up": _reference_g(found, z, conv_before_up=True),
        "channels_last": _reference_g(found, z, channels_last=True),
        "bilinear": _reference_g(found, z, mode="bilinear"),
    }


def _table_layers(table, seed):
    """The layers with weights of a table, with the fixed weights the visible check gives the
    student's."""
    found = [kind(**args) for kind, args in visible.weighted_rows(table)]
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
    zdim = visible.GNET_ZDIM
    d, g, real, z = visible.loss_setup()
    return {
        "dnet": dnet_values(_table_layers(DNET_TABLE, visible.DNET_WEIGHTS_SEED),
                            visible.dnet_input()),
        "gnet": gnet_values(_table_layers(gnet_table(zdim), visible.GNET_WEIGHTS_SEED),
                            visible.gnet_input(zdim)),
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
    out = call(what, net, x)
    values = dnet_values(found, x)
    if not close(out, values["ref"], atol=1e-5):
        visible.explain_forward(what, net, out, values, visible.DNET_MISTAKES, DNET_TABLE,
                                visible.DNET_FORWARD, visible.DNET_ORDER_HINT)
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
    table = gnet_table(visible.GNET_ZDIM)
    net, found = visible.build(what, cls, table, visible.GNET_ZDIM)
    z = visible.gnet_input(visible.GNET_ZDIM)
    out = call(what, net, z)
    values = gnet_values(found, z)
    if not close(out, values["ref"], atol=1e-5):
        visible.explain_forward(what, net, out, values, visible.GNET_MISTAKES, table,
                                visible.GNET_FORWARD, visible.GNET_ORDER_HINT, pixels=True)
    net8 = call(what, cls, 8)
    try:
        found8 = check_layers(what, net8, gnet_table(8))
    except CheckFailed as e:
        raise CheckFailed(what, f"GNet(8) is wrong ({e.problem}): is zdim hard-coded?",
                          "use the zdim argument for the first layer's input size") from None
    z8 = torch.rand(2, 8, generator=generator(2)) * 2 - 1
    if not close(call(what, net8, z8), _reference_g(found8, z8), atol=1e-5):
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
    what = "sample_z"
    visible.check_sample_z(fn)
    if level != "hidden":
        return
    # The codes must be made on the device asked for (the meta device stands in for a GPU).
    hint = ("create the codes on the device asked for: pass device=device to torch.rand "
            "(torch.rand(n, zdim, device=device)); codes made on the CPU break training on a GPU")
    try:
        z = call(what, fn, 3, 5, torch.device("meta"))
    except CheckFailed as e:
        raise CheckFailed(what, f"fails when asked for codes on another device ({e.problem})",
                          hint) from None
    z = require_tensor(what, z, (3, 5), "return [n, zdim]")
    if z.device.type != "meta":
        raise CheckFailed(what, f"returned codes on the {z.device.type} device when asked for "
                                "another device (meta)", hint)
