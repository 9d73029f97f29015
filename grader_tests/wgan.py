"""Checks for notebook 05 (WGAN-GP): staff side.

``level="visible"`` runs the student-side check of :mod:`dgm.checks.wgan`. There, the critic's
gradient does not depend on where on the segments from fake to real it is taken, so the penalty was
recorded. ``"hidden"`` runs it, then the penalty with a critic curved in every pixel and batches
that differ in every pixel: the reference penalty is computed at the student's own x̂ (recorded by
the critic), then λ and the law of ε are checked. :func:`record` gives the values the visible
checks compare with.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types

import torch

from dgm.checks import wgan as visible
from dgm.checks.wgan import RecordingCritic
from grader_tests import randomised, written_answers  # noqa: F401 - used by the notebooks
from grader_tests.grading_inputs import grading_seed, on_fresh_inputs
from dgm.checks.common import (CheckFailed, backward, call, close, generator, on_another_device,
                               require_tensor)


def fresh_loss_setup(seed: int):
    """A linear critic with weights drawn from ``seed``, and real and fake batches of 13."""
    g = generator(seed)
    critic = visible._LinearCritic()
    with torch.no_grad():
        critic.lin.weight.copy_(torch.randn(1, 4, generator=g))
        critic.lin.bias.copy_(torch.randn(1, generator=g))
    real = torch.rand(13, 1, 2, 2, generator=g) + 0.2
    fake = torch.rand(13, 1, 2, 2, generator=g) * 0.5
    return critic, real, fake


# ------------------------------------------------------------------------ references ----------
def recording_critic(shape=(1, 2, 2)) -> RecordingCritic:
    """A critic curved in every pixel: c from 0.5 to 2, w from -0.3 to 0.4."""
    n = int(torch.tensor(shape).prod())
    return RecordingCritic(torch.linspace(0.5, 2.0, n).view(1, *shape),
                           torch.linspace(-0.3, 0.4, n).view(1, *shape))


def critic_gradient(critic, x):
    """The gradient of a :class:`RecordingCritic` with respect to its input, per sample."""
    return (critic.c * x + critic.w).detach()


def penalty_values(critic, x_hat, lam):
    """The penalty at ``x_hat`` and the results of the usual mistakes there."""
    g = critic_gradient(critic, x_hat).flatten(1)
    norms = g.norm(dim=1)
    return {
        "ref": lam * ((norms - 1) ** 2).mean(),
        "squared_norm": lam * ((norms ** 2 - 1) ** 2).mean(),
        "batch_norm": lam * (g.norm() - 1) ** 2,
        "batch_sum": lam * ((norms - 1) ** 2).sum(),
        "no_lambda": ((norms - 1) ** 2).mean(),
        "squared_mean": lam * (norms - 1).mean() ** 2,
        "one_sided": lam * (torch.relu(norms - 1) ** 2).mean(),
    }


def critic_loss_values(critic, real, fake):
    dr, df = critic(real).mean(), critic(fake).mean()
    return {
        "ref": df - dr,
        "flipped": dr - df,
        "bce": torch.nn.functional.softplus(-critic(real)).mean() +
        torch.nn.functional.softplus(critic(fake)).mean(),
        "batch_sum": critic(fake).sum() - critic(real).sum(),
    }


def generator_loss_values(critic, fake):
    ref = -critic(fake).mean()
    return {"ref": ref, "flipped": -ref,
            "bce": torch.nn.functional.softplus(-critic(fake)).mean()}


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.wgan` compare with."""
    critic, real, fake = visible.penalty_setup()
    # The visible critic is linear where real and fake differ: its gradient is the same at every
    # point of the segments from fake to real, e.g. at real itself.
    penalty = penalty_values(critic, real, visible.PENALTY_LAMBDA)
    for eps in (0.0, 0.37, 1.0):
        x_hat = eps * real + (1 - eps) * fake
        assert close(penalty_values(critic, x_hat, visible.PENALTY_LAMBDA)["ref"],
                     penalty["ref"], atol=1e-6)
    linear, real, fake = visible.loss_setup()
    return {
        "gradient_penalty": penalty,
        "critic_loss": critic_loss_values(linear, real, fake),
        "generator_loss": generator_loss_values(linear, fake),
    }


# ------------------------------------------------------------------------ written part --------
@functools.lru_cache(maxsize=None)
def _answers():
    """The written part's values, derived once per process (sympy integrals, about 0.4 s): a
    read-only mapping, as the other notebooks' answers are module constants."""
    from derivations import wgan

    return types.MappingProxyType(wgan.answers())


def _check_value(what, answer, key, hint):
    written_answers.check_number(what, answer, _answers()[key], hint)


def check_kl_12(answer):
    _check_value("(a) KL(P1 || P2)", answer, "kl_12",
                 "P2 has density 0 on [0, 0.5), where P1 puts mass 1/2: log(p1/p2) is +inf "
                 "there. A KL is 0 only for equal laws")


def check_kl_13(answer):
    _check_value("(a) KL(P1 || P3)", answer, "kl_13",
                 "the supports [0, 1] and [1, 2] do not overlap: p3 = 0 wherever p1 > 0")


def check_w1_12(answer):
    _check_value("(a) W1(P1, P2)", answer, "w1_12",
                 "in 1-D, W1 = integral of |F1(x) - F2(x)| dx; or move every point by the shift")


def check_w1_13(answer):
    _check_value("(a) W1(P1, P3)", answer, "w1_13",
                 "in 1-D, W1 = integral of |F1(x) - F3(x)| dx; or move every point by the shift")


def check_jsd_13(answer):
    _check_value("(b) JSD(P1, P3)", answer, "jsd_13",
                 "with disjoint supports the mixture m = (p1 + p3)/2 is p/2 wherever p > 0, so "
                 "each KL to m is log 2")


