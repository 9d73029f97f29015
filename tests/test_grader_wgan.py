"""Checks of notebook 05 both ways: the reference passes, realistic mistakes fail with a hint."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from grader_tests import wgan as checks
from dgm.checks.common import CheckFailed

from tests.helpers import fails


def gp(critic, real, fake, lambda_gp=10.0, *, eps_shape="sample", norm="l2", reduce="mean",
       create_graph=True, at="interpolate", sided="two", use_lambda=True, dist="uniform",
       square_mean=False):
    b = len(real)
    if eps_shape == "sample":
        shape = (b,) + (1,) * (real.dim() - 1)
    elif eps_shape == "pixel":
        shape = real.shape
    else:
        shape = (1,) * real.dim()
    eps = torch.rand(shape) if dist == "uniform" else torch.randn(shape).sigmoid()
    if at == "interpolate":
        x_hat = eps * real + (1 - eps) * fake
    elif at == "real":
        x_hat = real.clone()
    else:
        x_hat = fake.clone()
    x_hat.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    g = grad.flatten(1)
    if norm == "l2":
        norms = g.norm(dim=1)
    elif norm == "squared":
        norms = (g ** 2).sum(1)
    else:
        return lambda_gp * (g.norm() - 1) ** 2              # one norm for the whole batch
    dev = (norms - 1) if sided == "two" else torch.relu(norms - 1)
    if square_mean:
        value = dev.mean() ** 2
    else:
        value = (dev ** 2).mean() if reduce == "mean" else (dev ** 2).sum()
    return (lambda_gp if use_lambda else 1.0) * value


@pytest.mark.parametrize("kwargs,match,level", [
    (dict(eps_shape="batch"), "same eps for the whole batch", "visible"),
    (dict(eps_shape="pixel"), "different eps for each pixel", "visible"),
    (dict(norm="squared"), "squared norm", "visible"),
    (dict(norm="batch"), "one norm over the whole batch", "visible"),
    (dict(reduce="sum"), "sums over the batch", "visible"),
    (dict(create_graph=False), "no graph", "visible"),
    (dict(at="real"), "real \\(or fake\\) batch itself", "visible"),
    (dict(sided="one"), "one-sided", "visible"),
    (dict(use_lambda=False), "forgets lambda", "visible"),
    (dict(square_mean=True), "squares the mean", "visible"),
    (dict(dist="logistic"), "eps has mean", "hidden"),
])
def test_gradient_penalty_mutants_fail(kwargs, match, level):
    fails(checks.check_gradient_penalty, lambda *a: gp(*a, **kwargs), match, level=level)


def test_gradient_penalty_fixed_lambda_fails():
    fails(checks.check_gradient_penalty, lambda c, r, f, lambda_gp=10.0: gp(c, r, f, 10.0),
          "ignores lambda_gp", level="hidden")


@pytest.mark.parametrize("mutant,match", [
    (lambda c, r, f: c(r).mean() - c(f).mean(), "sign is flipped"),
    (lambda c, r, f: F.softplus(-c(r)).mean() + F.softplus(c(f)).mean(), "BCE"),
    (lambda c, r, f: c(f).sum() - c(r).sum(), "sums"),
])
def test_critic_loss_mutants_fail(mutant, match):
    fails(checks.check_critic_loss, mutant, match, level="visible")


def test_critic_loss_detached_fails():
    fails(checks.check_critic_loss, lambda c, r, f: (c(f) - c(r)).mean().detach(),
          "without a computation graph", level="hidden")


@pytest.mark.parametrize("mutant,match", [
    (lambda c, f: c(f).mean(), "sign is flipped"),
    (lambda c, f: F.softplus(-c(f)).mean(), "BCE"),
    (lambda c, f: -c(f.detach()).mean(), "no gradient"),
])
def test_generator_loss_mutants_fail(mutant, match):
    fails(checks.check_generator_loss, mutant, match, level="visible")


def test_written_answers():
    checks.check_kl_12(sp.oo)
    checks.check_kl_13(float("inf"))
    checks.check_w1_12(0.5)
    checks.check_w1_13(sp.Integer(1))
    checks.check_jsd_13(sp.log(4) / 2)
    for check, wrong in [(checks.check_kl_12, 0), (checks.check_kl_13, sp.log(2)),
                         (checks.check_w1_12, sp.oo), (checks.check_w1_13, 0.5),
                         (checks.check_jsd_13, 0)]:
        with pytest.raises(CheckFailed, match="not right"):
            check(wrong)
    with pytest.raises(CheckFailed, match="contains symbols"):
        checks.check_w1_12(sp.Symbol("x"))


# ------------------------------------------------------------------------ devices -------------
def gp_cpu_grad_outputs(critic, real, fake, lambda_gp=10.0):
    eps = torch.rand(len(real), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores, x_hat, grad_outputs=torch.ones(scores.shape),
                                  create_graph=True)
    return lambda_gp * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("mutant", [
    gp,                       # eps = torch.rand(batch, 1, 1, 1): on the CPU
    gp_cpu_grad_outputs,
])
def test_tensors_made_on_the_cpu_fail_hidden_only(mutant):
    checks.check_gradient_penalty(mutant, level="visible")
    error = fails(checks.check_gradient_penalty, mutant, "creates a tensor on the CPU")
    assert "device=real.device" in error.hint
