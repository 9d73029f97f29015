"""Visible checks of notebook 04 (GAN).

The architecture checks compare your layers with weights (Conv2d, Linear) with the assignment's
tables (type, order of definition, shapes, parameter counts) and check the initialisation; then
they give those layers fixed weights and compare your ``forward`` with the recorded output of the
tables' network for those weights, so that a wrong order of operations, a missing or wrong
activation or pooling is found even when every layer exists. Activations, pooling and upsampling
may be modules (one per row of the table, or one shared) or functions in ``forward``.
The loss checks use tiny deterministic networks, so that values can be compared exactly and
gradients traced. The values compared with were recorded by the course staff; grading runs
further, hidden checks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dgm.checks import written_answers  # noqa: F401 - used by the notebooks
from dgm.checks.common import (CheckFailed, backward, call, close, expected, explain_mismatch,
                               generator, known_mistakes, require_tensor, set_parameters)

NOTEBOOK = "gan"

# ------------------------------------------------------------------------ architecture --------
#: The assignment's tables, row by row, as (type, constructor arguments). What the checks hold a
#: network to:
#:
#: * its layers *with weights* (Conv2d, Linear) are modules defined in ``__init__`` in the order
#:   of the table, with these arguments (their order is the order of the ``state_dict``);
#: * its ``forward`` computes the table's function: activations, pooling and upsampling may be
#:   modules (one per row, or one shared by several rows) or functions (``F.relu``,
#:   ``torch.sigmoid``, ``F.max_pool2d``), as long as the result is the same;
#: * its initialisation (Kaiming-uniform weights, zero biases).
#:
#: Flatten / reshape may be a module or done in ``forward``.
DNET_TABLE = [
    (nn.Conv2d, dict(in_channels=1, out_channels=2, kernel_size=(3, 3), stride=(1, 1),
                     padding=(1, 1))),
    (nn.ReLU, {}),
    (nn.MaxPool2d, dict(kernel_size=2, stride=2)),
    (nn.Conv2d, dict(in_channels=2, out_channels=4, kernel_size=(3, 3), stride=(1, 1),
                     padding=(1, 1))),
    (nn.ReLU, {}),
    (nn.MaxPool2d, dict(kernel_size=2, stride=2)),
    (nn.Conv2d, dict(in_channels=4, out_channels=8, kernel_size=(3, 3), stride=(1, 1),
                     padding=(0, 0))),
    (nn.ReLU, {}),
    (nn.Linear, dict(in_features=200, out_features=1)),
]


def gnet_table(zdim: int):
    return [
        (nn.Linear, dict(in_features=zdim, out_features=1568)),
        (nn.LeakyReLU, dict(negative_slope=0.2)),
        (nn.Upsample, dict(scale_factor=2.0, mode="nearest")),
        (nn.Conv2d, dict(in_channels=32, out_channels=16, kernel_size=(3, 3), stride=(1, 1),
                         padding=(1, 1))),
        (nn.LeakyReLU, dict(negative_slope=0.2)),
        (nn.Upsample, dict(scale_factor=2.0, mode="nearest")),
        (nn.Conv2d, dict(in_channels=16, out_channels=8, kernel_size=(3, 3), stride=(1, 1),
                         padding=(1, 1))),
        (nn.LeakyReLU, dict(negative_slope=0.2)),
        (nn.Conv2d, dict(in_channels=8, out_channels=1, kernel_size=(3, 3), stride=(1, 1),
                         padding=(1, 1))),
        (nn.Sigmoid, {}),
    ]


GNET_ZDIM = 64
#: Seeds of the fixed weights the forward checks give the layers.
DNET_WEIGHTS_SEED, GNET_WEIGHTS_SEED = 3, 4

#: The kinds of layer that hold weights (the rows of a table that must be modules, in order).
WEIGHTED = (nn.Conv2d, nn.Linear)
#: Where PyTorch defines activations, pooling and upsampling (the table's rows without weights).
_ELEMENTARY = ("torch.nn.modules.activation", "torch.nn.modules.pooling",
               "torch.nn.modules.upsampling")


def weighted_rows(table) -> list:
    """The rows of a table whose layer holds weights, in table order."""
    return [(kind, args) for kind, args in table if issubclass(kind, WEIGHTED)]


def layers(module: nn.Module) -> list[nn.Module]:
    """The layers with weights (the leaf modules that hold parameters), in definition order: the
    order in which PyTorch lists them and the ``state_dict`` stores them. A module used several
    times is listed once."""
    return [m for m in module.modules()
            if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]


def _describe(m: nn.Module) -> str:
    return f"{type(m).__name__}({m.extra_repr()})"


def _short(kind, args) -> str:
    """A table row in a few characters: ``Conv2d(2->4, kernel 3, padding 1)``."""
    if issubclass(kind, nn.Conv2d):
        return (f"Conv2d({args['in_channels']}->{args['out_channels']}, kernel "
                f"{args['kernel_size'][0]}, stride {args['stride'][0]}, padding "
                f"{args['padding'][0]})")
    if issubclass(kind, nn.Linear):
        return f"Linear({args['in_features']}->{args['out_features']})"
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{kind.__name__}({shown})"


def _attr(m: nn.Module, name: str):
    value = getattr(m, name, None)
    if name == "scale_factor" and value is not None:
        value = float(value[0] if isinstance(value, tuple) else value)
    if name in ("kernel_size", "stride") and isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        value = value[0] if isinstance(value, tuple) else value
    return value


def _mismatch(m: nn.Module, kind, args):
    """The first ``(argument, found, expected)`` in which ``m`` differs from a table row (its
    type first), or None."""
    if not isinstance(m, kind):
        return ("type", type(m).__name__, kind.__name__)
    for name, value in args.items():
        if _attr(m, name) != value:
            return (name, _attr(m, name), value)
    if issubclass(kind, WEIGHTED) and getattr(m, "bias", None) is None:
        return ("bias", None, "a bias")
    return None


def check_layers(what: str, module: nn.Module, table) -> list[nn.Module]:
    """The network's layers with weights against the table's, in order; returns them."""
    if not isinstance(module, nn.Module):
        raise CheckFailed(what, f"is a {type(module).__name__}, not an nn.Module",
                          "subclass nn.Module and call super().__init__() first")
    rows = weighted_rows(table)
    found = layers(module)
    listed = ", ".join(_short(kind, args) for kind, args in rows)
    order_hint = ("define the layers with weights in __init__ in the order of the table: "
                  f"{listed} (PyTorch lists them, and saves them in the state_dict, in the order "
                  "they are assigned); activations, pooling and upsampling may be modules, shared "
                  "or not, or functions applied in forward")
    for k, (m, (kind, args)) in enumerate(zip(found, rows)):
        wrong = _mismatch(m, kind, args)
        if wrong is None:
            continue
        elsewhere = [j + 1 for j, (kd, a) in enumerate(rows) if _mismatch(m, kd, a) is None]
        if elsewhere:
            raise CheckFailed(what, f"layer with weights {k + 1} is {_describe(m)}, which is "
                                    f"layer {elsewhere[0]} of the table: the layers are defined "
                                    "in another order", order_hint)
        name, got, want = wrong
        if name == "type":
            raise CheckFailed(what, f"layer with weights {k + 1} is {_describe(m)}, expected "
                                    f"{_short(kind, args)}", order_hint)
        if name == "bias":
            raise CheckFailed(what, f"layer with weights {k + 1} ({_describe(m)}) has no bias",
                              "keep the bias (bias=True, the default)")
        raise CheckFailed(what, f"layer with weights {k + 1} ({_describe(m)}) has {name} = "
                                f"{got!r}, expected {want!r}",
                          f"use the sizes of the table for this layer: {_short(kind, args)}")
    if len(found) != len(rows):
        shown = ", ".join(_describe(m) for m in found) or "none"
        raise CheckFailed(what, f"has {len(found)} layers with weights ({shown}), expected "
                                f"{len(rows)}", "define exactly the table's layers with weights, "
                                                f"in order: {listed}, and no other")
    n_params = sum(p.numel() for p in module.parameters())
    n_expected = sum(p.numel() for m in found for p in m.parameters(recurse=False))
    if n_params != n_expected:
        raise CheckFailed(what, f"has {n_params} parameters, but its layers hold {n_expected}",
                          "do not keep extra parameters or modules besides the table's layers")
    return found


def _check_init(what: str, module: nn.Module, found) -> None:
    """Kaiming-uniform weights (a = 0: bound sqrt(6 / fan_in)) and zero biases."""
    for k, m in enumerate(found):
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            continue
        if m.bias is not None and bool((m.bias != 0).any()):
            raise CheckFailed(what, f"layer {k + 1} ({_describe(m)}) has non-zero biases after "
                                    "construction",
                              "in _weight_init, set every bias to zero (nn.init.zeros_) and "
                              "call self._weight_init() at the end of __init__")
        fan_in = m.weight[0].numel()
        bound = math.sqrt(6.0 / fan_in)
        w = m.weight.detach().abs()
        if float(w.max()) > bound * (1 + 1e-5):
            raise CheckFailed(what, f"layer {k + 1} ({_describe(m)}) has weights up to "
                                    f"{float(w.max()):.3f}, above the Kaiming-uniform bound "
                                    f"sqrt(6/fan_in) = {bound:.3f}",
                              "use nn.init.kaiming_uniform_(weight) (uniform, not normal; "
                              "default a = 0)")
        if m.weight.numel() >= 100 and float(w.max()) < 0.75 * bound:
            raise CheckFailed(what, f"layer {k + 1} ({_describe(m)}) has weights only up to "
                                    f"{float(w.max()):.3f}; Kaiming-uniform reaches "
                                    f"sqrt(6/fan_in) = {bound:.3f}",
                              "initialise with nn.init.kaiming_uniform_(weight) in "
                              "_weight_init (PyTorch's default init is 2.4 times narrower)")


def build(what, cls, table, *args):
    """``cls(*args)`` built under seed 0, its layers with weights and initialisation checked."""
    torch.manual_seed(0)
    net = call(what, cls, *args)
    found = check_layers(what, net, table)
    # _weight_init(self), or a method or staticmethod applied with self.apply(...): any callable.
    if not callable(getattr(net, "_weight_init", None)):
        raise CheckFailed(what, "has no _weight_init method", "add _weight_init(self) as asked")
    _check_init(what, net, found)
    return net, found


def module_hint(what: str, net: nn.Module, table) -> None:
    """For a wrong ``forward``: raise if the network holds an activation, pooling or upsampling
    module that no row of the table has (another kind, or other arguments)."""
    rows = [(kind, args) for kind, args in table if not issubclass(kind, WEIGHTED)]
    allowed = ", ".join(dict.fromkeys(_short(kind, args) for kind, args in rows))
    for m in net.modules():
        if list(m.children()) or type(m).__module__ not in _ELEMENTARY:
            continue
        if any(_mismatch(m, kind, args) is None for kind, args in rows):
            continue
        same_kind = [(kind, args) for kind, args in rows if isinstance(m, kind)]
        if same_kind:
            name, got, want = _mismatch(m, *same_kind[0])
            raise CheckFailed(what, f"forward differs from the table's, and it uses "
                                    f"{_describe(m)}: {name} = {got!r}, the table's is {want!r}",
                              f"use {_short(*same_kind[0])} as in the table")
        raise CheckFailed(what, f"forward differs from the table's, and it uses {_describe(m)}, "
                                "which the table does not have (its layers without weights "
                                f"are {allowed})",
                          f"use the table's layers: {allowed} (as modules or as functions)")


def explain_forward(what: str, net: nn.Module, out, values, mistakes, table, problem: str,
                    hint: str, pixels: bool = False, atol: float = 1e-5) -> None:
    """Raise for a ``forward`` whose output ``out`` differs from ``values["ref"]``: the known
    mistake it matches; else, for images (``pixels``), values outside [0, 1]; else an activation,
    pooling or upsampling module the table does not have; else ``problem``."""
    known = known_mistakes(values, mistakes)
    if not any(close(out, candidate, atol=atol) for candidate, _, _ in known):
        if pixels and (bool((out < 0).any()) or bool((out > 1).any())):
            raise CheckFailed(what, "outputs leave [0, 1]",
                              "end with a sigmoid (nn.Sigmoid(), or torch.sigmoid): MNIST pixels "
                              "are in [0, 1]")
        module_hint(what, net, table)
    explain_mismatch(what, out, known, problem, hint, atol=atol)


def dnet_input():
    return torch.rand(5, 1, 28, 28, generator=generator(0))


DNET_FORWARD = ("forward differs from conv-ReLU-pool, conv-ReLU-pool, conv-ReLU, flatten, "
                "linear with the same weights")
DNET_ORDER_HINT = ("apply the layers in the order of the table; flatten with x.flatten(1) "
                   "(keep the batch dimension)")

_RELU_AFTER = ("apply a ReLU (nn.ReLU(), or F.relu) right after each of the three "
               "convolutions, before pooling")
#: The usual mistakes of ``DNet.forward`` (recorded with the same weights), in the order tried.
DNET_MISTAKES = {
    "probabilities": ("forward returns probabilities (a sigmoid is applied)",
                      "return the logits: BCEWithLogitsLoss applies the sigmoid itself"),
    "no_relu": ("forward applies no ReLU", _RELU_AFTER),
    "no_relu1": ("there is no ReLU after the first convolution", _RELU_AFTER),
    "no_relu2": ("there is no ReLU after the second convolution", _RELU_AFTER),
    "no_relu3": ("there is no ReLU after the third convolution", _RELU_AFTER),
    "avg_pool": ("the pooling averages; the table's pooling is MaxPool2d(2, 2)",
                 "use max pooling: nn.MaxPool2d(2, 2), or F.max_pool2d(x, 2, 2)"),
    "leaky": ("the activations are LeakyReLU(0.2); the table's are ReLU",
              "use nn.ReLU() (or F.relu) in the discriminator"),
    "leaky_default": ("the activations are LeakyReLU; the table's are ReLU",
                      "use nn.ReLU() (or F.relu) in the discriminator"),
}


def run_dnet(cls):
    """The visible contract of DNet; returns the network (with the fixed weights) and its
    layers with weights."""
    what = "DNet"
    net, found = build(what, cls, DNET_TABLE)
    set_parameters(found, DNET_WEIGHTS_SEED)
    out = require_tensor(what, call(what, net, dnet_input()), (5, 1),
                         "return one logit per image: shape [batch, 1]")
    values = expected(NOTEBOOK, "dnet")
    if not close(out, values["ref"], atol=1e-5):
        explain_forward(what, net, out, values, DNET_MISTAKES, DNET_TABLE, DNET_FORWARD,
                        DNET_ORDER_HINT)
    return net, found


def check_dnet(cls):
    run_dnet(cls)


def gnet_input(zdim):
    return torch.rand(4, zdim, generator=generator(0)) * 2 - 1


GNET_FORWARD = ("forward differs from linear, LeakyReLU, reshape (32, 7, 7), "
                "[upsample, conv, LeakyReLU] x 2, conv, sigmoid with the same weights")
GNET_ORDER_HINT = ("apply the layers in the order of the table, upsampling before each of the "
                   "first two convolutions, and reshape with view(-1, 32, 7, 7) (channels first)")

_LEAKY_AFTER = ("apply LeakyReLU(0.2) (nn.LeakyReLU(0.2), or F.leaky_relu(x, 0.2)) after the "
                "linear layer and after each of the first two convolutions")
#: The usual mistakes of ``GNet.forward`` (recorded with the same weights), in the order tried.
GNET_MISTAKES = {
    "slope_default": ("the LeakyReLU has negative_slope = 0.01 (PyTorch's default); the table's "
                      "is 0.2", "use nn.LeakyReLU(0.2), or F.leaky_relu(x, 0.2)"),
    "relu": ("the activations are ReLU; the table's are LeakyReLU(0.2)",
             "use nn.LeakyReLU(0.2), or F.leaky_relu(x, 0.2)"),
    "no_act": ("forward applies no LeakyReLU", _LEAKY_AFTER),
    "no_act1": ("there is no LeakyReLU after the linear layer", _LEAKY_AFTER),
    "no_act2": ("there is no LeakyReLU after the first convolution", _LEAKY_AFTER),
    "no_act3": ("there is no LeakyReLU after the second convolution", _LEAKY_AFTER),
    "conv_before_up": ("forward upsamples after the convolutions; the table upsamples before "
                       "each of the first two convolutions", GNET_ORDER_HINT),
    "channels_last": ("the linear output is reshaped channels last (7, 7, 32)",
                      "reshape with view(-1, 32, 7, 7): channels first"),
    "bilinear": ("the upsampling is bilinear; the table's Upsample is nearest-neighbour "
                 "(the default mode)", "use nn.Upsample(scale_factor=2) (mode 'nearest'), or "
                                       "F.interpolate(x, scale_factor=2)"),
}


def run_gnet(cls):
    what = "GNet"
    table = gnet_table(GNET_ZDIM)
    net, found = build(what, cls, table, GNET_ZDIM)
    set_parameters(found, GNET_WEIGHTS_SEED)
    out = require_tensor(what, call(what, net, gnet_input(GNET_ZDIM)), (4, 1, 28, 28),
                         "reshape the linear output to [batch, 32, 7, 7]; two upsamplings give "
                         "28 x 28; return [batch, 1, 28, 28]")
    values = expected(NOTEBOOK, "gnet")
    if not close(out, values["ref"], atol=1e-5):
        explain_forward(what, net, out, values, GNET_MISTAKES, table, GNET_FORWARD,
                        GNET_ORDER_HINT, pixels=True)
    return net, found


def check_gnet(cls):
    run_gnet(cls)


# ------------------------------------------------------------------------ losses --------------
class _TinyD(nn.Module):
    """A linear discriminator on flattened 2x2 images: logits = x·w + c."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.5, -2.0, 0.5, 1.0]]))
            self.lin.bias.fill_(-0.3)

    def forward(self, x):
        return self.lin(x.reshape(len(x), -1))


