"""The randomised layer of the hidden checks: for every graded function, inputs drawn at grading
time (shapes, batch sizes, dtypes, values near the edges of what the task allows) on which the
student's function is compared with the reference, within tolerance.

The cases come from `hypothesis <https://hypothesis.readthedocs.io>`_ strategies, seeded with a
seed drawn when the check runs (:func:`grader_tests.grading_inputs.grading_seed`), so no recorded
answer knows them. A disagreement is shrunk to the simplest case that shows it (batch 1, D 1,
float32 ...), and the message names that case and the seed, so that a student or an instructor can
replay it. Each case builds its tensors from a small integer ``seed`` with :func:`torch.Generator`,
which keeps shrinking cheap: hypothesis shrinks integers, not tensors.

:data:`SPECS` maps each graded function to its randomised check, :data:`NOT_RANDOMISED` names the
graded functions left out and why (a test holds the two against the notebooks' graded cells).
Every ``check_*`` of the notebook modules calls :func:`check` at the end of its hidden level.
"""

from __future__ import annotations

import math
import tempfile
from operator import itemgetter
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st

from dgm.checks.common import (CheckFailed, call, close, generator, require_tensor,
                               with_globals)
from grader_tests.grading_inputs import grading_seed

# hypothesis keeps a few files (here: none of its example database) in ./.hypothesis by default;
# grading must leave the course folder as it was.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "dgm-randomised-checks")

#: Cases per graded function (each one a call of the student's function, or a few).
EXAMPLES = 20

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class _Disagrees(Exception):
    """Raised inside a hypothesis example: the student's function and the reference differ."""


def explore(what: str, cases: st.SearchStrategy, run_case: Callable[[dict], str | None], *,
            hint: str, examples: int = EXAMPLES, seed: int | None = None) -> None:
    """Draw ``examples`` cases from ``cases``; ``run_case(case)`` returns ``None`` where the
    student's function agrees with the reference, else a sentence saying what differs. The first
    disagreement, shrunk, fails the check with that sentence, the case and the seed."""
    seed = grading_seed() if seed is None else seed
    seen: list[tuple[dict, str]] = []

    @fixed_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False,
              print_blob=False)
    @given(cases)
    def probe(case):
        try:
            problem = run_case(case)
        except CheckFailed as e:            # the student's code raised, or a wrong type/shape
            problem = e.problem
        if problem:
            seen.append((case, problem))
            raise _Disagrees(problem)

    try:
        probe()
    except Exception:  # noqa: BLE001 - _Disagrees, or hypothesis's report of a flaky failure
        if not seen:
            raise
    if seen:
        case, problem = seen[-1]            # hypothesis replays the shrunk case last
        raise CheckFailed(what, f"{problem}, on inputs drawn at grading time ({describe(case)}; "
                                f"randomised check, seed {seed})", hint)


def describe(case: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in case.items() if k != "seed")


def differs(out: Any, ref: torch.Tensor, *, atol: float, rtol: float = 1e-4,
            name: str = "the result") -> str | None:
    """``None`` when ``out`` is a tensor of ``ref``'s shape within tolerance (NaN never agrees),
    else what differs."""
    if not isinstance(out, torch.Tensor):
        return f"returned a {type(out).__name__}, expected a torch.Tensor"
    if tuple(out.shape) != tuple(ref.shape):
        return f"returned shape {tuple(out.shape)}, expected {tuple(ref.shape)}"
    got = out.detach().to("cpu", torch.float64)
    ref = ref.detach().to("cpu", torch.float64)
    if close(got, ref, atol=atol, rtol=rtol):
        return None
    if not bool(torch.isfinite(got).all()):
        return f"{name} has NaN or infinite values where the reference is finite"
    worst = float((got - ref).abs().max())
    return f"{name} differs from the reference by up to {worst:.3g}"


def _g(case) -> torch.Generator:
    return generator(case["seed"])


_seed = st.integers(0, 2 ** 20)
_batch = st.sampled_from([1, 2, 3, 7, 16, 64])
_dim = st.integers(1, 12)
_dtype = st.sampled_from(list(DTYPES))


