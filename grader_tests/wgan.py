"""Checks for notebook 05 (WGAN-GP).

``gradient_penalty`` draws its own ε, so its value cannot be compared with a reference computed
from other random numbers. The checks use a critic that *records* the points x̂ it is evaluated
at; the reference penalty is then computed at the student's own x̂, and x̂ itself is checked
(per-sample ε, shared by all pixels of a sample, in [0, 1], on the segment from fake to real).
"""

from __future__ import annotations

import sympy as sp
import torch
from torch import nn

from grader_tests import symbolic
from grader_tests._core import (CheckFailed, backward, call, close, generator,
                                require_tensor)


def _answers():
    from derivations import wgan

    return wgan.answers()


# ------------------------------------------------------------------------ written part --------
def _check_value(what, answer, key, hint):
    reference = _answers()[key]
    if answer is None or answer is ...:
        raise CheckFailed(what, "has no answer yet", "replace `None` with your value")
    try:
        value = sp.sympify(answer)
    except (sp.SympifyError, TypeError):
        raise CheckFailed(what, f"is a {type(answer).__name__}, not a number",
                          "enter a number, sympy.oo or a sympy expression") from None
    if value.free_symbols:
        raise CheckFailed(what, "contains symbols", "enter a number (e.g. sp.log(2), sp.oo)")
    if reference == sp.oo:
        if value != sp.oo:
            raise CheckFailed(what, f"{value} is not right", hint)
        return
    if value.is_infinite or abs(complex(value.evalf()) - complex(reference.evalf())) > 1e-9:
        raise CheckFailed(what, f"{value} is not right", hint)


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
class RecordingCritic(nn.Module):
    """D(x) = ½ Σ c ⊙ x² + w·x per sample (a known gradient c ⊙ x + w), recording its inputs."""

    def __init__(self, shape=(1, 2, 2)):
        super().__init__()
        n = int(torch.tensor(shape).prod())
        self.c = nn.Parameter(torch.linspace(0.5, 2.0, n).view(1, *shape))
        self.w = nn.Parameter(torch.linspace(-0.3, 0.4, n).view(1, *shape))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return (0.5 * self.c * x ** 2 + self.w * x).flatten(1).sum(1, keepdim=True)

    def gradient(self, x):
        return (self.c * x + self.w).detach()


def _penalty_at(critic, x_hat, lam):
    norms = critic.gradient(x_hat).flatten(1).norm(dim=1)
    return lam * ((norms - 1) ** 2).mean(), norms


def check_gradient_penalty(fn, level: str = "visible"):
    what = "gradient_penalty"
    torch.manual_seed(0)
    critic = RecordingCritic()
    real = torch.rand(64, 1, 2, 2, generator=generator(0)) + 1.0
    fake = torch.rand(64, 1, 2, 2, generator=generator(1)) - 1.0
    out = require_tensor(what, call(what, fn, critic, real, fake, 10.0), (),
                         "return one scalar: the mean over the batch of "
                         "lambda * (||grad||_2 - 1)^2")
    evaluated = [x for x in critic.inputs if x.shape == real.shape]
    if not evaluated:
        raise CheckFailed(what, "never evaluates the critic on a batch shaped like real",
                          "compute x_hat = eps * real + (1 - eps) * fake and call critic(x_hat)")
    x_hat = evaluated[-1]
    if close(x_hat, real) or close(x_hat, fake):
        raise CheckFailed(what, "evaluates the gradient at the real (or fake) batch itself",
                          "the penalty is taken at random points on the segments between "
                          "real and fake samples")
    eps = (x_hat - fake) / (real - fake)               # the ε of every pixel
    per_sample = eps.flatten(1)
    if not close(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4):
        raise CheckFailed(what, "uses a different eps for each pixel (or x_hat is not on the "
                                "segment between real and fake)",
                          "draw one eps per sample, shape [batch, 1, 1, 1], and broadcast it")
    eps = per_sample[:, 0]
    if float(eps.min()) < -1e-5 or float(eps.max()) > 1 + 1e-5:
        raise CheckFailed(what, "x_hat is not between the real and the fake sample",
                          "eps ~ U[0, 1] (torch.rand), x_hat = eps * real + (1 - eps) * fake")
    if float(eps.std()) < 1e-3:
        raise CheckFailed(what, "uses the same eps for the whole batch",
                          "draw one eps per sample: torch.rand(batch, 1, 1, 1)")
    ref, norms = _penalty_at(critic, x_hat, 10.0)
    if not close(out, ref, atol=1e-4, rtol=1e-4):
        g = critic.gradient(x_hat).flatten(1)
        known = [
            (10.0 * ((g.norm(dim=1) ** 2 - 1) ** 2).mean(), "uses the squared norm",
             "use the L2 norm ||grad||_2 (grad.norm(2, dim=1)), not its square"),
            (10.0 * (g.norm() - 1) ** 2, "takes one norm over the whole batch",
             "flatten each sample's gradient and take one norm per sample: "
             "grad.flatten(1).norm(2, dim=1)"),
            (10.0 * ((norms - 1) ** 2).sum(), "sums over the batch", "take the mean over the "
                                                                      "batch"),
            (((norms - 1) ** 2).mean(), "forgets lambda", "multiply by lambda_gp"),
            (10.0 * (norms - 1).mean() ** 2, "squares the mean instead of averaging squares",
             "mean over samples of (||grad|| - 1)^2"),
            (10.0 * (torch.relu(norms - 1) ** 2).mean(),
             "is one-sided (penalises norms above 1 only)",
             "WGAN-GP's penalty is two-sided: (||grad|| - 1)^2"),
        ]
        for candidate, problem, hint in known:
            if close(out, candidate, atol=1e-4, rtol=1e-4):
                raise CheckFailed(what, problem, hint)
        raise CheckFailed(what, f"returned {float(out):.5f}; at your own x_hat the penalty is "
                                f"{float(ref):.5f}",
                          "take the gradient of critic(x_hat).sum() with respect to x_hat "
                          "(torch.autograd.grad), one L2 norm per sample, mean of "
                          "lambda * (norm - 1)^2")
    critic.zero_grad()
    if not out.requires_grad:
        raise CheckFailed(what, "does not depend on the critic's parameters (no graph)",
                          "call torch.autograd.grad(..., create_graph=True) so that the penalty "
                          "can train the critic")
    out.backward()
    if critic.c.grad is None or float(critic.c.grad.abs().sum()) == 0:
        raise CheckFailed(what, "gives the critic no gradient",
                          "use torch.autograd.grad(outputs, x_hat, create_graph=True)")
    if level == "hidden":
        # λ is honoured, and large batches show ε ~ U[0, 1].
        critic = RecordingCritic()
        real = torch.ones(4000, 1, 2, 2)
        fake = torch.zeros(4000, 1, 2, 2)
        out3 = call(what, fn, critic, real, fake, 3.0)
        x_hat = [x for x in critic.inputs if x.shape == real.shape][-1]
        ref3, _ = _penalty_at(critic, x_hat, 3.0)
        if not close(out3, ref3, atol=1e-4, rtol=1e-4):
            raise CheckFailed(what, "ignores lambda_gp", "multiply by the lambda_gp argument")
        eps = x_hat.flatten(1)[:, 0]
        if abs(float(eps.mean()) - 0.5) > 0.03 or abs(float(eps.var()) - 1 / 12) > 0.01:
            raise CheckFailed(what, f"eps has mean {float(eps.mean()):.3f} and variance "
                                    f"{float(eps.var()):.3f}; U[0, 1] has 0.5 and 1/12",
                              "draw eps with torch.rand (uniform), not torch.randn")
        if not bool(real.requires_grad is False and fake.requires_grad is False):
            raise CheckFailed(what, "changed requires_grad of its inputs",
                              "leave real and fake unchanged; set requires_grad on x_hat")