class _TinyG(nn.Module):
    def __init__(self, zdim=3):
        super().__init__()
        self.lin = nn.Linear(zdim, 4)
        with torch.no_grad():
            self.lin.weight.copy_(torch.linspace(-1, 1, 4 * zdim).view(4, zdim))
            self.lin.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 2, 2)


def loss_setup():
    d, g = _TinyD(), _TinyG()
    real = torch.rand(6, 1, 2, 2, generator=generator(0))
    z = torch.rand(6, 3, generator=generator(1)) * 2 - 1
    return d, g, real, z


D_LOSS_MISTAKES = {
    "halved": ("the loss is halved (the mean of the two terms)",
               "return BCE[D(x), 1] + BCE[D(G(z)), 0]: the sum of the two means"),
    "summed": ("the loss is summed over the batch",
               "use the mean over the batch (the default reduction)"),
    "swapped": ("the labels are swapped", "real images get label 1, generated images label 0"),
    "double_sigmoid": ("a sigmoid is applied before BCEWithLogitsLoss (twice in total)",
                       "pass the logits D(x) straight to BCEWithLogitsLoss"),
    "no_fake": ("the fake term is missing", "add BCE[D(G(z)), 0]"),
}


def diagnose_d_loss(what, out, values) -> None:
    """Raise unless ``out`` is ``values["ref"]``: the known mistake it matches, else its value."""
    ref = values["ref"]
    if close(out, ref, atol=1e-5):
        return
    explain_mismatch(what, out, known_mistakes(values, D_LOSS_MISTAKES),
                     f"returned {float(out.detach()):.5f}, expected BCE[D(x),1] + "
                     f"BCE[D(G(z)),0] = {float(ref):.5f}",
                     "use nn.BCEWithLogitsLoss on the logits, mean over the batch", atol=1e-5)