def _cases(**fields) -> st.SearchStrategy:
    return st.fixed_dictionaries({**fields, "seed": _seed})


# ------------------------------------------------------------------------ 01 VAE --------------
def _gaussian_case(case):
    g, dt = _g(case), DTYPES[case["dtype"]]
    b, d = case["batch"], case["D"]
    shape = (d,) if case["mu, sigma_square"] == "[D] (the prior)" else (b, d)
    mu = torch.randn(*shape, generator=g, dtype=torch.float64) * case["scale"]
    var = torch.exp(torch.empty(*shape, dtype=torch.float64).uniform_(
        math.log(case["variance from"]), math.log(case["variance from"] * 100), generator=g))
    z = mu + var.sqrt() * torch.randn(b, d, generator=g, dtype=torch.float64) * 2
    return z.to(dt), mu.to(dt), var.to(dt)


def logpdf_diagonal_gaussian(fn, staff):
    ref = staff.ref_logpdf_diagonal_gaussian
    what = "logpdf_diagonal_gaussian"

    def run(case):
        z, mu, var = _gaussian_case(case)
        out = call(what, fn, z, mu, var)
        return differs(out, ref(z.double(), mu.double(), var.double()), atol=1e-3)

    explore(what, _cases(batch=_batch, D=_dim, dtype=_dtype, scale=st.sampled_from([0.0, 1.0, 5.0]),
                         **{"variance from": st.sampled_from([1e-3, 0.1, 1.0]),
                            "mu, sigma_square": st.sampled_from(["[B, D]", "[D] (the prior)"])}),
            run, hint="log N(z; mu, diag(sigma_square)) summed over the last dimension, for any "
                      "batch size, dimension and dtype; mu and sigma_square of shape [D] broadcast "
                      "against z")


def logpdf_bernoulli(fn, staff):
    ref = staff.ref_logpdf_bernoulli
    what = "logpdf_bernoulli"

    def run(case):
        g, lo = _g(case), case["p from"]
        x = (torch.rand(case["batch"], case["D"], generator=g) < case["share of ones"]).float()
        p = lo + (1 - 2 * lo) * torch.rand(case["batch"], case["D"], generator=g)
        return differs(call(what, fn, x, p), ref(x.double(), p.double()), atol=1e-3, rtol=1e-3)

    explore(what, _cases(batch=_batch, D=st.sampled_from([1, 2, 5, 40, 784]),
                         **{"p from": st.sampled_from([1e-3, 0.05, 0.3]),
                            "share of ones": st.sampled_from([0.0, 0.4, 1.0])}),
            run, hint="sum over pixels of x log p + (1 - x) log(1 - p), for any batch size and "
                      "number of pixels, also with p close to 0 or 1")


def elbo_loss(fn, staff):
    vae = staff
    from dgm.checks import vae as visible
    what = "elbo_loss"
    iso = with_globals(fn, logpdf_diagonal_gaussian=vae.ref_logpdf_diagonal_gaussian,
                       logpdf_bernoulli=vae.ref_logpdf_bernoulli)

    def run(case):
        inputs = visible.elbo_inputs(case["seed"], case["batch"], case["latent"], case["pixels"])
        values = vae.elbo_values(*inputs)
        return differs(call(what, iso, *inputs), values["ref"],
                       atol=visible.elbo_tolerance(values), rtol=1e-4)

    explore(what, _cases(batch=_batch, latent=st.integers(1, 6),
                         pixels=st.sampled_from([1, 3, 50, 784])),
            run, hint="the batch mean of log p(x|z) + log p(z) - log q(z|x), for any batch size "
                      "and dimension")


