"""Checks for notebook 01 (variational auto-encoder): staff side.

Each ``check_*`` takes the student's function (or class) and ``level``: ``"visible"`` runs the
student-side contract check of :mod:`dgm.checks.vae` (what students see in the notebook, compared
with values recorded from the references below); ``"hidden"`` runs it, then the thorough checks
used for grading (other sizes, edge cases, statistics, gradients). A failure raises
:class:`~dgm.checks.common.CheckFailed` whose message names the likely mistake and how to fix it.

References are independent of the student's code: ``torch.distributions`` for densities,
autograd for gradients, and the sympy-verified results in ``derivations/`` for written answers.
:func:`record` gives the values the visible checks compare with (see
:mod:`grader_tests.record_expected`).
"""

from __future__ import annotations

import contextlib
import math
import sys

import torch
from torch import nn
from torch.distributions import Normal

from dgm.checks import vae as visible
from grader_tests import randomised, written_answers
from grader_tests.grading_inputs import grading_seed, on_fresh_inputs
from dgm.checks.common import (CheckFailed, backward, call, close, generator,
                               on_another_device, require_tensor,
                               with_globals)  # noqa: F401 - tests isolate functions with it

LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------ references ----------
def ref_logpdf_diagonal_gaussian(z, mu, sigma_square):
    return Normal(mu, sigma_square.sqrt()).log_prob(z).sum(-1)


def ref_logpdf_bernoulli(x, p):
    return (torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)).sum(-1)


def ref_sample_bernoulli(p):
    return torch.bernoulli(p).to(torch.float32)


def formula_logpdf_diagonal_gaussian(z, mu, sigma_square):
    """The reference as a formula (``torch.distributions`` validates its arguments, which meta
    tensors cannot do): what ``elbo_loss`` sees in its device check."""
    return -0.5 * (torch.log(2 * math.pi * sigma_square) + (z - mu) ** 2 / sigma_square).sum(-1)


def decoder_values(dec, z):
    """The right forward pass of a decoder with the layers fc1, fc2 of ``dec``, and those of
    :data:`dgm.checks.vae.DECODER_MISTAKES`."""
    with torch.no_grad():
        h = dec.fc1(z)
        return {
            "ref": torch.sigmoid(dec.fc2(torch.tanh(h))),
            "relu_hidden": torch.sigmoid(dec.fc2(torch.relu(h))),
            "swapped_activations": torch.tanh(dec.fc2(torch.sigmoid(h))),
            "sigmoid_hidden": torch.sigmoid(dec.fc2(torch.sigmoid(h))),
            "linear_hidden": torch.sigmoid(dec.fc2(h)),
            "no_sigmoid": dec.fc2(torch.tanh(h)),
        }


def gaussian_values(z, mu, var):
    dim = z.shape[-1]
    ref = ref_logpdf_diagonal_gaussian(z, mu, var)
    return {
        "ref": ref,
        "std_as_variance": Normal(mu, var).log_prob(z).sum(-1),
        "no_constant": ref + 0.5 * dim * LOG_2PI,
        "mean_over_dims": ref / dim,
        "log_variance_doubled": ref - 0.5 * torch.log(var).sum(-1),
        "quadratic_doubled": ref - 0.5 * ((z - mu) ** 2 / var).sum(-1),
        "negated": -ref,
    }


def bernoulli_values(x, p):
    ref = ref_logpdf_bernoulli(x, p)
    return {
        "ref": ref,
        "mean_over_pixels": ref / x.shape[-1],
        "negated": -ref,
        "no_zero_term": torch.xlogy(x, p).sum(-1),
        "swapped": (torch.xlogy(p, x.clamp(1e-7, 1))
                    + torch.xlogy(1 - p, (1 - x).clamp(1e-7, 1))).sum(-1),
    }


