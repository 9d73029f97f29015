"""Visible checks of notebook 01 (variational auto-encoder).

Each ``check_*`` takes your function (or class) and tests its contract on fixed inputs: shapes,
dtypes, gradients, and the usual mistakes, which it names. A failure raises
:class:`~dgm.checks.common.CheckFailed` whose message says what is wrong and how to fix it. The
values compared with were recorded by the course staff; grading runs further, hidden checks.
"""

from __future__ import annotations

import torch
from torch import nn

from dgm.checks import written_answers  # noqa: F401 - used by the notebooks
from dgm.checks.common import (CheckFailed, backward, call, close, expected, explain_mismatch,
                               generator, known_mistakes, replay, require_tensor, set_parameters,
                               with_globals)

NOTEBOOK = "vae"


# ------------------------------------------------------------------------ decoder -------------
DECODER_VISIBLE = (2, 500, 784)          # latent, hidden, data
DECODER_WEIGHTS_SEED = 2

#: The usual mistakes of ``Decoder.forward``, in the order they are tried.
DECODER_MISTAKES = {
    "relu_hidden": ("uses ReLU after fc1", "the hidden layer uses tanh"),
    "swapped_activations": ("applies the activations in the wrong order",
                            "tanh after fc1, sigmoid after fc2"),
    "sigmoid_hidden": ("uses sigmoid after fc1", "tanh after fc1, sigmoid after fc2"),
    "linear_hidden": ("has no non-linearity after fc1", "apply tanh after fc1"),
    "no_sigmoid": ("has no sigmoid at the end",
                   "finish with a sigmoid: the outputs are Bernoulli means in (0, 1)"),
}


def _make(what, cls, *args):
    try:
        return call(what, cls, *args)
    except CheckFailed as e:
        if not e.problem.startswith("raised "):
            raise
        error = e.problem[len("raised "):].rsplit(" (called with ", 1)[0]
        raise CheckFailed(what, f"could not be built as Decoder{args}: {error}",
                          "keep the signature Decoder(latent_dimension, hidden_units, "
                          "data_dimension)") from None


def require_module_class(what, cls):
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise CheckFailed(what, "is not an nn.Module class", "define `class Decoder(nn.Module)`")


def build_decoder(what, Decoder, latent, hidden, data):
    """``Decoder(latent, hidden, data)`` built under seed 0, with its fc1 and fc2 checked."""
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
    return dec


def decoder_input(latent):
    return torch.randn(5, latent, generator=generator(1))


def decoder_forward(what, dec, z, data):
    return require_tensor(what + ".forward", call(what + ".forward", dec, z), (len(z), data),
                          "return one probability per pixel: [batch, data_dimension]")


def diagnose_decoder(what, p, values):
    """``values``: the right output (``ref``) and those of :data:`DECODER_MISTAKES`."""
    if not bool(torch.isfinite(p).all()):
        raise CheckFailed(what, "forward(z) returns NaN or infinite values",
                          "compute sigmoid(fc2(tanh(fc1(z)))): every output is a probability")
    if close(p, values["ref"], atol=1e-5):
        return
    for candidate, problem, hint in known_mistakes(values, DECODER_MISTAKES):
        if close(p, candidate, atol=1e-5):
            raise CheckFailed(what, problem, hint)
    if not bool(((p >= 0) & (p <= 1)).all()):
        raise CheckFailed(what, "outputs values outside [0, 1]",
                          "finish with a sigmoid: the outputs are Bernoulli means")
    raise CheckFailed(what, "forward(z) is not sigmoid(fc2(tanh(fc1(z))))",
                      "compute fc1, tanh, fc2, sigmoid in that order")


def check_decoder(Decoder):
    """Layers fc1 and fc2 of the right sizes; forward compared, with fixed weights in fc1 and
    fc2, with the recorded result."""
    what = "Decoder"
    require_module_class(what, Decoder)
    latent, hidden, data = DECODER_VISIBLE
    dec = build_decoder(what, Decoder, latent, hidden, data)
    set_parameters([dec.fc1, dec.fc2], DECODER_WEIGHTS_SEED)
    p = decoder_forward(what, dec, decoder_input(latent), data)
    diagnose_decoder(what, p, expected(NOTEBOOK, "decoder"))