def interpolation_path(fn, staff):
    interpolation_ref = staff.interpolation_ref
    what = "interpolation_path"

    def run(case):
        g, dt = _g(case), DTYPES[case["dtype"]]
        mu_a = torch.randn(case["D"], generator=g).to(dt)
        mu_b = torch.randn(case["D"], generator=g).to(dt)
        step = 1 / case["steps"]
        return differs(call(what, fn, mu_a, mu_b, step), interpolation_ref(mu_a, mu_b, step),
                       atol=1e-5)

    explore(what, _cases(D=_dim, steps=st.integers(1, 25), dtype=_dtype), run, examples=40,
            hint="rows alpha*mu_a + (1-alpha)*mu_b for alpha = 0, step, ..., 1 (round(1/step) + 1 "
                 "rows), on the codes' device and dtype")


def sample_diagonal_gaussian(fn, staff):
    what = "sample_diagonal_gaussian"

    def run(case):
        g, dt, d = _g(case), DTYPES[case["dtype"]], case["D"]
        mu = (torch.randn(d, generator=g) * 3).to(dt)
        var = torch.exp(torch.empty(d).uniform_(-4, 3, generator=g)).to(dt)
        n = 20000
        torch.manual_seed(case["seed"])
        z = call(what, fn, mu.expand(n, d).contiguous(), var.expand(n, d).contiguous())
        if not isinstance(z, torch.Tensor) or tuple(z.shape) != (n, d):
            return differs(z, torch.empty(n, d), atol=0)
        if z.dtype != dt:
            return f"returned dtype {z.dtype} for {dt} inputs"
        z = z.detach().double()
        # 6 standard errors of the mean and of the variance of a Gaussian sample of n
        sd = var.double().sqrt()
        if not bool(((z.mean(0) - mu.double()).abs() <= 6 * sd / math.sqrt(n)).all()):
            return "the sample means differ from mu"
        if not bool(((z.var(0) / var.double() - 1).abs() <= 6 * math.sqrt(2 / n)).all()):
            return "the sample variances differ from sigma_square"
        return None

    explore(what, _cases(D=st.integers(1, 6), dtype=_dtype), run, examples=8,
            hint="z = mu + sqrt(sigma_square) * torch.randn_like(mu): one independent standard "
                 "normal draw per entry, in mu's dtype")


def sample_bernoulli(fn, staff):
    what = "sample_bernoulli"

    def run(case):
        g, dt, d = _g(case), DTYPES[case["dtype"]], case["D"]
        p = torch.rand(d, generator=g, dtype=torch.float64)
        p[0] = case["edge"]
        n = 20000
        torch.manual_seed(case["seed"])
        x = call(what, fn, p.to(dt).expand(n, d).contiguous())
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (n, d):
            return differs(x, torch.empty(n, d), atol=0)
        if not bool(((x == 0) | (x == 1)).all()):
            return "returned values other than 0 and 1"
        rate = x.detach().double().mean(0)
        se = (p * (1 - p) / n).sqrt()
        if not bool(((rate - p).abs() <= 6 * se + 1e-9).all()):
            return "pixels are not 1 with probability p"
        return None

    explore(what, _cases(D=st.integers(1, 6), dtype=_dtype,
                         edge=st.sampled_from([0.0, 1e-3, 0.5, 1 - 1e-3, 1.0])),
            run, examples=8, hint="each pixel is 1 with probability p, drawn on its own: "
                                  "torch.bernoulli(p)")


# ------------------------------------------------------------------------ 02 beta-VAE ---------
def _kl_case(case):
    g, dt = _g(case), DTYPES[case["dtype"]]
    mu = torch.randn(case["batch"], case["D"], generator=g) * case["scale"]
    var = torch.exp(torch.empty(case["batch"], case["D"]).uniform_(-6, 4, generator=g))
    return mu.to(dt), var.to(dt)


def kl_diagonal_gaussian(fn, staff):
    ref = staff.ref_kl_diagonal_gaussian
    what = "kl_diagonal_gaussian"

    def run(case):
        mu, var = _kl_case(case)
        return differs(call(what, fn, mu, var), ref(mu.double(), var.double()), atol=1e-3)

    explore(what, _cases(batch=_batch, D=_dim, dtype=_dtype,
                         scale=st.sampled_from([0.0, 1.0, 4.0])), run,
            hint="KL(N(mu, diag sigma_square) || N(0, I)) = 1/2 sum(sigma_square + mu^2 - 1 - "
                 "log sigma_square) per example, for any batch size, dimension and dtype, also "
                 "for very small and large variances")


