"""Every check of notebook 01 both ways: the reference solution passes, and realistic wrong
implementations fail with a message that names the mistake."""

from __future__ import annotations

import math
import re

import pytest
import sympy as sp
import torch
from torch import nn

from grader_tests import vae as checks
from dgm.checks.common import CheckFailed
from tests.helpers import fails


def test_unimplemented_stub_says_so():
    def stub(z, mu, sigma_square):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.check_logpdf_diagonal_gaussian(stub)


# ------------------------------------------------------------------------ decoder -------------
def _decoder(forward, fc1_out=None, extra=False):
    class Bad(nn.Module):
        def __init__(self, latent_dimension=2, hidden_units=500, data_dimension=784):
            super().__init__()
            self.fc1 = nn.Linear(latent_dimension, fc1_out or hidden_units)
            self.fc2 = nn.Linear(fc1_out or hidden_units, data_dimension)
            if extra:
                self.fc3 = nn.Linear(data_dimension, data_dimension)

        def forward(self, z):
            return forward(self, z)
    return Bad


def test_decoder_relu_fails():
    fails(checks.check_decoder, _decoder(lambda s, z: torch.sigmoid(s.fc2(torch.relu(s.fc1(z))))),
          "ReLU")


def test_decoder_activation_order_fails():
    fails(checks.check_decoder, _decoder(lambda s, z: torch.tanh(s.fc2(torch.sigmoid(s.fc1(z))))),
          "wrong order")


def test_decoder_missing_sigmoid_fails_visible():
    fails(checks.check_decoder, _decoder(lambda s, z: s.fc2(torch.tanh(s.fc1(z)))),
          "no sigmoid at the end", level="visible")


def test_decoder_hard_coded_sizes_fail():
    class Fixed(nn.Module):
        def __init__(self, latent_dimension=2, hidden_units=500, data_dimension=784):
            super().__init__()
            self.fc1 = nn.Linear(2, 500)
            self.fc2 = nn.Linear(500, 784)

        def forward(self, z):
            return torch.sigmoid(self.fc2(torch.tanh(self.fc1(z))))

    fails(checks.check_decoder, Fixed, "constructor's arguments")


def test_decoder_extra_layer_fails():
    fwd = lambda s, z: torch.sigmoid(s.fc2(torch.tanh(s.fc1(z))))  # noqa: E731
    fails(checks.check_decoder, _decoder(fwd, extra=True), "parameters")


# ------------------------------------------------------------------------ log N ---------------
def gauss_std_as_variance(z, mu, sigma_square):
    return torch.distributions.Normal(mu, sigma_square).log_prob(z).sum(-1)


def gauss_missing_2pi(z, mu, sigma_square):
    return -0.5 * (torch.log(sigma_square) + (z - mu) ** 2 / sigma_square).sum(-1)


def gauss_mean_not_sum(z, mu, sigma_square):
    return (-0.5 * (torch.log(2 * math.pi * sigma_square) + (z - mu) ** 2 / sigma_square)).mean(-1)


def gauss_no_reduction(z, mu, sigma_square):
    return -0.5 * (torch.log(2 * math.pi * sigma_square) + (z - mu) ** 2 / sigma_square)


def gauss_log_variance_doubled(z, mu, sigma_square):
    return (-0.5 * math.log(2 * math.pi) - torch.log(sigma_square)
            - (z - mu) ** 2 / (2 * sigma_square)).sum(-1)


def gauss_no_broadcast(z, mu, sigma_square):
    out = torch.zeros(z.shape[0])
    for i in range(z.shape[0]):  # indexes mu per example: breaks for a prior given as [D]
        out[i] = torch.distributions.Normal(mu[i], sigma_square[i].sqrt()).log_prob(z[i]).sum()
    return out


@pytest.mark.parametrize("mutant,match", [
    (gauss_std_as_variance, "standard deviation"),
    (gauss_missing_2pi, "log\\(2\\*pi\\)/2 per dimension"),
    (gauss_mean_not_sum, "averaged over the latent dimensions"),
    (gauss_no_reduction, "one value per coordinate"),
    (gauss_log_variance_doubled, "log-variance term is doubled"),
    (gauss_no_broadcast, "broadcast|raised"),
])
def test_logpdf_gaussian_mutants_fail(mutant, match):
    fails(checks.check_logpdf_diagonal_gaussian, mutant, match)


def test_logpdf_gaussian_visible_catches_missing_constant():
    fails(checks.check_logpdf_diagonal_gaussian, gauss_missing_2pi, "log\\(2\\*pi\\)",
          level="visible")


