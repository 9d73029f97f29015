"""Visible checks of notebook 05 (WGAN-GP).

``gradient_penalty`` draws its own ε, so the check uses a critic that *records* the points x̂ it
is evaluated at, and checks x̂ itself (one ε per sample, shared by all pixels of a sample, in
[0, 1], on the segment from fake to real). The check's real and fake batches agree on the pixel
where the critic is curved and differ only where it is linear, so the critic's gradient on every
segment from fake to real, and hence the penalty, does not depend on ε: it was recorded by the
course staff, as were the values of the loss checks. Grading runs further, hidden checks.
"""

from __future__ import annotations

import torch
from torch import nn

from dgm.checks import written_answers  # noqa: F401 - used by the notebooks
from dgm.checks.common import (CheckFailed, backward, call, close, expected, explain_mismatch,
                               generator, known_mistakes, require_tensor)

NOTEBOOK = "wgan"


# ------------------------------------------------------------------------ gradient penalty ----
class RecordingCritic(nn.Module):
    """D(x) = ½ Σ c ⊙ x² + w ⊙ x per sample (its gradient is c ⊙ x + w), recording its inputs."""

    def __init__(self, c, w):
        super().__init__()
        self.c = nn.Parameter(c.clone())
        self.w = nn.Parameter(w.clone())
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return (0.5 * self.c * x ** 2 + self.w * x).flatten(1).sum(1, keepdim=True)


PENALTY_LAMBDA = 10.0


def penalty_setup():
    """The visible check's critic and batches: 64 samples of [1, 2, 2]; real and fake differ on
    the first three pixels, where the critic is linear (c = 0), and agree on the last one."""
    critic = RecordingCritic(torch.tensor([0.0, 0.0, 0.0, 2.0]).view(1, 1, 2, 2),
                             torch.tensor([0.3, -0.4, 0.2, 0.1]).view(1, 1, 2, 2))
    real = torch.rand(64, 1, 2, 2, generator=generator(0)) + 1.0
    fake = torch.rand(64, 1, 2, 2, generator=generator(1)) - 1.0
    shared = torch.rand(64, generator=generator(2)) * 2 - 1
    real[:, 0, 1, 1] = shared
    fake[:, 0, 1, 1] = shared
    return critic, real, fake


def run_penalty(what, fn, critic, real, fake, lambda_gp):
    torch.manual_seed(0)
    return require_tensor(what, call(what, fn, critic, real, fake, lambda_gp), (),
                          "return one scalar: the mean over the batch of "
                          "lambda * (||grad||_2 - 1)^2")


def penalty_point(what, critic, real, fake):
    """The x̂ the critic was evaluated at, checked to lie on the segments from fake to real with
    one ε ∈ [0, 1] per sample, not the same for all."""
    evaluated = [x for x in critic.inputs if x.shape == real.shape]
    if not evaluated:
        raise CheckFailed(what, "never evaluates the critic on a batch shaped like real",
                          "compute x_hat = eps * real + (1 - eps) * fake and call critic(x_hat)")
    x_hat = evaluated[-1]
    if not bool(torch.isfinite(x_hat).all()):
        raise CheckFailed(what, "evaluates the critic at NaN or infinite points",
                          "x_hat = eps * real + (1 - eps) * fake with eps ~ U[0, 1]")
    if close(x_hat, real) or close(x_hat, fake):
        raise CheckFailed(what, "evaluates the gradient at the real (or fake) batch itself",
                          "the penalty is taken at random points on the segments between "
                          "real and fake samples")
    moving = ((real - fake).abs() > 1e-6).flatten(1)[0]        # pixels where real != fake
    span = (real - fake).flatten(1)[:, moving]
    per_pixel = ((x_hat - fake).flatten(1)[:, moving]) / span   # the ε of every such pixel
    on_segment = close(x_hat.flatten(1)[:, ~moving], real.flatten(1)[:, ~moving], atol=1e-4)
    if not on_segment or not close(per_pixel, per_pixel[:, :1].expand_as(per_pixel), atol=1e-4):
        raise CheckFailed(what, "uses a different eps for each pixel (or x_hat is not on the "
                                "segment between real and fake)",
                          "draw one eps per sample, shape [batch, 1, 1, 1], and broadcast it")
    eps = per_pixel[:, 0]
    if not (float(eps.min()) >= -1e-5 and float(eps.max()) <= 1 + 1e-5):
        raise CheckFailed(what, "x_hat is not between the real and the fake sample",
                          "eps ~ U[0, 1] (torch.rand(len(real), 1, 1, 1, device=real.device)), "
                          "x_hat = eps * real + (1 - eps) * fake")
    if not float(eps.std()) >= 1e-3:
        raise CheckFailed(what, "uses the same eps for the whole batch",
                          "draw one eps per sample: torch.rand(len(real), 1, 1, 1, "
                          "device=real.device)")
    return x_hat


PENALTY_MISTAKES = {
    "squared_norm": ("uses the squared norm",
                     "use the L2 norm ||grad||_2 (grad.norm(2, dim=1)), not its square"),
    "batch_norm": ("takes one norm over the whole batch",
                   "flatten each sample's gradient and take one norm per sample: "
                   "grad.flatten(1).norm(2, dim=1)"),
    "batch_sum": ("sums over the batch", "take the mean over the batch"),
    "no_lambda": ("forgets lambda", "multiply by lambda_gp"),
    "squared_mean": ("squares the mean instead of averaging squares",
                     "mean over samples of (||grad|| - 1)^2"),
    "one_sided": ("is one-sided (penalises norms above 1 only)",
                  "WGAN-GP's penalty is two-sided: (||grad|| - 1)^2"),
}