# ------------------------------------------------------------------------ log-densities -------
GAUSSIAN_VISIBLE = (0, 5, 2)             # seed, batch, dim

GAUSSIAN_MISTAKES = {
    "std_as_variance": ("you used sigma_square as the standard deviation",
                        "sigma_square is the variance: use log(sigma_square)/2 and "
                        "(z - mu)^2 / sigma_square"),
    "no_constant": ("the result is off by log(2*pi)/2 per dimension",
                    "include the normalising constant -log(2*pi)/2 for every coordinate"),
    "mean_over_dims": ("you averaged over the latent dimensions", "sum over them instead"),
    "log_variance_doubled": ("the log-variance term is doubled",
                             "the normaliser is -log(sigma_square)/2 per coordinate, not "
                             "-log(sigma_square)"),
    "quadratic_doubled": ("the quadratic term is doubled",
                          "the exponent is -(z - mu)^2 / (2 sigma_square)"),
    "negated": ("the sign is flipped", "return the log-density, not its negative"),
}


def gaussian_inputs(seed, batch, dim, dtype=torch.float32):
    g = generator(seed)
    z = torch.randn(batch, dim, generator=g, dtype=dtype)
    mu = torch.randn(batch, dim, generator=g, dtype=dtype)
    sigma_square = torch.rand(batch, dim, generator=g, dtype=dtype) * 3 + 0.2
    return z, mu, sigma_square


def diagnose_gaussian(what, out, z, values):
    """``values``: ``ref`` = log N(z; mu, diag(sigma_square)) per example, and the mistakes'."""
    ref = values["ref"]
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
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, "returned NaN or infinite values for finite inputs with "
                                "positive variances",
                          "compute -1/2 * sum_d [log(2 pi sigma_square_d) + (z_d - mu_d)^2 / "
                          "sigma_square_d] with torch operations")
    if close(out, ref):
        return
    explain_mismatch(what, out, known_mistakes(values, GAUSSIAN_MISTAKES),
                     "values differ from log N(z; mu, diag(sigma_square))",
                     "compute -1/2 * sum_d [log(2 pi sigma_square_d) + (z_d - mu_d)^2 / "
                     "sigma_square_d]")


def check_logpdf_diagonal_gaussian(fn):
    what = "logpdf_diagonal_gaussian"
    z, mu, var = gaussian_inputs(*GAUSSIAN_VISIBLE)
    out = require_tensor(what, call(what, fn, z, mu, var))
    diagnose_gaussian(what, out, z, expected(NOTEBOOK, "logpdf_diagonal_gaussian"))


BERNOULLI_VISIBLE = (0, 4, 20)           # seed, batch, dim

#: What "numerically safe" means for the Bernoulli log-likelihood (graded by the hidden checks).
SATURATED_BERNOULLI = ("where p is exactly 0 or 1 the result must stay finite for pixels that "
                       "agree, and at p = 0 the log-probability of a 1 must be <= -10 (or -inf), "
                       "never NaN: clamp p to [eps, 1 - eps] with eps <= 1e-5 (e.g. 1e-7; "
                       "log(1e-4) = -9.2 is not low enough), or use torch.xlogy")

BERNOULLI_MISTAKES = {
    "mean_over_pixels": ("you averaged over pixels", "sum over pixels instead"),
    "negated": ("the sign is flipped (that is the binary cross-entropy)",
                "return the log-likelihood sum x log p + (1 - x) log(1 - p)"),
    "no_zero_term": ("the (1 - x) log(1 - p) term is missing",
                     "pixels that are 0 contribute log(1 - p)"),
    "swapped": ("x and p are swapped", "the data x is the exponent; p is the probability"),
}


def bernoulli_inputs(seed, batch, dim):
    g = generator(seed)
    x = (torch.rand(batch, dim, generator=g) < 0.4).float()
    p = torch.rand(batch, dim, generator=g) * 0.9 + 0.05
    return x, p


def diagnose_bernoulli(what, out, x, values):
    ref = values["ref"]
    if out.dim() == 0:
        raise CheckFailed(what, "returned a scalar", "sum over pixels only; keep [batch]")
    if tuple(out.shape) == tuple(x.shape):
        raise CheckFailed(what, "returned one value per pixel", "sum over the last dimension")
    if tuple(out.shape) != tuple(ref.shape):
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected "
                                f"{tuple(ref.shape)}", "sum over the last dimension only")
    if close(out, ref, atol=1e-3):
        return
    explain_mismatch(what, out, known_mistakes(values, BERNOULLI_MISTAKES),
                     "values differ from sum_j x_j log p_j + (1 - x_j) log(1 - p_j)",
                     "compute the Bernoulli log-likelihood per pixel and sum over pixels", atol=1e-3)


