"""Checks for notebook 04 (GAN): staff side.

``level="visible"`` runs the student-side check of :mod:`dgm.checks.gan` (the layers with weights
of the tables, in order, the initialisation, and ``forward`` with fixed weights against recorded
outputs); ``"hidden"`` runs it, then the grading checks: ``forward`` against a reference forward
pass built from the *student's own layers with weights*, with their own initial weights (inputs
outside [0, 1], another zdim), labels on the logits' device, and codes on the device asked for.
Activations, pooling and upsampling are judged by what ``forward`` computes: modules, shared
modules and functions (``F.relu``) are all fine. :func:`record` gives the values the visible checks
compare with.

The hidden checks of the losses and the prior also judge inputs drawn at grading time (a seed
taken when they run), which no recorded answer knows: networks with other weights and batches of
other sizes, compared with the reference on the same inputs, value and gradient (the
discriminator's loss reaches the discriminator and not the generator, the generator's loss the
generator); a discriminator that looks at the whole batch (:class:`SpreadD`), so that real and
generated images must go through it in separate calls; codes of another shape, new on each call,
each coordinate uniform on its own. The device checks run on meta tensors, or on the stand-in
where meta tensors cannot run the code (``.item()``, ``torch.distributions``): only tensors on
two devices count (:func:`dgm.checks.common.on_another_device`).
"""

from __future__ import annotations

import copy
import sys

import torch
import torch.nn.functional as F
from torch import nn

from dgm.checks import gan as visible
from dgm.checks.gan import DNET_TABLE, check_layers, gnet_table  # noqa: F401
from grader_tests import randomised, written_answers
from grader_tests.grading_inputs import grading_seed, on_fresh_inputs
from dgm.checks.common import (GLOBAL_DEVICE, OTHER_DEVICE, CheckFailed, call, close, generator,
                               on_another_device, require_tensor)


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
    written_answers.check_expression(
        "(b) optimal discriminator", answer, G.OPTIMAL_D, [G.a, G.b],
        hint="maximise a*log(D) + b*log(1 - D) over D: set the derivative a/D - b/(1-D) to 0")


def check_cost_at_optimum(answer):
    G = _answers()
    written_answers.check_expression(
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
class SpreadD(nn.Module):
    """A discriminator whose logits depend on the whole batch it is called on: a linear score of
    each flattened 2x2 image plus a multiple of the batch's spread (each pixel's standard
    deviation over the batch, averaged), like the FC GAN's minibatch-spread feature
    (``dgm.gan_networks.MinibatchStd``). Calling it on real and generated images together changes it."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.spread = nn.Parameter(torch.tensor(4.0))

    def forward(self, x):
        h = x.reshape(len(x), -1)
        spread = (h.var(0, unbiased=False) + 1e-8).sqrt().mean()
        return self.lin(h) + self.spread * spread


def fresh_loss_setup(seed: int, spread: bool = False):
    """The losses' tiny networks with weights drawn from ``seed`` (the discriminator a
    :class:`SpreadD` with ``spread``), and real images and codes for a batch of 7 to 11."""
    g_ = generator(seed)
    d, g = (SpreadD() if spread else visible._TinyD()), visible._TinyG()
    with torch.no_grad():
        d.lin.weight.copy_(torch.randn(1, 4, generator=g_))
        d.lin.bias.copy_(torch.randn(1, generator=g_) * 0.5)
        g.lin.weight.copy_(torch.randn(4, 3, generator=g_))
        g.lin.bias.copy_(torch.randn(4, generator=g_) * 0.5)
    n = 7 + int(torch.randint(0, 5, (1,), generator=g_))
    real = torch.rand(n, 1, 2, 2, generator=g_)
    if spread:           # real images brighter and more alike than the generated ones
        real = 0.75 + 0.25 * real
    z = torch.rand(n, 3, generator=g_) * 2 - 1
    return d, g, real, z


def joint_d_loss(d, g, real, z):
    """What the loss is when real and generated images go through D in one call."""
    logits = d(torch.cat([real, g(z)]))
    return _bce(logits[:len(real)], 1) + _bce(logits[len(real):], 0)


def spread_setup(seed: int):
    """:func:`fresh_loss_setup` with a :class:`SpreadD`, drawn again (from seeds derived from
    ``seed``) until one call on both batches gives a loss clearly apart from two calls (the two
    changes of the spread can cancel)."""
    for k in range(100):
        d, g, real, z = fresh_loss_setup(seed + 7919 * k, spread=True)
        with torch.no_grad():
            gap = float((d_loss_values(d, g, real, z)["ref"] - joint_d_loss(d, g, real, z)).abs())
        if gap >= 0.02:
            break
    return d, g, real, z


def _reference_gradient(loss, d, g, wrt: str):
    """The gradient of the reference ``loss(d, g)``, taken on copies of the networks, with
    respect to the parameters of ``wrt`` (``"d"`` or ``"g"``)."""
    d, g = copy.deepcopy(d), copy.deepcopy(g)
    return torch.autograd.grad(loss(d, g), list((d if wrt == "d" else g).parameters()))


def _same_gradient(what, net, reference, whose: str, hint: str) -> None:
    got = [p.grad for p in net.parameters()]
    if not all(a is not None and close(a, b, atol=1e-5, rtol=1e-4)
               for a, b in zip(got, reference)):
        raise CheckFailed(what, f"gives {whose} a wrong gradient (or NaN), though the value is "
                                "right", hint)


def _not_shipped(what, out, values, name) -> None:
    """Fail a value that is the visible check's recorded answer for other inputs."""
    shipped = visible.expected(visible.NOTEBOOK, name)["ref"]
    if not close(out, values["ref"], atol=1e-5) and close(out, shipped, atol=1e-5):
        raise CheckFailed(what, "returns the value of the visible check's inputs for other "
                                "networks and batches",
                          "compute the loss from the networks and the batch it is given")


