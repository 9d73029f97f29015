"""Checks for notebook 01 (variational auto-encoder).

Each ``check_*`` takes the student's function (or class) and ``level``: ``"visible"`` runs the
quick contract checks students see in the notebook; ``"hidden"`` runs the thorough ones used for
grading (other sizes, edge cases, statistics, gradients). A failure raises
:class:`~grader_tests._core.CheckFailed` whose message names the likely mistake and how to fix it.

References are independent of the student's code: ``torch.distributions`` for densities,
autograd for gradients, and the sympy-verified results in ``derivations/`` for written answers.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.distributions import Normal

from grader_tests import symbolic
from grader_tests._core import (CheckFailed, call, close, explain_mismatch, generator,
                                require_tensor, with_globals)

LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------ references ----------
def ref_logpdf_diagonal_gaussian(z, mu, sigma_square):
    return Normal(mu, sigma_square.sqrt()).log_prob(z).sum(-1)


def ref_logpdf_bernoulli(x, p):
    return (torch.xlogy(x, p) + torch.xlogy(1 - x, 1 - p)).sum(-1)


def ref_sample_bernoulli(p):
    return torch.bernoulli(p).to(torch.float32)


def _gaussian_inputs(seed, batch, dim, dtype=torch.float32):
    g = generator(seed)
    z = torch.randn(batch, dim, generator=g, dtype=dtype)
    mu = torch.randn(batch, dim, generator=g, dtype=dtype)
    sigma_square = torch.rand(batch, dim, generator=g, dtype=dtype) * 3 + 0.2
    return z, mu, sigma_square


# ------------------------------------------------------------------------ written part --------
# The expected answers live in derivations/ (verified there with sympy). They are imported inside
# the hidden checks only, so that the visible checks work without the instructors' derivations.
def _answers():
    from derivations import vae

    return vae


def check_bernoulli_likelihood(answer):
    """(a) the likelihood of one pixel, as a formula in ``y_hat`` and ``x_j``."""
    D = _answers()
    symbolic.check_expression(
        "(a) p(x_j | z)", answer, D.BERNOULLI_PIXEL, [D.y_hat, D.x_j],
        hint="a Bernoulli pixel is 1 with probability y_hat: the formula must give y_hat at "
             "x_j = 1 and 1 - y_hat at x_j = 0 (use powers with x_j and 1 - x_j)",
        on={D.x_j: (0, 1)})


def check_encoder_outputs(answer):
    """(b) how many numbers the encoder outputs for z ∈ R² with a diagonal Gaussian."""
    D = _answers()
    symbolic.check_number("(b) encoder outputs", answer, D.ENCODER_OUTPUTS,
                          hint="a diagonal Gaussian over R^2 has one mean and one variance per "
                               "latent dimension; no covariances")


def check_kl_self(answer):
    D = _answers()
    symbolic.check_expression("(g) KL(q || q)", answer, D.KL_SELF, [],
                              hint="log(q/q) is zero everywhere")


def check_kl_equal_variance(answer):
    D = _answers()
    symbolic.check_expression(
        "(h) KL(N(mu_phi, sigma^2) || N(mu_p, sigma^2))", answer, D.KL_EQUAL_VARIANCE,
        [D.mu_phi, D.mu_p, D.sigma],
        hint="with equal variances the log-ratio of the densities is "
             "[(z - mu_p)^2 - (z - mu_phi)^2] / (2 sigma^2); take its expectation under "
             "N(mu_phi, sigma^2) (sigma is the standard deviation here)")


# ------------------------------------------------------------------------ decoder -------------
def _make(what, cls, *args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(*args)
    except NotImplementedError:
        raise CheckFailed(what, "is not implemented yet",
                          "replace `raise NotImplementedError()` with your code") from None
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(what, f"could not be built as Decoder{args}: {type(e).__name__}: {e}",
                          "keep the signature Decoder(latent_dimension, hidden_units, "
                          "data_dimension)") from None


def check_decoder(Decoder, level: str = "visible"):
    what = "Decoder"
    if not isinstance(Decoder, type) or not issubclass(Decoder, nn.Module):
        raise CheckFailed(what, "is not an nn.Module class", "define `class Decoder(nn.Module)`")
    dims = [(2, 500, 784)] if level == "visible" else [(2, 500, 784), (3, 7, 11)]
    for latent, hidden, data in dims:
        torch.manual_seed(0)
        dec = _make(what, Decoder, latent, hidden, data)
        for name, shape in (("fc1", (hidden, latent)), ("fc2", (data, hidden))):
            layer = getattr(dec, name, None)
            if not isinstance(layer, nn.Linear):
                raise CheckFailed(what, f"has no nn.Linear attribute `{name}`",
                                  "name the layers fc1 (latent -> hidden) and fc2 "
                                  "(hidden -> data)")
            if tuple(layer.weight.shape) != shape:
                raise CheckFailed(
                    what, f"{name} maps {layer.in_features} -> {layer.out_features}, expected "
                          f"{shape[1]} -> {shape[0]} for Decoder({latent}, {hidden}, {data})",
                    "use the constructor's arguments instead of fixed sizes")
        z = torch.randn(5, latent, generator=generator(1))
        p = require_tensor(what + ".forward", call(what + ".forward", dec, z), (5, data),
                           "return one probability per pixel: [batch, data_dimension]")
        if level == "hidden":
            n_params = sum(prm.numel() for prm in dec.parameters())
            expected = latent * hidden + hidden + hidden * data + data
            if n_params != expected:
                raise CheckFailed(what, f"has {n_params} parameters, expected {expected}",
                                  "use exactly two linear layers, fc1 and fc2, with biases")
        with torch.no_grad():
            h = dec.fc1(z)
            if close(p, torch.sigmoid(dec.fc2(torch.tanh(h))), atol=1e-5):
                continue
            known = [
                (torch.sigmoid(dec.fc2(torch.relu(h))), "uses ReLU after fc1",
                 "the hidden layer uses tanh"),
                (torch.tanh(dec.fc2(torch.sigmoid(h))), "applies the activations in the wrong "
                 "order", "tanh after fc1, sigmoid after fc2"),
                (torch.sigmoid(dec.fc2(torch.sigmoid(h))), "uses sigmoid after fc1",
                 "tanh after fc1, sigmoid after fc2"),
                (torch.sigmoid(dec.fc2(h)), "has no non-linearity after fc1",
                 "apply tanh after fc1"),
                (dec.fc2(torch.tanh(h)), "has no sigmoid at the end",
                 "finish with a sigmoid: the outputs are Bernoulli means in (0, 1)"),
            ]
        for candidate, problem, hint in known:
            if close(p, candidate, atol=1e-5):
                raise CheckFailed(what, problem, hint)
        if not bool(((p >= 0) & (p <= 1)).all()):
            raise CheckFailed(what, "outputs values outside [0, 1]",
                              "finish with a sigmoid: the outputs are Bernoulli means")
        raise CheckFailed(what, "forward(z) is not sigmoid(fc2(tanh(fc1(z))))",
                          "compute fc1, tanh, fc2, sigmoid in that order")


# ------------------------------------------------------------------------ log-densities -------
def _diagnose_gaussian(what, out, z, mu, var):
    dim = z.shape[-1]
    ref = ref_logpdf_diagonal_gaussian(z, mu, var)
    batch = ref.shape
    if out.dim() == 0:
        raise CheckFailed(what, "returned a scalar", "sum over the last (latent) dimension "
                          "only; keep one value per example: shape [batch]")
    if tuple(out.shape) == tuple(z.shape):
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}, one value per coordinate",
                          "sum the per-coordinate log-densities over the last dimension")
    if tuple(out.shape) != tuple(batch):
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected {tuple(batch)}",
                          "sum over the last dimension only")
    if close(out, ref):
        return
    known = [
        (Normal(mu, var).log_prob(z).sum(-1),
         "you used sigma_square as the standard deviation",
         "sigma_square is the variance: use log(sigma_square)/2 and (z - mu)^2 / sigma_square"),
        (ref + 0.5 * dim * LOG_2PI, "the result is off by log(2*pi)/2 per dimension",
         "include the normalising constant -log(2*pi)/2 for every coordinate"),
        (ref / dim, "you averaged over the latent dimensions", "sum over them instead"),
        (ref - 0.5 * torch.log(var).sum(-1), "the log-variance term is doubled",
         "the normaliser is -log(sigma_square)/2 per coordinate, not -log(sigma_square)"),
        (ref - 0.5 * ((z - mu) ** 2 / var).sum(-1), "the quadratic term is doubled",
         "the exponent is -(z - mu)^2 / (2 sigma_square)"),
        (-ref, "the sign is flipped", "return the log-density, not its negative"),
    ]
    explain_mismatch(what, out, known, "values differ from log N(z; mu, diag(sigma_square))",
                      "compute -1/2 * sum_d [log(2 pi sigma_square_d) + (z_d - mu_d)^2 / "
                      "sigma_square_d]")


def check_logpdf_diagonal_gaussian(fn, level: str = "visible"):
    what = "logpdf_diagonal_gaussian"
    cases = [(0, 5, 2)] if level == "visible" else [(1, 13, 7), (2, 1, 1), (3, 64, 2)]
    for seed, batch, dim in cases:
        z, mu, var = _gaussian_inputs(seed, batch, dim)
        out = require_tensor(what, call(what, fn, z, mu, var))
        _diagnose_gaussian(what, out, z, mu, var)
    if level == "visible":
        return
    # A prior given as [D] must broadcast against z of shape [B, D].
    z, _, _ = _gaussian_inputs(4, 9, 3)
    mu0, var0 = torch.zeros(3), torch.ones(3)
    out = require_tensor(what, call(what, fn, z, mu0, var0), (9,),
                         "broadcast mu and sigma_square of shape [D] against z of shape [B, D]; "
                         "sum over the last dimension")
    _diagnose_gaussian(what, out, z, mu0.expand_as(z), var0.expand_as(z))
    # Small and large variances, float64.
    z, mu, var = _gaussian_inputs(5, 8, 4, dtype=torch.float64)
    var = var * torch.tensor([1e-3, 1.0, 50.0, 1e2], dtype=torch.float64)
    _diagnose_gaussian(what, require_tensor(what, call(what, fn, z, mu, var)), z, mu, var)


def _bernoulli_inputs(seed, batch, dim):
    g = generator(seed)
    x = (torch.rand(batch, dim, generator=g) < 0.4).float()
    p = torch.rand(batch, dim, generator=g) * 0.9 + 0.05
    return x, p


def _diagnose_bernoulli(what, out, x, p):
    ref = ref_logpdf_bernoulli(x, p)
    if out.dim() == 0:
        raise CheckFailed(what, "returned a scalar", "sum over pixels only; keep [batch]")
    if tuple(out.shape) == tuple(x.shape):
        raise CheckFailed(what, "returned one value per pixel", "sum over the last dimension")
    if tuple(out.shape) != tuple(ref.shape):
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected "
                                f"{tuple(ref.shape)}", "sum over the last dimension only")
    if close(out, ref, atol=1e-3):
        return
    known = [
        (ref / x.shape[-1], "you averaged over pixels", "sum over pixels instead"),
        (-ref, "the sign is flipped (that is the binary cross-entropy)",
         "return the log-likelihood sum x log p + (1 - x) log(1 - p)"),
        (torch.xlogy(x, p).sum(-1), "the (1 - x) log(1 - p) term is missing",
         "pixels that are 0 contribute log(1 - p)"),
        ((torch.xlogy(p, x.clamp(1e-7, 1)) + torch.xlogy(1 - p, (1 - x).clamp(1e-7, 1))).sum(-1),
         "x and p are swapped", "the data x is the exponent; p is the probability"),
    ]
    explain_mismatch(what, out, known,
                     "values differ from sum_j x_j log p_j + (1 - x_j) log(1 - p_j)",
                     "compute the Bernoulli log-likelihood per pixel and sum over pixels", atol=1e-3)


def check_logpdf_bernoulli(fn, level: str = "visible"):
    what = "logpdf_bernoulli"
    cases = [(0, 4, 20)] if level == "visible" else [(1, 7, 784), (2, 1, 3)]
    for seed, batch, dim in cases:
        x, p = _bernoulli_inputs(seed, batch, dim)
        _diagnose_bernoulli(what, require_tensor(what, call(what, fn, x, p)), x, p)
    if level == "visible":
        return
    # Saturated decoder outputs: p exactly 0 or 1 where the pixel agrees must stay finite.
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    p = torch.tensor([[0.0, 1.0, 0.3, 0.6], [1.0, 1.0, 0.0, 0.0]])
    out = require_tensor(what, call(what, fn, x, p), (2,))
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, f"returned {out.tolist()} when p is exactly 0 or 1 where the "
                                "pixel agrees (0 * log 0 = nan)",
                          "make it numerically safe: clamp p to [eps, 1 - eps] (e.g. eps = 1e-7) "
                          "or use torch.xlogy")
    if not close(out, ref_logpdf_bernoulli(x, p), atol=1e-3):
        raise CheckFailed(what, "is wrong when p is exactly 0 or 1",
                          "with p clamped to [eps, 1 - eps] the agreeing pixels add about 0")
    # A pixel that contradicts a saturated p: very unlikely, but never NaN or positive.
    out = require_tensor(what, call(what, fn, torch.tensor([[1.0, 0.0]]),
                                    torch.tensor([[0.0, 0.5]])), (1,))
    if torch.isnan(out).any() or float(out[0]) > -10:
        raise CheckFailed(what, f"gives {float(out[0])} for x = 1 at p = 0",
                          "that pixel is (almost) impossible: the result must be a large "
                          "negative number or -inf, never NaN")


# ------------------------------------------------------------------------ samplers ------------
def check_sample_diagonal_gaussian(fn, level: str = "visible"):
    what = "sample_diagonal_gaussian"
    mu = torch.tensor([[0.5, -1.0]] * 4, requires_grad=True)
    var = torch.tensor([[2.0, 0.3]] * 4, requires_grad=True)
    torch.manual_seed(0)
    z = require_tensor(what, call(what, fn, mu, var), (4, 2),
                       "return one sample per row, with the shape of mu")
    if not z.requires_grad:
        raise CheckFailed(what, "the sample does not depend on mu and sigma_square "
                                "differentiably",
                          "use the reparameterisation trick: z = mu + sqrt(sigma_square) * eps "
                          "with eps ~ N(0, I) drawn by torch.randn_like")
    z.sum().backward()
    if var.grad is None or mu.grad is None:
        raise CheckFailed(what, "gradients do not reach " + ("sigma_square" if var.grad is None
                                                             else "mu"),
                          "use the reparameterisation trick: z = mu + sqrt(sigma_square) * eps")
    if not close(mu.grad, torch.ones_like(mu)):
        raise CheckFailed(what, "dz/dmu is not 1", "add mu to the scaled noise once, unscaled")
    if level == "visible":
        return
    grad_var = var
    expected = ((z - mu) / (2 * var)).detach()
    n = 40000
    mu = torch.tensor([1.0, -2.0, 0.0]).expand(n, 3).contiguous()
    var = torch.tensor([4.0, 0.25, 1.0]).expand(n, 3).contiguous()
    torch.manual_seed(1)
    z = require_tensor(what, call(what, fn, mu, var), (n, 3)).detach()
    m, v = z.mean(0), z.var(0)
    if float(v.min()) < 1e-6:
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


def check_sample_bernoulli(fn, level: str = "visible"):
    what = "sample_bernoulli"
    p = torch.rand(3, 10, generator=generator(0))
    x = require_tensor(what, call(what, fn, p), (3, 10), "return one 0/1 value per pixel")
    if x.dtype != torch.float32:
        raise CheckFailed(what, f"returned dtype {x.dtype}", "return float32 0/1 values "
                          "(e.g. torch.bernoulli(p), or .float() on a boolean tensor)")
    if not bool(((x == 0) | (x == 1)).all()):
        raise CheckFailed(what, "returned values other than 0 and 1",
                          "sample binary pixels, not probabilities")
    if level == "visible":
        return
    torch.manual_seed(0)
    p = torch.full((20000, 5), 0.3)
    x = require_tensor(what, call(what, fn, p), (20000, 5)).float()
    rate = float(x.mean())
    if abs(rate - 0.7) < 0.02:
        raise CheckFailed(what, "pixels are 1 with probability 1 - p",
                          "a pixel is 1 when a uniform draw is below p")
    if rate < 0.02:
        raise CheckFailed(what, "pixels with p = 0.3 are never 1: that is thresholding",
                          "sample: each pixel is 1 with probability p (torch.bernoulli)")
    if abs(rate - 0.3) > 0.02:
        raise CheckFailed(what, f"pixels with p = 0.3 are 1 at rate {rate:.3f}",
                          "each pixel must be 1 with probability p")
    corr = torch.corrcoef(x.T)
    off_diagonal = corr[~torch.eye(5, dtype=torch.bool)]
    if float(x.std(0).min()) == 0 or bool(off_diagonal.isnan().any()) or \
            float(off_diagonal.abs().max()) > 0.05:
        raise CheckFailed(what, "pixels are not drawn independently",
                          "draw one uniform number per pixel (torch.rand_like(p))")
    for value in (0.0, 1.0):
        out = call(what, fn, torch.full((2, 4), value))
        if not bool((out == value).all()):
            raise CheckFailed(what, f"p = {value} does not give x = {value}",
                              "compare a uniform draw in [0, 1) with p: u < p")


# ------------------------------------------------------------------------ ELBO ----------------
def _elbo_inputs(seed, batch, latent, data):
    g = generator(seed)
    mu = torch.randn(batch, latent, generator=g)
    var = torch.rand(batch, latent, generator=g) + 0.3
    z = mu + var.sqrt() * torch.randn(batch, latent, generator=g)
    x = (torch.rand(batch, data, generator=g) < 0.3).float()
    p = torch.rand(batch, data, generator=g) * 0.9 + 0.05
    return z, mu, var, x, p


def check_elbo_loss(fn, level: str = "visible"):
    """Graded with the reference log-densities substituted, so only ``elbo_loss`` is judged."""
    what = "elbo_loss"
    iso = with_globals(fn, logpdf_diagonal_gaussian=ref_logpdf_diagonal_gaussian,
                       logpdf_bernoulli=ref_logpdf_bernoulli)
    cases = [(0, 6, 2, 30)] if level == "visible" else [(1, 10, 5, 784), (2, 1, 2, 4)]
    for seed, batch, latent, data in cases:
        z, mu, var, x, p = _elbo_inputs(seed, batch, latent, data)
        mu.requires_grad_(True)
        var.requires_grad_(True)
        p.requires_grad_(True)
        out = require_tensor(what, call(what, iso, z, mu, var, x, p))
        if out.dim() != 0:
            raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected a scalar",
                              "average the per-example ELBO over the batch with .mean()")
        log_px = ref_logpdf_bernoulli(x, p)
        log_pz = ref_logpdf_diagonal_gaussian(z, torch.zeros(latent), torch.ones(latent))
        log_q = ref_logpdf_diagonal_gaussian(z, mu, var)
        ref = (log_px + log_pz - log_q).mean()
        if not close(out, ref, atol=1e-3):
            kl = 0.5 * (var + mu ** 2 - 1 - var.log()).sum(-1)
            known = [
                ((log_px + log_pz - log_q).sum(), "you summed over the batch",
                 "return the batch mean (.mean()), so the scale does not depend on batch size"),
                (-ref, "the sign is flipped: this is the loss, not the ELBO",
                 "return the ELBO itself; the training loop maximises it"),
                ((log_px - log_q).mean(), "the prior term log p(z) is missing",
                 "add log N(z; 0, I), e.g. logpdf_diagonal_gaussian(z, torch.zeros(D), "
                 "torch.ones(D))"),
                ((log_px + log_pz).mean(), "the entropy term -log q(z|x) is missing",
                 "subtract logpdf_diagonal_gaussian(z, mu, sigma_square)"),
                ((log_px - kl).mean(), "you used the closed-form KL (Eq. 1)",
                 "this function is the one-sample estimate of Eq. 2: "
                 "log p(x|z) + log p(z) - log q(z|x) at the given z"),
                ((log_px + log_pz + log_q).mean(), "log q(z|x) has the wrong sign",
                 "the ELBO subtracts log q(z|x)"),
            ]
            explain_mismatch(what, out, known,
                             "value differs from mean[log p(x|z) + log p(z) - log q(z|x)]",
                             "combine the three log-densities per example, then average", atol=1e-3)
        if level == "hidden":
            if not out.requires_grad:
                raise CheckFailed(what, "no gradient reaches mu, sigma_square or p",
                                  "do not detach or convert inputs to NumPy")
            out.backward()
            for name, t in (("mu", mu), ("sigma_square", var), ("p", p)):
                if t.grad is None or not bool(torch.isfinite(t.grad).all()):
                    raise CheckFailed(what, f"no gradient reaches {name}",
                                      "do not detach or convert inputs to NumPy")


# ------------------------------------------------------------------------ figure functions ----
class _RecordingDecoder(nn.Module):
    def __init__(self, latent=2, data=784):
        super().__init__()
        self.fc = nn.Linear(latent, data)
        self.inputs: list[torch.Tensor] = []

    def forward(self, z):
        self.inputs.append(z.detach().clone())
        return torch.sigmoid(self.fc(z))


def check_sample_data_space(fn, level: str = "visible"):
    """``fn(decoder, n_samples, latent_dimension) -> (p, x)`` for prior draws z ~ N(0, I)."""
    what = "sample_data_space"
    iso = with_globals(fn, sample_bernoulli=ref_sample_bernoulli)
    n = 10 if level == "visible" else 4000
    torch.manual_seed(0)
    dec = _RecordingDecoder()
    out = call(what, iso, dec, n, 2)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed(what, "must return a pair (p, x)", "return p, x")
    p, x = (require_tensor(what, t, (n, 784), "one row per prior draw, 784 pixels")
            for t in out)
    if not dec.inputs:
        raise CheckFailed(what, "never calls the decoder", "compute p = decoder(z)")
    z = torch.cat(dec.inputs)
    with torch.no_grad():
        expect = torch.sigmoid(dec.fc(z))
    if tuple(z.shape) != (n, 2) or not close(p, expect, atol=1e-5):
        raise CheckFailed(what, "p is not decoder(z) for the n prior draws",
                          "draw z of shape [n_samples, latent_dimension] once, and return "
                          "p = decoder(z)")
    if not bool(((x == 0) | (x == 1)).all()):
        raise CheckFailed(what, "x is not binary", "sample x with sample_bernoulli(p)")
    if level == "visible":
        return
    if not (close(z.mean(0), torch.zeros(2), atol=0.1) and close(z.std(0), torch.ones(2),
                                                                  atol=0.1)):
        raise CheckFailed(what, f"the z have mean {z.mean(0).tolist()} and std "
                                f"{z.std(0).tolist()}", "draw z from the prior: torch.randn")
    if abs(float(x.float().mean() - p.mean())) > 0.01 or bool((x == (p > 0.5).float()).all()):
        raise CheckFailed(what, "x does not look sampled from p",
                          "use sample_bernoulli(p), not a threshold")


def check_encode_means(fn, level: str = "visible"):
    """``fn(encoder, x) -> mu`` of q(z|x) for every row of x, without gradients."""
    what = "encode_means"
    from dgm.vae import Encoder

    torch.manual_seed(0)
    enc = Encoder(2, 16, 784)
    n = 7 if level == "visible" else 301
    x = (torch.rand(n, 784, generator=generator(3)) < 0.3).float()
    out = require_tensor(what, call(what, fn, enc, x), (n, 2), "return one 2-D mean per image")
    mu, var = enc(x)
    if close(out, var.detach(), atol=1e-5):
        raise CheckFailed(what, "returned the variances", "return the first output, mu")
    if not close(out, mu.detach(), atol=1e-5):
        raise CheckFailed(what, "returned something other than the encoder's means (a sample?)",
                          "return mu from `mu, sigma_square = encoder(x)`, not a sample")
    if level == "hidden" and out.requires_grad:
        raise CheckFailed(what, "keeps the autograd graph",
                          "wrap the call in torch.no_grad() or .detach() the result")


def check_interpolation_path(fn, level: str = "visible"):
    """``fn(mu_a, mu_b, step) -> [K+1, D]`` with rows alpha*mu_a + (1-alpha)*mu_b, alpha=0..1."""
    what = "interpolation_path"
    cases = [(0.1, 2)] if level == "visible" else [(0.1, 2), (0.25, 5), (0.5, 1)]
    for step, dim in cases:
        g = generator(int(step * 100) + dim)
        mu_a, mu_b = torch.randn(dim, generator=g), torch.randn(dim, generator=g)
        k = round(1 / step)
        out = require_tensor(what, call(what, fn, mu_a, mu_b, step), (k + 1, dim),
                             f"alpha runs from 0 to 1 inclusive in steps of {step}: "
                             f"{k + 1} rows (torch.linspace(0, 1, {k + 1}) or "
                             "torch.arange with the end point included)")
        alphas = torch.linspace(0, 1, k + 1).unsqueeze(1)
        ref = alphas * mu_a + (1 - alphas) * mu_b
        if close(out, ref.flip(0), atol=1e-5):
            raise CheckFailed(what, "rows run from mu_a to mu_b",
                              "row k uses alpha = k * step with z = alpha*mu_a + (1-alpha)*mu_b, "
                              "so the first row is mu_b")
        if not close(out, ref, atol=1e-5):
            raise CheckFailed(what, "rows are not alpha*mu_a + (1-alpha)*mu_b at alpha = k*step",
                              "use evenly spaced alphas 0, step, ..., 1")