# ------------------------------------------------------------------------ log Bernoulli -------
def bern_naive(x, p):
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


def bern_mean(x, p):
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).mean(-1)


def bern_bce(x, p):
    return torch.nn.functional.binary_cross_entropy(p, x, reduction="none").sum(-1)


def bern_missing_term(x, p):
    return (x * torch.log(p.clamp_min(1e-7))).sum(-1)


def bern_summed_over_batch(x, p):
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum()


@pytest.mark.parametrize("mutant,match", [
    (bern_naive, "0 \\* log 0 = nan"),
    (bern_mean, "averaged over pixels"),
    (bern_bce, "sign is flipped"),
    (bern_missing_term, "\\(1 - x\\) log\\(1 - p\\) term is missing"),
    (bern_summed_over_batch, "scalar"),
])
def test_logpdf_bernoulli_mutants_fail(mutant, match):
    fails(checks.check_logpdf_bernoulli, mutant, match)


def test_naive_bernoulli_passes_visible_only():
    """The naive formula is right away from 0 and 1: only the hidden edge case catches it."""
    checks.check_logpdf_bernoulli(bern_naive, level="visible")


# ------------------------------------------------------------------------ samplers ------------
def gauss_sample_variance_as_std(mu, sigma_square):
    return mu + sigma_square * torch.randn_like(mu)


def gauss_sample_no_reparam(mu, sigma_square):
    return torch.normal(mu.detach(), sigma_square.detach().sqrt())


def gauss_sample_detached_scale(mu, sigma_square):
    return mu + torch.sqrt(sigma_square).detach() * torch.randn_like(mu)


def gauss_sample_uniform_noise(mu, sigma_square):
    return mu + torch.sqrt(sigma_square) * (torch.rand_like(mu) - 0.5) * math.sqrt(12)


def gauss_sample_shared_noise(mu, sigma_square):
    return mu + torch.sqrt(sigma_square) * torch.randn(1)


@pytest.mark.parametrize("mutant,match,level", [
    (gauss_sample_variance_as_std, "variance sigma_square\\^2", "hidden"),
    (gauss_sample_no_reparam, "reparameterisation", "visible"),
    (gauss_sample_detached_scale, "do not reach sigma_square", "visible"),
    (gauss_sample_uniform_noise, "not Gaussian", "hidden"),
    (gauss_sample_shared_noise, "same noise", "hidden"),
])
def test_sample_gaussian_mutants_fail(mutant, match, level):
    fails(checks.check_sample_diagonal_gaussian, mutant, match, level=level)


def bern_threshold(p):
    return (p > 0.5).float()


def bern_inverted(p):
    return (torch.rand_like(p) > p).float()


def bern_bool(p):
    return torch.rand_like(p) < p


def bern_shared_uniform(p):
    return (torch.rand(p.shape[0], 1) < p).float()


@pytest.mark.parametrize("mutant,match,level", [
    (bern_threshold, "thresholding", "hidden"),
    (bern_inverted, "1 - p", "hidden"),
    (bern_bool, "dtype", "visible"),
    (bern_shared_uniform, "independently", "hidden"),
])
def test_sample_bernoulli_mutants_fail(mutant, match, level):
    fails(checks.check_sample_bernoulli, mutant, match, level=level)


# ------------------------------------------------------------------------ ELBO ----------------
def _prior(z):
    return torch.zeros(z.shape[-1]), torch.ones(z.shape[-1])


def elbo_sum(sampled_z, mu, sigma_square, x, p):
    m0, v0 = _prior(sampled_z)
    return (logpdf_bernoulli(x, p) + logpdf_diagonal_gaussian(sampled_z, m0, v0)
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).sum()


