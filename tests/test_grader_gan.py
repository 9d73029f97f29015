"""Checks of notebook 04 both ways: the reference passes, realistic mistakes fail with a hint."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from grader_tests import gan as checks
from dgm.checks.common import CheckFailed

from tests.helpers import fails


# ------------------------------------------------------------------------ architecture mutants -
def _init(module):
    for m in module.children():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def dnet_variant(order="table", sigmoid=False, init=True, pad3=0, pool_first=False):
    class Variant(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 3, 1, 1)
            if pool_first:                        # pool defined before the ReLU
                self.pool1 = nn.MaxPool2d(2, 2)
                self.relu1 = nn.ReLU()
            else:
                self.relu1 = nn.ReLU()
                self.pool1 = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(2, 4, 3, 1, 1)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(2, 2)
            self.conv3 = nn.Conv2d(4, 8, 3, 1, pad3)
            self.relu3 = nn.ReLU()
            self.fc = nn.Linear(200 if pad3 == 0 else 392, 1)
            if init:
                self._weight_init()

        def _weight_init(self):
            _init(self)

        def forward(self, x):
            if order == "relu_after_pool":
                x = self.relu1(self.pool1(self.conv1(x)))
            else:
                x = self.pool1(self.relu1(self.conv1(x)))
            x = self.pool2(self.relu2(self.conv2(x)))
            x = self.fc(self.relu3(self.conv3(x)).flatten(1))
            return torch.sigmoid(x) if sigmoid else x
    return Variant


class DNetDefaultInit(dnet_variant(init=False)):
    pass


def dnet_normal_init():
    base = dnet_variant(init=False)

    class Normal(base):
        def __init__(self):
            super().__init__()
            for m in self.children():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight)
                    nn.init.zeros_(m.bias)
    return Normal


@pytest.mark.parametrize("mutant,match", [
    (dnet_variant(sigmoid=True), "probabilities"),
    (dnet_variant(pad3=1), "padding"),
    (DNetDefaultInit, "non-zero biases"),
    (dnet_normal_init(), "Kaiming-uniform bound"),
])
def test_dnet_mutants_fail(mutant, match):
    fails(checks.check_dnet, mutant, match, level="visible")


def test_dnet_forward_order_mutant_fails():
    # ReLU after pooling gives the same numbers (both monotone): the order is a no-op there,
    # so only a genuinely different forward must fail.
    class Wrong(dnet_variant()):
        def forward(self, x):
            x = self.pool1(self.relu1(self.conv1(x)))
            x = self.pool2(self.conv2(x))                    # a ReLU forgotten
            return self.fc(self.relu3(self.conv3(x)).flatten(1))
    fails(checks.check_dnet, Wrong, "no ReLU after the second convolution", level="visible")


@pytest.mark.parametrize("level", ["visible", "hidden"])
def test_dnet_pool_module_defined_before_relu_passes(level):
    # Only the layers with weights must be defined in the table's order.
    checks.check_dnet(dnet_variant(pool_first=True), level=level)


def gnet_variant(slope=0.2, sigmoid=True, conv_before_up=False, reshape="channels_first",
                 init=True):
    class Variant(nn.Module):
        def __init__(self, zdim):
            super().__init__()
            self.fc = nn.Linear(zdim, 1568)
            self.act1 = nn.LeakyReLU(slope)
            self.up1 = nn.Upsample(scale_factor=2)
            self.conv1 = nn.Conv2d(32, 16, 3, padding=1)
            self.act2 = nn.LeakyReLU(slope)
            self.up2 = nn.Upsample(scale_factor=2)
            self.conv2 = nn.Conv2d(16, 8, 3, padding=1)
            self.act3 = nn.LeakyReLU(slope)
            self.conv3 = nn.Conv2d(8, 1, 3, padding=1)
            self.out = nn.Sigmoid() if sigmoid else nn.Tanh()
            if init:
                _init(self)

        def _weight_init(self):
            _init(self)

        def forward(self, z):
            h = self.act1(self.fc(z))
            if reshape == "channels_first":
                h = h.view(-1, 32, 7, 7)
            else:                                            # channels last, then permuted
                h = h.view(-1, 7, 7, 32).permute(0, 3, 1, 2)
            if conv_before_up:
                h = self.up1(self.act2(self.conv1(h)))
                h = self.up2(self.act3(self.conv2(h)))
            else:
                h = self.act2(self.conv1(self.up1(h)))
                h = self.act3(self.conv2(self.up2(h)))
            return self.out(self.conv3(h))
    return Variant


@pytest.mark.parametrize("mutant,match", [
    (gnet_variant(slope=0.01), "negative_slope"),
    (gnet_variant(slope=0.1), "negative_slope = 0.1"),
    (gnet_variant(sigmoid=False), "outputs leave"),
    (gnet_variant(conv_before_up=True), "upsamples after the convolutions"),
    (gnet_variant(reshape="channels_last"), "channels last"),
    (gnet_variant(init=False), "non-zero biases"),
])
def test_gnet_mutants_fail(mutant, match):
    fails(checks.check_gnet, mutant, match, level="visible")


def test_gnet_hard_coded_zdim_fails():
    base = gnet_variant()

    class Fixed(base):
        def __init__(self, zdim):
            super().__init__(64)
    fails(checks.check_gnet, Fixed, "zdim", level="hidden")


# ------------------------------------------------------------------------ loss mutants --------
bce = nn.BCEWithLogitsLoss()


def _d(d_net, g_net, real, z, *, detach=True, swap=False, halve=False, sigmoid=False,
       reduction="mean", cpu_labels=False):
    lr = d_net(real)
    fake = g_net(z)
    lf = d_net(fake.detach() if detach else fake)
    if sigmoid:
        lr, lf = torch.sigmoid(lr), torch.sigmoid(lf)
    one = (torch.ones(len(lr), 1) if cpu_labels else torch.ones_like(lr))
    zero = (torch.zeros(len(lf), 1) if cpu_labels else torch.zeros_like(lf))
    if swap:
        one, zero = zero, one
    f = lambda l, t: F.binary_cross_entropy_with_logits(l, t, reduction=reduction)  # noqa: E731
    total = f(lr, one) + f(lf, zero)
    return total / 2 if halve else total


@pytest.mark.parametrize("kwargs,match,level", [
    (dict(detach=False), "gradients into the generator", "visible"),
    (dict(swap=True), "labels are swapped", "visible"),
    (dict(halve=True), "halved", "visible"),
    (dict(sigmoid=True), "sigmoid is applied", "visible"),
    (dict(reduction="sum"), "summed", "visible"),
    (dict(cpu_labels=True), "creates a tensor on the CPU", "hidden"),
])
def test_d_loss_mutants_fail(kwargs, match, level):
    error = fails(checks.check_d_loss, lambda *a: _d(*a, **kwargs), match, level=level)
    if kwargs == dict(cpu_labels=True):
        assert "device=logits.device" in error.hint


def _g(d_net, g_net, z, *, kind="ns", detach=False, cpu_labels=False):
    fake = g_net(z)
    logits = d_net(fake.detach() if detach else fake)
    one = torch.ones(len(logits), 1) if cpu_labels else torch.ones_like(logits)
    if kind == "saturating":
        return -F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
    if kind == "label0":
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
    return F.binary_cross_entropy_with_logits(logits, one)


@pytest.mark.parametrize("kwargs,match,level", [
    (dict(kind="saturating"), "saturating", "visible"),
    (dict(kind="label0"), "label is 0", "visible"),
    (dict(detach=True), "no gradient", "visible"),
    (dict(cpu_labels=True), "creates a tensor on the CPU", "hidden"),
])
def test_g_loss_mutants_fail(kwargs, match, level):
    fails(checks.check_g_loss, lambda *a: _g(*a, **kwargs), match, level=level)


@pytest.mark.parametrize("mutant,match", [
    (lambda n, zdim, device="cpu": torch.rand(n, zdim), "never goes below"),
    (lambda n, zdim, device="cpu": torch.randn(n, zdim).clamp(-1, 1), "variance"),
    (lambda n, zdim, device="cpu": 4 * torch.rand(n, zdim) - 2, "outside"),
])
def test_sample_z_mutants_fail(mutant, match):
    fails(checks.check_sample_z, mutant, match, level="visible")


a, b = sp.symbols("a b", positive=True)
J = sp.Symbol("J", nonnegative=True)


def test_written_answers():
    checks.check_optimal_discriminator(1 / (1 + b / a))
    checks.check_cost_at_optimum(2 * (J - sp.log(2)))
    for check, wrong in [(checks.check_optimal_discriminator, b / (a + b)),
                         (checks.check_optimal_discriminator, sp.Rational(1, 2)),
                         (checks.check_cost_at_optimum, J - sp.log(4)),
                         (checks.check_cost_at_optimum, 2 * J + sp.log(4))]:
        with pytest.raises(CheckFailed, match="not equivalent"):
            check(wrong)