def d_loss_trains(what, fn, d, g, real, z) -> None:
    """The loss trains the discriminator and sends no gradient into the generator."""
    d.zero_grad(), g.zero_grad()
    backward(what, call(what, fn, d, g, real, z),
             "return the BCE terms as a tensor; do not detach it or call .item()")
    leaked = [p.grad for p in g.parameters() if p.grad is not None and
              not bool((p.grad == 0).all())]
    if leaked:
        raise CheckFailed(what, "sends gradients into the generator",
                          "detach the generated batch in the discriminator step: "
                          "D(G(z).detach()) (or generate under torch.no_grad())")
    grad = d.lin.weight.grad
    if grad is None or not float(grad.abs().sum()) > 0:
        raise CheckFailed(what, "gives the discriminator no gradient",
                          "do not detach D's outputs; only the generated images")


def run_d_loss(fn):
    what = "d_loss"
    d, g, real, z = loss_setup()
    out = require_tensor(what, call(what, fn, d, g, real, z), ())
    diagnose_d_loss(what, out, expected(NOTEBOOK, "d_loss"))
    d_loss_trains(what, fn, d, g, real, z)
    return real, z


def check_d_loss(fn):
    run_d_loss(fn)


G_LOSS_MISTAKES = {
    "saturating": ("this is the saturating loss log(1 - D(G(z)))",
                   "use the non-saturating loss BCE[D(G(z)), 1] = -log D(G(z))"),
    "label0": ("the label is 0", "the generator wants D to call its images real: label 1"),
    "double_sigmoid": ("a sigmoid is applied before BCEWithLogitsLoss",
                       "pass the logits straight to BCEWithLogitsLoss"),
    "summed": ("the loss is summed over the batch", "use the mean over the batch"),
}