def check_logpdf_bernoulli(fn):
    """The contract on probabilities in [0.05, 0.95]. Grading also checks that the function is
    numerically safe (see :data:`SATURATED_BERNOULLI`)."""
    what = "logpdf_bernoulli"
    x, p = bernoulli_inputs(*BERNOULLI_VISIBLE)
    out = require_tensor(what, call(what, fn, x, p))
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, f"returned {out.tolist()}: not finite for probabilities in "
                                "[0.05, 0.95]", "make it numerically safe: " + SATURATED_BERNOULLI)
    diagnose_bernoulli(what, out, x, expected(NOTEBOOK, "logpdf_bernoulli"))


# ------------------------------------------------------------------------ samplers ------------
def run_sample_diagonal_gaussian(fn):
    """The visible contract; returns the sample and the inputs, whose gradients it filled."""
    what = "sample_diagonal_gaussian"
    mu = torch.tensor([[0.5, -1.0]] * 4, requires_grad=True)
    var = torch.tensor([[2.0, 0.3]] * 4, requires_grad=True)
    torch.manual_seed(0)
    z = require_tensor(what, call(what, fn, mu, var), (4, 2),
                       "return one sample per row, with the shape of mu")
    reparameterise = ("use the reparameterisation trick: z = mu + sqrt(sigma_square) * eps "
                      "with eps ~ N(0, I) drawn by torch.randn_like")
    if not bool(torch.isfinite(z).all()):
        raise CheckFailed(what, "the sample has NaN or infinite values", reparameterise)
    if not z.requires_grad:
        raise CheckFailed(what, "the sample does not depend on mu and sigma_square "
                                "differentiably", reparameterise)
    backward(what, z, reparameterise, reduce="sum")
    if var.grad is None or mu.grad is None:
        raise CheckFailed(what, "gradients do not reach " + ("sigma_square" if var.grad is None
                                                             else "mu"),
                          "use the reparameterisation trick: z = mu + sqrt(sigma_square) * eps")
    if not close(mu.grad, torch.ones_like(mu)):
        raise CheckFailed(what, "dz/dmu is not 1", "add mu to the scaled noise once, unscaled")
    if not bool(torch.isfinite(var.grad).all()):
        raise CheckFailed(what, "the gradient with respect to sigma_square is NaN or infinite",
                          reparameterise)
    return z, mu, var


def check_sample_diagonal_gaussian(fn):
    run_sample_diagonal_gaussian(fn)


def check_sample_bernoulli(fn):
    what = "sample_bernoulli"
    p = torch.rand(3, 10, generator=generator(0))
    x = require_tensor(what, call(what, fn, p), (3, 10), "return one 0/1 value per pixel")
    if x.dtype != torch.float32:
        raise CheckFailed(what, f"returned dtype {x.dtype}", "return float32 0/1 values, "
                          "whatever the dtype of p (e.g. torch.bernoulli(p).float(), or .float() "
                          "on a boolean tensor)")
    if not bool(((x == 0) | (x == 1)).all()):
        raise CheckFailed(what, "returned values other than 0 and 1",
                          "sample binary pixels, not probabilities")


# ------------------------------------------------------------------------ ELBO ----------------
ELBO_VISIBLE = (0, 6, 2, 30)             # seed, batch, latent, data

ELBO_MISTAKES = {
    "batch_sum": ("you summed over the batch",
                  "return the batch mean (.mean()), so the scale does not depend on batch size"),
    "negated": ("the sign is flipped: this is the loss, not the ELBO",
                "return the ELBO itself; the training loop maximises it"),
    "no_prior": ("the prior term log p(z) is missing",
                 "add log N(z; 0, I), e.g. logpdf_diagonal_gaussian(sampled_z, "
                 "torch.zeros_like(sampled_z), torch.ones_like(sampled_z))"),
    "no_entropy": ("the entropy term -log q(z|x) is missing",
                   "subtract logpdf_diagonal_gaussian(z, mu, sigma_square)"),
    "closed_form_kl": ("you used the closed-form KL (Eq. 1)",
                       "this function is the one-sample estimate of Eq. 2: "
                       "log p(x|z) + log p(z) - log q(z|x) at the given z"),
    "entropy_sign": ("log q(z|x) has the wrong sign", "the ELBO subtracts log q(z|x)"),
}