class _LinearCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.7, -1.1, 0.4, 0.9]]))
            self.lin.bias.fill_(0.25)

    def forward(self, x):
        return self.lin(x.reshape(len(x), -1))


def check_critic_loss(fn, level: str = "visible"):
    what = "critic_loss"
    critic = _LinearCritic()
    real = torch.rand(8, 1, 2, 2, generator=generator(0))
    fake = torch.rand(8, 1, 2, 2, generator=generator(1)) * 0.5
    out = require_tensor(what, call(what, fn, critic, real, fake), (),
                         "return a scalar: mean D(fake) - mean D(real)")
    dr, df = critic(real).mean(), critic(fake).mean()
    ref = df - dr
    if not close(out, ref, atol=1e-5):
        known = [
            (dr - df, "the sign is flipped",
             "the critic minimises E D(fake) - E D(real) (it maximises the real-fake gap)"),
            (torch.nn.functional.softplus(-critic(real)).mean() +
             torch.nn.functional.softplus(critic(fake)).mean(),
             "this is the GAN's BCE loss", "a Wasserstein critic outputs scores, no sigmoid "
                                           "and no log: E D(fake) - E D(real)"),
            (critic(fake).sum() - critic(real).sum(), "sums over the batch",
             "take means over the batch"),
        ]
        for candidate, problem, hint in known:
            if close(out, candidate, atol=1e-5):
                raise CheckFailed(what, problem, hint)
        raise CheckFailed(what, f"returned {float(out):.5f}, expected E D(fake) - E D(real) = "
                                f"{float(ref):.5f}", "return critic(fake).mean() - "
                                                     "critic(real).mean()")
    if level == "hidden":
        fake_g = fake.clone().requires_grad_(True)
        backward(what, call(what, fn, critic, real, fake_g),
                 "return the scores' means as tensors; do not detach or use .item()")
        if critic.lin.weight.grad is None:
            raise CheckFailed(what, "gives the critic no gradient", "do not detach the scores")


def check_generator_loss(fn, level: str = "visible"):
    what = "generator_loss"
    critic = _LinearCritic()
    fake = (torch.rand(8, 1, 2, 2, generator=generator(1)) * 0.5).requires_grad_(True)
    out = require_tensor(what, call(what, fn, critic, fake), (),
                         "return a scalar: -mean D(fake)")
    ref = -critic(fake).mean()
    if not close(out, ref, atol=1e-5):
        if close(out, -ref, atol=1e-5):
            raise CheckFailed(what, "the sign is flipped",
                              "the generator wants high critic scores: minimise -E D(G(z))")
        if close(out, torch.nn.functional.softplus(-critic(fake)).mean(), atol=1e-5):
            raise CheckFailed(what, "this is the GAN's BCE loss",
                              "use the critic's raw scores: -E D(G(z))")
        raise CheckFailed(what, f"returned {float(out):.5f}, expected -E D(fake) = "
                                f"{float(ref):.5f}", "return -critic(fake).mean()")
    backward(what, call(what, fn, critic, fake),
             "return -critic(fake).mean() as a tensor; do not detach or use .item()")
    if fake.grad is None or float(fake.grad.abs().sum()) == 0:
        raise CheckFailed(what, "sends no gradient to the generated images",
                          "do not detach fake in the generator loss")