def diagnose_g_loss(what, out, values) -> None:
    """Raise unless ``out`` is ``values["ref"]``: the known mistake it matches, else its value."""
    ref = values["ref"]
    if close(out, ref, atol=1e-5):
        return
    explain_mismatch(what, out, known_mistakes(values, G_LOSS_MISTAKES),
                     f"returned {float(out.detach()):.5f}, expected BCE[D(G(z)), 1] = "
                     f"{float(ref):.5f}", "use BCEWithLogitsLoss with label 1", atol=1e-5)


def g_loss_trains(what, fn, d, g, z) -> None:
    """The loss sends a gradient into the generator."""
    d.zero_grad(), g.zero_grad()
    backward(what, call(what, fn, d, g, z),
             "return the BCE term as a tensor; do not detach G(z) or use no_grad")
    grad = g.lin.weight.grad
    if grad is None or not float(grad.abs().sum()) > 0:
        raise CheckFailed(what, "gives the generator no gradient",
                          "do not detach G(z) (or use no_grad) in the generator loss")


def run_g_loss(fn):
    what = "g_loss"
    d, g, _, z = loss_setup()
    out = require_tensor(what, call(what, fn, d, g, z), ())
    diagnose_g_loss(what, out, expected(NOTEBOOK, "g_loss"))
    g_loss_trains(what, fn, d, g, z)
    return z