def beta_vae_loss(fn, staff):
    beta_vae = staff
    from dgm.checks import beta_vae as visible
    what = "beta_vae_loss"
    iso = with_globals(fn, kl_diagonal_gaussian=beta_vae.ref_kl_diagonal_gaussian)

    def run(case):
        x, x_recon, mu, var = visible.loss_inputs(case["seed"], case["batch"], case["pixels"],
                                                  case["latent"])
        ref = beta_vae.loss_values(x, x_recon, mu, var, case["beta"])["ref"]
        return differs(call(what, iso, x, x_recon, mu, var, case["beta"]), ref, atol=1e-4,
                       rtol=1e-4)

    explore(what, _cases(batch=_batch, pixels=st.sampled_from([1, 5, 784]),
                         latent=st.integers(1, 6),
                         beta=st.sampled_from([0.0, 1e-3, 0.5, 1.0, 4.0, 100.0])), run,
            hint="the batch mean of sum_pixels (x - x_recon)^2 + beta * KL, for any batch size, "
                 "dimension and beta (beta = 0 included)")


def log_aggregate_posterior(fn, staff):
    ref = staff.ref_log_aggregate_posterior
    what = "log_aggregate_posterior"

    def run(case):
        g, dt = _g(case), DTYPES[case["dtype"]]
        m, n, d = case["M"], case["N"], case["D"]
        mu = torch.randn(n, d, generator=g) * 2
        var = torch.exp(torch.empty(n, d).uniform_(-3, 1, generator=g))
        z = torch.randn(m, d, generator=g) * case["spread of z"]
        z, mu, var = z.to(dt), mu.to(dt), var.to(dt)
        return differs(call(what, fn, z, mu, var), ref(z.double(), mu.double(), var.double()),
                       atol=1e-3, rtol=1e-4)

    explore(what, _cases(M=st.sampled_from([1, 2, 9, 40]), N=st.sampled_from([1, 2, 6, 40]),
                         D=st.integers(1, 8), dtype=_dtype,
                         **{"spread of z": st.sampled_from([1.0, 3.0, 8.0])}), run,
            hint="log (1/N) sum_j N(z_i; mu_j, diag sigma_square_j) for every z_i: one value per "
                 "sample z (shape [M]), M and N may differ; use torch.logsumexp")


# ------------------------------------------------------------------------ 03 echo -------------
def echo_sample(fn, staff):
    series_pair = staff.series_pair
    what = "echo_sample"

    def run(case):
        g, dt = _g(case), DTYPES[case["dtype"]]
        m = torch.randn(2, case["D"], generator=g).to(dt)
        s = ((torch.rand(2, case["D"], generator=g) * 2 - 1) * case["|s| up to"]).to(dt)
        return differs(call(what, fn, m, s, case["d_max"]), series_pair(m, s, case["d_max"]),
                       atol=1e-5, rtol=1e-4)

    explore(what, _cases(D=_dim, d_max=st.integers(1, 30), dtype=_dtype,
                         **{"|s| up to": st.sampled_from([0.0, 0.5, 0.9])}), run,
            hint="for a batch of two every echo of one example is the other one: z_i = m_i + "
                 "s_i m_j + s_i s_j m_j + ..., d_max terms in all, for any sign of s")