LABELS_HINT = ("create the labels on the logits' device: torch.ones_like(logits) / "
               "torch.zeros_like(logits), or torch.ones(n, 1, device=logits.device)")
_D_LOSS_FORMULA = ("return BCE[D(real), 1] + BCE[D(G(z).detach()), 0] computed from the logits "
                   "(nn.BCEWithLogitsLoss), and nothing else")


def check_d_loss(fn, level: str = "visible"):
    what = "d_loss"
    visible.run_d_loss(fn)
    if level != "hidden":
        return
    seed = grading_seed()
    with on_fresh_inputs(seed):
        # Networks and batches drawn at grading time: the value, and the gradient that reaches
        # the discriminator (and not the generator).
        d, g, real, z = fresh_loss_setup(seed)
        out = require_tensor(what, call(what, fn, d, g, real, z), (), "return a scalar tensor")
        with torch.no_grad():
            values = d_loss_values(d, g, real, z)
        _not_shipped(what, out, values, "d_loss")
        visible.diagnose_d_loss(what, out, values)
        reference = _reference_gradient(
            lambda d2, g2: _bce(d2(real), 1) + _bce(d2(g2(z).detach()), 0), d, g, "d")
        visible.d_loss_trains(what, fn, d, g, real, z)
        _same_gradient(what, d, reference, "the discriminator", _D_LOSS_FORMULA)
        # A discriminator that looks at the whole batch (as the FC GAN's does): the real and the
        # generated batch must go through it in separate calls.
        d, g, real, z = spread_setup(seed)
        out = require_tensor(what, call(what, fn, d, g, real, z), (), "return a scalar tensor")
        with torch.no_grad():
            ref, joint = d_loss_values(d, g, real, z)["ref"], joint_d_loss(d, g, real, z)
        separately = ("call d_net once on the real batch and once on the generated batch: "
                      "d_net(real) and d_net(g_net(z).detach()), not d_net(torch.cat([real, "
                      "fake])); a discriminator may look at the whole batch it is given")
        if not close(out, ref, atol=1e-5):
            if close(out, joint, atol=1e-5):
                raise CheckFailed(what, "passes the real and the generated images through the "
                                        "discriminator in one call: with a discriminator that "
                                        "looks at the whole batch (the FC GAN's minibatch-spread "
                                        "feature) the real batch then shows the spread of the "
                                        "mixture", separately)
            raise CheckFailed(what, f"with a discriminator whose output depends on the whole "
                                    f"batch (as the FC GAN's minibatch-spread feature does) it "
                                    f"returned {float(out.detach()):.5f}, expected "
                                    f"{float(ref):.5f}", separately)
    randomised.check("d_loss", fn, sys.modules[__name__])
    # The networks and batches on another device than the CPU (a GPU): labels made with
    # torch.ones(n, 1) are on the CPU. On meta tensors first, on the stand-in where meta tensors
    # cannot run the loss (a print of loss.item()); only tensors on two devices count.
    on_another_device(what, fn, *visible.loss_setup(), hint=LABELS_HINT)