def check_g_loss(fn):
    run_g_loss(fn)


# ------------------------------------------------------------------------ prior ---------------
_PRIOR_HINT = "z = 2 * torch.rand(n, zdim, device=device) - 1"


def describe_codes(what, z) -> None:
    """Codes a uniform prior on [-1, 1] could have drawn: finite, inside [-1, 1], reaching both
    ends, with the mean and variance of U[-1, 1]. Every comparison fails on NaN."""
    z = z.detach()
    if not bool(torch.isfinite(z).all()):
        raise CheckFailed(what, "returned NaN or infinite codes", _PRIOR_HINT)
    low, high = float(z.min()), float(z.max())
    if not (low >= -1 and high <= 1):
        raise CheckFailed(what, "has values outside [-1, 1]", f"z = 2 * U(0, 1) - 1: {_PRIOR_HINT}")
    if not low <= -0.9:
        raise CheckFailed(what, "never goes below -0.9: the draws are in [0, 1]",
                          f"rescale: {_PRIOR_HINT}")
    mean, var = float(z.mean()), float(z.var())
    if not (abs(mean) <= 0.03 and abs(var - 1 / 3) <= 0.02):
        raise CheckFailed(what, f"mean {mean:.3f}, variance {var:.3f}; U[-1, 1] has mean 0 and "
                                "variance 1/3",
                          f"draw uniformly (torch.rand), not from a normal, and rescale: "
                          f"{_PRIOR_HINT}")


def check_sample_z(fn):
    what = "sample_z"
    torch.manual_seed(0)
    z = require_tensor(what, call(what, fn, 4000, 16), (4000, 16),
                       "return [n, zdim]")
    describe_codes(what, z)