def echo_rate(fn, staff):
    what = "echo_rate"

    def run(case):
        g, dt = _g(case), DTYPES[case["dtype"]]
        s = torch.exp(torch.empty(case["batch"], case["D"]).uniform_(
            math.log(case["|s| from"]), math.log(0.999), generator=g))
        sign = torch.where(torch.rand(case["batch"], case["D"], generator=g) < 0.5, -1.0, 1.0)
        s = (s * sign).to(dt)
        ref = -torch.log(s.double().abs()).sum(-1)
        # rtol 1e-3: a guard such as log(|s| + 1e-6) is no mistake
        return differs(call(what, fn, s), ref, atol=1e-4, rtol=1e-3)

    explore(what, _cases(batch=_batch, D=_dim, dtype=_dtype,
                         **{"|s| from": st.sampled_from([1e-3, 0.1, 0.9])}), run,
            hint="-sum_d log|s_d| per example, for either sign of s")


# ------------------------------------------------------------------------ 04 GAN --------------
def _gan_nets(case):
    from dgm.checks import gan as visible
    g_ = _g(case)
    d, g = visible._TinyD(), visible._TinyG()
    with torch.no_grad():
        d.lin.weight.copy_(torch.randn(1, 4, generator=g_) * case["weight scale"])
        d.lin.bias.copy_(torch.randn(1, generator=g_))
        g.lin.weight.copy_(torch.randn(4, 3, generator=g_))
        g.lin.bias.copy_(torch.randn(4, generator=g_) * 0.5)
    real = torch.rand(case["batch"], 1, 2, 2, generator=g_)
    z = torch.rand(case["batch"], 3, generator=g_) * 2 - 1
    return d, g, real, z


_gan_cases = dict(batch=_batch, **{"weight scale": st.sampled_from([0.1, 1.0, 3.0])})


def _network_loss(what: str, fn: Callable, inputs: Callable[[dict], tuple],
                  values: Callable[..., dict], hint: str) -> None:
    """The shape of the four losses of networks on a batch (04's ``d_loss`` and ``g_loss``,
    05's ``critic_loss`` and ``generator_loss``): ``inputs(case)`` builds the small networks and
    batches the graded function takes, ``values(*inputs)["ref"]`` is the reference loss on them
    (without gradients), and the two agree within 1e-5 for any batch size and weight scale."""

    def run(case):
        args = inputs(case)
        with torch.no_grad():
            ref = values(*args)["ref"]
        return differs(call(what, fn, *args), ref, atol=1e-5)

    explore(what, _cases(**_gan_cases), run, hint=hint)


def d_loss(fn, staff):
    d_loss_values = staff.d_loss_values
    _network_loss("d_loss", fn, _gan_nets, d_loss_values,
                  hint="BCE[D(real), 1] + BCE[D(G(z).detach()), 0] on the logits, each the mean "
                       "over its batch, for any batch size (1 included)")


def g_loss(fn, staff):
    g_loss_values = staff.g_loss_values
    _network_loss("g_loss", fn, lambda case: itemgetter(0, 1, 3)(_gan_nets(case)), g_loss_values,
                  hint="BCE[D(G(z)), 1] on the logits, the mean over the batch, for any batch "
                       "size")


def sample_z(fn, staff):
    what = "sample_z"

    def run(case):
        n, zdim = case["n"], case["zdim"]
        out = call(what, fn, n, zdim, torch.device("cpu"))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, zdim):
            return differs(out, torch.empty(n, zdim), atol=0)
        if not out.is_floating_point():
            return f"returned dtype {out.dtype}, expected floating-point codes"
        if not bool(((out >= -1) & (out <= 1)).all()):
            return "returned codes outside [-1, 1]"
        if n * zdim >= 4000:
            mean, var = float(out.double().mean()), float(out.double().var())
            se = math.sqrt(1 / 3 / (n * zdim))
            if not (abs(mean) <= 6 * se and abs(var - 1 / 3) <= 0.03):
                return f"the codes have mean {mean:.3f} and variance {var:.3f}; U[-1, 1] has " \
                       "0 and 1/3"
        return None

    explore(what, _cases(n=st.sampled_from([1, 2, 64, 1000, 5000]),
                         zdim=st.sampled_from([1, 2, 64, 100])), run,
            hint="return [n, zdim] codes uniform on [-1, 1] on the device asked for: "
                 "2 * torch.rand(n, zdim, device=device) - 1, for any n and zdim")