# ------------------------------------------------------------------------ code ----------------
def check_gradient_penalty(fn, level: str = "visible"):
    what = "gradient_penalty"
    visible.check_gradient_penalty(fn)
    if level == "visible":
        return
    # A critic curved in every pixel, batches that differ in every pixel: the penalty depends on
    # the student's own x_hat, where the reference is computed.
    critic = recording_critic()
    real = torch.rand(64, 1, 2, 2, generator=generator(0)) + 1.0
    fake = torch.rand(64, 1, 2, 2, generator=generator(1)) - 1.0
    out = visible.run_penalty(what, fn, critic, real, fake, 10.0)
    x_hat = visible.penalty_point(what, critic, real, fake)
    visible.diagnose_penalty(what, out, penalty_values(critic, x_hat, 10.0))
    visible.penalty_trains_critic(what, out, critic)
    # The same on batches drawn at grading time.
    seed = grading_seed()
    g = generator(seed)
    critic = recording_critic()
    real = torch.rand(32, 1, 2, 2, generator=g) * 2
    fake = torch.rand(32, 1, 2, 2, generator=g) * 2 - 2
    with on_fresh_inputs(seed):
        out = visible.run_penalty(what, fn, critic, real, fake, 10.0)
        x_hat = visible.penalty_point(what, critic, real, fake)
        visible.diagnose_penalty(what, out, penalty_values(critic, x_hat, 10.0))
    # λ is honoured, and large batches show ε ~ U[0, 1].
    critic = recording_critic()
    real = torch.ones(4000, 1, 2, 2)
    fake = torch.zeros(4000, 1, 2, 2)
    out3 = call(what, fn, critic, real, fake, 3.0)
    x_hat = [x for x in critic.inputs if x.shape == real.shape][-1]
    if not close(out3, penalty_values(critic, x_hat, 3.0)["ref"], atol=1e-4, rtol=1e-4):
        raise CheckFailed(what, "ignores lambda_gp", "multiply by the lambda_gp argument")
    eps = x_hat.flatten(1)[:, 0]
    if not (abs(float(eps.mean()) - 0.5) <= 0.03 and abs(float(eps.var()) - 1 / 12) <= 0.01):
        raise CheckFailed(what, f"eps has mean {float(eps.mean()):.3f} and variance "
                                f"{float(eps.var()):.3f}; U[0, 1] has 0.5 and 1/12",
                          "draw eps uniformly, torch.rand(len(real), 1, 1, 1, "
                          "device=real.device), not with torch.randn")
    if not bool(real.requires_grad is False and fake.requires_grad is False):
        raise CheckFailed(what, "changed requires_grad of its inputs",
                          "leave real and fake unchanged; set requires_grad on x_hat")
    randomised.check("gradient_penalty", fn, sys.modules[__name__])
    # The critic and the batches on another device than the CPU (a GPU): eps drawn by
    # torch.rand(batch, 1, 1, 1), or grad_outputs=torch.ones(scores.shape), is on the CPU.
    real, fake = (torch.rand(6, 1, 2, 2, generator=generator(seed)) for seed in (3, 4))
    on_another_device(what, fn, recording_critic(), real, fake, 10.0,
                      hint="draw eps on the batch's device: torch.rand(len(real), 1, 1, 1, "
                           "device=real.device), and differentiate critic(x_hat).sum() (or pass "
                           "grad_outputs=torch.ones_like(scores))")


def check_critic_loss(fn, level: str = "visible"):
    what = "critic_loss"
    critic, real, fake = visible.run_critic_loss(fn)
    if level != "hidden":
        return
    for seed in (None, grading_seed()):
        if seed is not None:                 # a critic and batches drawn at grading time
            critic, real, fake = fresh_loss_setup(seed)
        with on_fresh_inputs(seed) if seed else contextlib.nullcontext():
            out = require_tensor(what, call(what, fn, critic, real, fake), (),
                                 "return a scalar: mean D(fake) - mean D(real)")
            with torch.no_grad():
                values = critic_loss_values(critic, real, fake)
            visible.diagnose_critic_loss(what, out, values)
            critic.zero_grad()
            fake_g = fake.clone().requires_grad_(True)
            backward(what, call(what, fn, critic, real, fake_g),
                     "return the scores' means as tensors; do not detach or use .item()")
            grad = critic.lin.weight.grad
            if grad is None or not float(grad.abs().sum()) > 0:
                raise CheckFailed(what, "gives the critic no gradient", "do not detach the scores")
            expected = (fake.flatten(1).mean(0) - real.flatten(1).mean(0)).view(1, -1)
            if not close(grad, expected, atol=1e-5, rtol=1e-4):
                raise CheckFailed(what, "gives the critic a wrong gradient (or NaN), though the "
                                        "value is right",
                                  "return critic(fake).mean() - critic(real).mean() computed "
                                  "with torch operations on the scores")
    randomised.check("critic_loss", fn, sys.modules[__name__])


def check_generator_loss(fn, level: str = "visible"):
    what = "generator_loss"
    visible.check_generator_loss(fn)
    if level != "hidden":
        return
    seed = grading_seed()                    # a critic and a batch drawn at grading time
    critic, _, fake = fresh_loss_setup(seed)
    with on_fresh_inputs(seed):
        out = require_tensor(what, call(what, fn, critic, fake), (),
                             "return a scalar: -mean D(fake)")
        with torch.no_grad():
            values = generator_loss_values(critic, fake)
        visible.diagnose_generator_loss(what, out, values)
        fake.requires_grad_(True)
        visible.generator_loss_trains(what, fn, critic, fake)
    randomised.check("generator_loss", fn, sys.modules[__name__])