def elbo_inputs(seed, batch, latent, data):
    g = generator(seed)
    mu = torch.randn(batch, latent, generator=g)
    var = torch.rand(batch, latent, generator=g) + 0.3
    z = mu + var.sqrt() * torch.randn(batch, latent, generator=g)
    x = (torch.rand(batch, data, generator=g) < 0.3).float()
    p = torch.rand(batch, data, generator=g) * 0.9 + 0.05
    return z, mu, var, x, p


def run_elbo_loss(fn, logpdf_diagonal_gaussian, logpdf_bernoulli, case):
    """``fn`` on the inputs of ``case``, seeing the given log-densities instead of the
    notebook's; returns the result and the inputs that require gradients (mu, sigma_square, p)."""
    what = "elbo_loss"
    iso = with_globals(fn, logpdf_diagonal_gaussian=logpdf_diagonal_gaussian,
                       logpdf_bernoulli=logpdf_bernoulli)
    z, mu, var, x, p = elbo_inputs(*case)
    mu.requires_grad_(True)
    var.requires_grad_(True)
    p.requires_grad_(True)
    out = require_tensor(what, call(what, iso, z, mu, var, x, p))
    return out, (mu, var, p)


def elbo_tolerance(values) -> float:
    """The absolute tolerance of the ELBO: 1e-3, plus float32 rounding on the scale of the terms
    (the three log-densities can be large and cancel), so that the order of the reductions
    (mean; sum, then / B; sums of each term, then / B; float64) never matters."""
    terms = values["log_px"].abs() + values["log_pz"].abs() + values["log_q"].abs()
    return 1e-3 + 1e-4 * float(terms.double().mean())


def diagnose_elbo(what, out, values):
    if out.dim() != 0:
        raise CheckFailed(what, f"returned shape {tuple(out.shape)}, expected a scalar",
                          "average the per-example ELBO over the batch with .mean()")
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(what, f"returned {float(out.detach())}, though the log-densities it "
                                "is given are finite on these inputs",
                          "call logpdf_diagonal_gaussian(sampled_z, mu, sigma_square) "
                          "(sigma_square is the variance), "
                          "logpdf_diagonal_gaussian(sampled_z, zeros, ones) and "
                          "logpdf_bernoulli(x, p) on the inputs as given, and return the batch "
                          "mean of log p(x|z) + log p(z) - log q(z|x)")
    ref, atol = values["ref"], elbo_tolerance(values)
    if close(out, ref, atol=atol):
        return
    # Only a mistake whose value is told apart from the right one is named.
    mistakes = [m for m in known_mistakes(values, ELBO_MISTAKES)
                if not close(m[0], ref, atol=atol)]
    explain_mismatch(what, out, mistakes,
                     "value differs from mean[log p(x|z) + log p(z) - log q(z|x)]",
                     "combine the three log-densities per example, then average", atol=atol)


def recorded_log_densities(values, case):
    """Stand-ins for the notebook's log-densities that know their values on the inputs of
    ``case`` only (recorded as ``log_q``, ``log_pz`` and ``log_px``)."""
    z, mu, var, x, p = elbo_inputs(*case)
    latent = z.shape[-1]
    gaussian = replay(("z", "mu", "sigma_square"),
                      [((z, mu, var), values["log_q"]),
                       ((z, torch.zeros(latent), torch.ones(latent)), values["log_pz"])])
    bernoulli = replay(("x", "p"), [((x, p), values["log_px"])])
    return gaussian, bernoulli


def check_elbo_loss(fn):
    """Judged on its own: the log-densities it calls are replaced by stand-ins that give the
    right values on this check's inputs, so a mistake in them does not show here."""
    what = "elbo_loss"
    values = expected(NOTEBOOK, "elbo_loss")
    gaussian, bernoulli = recorded_log_densities(values, ELBO_VISIBLE)
    out, _ = run_elbo_loss(fn, gaussian, bernoulli, ELBO_VISIBLE)
    diagnose_elbo(what, out, values)