# ------------------------------------------------------------------------ 05 WGAN-GP ----------
def gradient_penalty(fn, staff):
    from dgm.checks import wgan as visible
    penalty_values, recording_critic = staff.penalty_values, staff.recording_critic
    what = "gradient_penalty"

    def run(case):
        g = _g(case)
        shape = (case["channels"], case["side"], case["side"])
        critic = recording_critic(shape)
        real = torch.rand(case["batch"], *shape, generator=g) * 2
        fake = torch.rand(case["batch"], *shape, generator=g) * 2 - 2
        out = call(what, fn, critic, real, fake, case["lambda"])
        if case["batch"] >= 5:              # one eps per sample: their spread shows
            x_hat = visible.penalty_point(what, critic, real, fake)
        else:
            evaluated = [x for x in critic.inputs if x.shape == real.shape]
            if not evaluated:
                return "the critic is never evaluated on a batch shaped like real"
            x_hat = evaluated[-1].detach()
        return differs(out, penalty_values(critic, x_hat, case["lambda"])["ref"], atol=1e-4,
                       rtol=1e-4)

    explore(what, _cases(batch=st.sampled_from([1, 2, 5, 32]), channels=st.integers(1, 3),
                         side=st.integers(1, 4), **{"lambda": st.sampled_from([0.5, 1.0, 10.0])}),
            run, hint="lambda_gp times the batch mean of (||grad_x D(x_hat)||_2 - 1)^2, the norm "
                      "per sample over all of its pixels and channels, for any image shape and "
                      "batch size")


def _wgan_setup(case):
    from dgm.checks import wgan as visible
    g = _g(case)
    critic = visible._LinearCritic()
    with torch.no_grad():
        critic.lin.weight.copy_(torch.randn(1, 4, generator=g) * case["weight scale"])
        critic.lin.bias.copy_(torch.randn(1, generator=g))
    real = torch.rand(case["batch"], 1, 2, 2, generator=g) + 0.2
    fake = torch.rand(case["batch"], 1, 2, 2, generator=g) * 0.5
    return critic, real, fake


def critic_loss(fn, staff):
    critic_loss_values = staff.critic_loss_values
    _network_loss("critic_loss", fn, _wgan_setup, critic_loss_values,
                  hint="mean D(fake) - mean D(real), for any batch size")


def generator_loss(fn, staff):
    generator_loss_values = staff.generator_loss_values
    _network_loss("generator_loss", fn, lambda case: itemgetter(0, 2)(_wgan_setup(case)),
                  generator_loss_values, hint="-mean D(fake), for any batch size")