def check_g_loss(fn, level: str = "visible"):
    what = "g_loss"
    visible.run_g_loss(fn)
    if level != "hidden":
        return
    seed = grading_seed()
    with on_fresh_inputs(seed):
        # Networks and codes drawn at grading time: the value, and the gradient that reaches
        # the generator.
        d, g, _, z = fresh_loss_setup(seed)
        out = require_tensor(what, call(what, fn, d, g, z), (), "return a scalar tensor")
        with torch.no_grad():
            values = g_loss_values(d, g, z)
        _not_shipped(what, out, values, "g_loss")
        visible.diagnose_g_loss(what, out, values)
        reference = _reference_gradient(lambda d2, g2: _bce(d2(g2(z)), 1), d, g, "g")
        visible.g_loss_trains(what, fn, d, g, z)
        _same_gradient(what, g, reference, "the generator",
                       "return BCE[D(G(z)), 1] computed from the logits (nn.BCEWithLogitsLoss), "
                       "and nothing else")
    randomised.check("g_loss", fn, sys.modules[__name__])
    d, g, _, z = visible.loss_setup()
    on_another_device(what, fn, d, g, z, hint=LABELS_HINT)


def check_sample_z(fn, level: str = "visible"):
    what = "sample_z"
    visible.check_sample_z(fn)
    if level != "hidden":
        return
    # Another shape, drawn at grading time: every coordinate uniform on [-1, 1] on its own,
    # and new codes on each call.
    seed = grading_seed()
    g_ = generator(seed)
    n, zdim = 3000 + int(torch.randint(0, 1000, (1,), generator=g_)), \
        6 + int(torch.randint(0, 5, (1,), generator=g_))
    with on_fresh_inputs(seed):
        z = require_tensor(what, call(what, fn, n, zdim), (n, zdim), "return [n, zdim]")
        visible.describe_codes(what, z)
        again = require_tensor(what, call(what, fn, n, zdim), (n, zdim), "return [n, zdim]")
        if close(z, again, atol=0, rtol=0):
            raise CheckFailed(what, "returns the same codes on every call",
                              "draw new codes on each call: torch.rand(n, zdim, device=device), "
                              "without fixing a seed or keeping codes between calls")
        z = z.detach().to("cpu", torch.float64)
        mean, var = z.mean(0), z.var(0)
        if not (float((mean.abs()).max()) <= 0.07 and float((var - 1 / 3).abs().max()) <= 0.045):
            raise CheckFailed(what, "some coordinates are not uniform on [-1, 1] over the codes "
                                    f"(per-coordinate means from {float(mean.min()):.3f} to "
                                    f"{float(mean.max()):.3f}, variances from "
                                    f"{float(var.min()):.3f} to {float(var.max()):.3f})",
                              "draw every entry of the [n, zdim] tensor on its own: "
                              "2 * torch.rand(n, zdim, device=device) - 1")
        corr = torch.corrcoef(z.T) - torch.eye(zdim, dtype=z.dtype)
        if not float(corr.abs().max()) <= 0.12:
            raise CheckFailed(what, f"the coordinates of a code are correlated (up to "
                                    f"{float(corr.abs().max()):.2f})",
                              "draw every entry of the [n, zdim] tensor on its own: "
                              "2 * torch.rand(n, zdim, device=device) - 1")
        shares = torch.histc(z, bins=10, min=-1, max=1) / z.numel()
        if not float((shares - 0.1).abs().max()) <= 0.015:
            raise CheckFailed(what, "the codes are not uniform on [-1, 1]: the shares of the ten "
                                    "bins of width 0.2 run from "
                                    f"{float(shares.min()):.3f} to {float(shares.max()):.3f}, "
                                    "not 0.1 each",
                              "draw uniformly and rescale: 2 * torch.rand(n, zdim, "
                              "device=device) - 1")
    # The codes must be made on the device asked for (a GPU's rules, on meta tensors or on the
    # stand-in where meta tensors cannot run the sampler, e.g. torch.distributions.Uniform).
    hint = ("create the codes on the device asked for: pass device=device to torch.rand "
            "(torch.rand(n, zdim, device=device)); codes made on the CPU break training on a GPU")
    randomised.check("sample_z", fn, sys.modules[__name__])
    out = on_another_device(what, fn, 3, 5, OTHER_DEVICE, hint=hint, returns=False)
    if out is None:
        return
    out = require_tensor(what, out, (3, 5), "return [n, zdim]")
    if out.device.type != OTHER_DEVICE.type:
        raise CheckFailed(what, f"returned codes on the {out.device.type} device when asked for "
                                f"another device ({OTHER_DEVICE.type})", f"{hint}. {GLOBAL_DEVICE}")