def diagnose_penalty(what, out, values):
    ref = values["ref"]
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, f"returned {float(out.detach())}",
                          "take the gradient of critic(x_hat).sum() with respect to x_hat "
                          "(torch.autograd.grad), one L2 norm per sample, mean of "
                          "lambda * (norm - 1)^2")
    if close(out, ref, atol=1e-4, rtol=1e-4):
        return
    for candidate, problem, hint in known_mistakes(values, PENALTY_MISTAKES):
        if close(out, candidate, atol=1e-4, rtol=1e-4):
            raise CheckFailed(what, problem, hint)
    raise CheckFailed(what, f"returned {float(out.detach()):.5f}; at your own x_hat the penalty is "
                            f"{float(ref):.5f}",
                      "take the gradient of critic(x_hat).sum() with respect to x_hat "
                      "(torch.autograd.grad), one L2 norm per sample, mean of "
                      "lambda * (norm - 1)^2")


def penalty_trains_critic(what, out, critic):
    critic.zero_grad()
    hint = ("call torch.autograd.grad(..., create_graph=True) so that the penalty can train the "
            "critic")
    if not out.requires_grad:
        raise CheckFailed(what, "does not depend on the critic's parameters (no graph)", hint)
    backward(what, out, hint)
    if critic.c.grad is None or not float(critic.c.grad.abs().sum()) > 0:
        raise CheckFailed(what, "gives the critic no gradient",
                          "use torch.autograd.grad(outputs, x_hat, create_graph=True)")
    if not bool(torch.isfinite(critic.c.grad).all()):
        raise CheckFailed(what, "gives the critic a NaN or infinite gradient",
                          "compute the norm with grad.flatten(1).norm(2, dim=1) and the penalty "
                          "with differentiable torch operations")


def check_gradient_penalty(fn):
    what = "gradient_penalty"
    critic, real, fake = penalty_setup()
    out = run_penalty(what, fn, critic, real, fake, PENALTY_LAMBDA)
    penalty_point(what, critic, real, fake)
    diagnose_penalty(what, out, expected(NOTEBOOK, "gradient_penalty"))
    penalty_trains_critic(what, out, critic)


# ------------------------------------------------------------------------ losses --------------
class _LinearCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.7, -1.1, 0.4, 0.9]]))
            self.lin.bias.fill_(0.25)

    def forward(self, x):
        return self.lin(x.reshape(len(x), -1))


def loss_setup():
    real = torch.rand(8, 1, 2, 2, generator=generator(0))
    fake = torch.rand(8, 1, 2, 2, generator=generator(1)) * 0.5
    return _LinearCritic(), real, fake


CRITIC_MISTAKES = {
    "flipped": ("the sign is flipped",
                "the critic minimises E D(fake) - E D(real) (it maximises the real-fake gap)"),
    "bce": ("this is the GAN's BCE loss", "a Wasserstein critic outputs scores, no sigmoid "
                                          "and no log: E D(fake) - E D(real)"),
    "batch_sum": ("sums over the batch", "take means over the batch"),
}


def run_critic_loss(fn):
    what = "critic_loss"
    critic, real, fake = loss_setup()
    out = require_tensor(what, call(what, fn, critic, real, fake), (),
                         "return a scalar: mean D(fake) - mean D(real)")
    diagnose_critic_loss(what, out, expected(NOTEBOOK, "critic_loss"))
    return critic, real, fake


def diagnose_critic_loss(what, out, values):
    ref = values["ref"]
    if not close(out, ref, atol=1e-5):
        for candidate, problem, hint in known_mistakes(values, CRITIC_MISTAKES):
            if close(out, candidate, atol=1e-5):
                raise CheckFailed(what, problem, hint)
        raise CheckFailed(what, f"returned {float(out.detach()):.5f}, expected E D(fake) - "
                                f"E D(real) = {float(ref):.5f}",
                          "return critic(fake).mean() - critic(real).mean()")


def check_critic_loss(fn):
    run_critic_loss(fn)


GENERATOR_LOSS_MISTAKES = {
    "flipped": ("the sign is flipped",
                "the generator wants high critic scores: minimise -E D(G(z))"),
    "bce": ("this is the GAN's BCE loss", "use the critic's raw scores: -E D(G(z))"),
}


def check_generator_loss(fn):
    what = "generator_loss"
    critic, _, fake = loss_setup()
    fake.requires_grad_(True)
    out = require_tensor(what, call(what, fn, critic, fake), (),
                         "return a scalar: -mean D(fake)")
    diagnose_generator_loss(what, out, expected(NOTEBOOK, "generator_loss"))
    generator_loss_trains(what, fn, critic, fake)


def diagnose_generator_loss(what, out, values):
    ref = values["ref"]
    if not close(out, ref, atol=1e-5):
        explain_mismatch(what, out, known_mistakes(values, GENERATOR_LOSS_MISTAKES),
                         f"returned {float(out.detach()):.5f}, expected -E D(fake) = "
                         f"{float(ref):.5f}", "return -critic(fake).mean()", atol=1e-5)


def generator_loss_trains(what, fn, critic, fake):
    """The loss sends a finite, non-zero gradient to ``fake`` (a leaf that requires grad)."""
    backward(what, call(what, fn, critic, fake),
             "return -critic(fake).mean() as a tensor; do not detach or use .item()")
    if fake.grad is None or not float(fake.grad.abs().sum()) > 0:
        raise CheckFailed(what, "sends no gradient to the generated images",
                          "do not detach fake in the generator loss")
    if not bool(torch.isfinite(fake.grad).all()):
        raise CheckFailed(what, "sends a NaN or infinite gradient to the generated images",
                          "return -critic(fake).mean(), computed with torch operations")