# ------------------------------------------------------------------------ 06 inversion --------
def path_energy(fn, staff):
    """Properties every second-order quadrature of the energy has exactly: the value of a path
    read backwards, of a path with a point repeated (a segment of length 0 adds nothing) and, for
    a generator whose images do not depend on z, the cost times the length of the path."""
    from dgm.checks.inversion import LinearG
    what = "path_energy"

    def run(case):
        g_ = _g(case)
        dt = DTYPES[case["dtype"]]
        gen = LinearG(zdim=2).to(dt)
        if case["generator"] == "constant":
            with torch.no_grad():
                gen.lin.weight.zero_()
        k = case["points"]
        Z = torch.cumsum(torch.randn(k, 2, generator=g_, dtype=torch.float64) * 0.3, 0).to(dt)
        x_a, x_b = (torch.rand(1, 2, 2, generator=g_, dtype=torch.float64).to(dt)
                    for _ in range(2))
        value = call(what, fn, gen, Z, x_a, x_b)
        value = require_tensor(what, torch.as_tensor(value)).detach().double()
        if not bool(torch.isfinite(value).all()) or value.numel() != 1:
            return f"returned {value.tolist()}, expected one finite number"
        tol = dict(atol=1e-5, rtol=1e-4 if dt == torch.float32 else 1e-9)
        if case["generator"] == "constant":
            with torch.no_grad():
                img = gen(Z[:1]).flatten().double()
            cost = float(((img - x_a.flatten().double()) ** 2).sum()
                         + ((img - x_b.flatten().double()) ** 2).sum())
            length = float((Z[1:] - Z[:-1]).double().norm(dim=1).sum())
            if not close(value, torch.tensor(cost * length, dtype=torch.float64), **tol):
                return (f"for a generator whose images do not depend on z the energy is "
                        f"{float(value):.6g}, not f times the length of the path "
                        f"({cost * length:.6g})")
        backwards = torch.as_tensor(call(what, fn, gen, Z.flip(0), x_a, x_b)).detach().double()
        if not close(backwards, value, **tol):
            return (f"the same path read backwards has energy {float(backwards):.6g}, not "
                    f"{float(value):.6g}")
        i = int(torch.randint(0, k, (1,), generator=g_))
        repeated = torch.cat([Z[:i + 1], Z[i:]])
        twice = torch.as_tensor(call(what, fn, gen, repeated, x_a, x_b)).detach().double()
        if not close(twice, value, **tol):
            return (f"repeating point {i} of the path (a segment of length 0) changes the "
                    f"energy from {float(value):.6g} to {float(twice):.6g}")
        return None

    explore(what, _cases(points=st.integers(2, 40), dtype=_dtype,
                         generator=st.sampled_from(["linear", "constant"])), run, examples=12,
            hint="sum over the segments of the quadrature of f along the segment times its "
                 "length ||Z_{k+1} - Z_k|| (trapezoid: (f(Z_k) + f(Z_{k+1}))/2; midpoint: "
                 "f((Z_k + Z_{k+1})/2)), for any number of points")


#: The randomised check of every graded function (named as its ``check_*``), by name.
SPECS: dict[str, Callable[[Callable], None]] = {
    "logpdf_diagonal_gaussian": logpdf_diagonal_gaussian,
    "logpdf_bernoulli": logpdf_bernoulli,
    "sample_diagonal_gaussian": sample_diagonal_gaussian,
    "sample_bernoulli": sample_bernoulli,
    "elbo_loss": elbo_loss,
    "interpolation_path": interpolation_path,
    "kl_diagonal_gaussian": kl_diagonal_gaussian,
    "beta_vae_loss": beta_vae_loss,
    "log_aggregate_posterior": log_aggregate_posterior,
    "echo_sample": echo_sample,
    "echo_rate": echo_rate,
    "d_loss": d_loss,
    "g_loss": g_loss,
    "sample_z": sample_z,
    "gradient_penalty": gradient_penalty,
    "critic_loss": critic_loss,
    "generator_loss": generator_loss,
    "path_energy": path_energy,
}

#: Graded functions without a randomised check, and why.
NOT_RANDOMISED: dict[str, str] = {
    "decoder": "a network class: its hidden check already builds it at other sizes and judges "
               "the forward pass on codes drawn at grading time",
    "dnet": "the assignment's table fixes its sizes: the hidden check judges every layer on "
            "inputs drawn from its weights' seed",
    "gnet": "the assignment's table fixes its sizes: the hidden check judges every layer on "
            "codes drawn from its weights' seed",
    "sample_data_space": "draws from a decoder: its hidden check judges the law of 4000 draws and "
                         "the device, with the reference sampler swapped in",
    "encode_means": "runs the student's trained encoder; nothing to compare with but the "
                    "encoder itself, which the hidden check does",
    "invert": "an optimiser (hundreds of steps): judged on a generator, images and starting codes "
              "drawn at grading time, by the reconstruction it reaches",
    "find_path": "an optimiser (hundreds of steps): judged on fresh ends and three generators "
                 "drawn at grading time, by the energy it reaches",
}


def check(name: str, fn: Callable, staff: ModuleType) -> None:
    """Run the randomised check of the graded function ``name`` (hidden level only). ``staff`` is
    the notebook's staff checks module (``grader_tests.vae``, ...) that calls it: the cases
    compare with the references it holds, passed in so that this module imports none of them."""
    SPECS[name](fn, staff)