def elbo_values(z, mu, var, x, p):
    with torch.no_grad():
        latent = z.shape[-1]
        log_px = ref_logpdf_bernoulli(x, p)
        log_pz = ref_logpdf_diagonal_gaussian(z, torch.zeros(latent), torch.ones(latent))
        log_q = ref_logpdf_diagonal_gaussian(z, mu, var)
        kl = 0.5 * (var + mu ** 2 - 1 - var.log()).sum(-1)
        ref = (log_px + log_pz - log_q).mean()
        return {
            "ref": ref,
            "batch_sum": (log_px + log_pz - log_q).sum(),
            "negated": -ref,
            "no_prior": (log_px - log_q).mean(),
            "no_entropy": (log_px + log_pz).mean(),
            "closed_form_kl": (log_px - kl).mean(),
            "entropy_sign": (log_px + log_pz + log_q).mean(),
            # What the log-densities give on these inputs (the visible check's stand-ins).
            "log_px": log_px, "log_pz": log_pz, "log_q": log_q,
        }


def interpolation_ref(mu_a, mu_b, step):
    alphas = torch.linspace(0, 1, round(1 / step) + 1, device=mu_a.device).unsqueeze(1)
    return alphas * mu_a + (1 - alphas) * mu_b


class _DecoderLayers(nn.Module):
    """fc1 and fc2 of the notebook's decoder (the references above use them only)."""

    def __init__(self, latent, hidden, data):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(latent, hidden), nn.Linear(hidden, data)


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.vae` compare with."""
    latent, hidden, data = visible.DECODER_VISIBLE
    dec = _DecoderLayers(latent, hidden, data)
    visible.set_parameters([dec.fc1, dec.fc2], visible.DECODER_WEIGHTS_SEED)
    step, dim = visible.INTERPOLATION_VISIBLE
    return {
        "decoder": decoder_values(dec, visible.decoder_input(latent)),
        "logpdf_diagonal_gaussian": gaussian_values(
            *visible.gaussian_inputs(*visible.GAUSSIAN_VISIBLE)),
        "logpdf_bernoulli": bernoulli_values(*visible.bernoulli_inputs(*visible.BERNOULLI_VISIBLE)),
        "elbo_loss": elbo_values(*visible.elbo_inputs(*visible.ELBO_VISIBLE)),
        "interpolation_path": {"ref": interpolation_ref(*visible.interpolation_inputs(step, dim),
                                                        step)},
    }


# ------------------------------------------------------------------------ written part --------
# The expected answers live in derivations/ (verified there with sympy). They are imported inside
# the hidden checks only, so that the visible checks work without the instructors' derivations.
def _answers():
    from derivations import vae

    return vae


def check_bernoulli_likelihood(answer):
    """(a) the likelihood of one pixel, as a formula in ``y_hat`` and ``x_j``."""
    D = _answers()
    written_answers.check_expression(
        "(a) p(x_j | z)", answer, D.BERNOULLI_PIXEL, [D.y_hat, D.x_j],
        hint="a Bernoulli pixel is 1 with probability y_hat: the formula must give y_hat at "
             "x_j = 1 and 1 - y_hat at x_j = 0 (use powers with x_j and 1 - x_j)",
        on={D.x_j: (0, 1)})


def check_encoder_outputs(answer):
    """(b) how many numbers the encoder outputs for z ∈ R² with a diagonal Gaussian."""
    D = _answers()
    written_answers.check_number("(b) encoder outputs", answer, D.ENCODER_OUTPUTS,
                                 hint="a diagonal Gaussian over R^2 has one mean and one "
                                      "variance per latent dimension; no covariances")


def check_kl_self(answer):
    D = _answers()
    written_answers.check_expression("(g) KL(q || q)", answer, D.KL_SELF, [],
                                     hint="log(q/q) is zero everywhere")


def check_kl_equal_variance(answer):
    D = _answers()
    written_answers.check_expression(
        "(h) KL(N(mu_phi, sigma^2) || N(mu_p, sigma^2))", answer, D.KL_EQUAL_VARIANCE,
        [D.mu_phi, D.mu_p, D.sigma],
        hint="with equal variances the log-ratio of the densities is "
             "[(z - mu_p)^2 - (z - mu_phi)^2] / (2 sigma^2); take its expectation under "
             "N(mu_phi, sigma^2) (sigma is the standard deviation here)")



# ------------------------------------------------------------------------ decoder -------------
def check_decoder(Decoder, level: str = "visible"):
    what = "Decoder"
    visible.check_decoder(Decoder)
    if level == "visible":
        return
    # Other sizes, the parameter count, and forward with the student's own initial weights, on
    # codes drawn at grading time.
    seed = grading_seed()
    for latent, hidden, data in [(2, 500, 784), (3, 7, 11)]:
        dec = visible.build_decoder(what, Decoder, latent, hidden, data)
        z = torch.randn(6, latent, generator=generator(seed)) * 2
        p = visible.decoder_forward(what, dec, z, data)
        n_params = sum(prm.numel() for prm in dec.parameters())
        expected = latent * hidden + hidden + hidden * data + data
        if n_params != expected:
            raise CheckFailed(what, f"has {n_params} parameters, expected {expected}",
                              "use exactly two linear layers, fc1 and fc2, with biases")
        with on_fresh_inputs(seed):
            visible.diagnose_decoder(what, p, decoder_values(dec, z))


# ------------------------------------------------------------------------ log-densities -------
def check_logpdf_diagonal_gaussian(fn, level: str = "visible"):
    what = "logpdf_diagonal_gaussian"
    visible.check_logpdf_diagonal_gaussian(fn)
    if level == "visible":
        return
    fresh = grading_seed()
    for seed, batch, dim in [(1, 13, 7), (2, 1, 1), (3, 64, 2), (fresh, 11, 5)]:
        z, mu, var = visible.gaussian_inputs(seed, batch, dim)
        out = require_tensor(what, call(what, fn, z, mu, var))
        with on_fresh_inputs(seed) if seed == fresh else contextlib.nullcontext():
            visible.diagnose_gaussian(what, out, z, gaussian_values(z, mu, var))
    # A prior given as [D] must broadcast against z of shape [B, D].
    z, _, _ = visible.gaussian_inputs(4, 9, 3)
    mu0, var0 = torch.zeros(3), torch.ones(3)
    out = require_tensor(what, call(what, fn, z, mu0, var0), (9,),
                         "broadcast mu and sigma_square of shape [D] against z of shape [B, D]; "
                         "sum over the last dimension")
    visible.diagnose_gaussian(what, out, z,
                              gaussian_values(z, mu0.expand_as(z), var0.expand_as(z)))
    # Small and large variances, float64.
    z, mu, var = visible.gaussian_inputs(5, 8, 4, dtype=torch.float64)
    var = var * torch.tensor([1e-3, 1.0, 50.0, 1e2], dtype=torch.float64)
    visible.diagnose_gaussian(what, require_tensor(what, call(what, fn, z, mu, var)), z,
                              gaussian_values(z, mu, var))
    randomised.check("logpdf_diagonal_gaussian", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): a constant made as a tensor on the CPU
    # (torch.tensor([2 * pi])) fails there.
    on_another_device(what, fn, *visible.gaussian_inputs(6, 4, 3),
                      hint="write constants as Python numbers (math.log(2 * math.pi)) and "
                           "compute with z, mu and sigma_square; a tensor you create needs "
                           "device=z.device")


def check_logpdf_bernoulli(fn, level: str = "visible"):
    what = "logpdf_bernoulli"
    visible.check_logpdf_bernoulli(fn)
    if level == "visible":
        return
    fresh = grading_seed()
    for seed, batch, dim in [(1, 7, 784), (2, 1, 3), (fresh, 9, 40)]:
        x, p = visible.bernoulli_inputs(seed, batch, dim)
        out = require_tensor(what, call(what, fn, x, p))
        if not bool(torch.isfinite(out).all()):
            raise CheckFailed(what, "returned NaN or infinite values for probabilities in "
                                    "[0.05, 0.95]",
                              "make it numerically safe: " + visible.SATURATED_BERNOULLI)
        with on_fresh_inputs(seed) if seed == fresh else contextlib.nullcontext():
            visible.diagnose_bernoulli(what, out, x, bernoulli_values(x, p))
    # Saturated decoder outputs: p exactly 0 or 1 where the pixel agrees must stay finite.
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    p = torch.tensor([[0.0, 1.0, 0.3, 0.6], [1.0, 1.0, 0.0, 0.0]])
    out = require_tensor(what, call(what, fn, x, p), (2,))
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, f"returned {out.tolist()} when p is exactly 0 or 1 where the "
                                "pixel agrees (0 * log 0 = nan)",
                          "make it numerically safe: " + visible.SATURATED_BERNOULLI)
    if not close(out, ref_logpdf_bernoulli(x, p), atol=1e-3):
        raise CheckFailed(what, "is wrong when p is exactly 0 or 1",
                          "with p clamped to [eps, 1 - eps] the agreeing pixels add about 0")
    # A pixel that contradicts a saturated p: very unlikely, but never NaN or positive.
    out = require_tensor(what, call(what, fn, torch.tensor([[1.0, 0.0]]),
                                    torch.tensor([[0.0, 0.5]])), (1,))
    if not float(out[0]) <= -10:                   # NaN fails too
        raise CheckFailed(what, f"gives {float(out[0])} for x = 1 at p = 0, which must be "
                                "<= -10 (or -inf), never NaN",
                          visible.SATURATED_BERNOULLI)
    randomised.check("logpdf_bernoulli", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): torch.ones(p.shape) - p fails there.
    on_another_device(what, fn, *visible.bernoulli_inputs(3, 4, 6),
                      hint="compute with x and p themselves (1 - p, not torch.ones(p.shape) - p); "
                           "a tensor you create needs device=p.device")


# ------------------------------------------------------------------------ samplers ------------
def check_sample_diagonal_gaussian(fn, level: str = "visible"):
    what = "sample_diagonal_gaussian"
    z, grad_mu, grad_var = visible.run_sample_diagonal_gaussian(fn)
    if level == "visible":
        return
    expected = ((z - grad_mu) / (2 * grad_var)).detach()
    n = 40000
    mu = torch.tensor([1.0, -2.0, 0.0]).expand(n, 3).contiguous()
    var = torch.tensor([4.0, 0.25, 1.0]).expand(n, 3).contiguous()
    torch.manual_seed(1)
    z = require_tensor(what, call(what, fn, mu, var), (n, 3)).detach()
    if not bool(torch.isfinite(z).all()):
        raise CheckFailed(what, "the samples have NaN or infinite values",
                          "z = mu + sqrt(sigma_square) * eps with eps = torch.randn_like(mu)")
    m, v = z.mean(0), z.var(0)
    if not float(v.min()) >= 1e-6:
        raise CheckFailed(what, "every row gets the same noise",
                          "draw one independent eps per entry: torch.randn_like(mu)")
    if not close(m, mu[0], atol=0.05):
        raise CheckFailed(what, f"sample means {m.tolist()} differ from mu {mu[0].tolist()}",
                          "centre the noise on mu")
    if close(v, var[0] ** 2, rtol=0.05, atol=0.01) and not close(v, var[0], rtol=0.05):
        raise CheckFailed(what, "the samples have variance sigma_square^2",
                          "multiply the noise by sqrt(sigma_square), the standard deviation")
    if not close(v, var[0], rtol=0.05, atol=0.01):
        raise CheckFailed(what, f"sample variances {v.tolist()} differ from sigma_square "
                                f"{var[0].tolist()}",
                          "draw eps from a standard normal (torch.randn_like), one per entry, "
                          "and scale it by sqrt(sigma_square)")
    skew = (((z - m) / v.sqrt()) ** 3).mean(0)
    kurt = (((z - m) / v.sqrt()) ** 4).mean(0)
    if not (close(skew, torch.zeros(3), atol=0.1) and close(kurt, 3 * torch.ones(3), atol=0.25)):
        raise CheckFailed(what, "the samples are not Gaussian (wrong skewness or kurtosis)",
                          "draw eps with torch.randn_like, not torch.rand")
    if not close(grad_var.grad, expected, atol=1e-4):
        raise CheckFailed(what, "the gradient with respect to sigma_square is wrong",
                          "scale standard normal noise by sqrt(sigma_square)")
    randomised.check("sample_diagonal_gaussian", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): noise drawn by torch.randn(mu.shape) is on
    # the CPU and fails there.
    on_another_device(what, fn, torch.zeros(4, 3), torch.ones(4, 3),
                      hint="draw the noise with torch.randn_like(mu), which follows mu's device "
                           "and dtype (torch.randn(mu.shape) is always on the CPU)")


def check_sample_bernoulli(fn, level: str = "visible"):
    what = "sample_bernoulli"
    visible.check_sample_bernoulli(fn)
    if level == "visible":
        return
    torch.manual_seed(0)
    p = torch.full((20000, 5), 0.3)
    x = require_tensor(what, call(what, fn, p), (20000, 5)).float()
    rate = float(x.mean())
    if not bool(((x == 0) | (x == 1)).all()):
        raise CheckFailed(what, "returned values other than 0 and 1 (or NaN)",
                          "sample binary pixels: torch.bernoulli(p).float()")
    if abs(rate - 0.7) < 0.02:
        raise CheckFailed(what, "pixels are 1 with probability 1 - p",
                          "a pixel is 1 when a uniform draw is below p")
    if rate < 0.02:
        raise CheckFailed(what, "pixels with p = 0.3 are never 1: that is thresholding",
                          "sample: each pixel is 1 with probability p (torch.bernoulli)")
    if not abs(rate - 0.3) <= 0.02:
        raise CheckFailed(what, f"pixels with p = 0.3 are 1 at rate {rate:.3f}",
                          "each pixel must be 1 with probability p")
    corr = torch.corrcoef(x.T)
    off_diagonal = corr[~torch.eye(5, dtype=torch.bool)]
    if not (float(x.std(0).min()) > 0 and float(off_diagonal.abs().max()) <= 0.05):
        raise CheckFailed(what, "pixels are not drawn independently",
                          "draw one uniform number per pixel (torch.rand_like(p))")
    for value in (0.0, 1.0):
        out = call(what, fn, torch.full((2, 4), value))
        if not bool((out == value).all()):
            raise CheckFailed(what, f"p = {value} does not give x = {value}",
                              "compare a uniform draw in [0, 1) with p: u < p")
    # float32 whatever the dtype of p.
    p64 = torch.rand(3, 10, generator=generator(1), dtype=torch.float64)
    x64 = require_tensor(what, call(what, fn, p64), (3, 10), "return one 0/1 value per pixel")
    if x64.dtype != torch.float32:
        raise CheckFailed(what, f"returned dtype {x64.dtype} for float64 probabilities",
                          "always return float32 0/1 values, whatever the dtype of p: "
                          "torch.bernoulli(p).float() (or .to(torch.float32))")
    randomised.check("sample_bernoulli", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): torch.rand(p.shape) is on the CPU.
    on_another_device(what, fn, torch.full((3, 4), 0.5),
                      hint="draw with torch.bernoulli(p), or compare torch.rand_like(p) < p "
                           "(torch.rand(p.shape) is always on the CPU)")


# ------------------------------------------------------------------------ ELBO ----------------
def elbo_gradients(z, mu, var, x, p):
    """The gradients of the reference ELBO with respect to mu, sigma_square and p."""
    mu, var, p = (t.detach().clone().requires_grad_(True) for t in (mu, var, p))
    latent = z.shape[-1]
    elbo = (ref_logpdf_bernoulli(x, p)
            + ref_logpdf_diagonal_gaussian(z, torch.zeros(latent), torch.ones(latent))
            - ref_logpdf_diagonal_gaussian(z, mu, var)).mean()
    return torch.autograd.grad(elbo, (mu, var, p))


def _check_elbo_case(what, fn, case):
    out, inputs = visible.run_elbo_loss(fn, ref_logpdf_diagonal_gaussian, ref_logpdf_bernoulli,
                                        case)
    values = elbo_values(*visible.elbo_inputs(*case))
    visible.diagnose_elbo(what, out, values)
    hint = "do not detach or convert inputs to NumPy"
    if not out.requires_grad:
        raise CheckFailed(what, "no gradient reaches mu, sigma_square or p", hint)
    backward(what, out, hint)
    expected = elbo_gradients(*visible.elbo_inputs(*case))
    for name, t, ref in zip(("mu", "sigma_square", "p"), inputs, expected):
        if t.grad is None or not bool(torch.isfinite(t.grad).all()):
            raise CheckFailed(what, f"no gradient reaches {name} (or it is NaN)", hint)
        if not close(t.grad, ref, atol=1e-4, rtol=1e-3):
            raise CheckFailed(what, f"the gradient with respect to {name} is wrong, though "
                                    "the value is right",
                              "compute the ELBO with differentiable torch operations on the "
                              "inputs themselves (no .detach(), .item() or constants taken from "
                              "their values)")


def check_elbo_loss(fn, level: str = "visible"):
    """Graded with the reference log-densities substituted, so only ``elbo_loss`` is judged."""
    what = "elbo_loss"
    visible.check_elbo_loss(fn)
    if level == "visible":
        return
    # Fixed inputs of other sizes, and inputs drawn at grading time: the value, and the gradients
    # compared with autograd through the reference.
    fresh = grading_seed()
    for case in [(1, 10, 5, 784), (2, 1, 2, 4), (fresh, 7, 3, 50)]:
        with on_fresh_inputs(fresh) if case[0] == fresh else contextlib.nullcontext():
            _check_elbo_case(what, fn, case)
    # The same examples twice are the same batch mean: the value does not grow with the batch.
    iso = with_globals(fn, logpdf_diagonal_gaussian=ref_logpdf_diagonal_gaussian,
                       logpdf_bernoulli=ref_logpdf_bernoulli)
    once = visible.elbo_inputs(fresh + 1, 4, 2, 16)
    single = require_tensor(what, call(what, iso, *once), ())
    twice = require_tensor(what, call(what, iso, *(torch.cat([t, t]) for t in once)), ())
    if not close(twice, single, atol=visible.elbo_tolerance(elbo_values(*once))):
        raise CheckFailed(what, f"the same 4 examples given twice (a batch of 8) give "
                                f"{float(twice.detach()):.4f}, given once "
                                f"{float(single.detach()):.4f} (inputs drawn at grading time, "
                                f"seed {fresh + 1})",
                          "return the batch mean (.mean()), so that the value does not depend "
                          "on the batch size")
    randomised.check("elbo_loss", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): a prior made by torch.zeros(D) or
    # torch.FloatTensor([0] * D) is on the CPU and fails there.
    iso = with_globals(fn, logpdf_diagonal_gaussian=formula_logpdf_diagonal_gaussian,
                       logpdf_bernoulli=ref_logpdf_bernoulli)
    on_another_device(what, iso, *visible.elbo_inputs(3, 5, 2, 12),
                      hint="make the prior's parameters on the inputs' device: "
                           "torch.zeros_like(sampled_z) and torch.ones_like(sampled_z) (or "
                           "torch.zeros(D, device=sampled_z.device))")


# ------------------------------------------------------------------------ figure functions ----
def check_sample_data_space(fn, level: str = "visible"):
    """``fn(decoder, n_samples, latent_dimension) -> (p, x)`` for prior draws z ~ N(0, I)."""
    what = "sample_data_space"
    visible.check_sample_data_space(fn)
    if level == "visible":
        return
    z, p, x = visible.run_sample_data_space(fn, ref_sample_bernoulli, 4000)
    if not (close(z.mean(0), torch.zeros(2), atol=0.1) and close(z.std(0), torch.ones(2),
                                                                  atol=0.1)):
        raise CheckFailed(what, f"the z have mean {z.mean(0).tolist()} and std "
                                f"{z.std(0).tolist()}",
                          "draw z from the prior: torch.randn(n_samples, latent_dimension, "
                          "device=next(decoder.parameters()).device)")
    if not abs(float(x.float().mean() - p.mean())) <= 0.01 or \
            bool((x == (p > 0.5).float()).all()):
        raise CheckFailed(what, "x does not look sampled from p",
                          "use sample_bernoulli(p), not a threshold")
    # A decoder on another device than the CPU (a GPU): codes drawn by torch.randn(n, 2) are
    # on the CPU and fail there.
    on_another_device(what, with_globals(fn, sample_bernoulli=ref_sample_bernoulli),
                      visible._RecordingDecoder(), 6, 2,
                      hint="draw z on the decoder's device: torch.randn(n_samples, "
                           "latent_dimension, device=next(decoder.parameters()).device)")


def check_encode_means(fn, level: str = "visible"):
    """``fn(encoder, x) -> mu`` of q(z|x) for every row of x, without gradients."""
    what = "encode_means"
    visible.check_encode_means(fn)
    if level == "visible":
        return
    out = visible.run_encode_means(fn, 301)
    if out.requires_grad:
        raise CheckFailed(what, "keeps the autograd graph",
                          "wrap the call in torch.no_grad() or .detach() the result")


def check_interpolation_path(fn, level: str = "visible"):
    """``fn(mu_a, mu_b, step) -> [K+1, D]`` with rows alpha*mu_a + (1-alpha)*mu_b, alpha=0..1."""
    what = "interpolation_path"
    visible.check_interpolation_path(fn)
    if level == "visible":
        return
    for step, dim in [(0.1, 2), (0.25, 5), (0.5, 1)]:
        ref = interpolation_ref(*visible.interpolation_inputs(step, dim), step)
        visible.diagnose_interpolation(what, fn, step, dim, ref)
    # Codes drawn at grading time.
    seed = grading_seed()
    g = generator(seed)
    mu_a, mu_b = torch.randn(3, generator=g), torch.randn(3, generator=g)
    with on_fresh_inputs(seed):
        out = require_tensor(what, call(what, fn, mu_a, mu_b, 0.2), (6, 3),
                             "alpha runs from 0 to 1 inclusive in steps of 0.2: 6 rows")
        if not close(out, interpolation_ref(mu_a, mu_b, 0.2), atol=1e-5):
            raise CheckFailed(what, "rows are not alpha*mu_a + (1-alpha)*mu_b at alpha = k*step",
                              "use evenly spaced alphas 0, step, ..., 1")
    randomised.check("interpolation_path", fn, sys.modules[__name__])
    # Codes on another device than the CPU (a GPU): torch.linspace(0, 1, n) is on the CPU.
    mu_a, mu_b = visible.interpolation_inputs(0.25, 3)
    on_another_device(what, fn, mu_a, mu_b, 0.25,
                      hint="make the alphas on the codes' device: torch.linspace(0, 1, k + 1, "
                           "device=mu_a.device)")