# ------------------------------------------------------------------------ figure functions ----
class _RecordingDecoder(nn.Module):
    def __init__(self, latent=2, data=784):
        super().__init__()
        self.fc = nn.Linear(latent, data)
        self.inputs: list[torch.Tensor] = []

    def forward(self, z):
        self.inputs.append(z.detach().clone())
        return torch.sigmoid(self.fc(z))


def _binary_placeholder(p):
    """Stands in for the notebook's ``sample_bernoulli`` in the visible check, which looks at
    shapes and at x being binary only: all zeros (not a sampler)."""
    return torch.zeros_like(p)


def run_sample_data_space(fn, sample_bernoulli, n):
    """The contract of ``fn(decoder, n, 2) -> (p, x)``, seeing ``sample_bernoulli``; returns the
    codes the decoder received, p and x."""
    what = "sample_data_space"
    iso = with_globals(fn, sample_bernoulli=sample_bernoulli)
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
        decoded = torch.sigmoid(dec.fc(z))
    if tuple(z.shape) != (n, 2) or not close(p, decoded, atol=1e-5):
        raise CheckFailed(what, "p is not decoder(z) for the n prior draws",
                          "draw z of shape [n_samples, latent_dimension] once, and return "
                          "p = decoder(z)")
    if not bool(((x == 0) | (x == 1)).all()):
        raise CheckFailed(what, "x is not binary", "sample x with sample_bernoulli(p)")
    return z, p, x


def check_sample_data_space(fn):
    """``fn(decoder, n_samples, latent_dimension) -> (p, x)`` for prior draws z ~ N(0, I)."""
    run_sample_data_space(fn, _binary_placeholder, 10)


def run_encode_means(fn, n):
    what = "encode_means"
    from dgm.vae import Encoder

    torch.manual_seed(0)
    enc = Encoder(2, 16, 784)
    x = (torch.rand(n, 784, generator=generator(3)) < 0.3).float()
    out = require_tensor(what, call(what, fn, enc, x), (n, 2), "return one 2-D mean per image")
    mu, var = enc(x)
    if close(out, var.detach(), atol=1e-5):
        raise CheckFailed(what, "returned the variances", "return the first output, mu")
    if not close(out, mu.detach(), atol=1e-5):
        raise CheckFailed(what, "returned something other than the encoder's means (a sample?)",
                          "return mu from `mu, sigma_square = encoder(x)`, not a sample")
    return out


def check_encode_means(fn):
    """``fn(encoder, x) -> mu`` of q(z|x) for every row of x, without gradients."""
    run_encode_means(fn, 7)


INTERPOLATION_VISIBLE = (0.1, 2)         # step, dim


def interpolation_inputs(step, dim):
    g = generator(int(step * 100) + dim)
    return torch.randn(dim, generator=g), torch.randn(dim, generator=g)


def diagnose_interpolation(what, fn, step, dim, ref):
    """``fn(mu_a, mu_b, step)`` compared with ``ref``, its right result."""
    mu_a, mu_b = interpolation_inputs(step, dim)
    k = round(1 / step)
    out = require_tensor(what, call(what, fn, mu_a, mu_b, step), (k + 1, dim),
                         f"alpha runs from 0 to 1 inclusive in steps of {step}: "
                         f"{k + 1} rows (torch.linspace(0, 1, {k + 1}, device=mu_a.device))")
    if close(out, ref.flip(0), atol=1e-5):
        raise CheckFailed(what, "rows run from mu_a to mu_b",
                          "row k uses alpha = k * step with z = alpha*mu_a + (1-alpha)*mu_b, "
                          "so the first row is mu_b")
    if not close(out, ref, atol=1e-5):
        raise CheckFailed(what, "rows are not alpha*mu_a + (1-alpha)*mu_b at alpha = k*step",
                          "use evenly spaced alphas 0, step, ..., 1")


def check_interpolation_path(fn):
    """``fn(mu_a, mu_b, step) -> [K+1, D]`` with rows alpha*mu_a + (1-alpha)*mu_b, alpha=0..1."""
    step, dim = INTERPOLATION_VISIBLE
    diagnose_interpolation("interpolation_path", fn, step, dim,
                           expected(NOTEBOOK, "interpolation_path")["ref"])