def elbo_negative(sampled_z, mu, sigma_square, x, p):
    m0, v0 = _prior(sampled_z)
    return -(logpdf_bernoulli(x, p) + logpdf_diagonal_gaussian(sampled_z, m0, v0)
             - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()


def elbo_no_prior(sampled_z, mu, sigma_square, x, p):
    return (logpdf_bernoulli(x, p) - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()


def elbo_closed_form(sampled_z, mu, sigma_square, x, p):
    kl = 0.5 * (sigma_square + mu ** 2 - 1 - torch.log(sigma_square)).sum(-1)
    return (logpdf_bernoulli(x, p) - kl).mean()


def elbo_per_example(sampled_z, mu, sigma_square, x, p):
    m0, v0 = _prior(sampled_z)
    return (logpdf_bernoulli(x, p) + logpdf_diagonal_gaussian(sampled_z, m0, v0)
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square))


def elbo_detached(sampled_z, mu, sigma_square, x, p):
    m0, v0 = _prior(sampled_z)
    return (logpdf_bernoulli(x, p.detach()) + logpdf_diagonal_gaussian(sampled_z, m0, v0)
            - logpdf_diagonal_gaussian(sampled_z, mu.detach(), sigma_square.detach())).mean()


# The mutants call the notebook's helper names; the check substitutes the references for them.
logpdf_bernoulli = None
logpdf_diagonal_gaussian = None


@pytest.mark.parametrize("mutant,match,level", [
    (elbo_sum, "summed over the batch", "visible"),
    (elbo_negative, "sign is flipped", "visible"),
    (elbo_no_prior, "prior term", "visible"),
    (elbo_closed_form, "closed-form KL", "visible"),
    (elbo_per_example, "expected a scalar", "visible"),
    (elbo_detached, "no gradient reaches", "hidden"),
])
def test_elbo_mutants_fail(mutant, match, level):
    fails(checks.check_elbo_loss, mutant, match, level=level)


def test_elbo_is_judged_alone(vae_reference):
    """A student whose logpdf_bernoulli is wrong still gets elbo_loss right: references are used."""
    elbo = checks.with_globals(vae_reference["elbo_loss"], logpdf_bernoulli=bern_mean)
    checks.check_elbo_loss(elbo, level="hidden")


# ------------------------------------------------------------------------ figure functions ----
def data_space_threshold(decoder, n_samples=10, latent_dimension=2):
    with torch.no_grad():
        p = decoder(torch.randn(n_samples, latent_dimension))
    return p, (p > 0.5).float()


def data_space_uniform_codes(decoder, n_samples=10, latent_dimension=2):
    with torch.no_grad():
        p = decoder(torch.rand(n_samples, latent_dimension))
    return p, torch.bernoulli(p)


def data_space_two_draws(decoder, n_samples=10, latent_dimension=2):
    with torch.no_grad():
        p = decoder(torch.randn(n_samples, latent_dimension))
        x = torch.bernoulli(decoder(torch.randn(n_samples, latent_dimension)))
    return p, x


@pytest.mark.parametrize("mutant,match", [
    (data_space_threshold, "not look sampled"),
    (data_space_uniform_codes, "draw z from the prior"),
    (data_space_two_draws, "decoder\\(z\\) for the n prior draws"),
])
def test_data_space_mutants_fail(mutant, match):
    fails(checks.check_sample_data_space, mutant, match)


def means_sample(encoder, x):
    mu, var = encoder(x)
    return (mu + var.sqrt() * torch.randn_like(mu)).detach()


def means_variance(encoder, x):
    return encoder(x)[1].detach()


def means_with_graph(encoder, x):
    return encoder(x)[0]


@pytest.mark.parametrize("mutant,match", [
    (means_sample, "a sample"), (means_variance, "variances"), (means_with_graph, "graph"),
])
def test_encode_means_mutants_fail(mutant, match):
    fails(checks.check_encode_means, mutant, match)


def interp_reversed(mu_a, mu_b, step=0.1):
    alpha = torch.linspace(0, 1, round(1 / step) + 1).unsqueeze(1)
    return (1 - alpha) * mu_a + alpha * mu_b


def interp_no_endpoint(mu_a, mu_b, step=0.1):
    alpha = torch.arange(0, 1, step).unsqueeze(1)
    return alpha * mu_a + (1 - alpha) * mu_b


def interp_ten_points(mu_a, mu_b, step=0.1):
    alpha = torch.linspace(0, 1, 10).unsqueeze(1)
    return alpha * mu_a + (1 - alpha) * mu_b


def interp_fixed_step(mu_a, mu_b, step=0.1):
    alpha = torch.linspace(0, 1, 11).unsqueeze(1)  # ignores step
    return alpha * mu_a + (1 - alpha) * mu_b


@pytest.mark.parametrize("mutant,match,level", [
    (interp_reversed, "mu_a to mu_b", "visible"),
    (interp_no_endpoint, "inclusive", "visible"),
    (interp_ten_points, "inclusive", "visible"),
    (interp_fixed_step, "inclusive", "hidden"),
])
def test_interpolation_mutants_fail(mutant, match, level):
    fails(checks.check_interpolation_path, mutant, match, level=level)


# ------------------------------------------------------------------------ written answers -----
y_hat, x_j = sp.symbols("y_hat x_j", positive=True)
mu_phi, mu_p = sp.symbols("mu_phi mu_p", real=True)
sigma = sp.Symbol("sigma", positive=True)


@pytest.mark.parametrize("answer", [
    y_hat ** x_j * (1 - y_hat) ** (1 - x_j),
    x_j * y_hat + (1 - x_j) * (1 - y_hat),          # right on x_j ∈ {0, 1}
    "y_hat**x_j * (1 - y_hat)**(1 - x_j)",
])
def test_bernoulli_answer_accepts_equivalent_forms(answer):
    checks.check_bernoulli_likelihood(answer)


@pytest.mark.parametrize("answer,match", [
    (y_hat ** (1 - x_j) * (1 - y_hat) ** x_j, "x_j = 0"),
    (y_hat ** x_j, "x_j = 0"),
    (sp.Symbol("p") ** x_j, "does not define"),
    (None, "no answer yet"),
])
def test_bernoulli_answer_rejects(answer, match):
    with pytest.raises(CheckFailed, match=match):
        checks.check_bernoulli_likelihood(answer)


def test_kl_equal_variance_accepts_expanded_form():
    checks.check_kl_equal_variance((mu_p ** 2 - 2 * mu_p * mu_phi + mu_phi ** 2) / (2 * sigma ** 2))


@pytest.mark.parametrize("answer", [
    (mu_phi - mu_p) ** 2 / (2 * sigma),          # sigma taken as the variance
    (mu_phi - mu_p) ** 2 / sigma ** 2,           # factor 2 missing
    (mu_phi - mu_p) / (2 * sigma ** 2),          # not squared
])
def test_kl_equal_variance_rejects(answer):
    with pytest.raises(CheckFailed, match="not equivalent"):
        checks.check_kl_equal_variance(answer)


def test_number_and_choice_answers():
    checks.check_encoder_outputs(4)
    checks.check_kl_self(0)
    for wrong in (2, 5, 6):  # means only; full covariance (2 + 3); 2·2 + 2
        with pytest.raises(CheckFailed, match="not right"):
            checks.check_encoder_outputs(wrong)
    with pytest.raises(CheckFailed, match="not equivalent"):
        checks.check_kl_self(1)


def test_a_warning_from_correct_code_costs_nothing(vae_reference):
    """nbgrader gives 0 to a test cell that writes to stderr: checks must keep warnings quiet."""
    import warnings

    def noisy(x, p):
        warnings.warn("a harmless warning from the student's code", UserWarning)
        return vae_reference["logpdf_bernoulli"](x, p)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks.check_logpdf_bernoulli(noisy, level="hidden")
    assert [str(w.message) for w in caught] == []


# ------------------------------------------------------------------------ devices -------------
# The notebooks run on a GPU where there is one; the hidden checks run each function once more
# with its inputs on another device (meta tensors, or the stand-in where meta cannot run it), so
# that tensors created on the CPU fail here as they would there.
ON_THE_CPU = "creates a tensor on the CPU|returns a tensor on the CPU"


def gauss_cpu_constant(z, mu, sigma_square):
    log_2pi = torch.log(torch.tensor([2 * math.pi]))         # shape [1], on the CPU
    return -0.5 * (log_2pi + torch.log(sigma_square) + (z - mu) ** 2 / sigma_square).sum(-1)


def gauss_distributions(z, mu, sigma_square):
    return torch.distributions.Normal(mu, sigma_square.sqrt()).log_prob(z).sum(-1)


def gauss_multivariate(z, mu, sigma_square):
    mu, sigma_square = torch.broadcast_tensors(mu, sigma_square)
    return torch.distributions.MultivariateNormal(mu, torch.diag_embed(sigma_square)).log_prob(z)


def bern_cpu_ones(x, p):                       # a real student's, made numerically safe
    p = p.clamp(1e-7, 1 - 1e-7)
    return (torch.mul(torch.log(p), x)
            + torch.mul(torch.log(torch.ones(p.size()) - p), torch.ones(x.size()) - x)).sum(-1)


def bern_eps_too_large(x, p):
    p = p.clamp(1e-4, 1 - 1e-4)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


def bern_distribution(x, p):
    return torch.distributions.Bernoulli(probs=p.clamp(1e-7, 1 - 1e-7)).log_prob(x).sum(-1)


def gauss_sample_cpu_noise(mu, sigma_square):
    return mu + torch.sqrt(sigma_square) * torch.randn(mu.shape)


def gauss_sample_cpu_normal(mu, sigma_square):             # a real student's
    return mu + torch.sqrt(sigma_square) * torch.normal(mean=0, std=1, size=sigma_square.shape)


def bern_cpu_uniform(p):
    return (torch.rand(p.shape) < p).float()


def bern_keeps_dtype(p):                                   # six real students' samplers
    return torch.bernoulli(p)


def bern_distribution_sample(p):                           # a real student's
    return torch.distributions.bernoulli.Bernoulli(probs=p).sample().float()


def elbo_cpu_prior(sampled_z, mu, sigma_square, x, p):
    d = sampled_z.shape[-1]
    log_p_z = logpdf_diagonal_gaussian(sampled_z, torch.zeros(d), torch.ones(d))
    return (logpdf_bernoulli(x, p) + log_p_z
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()


def elbo_float_tensor_prior(sampled_z, mu, sigma_square, x, p):  # real students' prior
    d = sampled_z.shape[-1]
    z_mu = torch.FloatTensor([0] * d).repeat(sampled_z.shape[0], 1)
    z_sigma = torch.FloatTensor([1] * d).repeat(sampled_z.shape[0], 1)
    return (logpdf_bernoulli(x, p) + logpdf_diagonal_gaussian(sampled_z, z_mu, z_sigma)
            - logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()


def data_space_cpu_codes(decoder, n_samples=10, latent_dimension=2):
    with torch.no_grad():
        p = decoder(torch.randn(n_samples, latent_dimension))
    return p, torch.bernoulli(p)


device = torch.device("cpu")          # a notebook's global device, as pick_device() gives here


def data_space_global_device(decoder, n_samples=10, latent_dimension=2):
    with torch.no_grad():
        p = decoder(torch.randn(n_samples, latent_dimension, device=device))
    return p, torch.bernoulli(p)


def interp_cpu_alphas(mu_a, mu_b, step=0.1):
    alpha = torch.linspace(0, 1, round(1 / step) + 1).unsqueeze(1)
    return alpha * mu_a + (1 - alpha) * mu_b


@pytest.mark.parametrize("check,mutant,fix", [
    (checks.check_logpdf_diagonal_gaussian, gauss_cpu_constant, "Python numbers"),
    (checks.check_logpdf_bernoulli, bern_cpu_ones, "1 - p, not torch.ones"),
    (checks.check_sample_diagonal_gaussian, gauss_sample_cpu_noise, "torch.randn_like\\(mu\\)"),
    (checks.check_sample_diagonal_gaussian, gauss_sample_cpu_normal, "torch.randn_like\\(mu\\)"),
    (checks.check_sample_bernoulli, bern_cpu_uniform, "torch.rand_like\\(p\\)"),
    (checks.check_elbo_loss, elbo_cpu_prior, "torch.zeros_like\\(sampled_z\\)"),
    (checks.check_elbo_loss, elbo_float_tensor_prior, "torch.zeros_like\\(sampled_z\\)"),
    (checks.check_sample_data_space, data_space_cpu_codes, "next\\(decoder.parameters"),
    (checks.check_sample_data_space, data_space_global_device, "global `device`"),
    (checks.check_interpolation_path, interp_cpu_alphas, "device=mu_a.device"),
])
def test_tensors_made_on_the_cpu_fail_hidden_only(check, mutant, fix):
    check(mutant, level="visible")
    error = fails(check, mutant, ON_THE_CPU)
    assert re.search(fix, error.hint), error.hint


@pytest.mark.parametrize("check,code", [
    (checks.check_logpdf_diagonal_gaussian, gauss_distributions),
    (checks.check_logpdf_diagonal_gaussian, gauss_multivariate),
    (checks.check_logpdf_bernoulli, bern_distribution),
    (checks.check_sample_bernoulli, bern_distribution_sample),
])
def test_torch_distributions_pass_on_the_stand_in(check, code):
    """Distributions validate their arguments (which meta tensors cannot): the stand-in runs
    them."""
    check(code, level="hidden")


def test_sampler_returns_float32_for_float64_probabilities():
    bern_keeps_dtype(torch.rand(2, 2))                   # float32 in, float32 out: visible passes
    checks.check_sample_bernoulli(bern_keeps_dtype, level="visible")
    error = fails(checks.check_sample_bernoulli, bern_keeps_dtype, "float64 probabilities")
    assert "torch.bernoulli(p).float()" in error.hint


def test_bernoulli_clamped_at_1e_4_is_told_the_threshold():
    error = fails(checks.check_logpdf_bernoulli, bern_eps_too_large, "must be <= -10")
    assert "eps <= 1e-5" in error.hint and "1e-7" in error.hint

