"""Notebook 01 (VAE): each written result as a sympy computation. ``derivations/01_vae.md`` has
the prose; ``tests/test_derivations.py`` asserts every identity below.

The running example for the ELBO identities is the linear-Gaussian model, where everything is in
closed form: p(z) = N(0, 1), p(x|z) = N(z, 1), so p(x) = N(0, 2) and p(z|x) = N(x/2, 1/2).
"""

from __future__ import annotations

import sympy as sp

from derivations.gaussian import kl_closed_form_1d, normal_logpdf, normal_pdf

x, z = sp.symbols("x z", real=True)
m = sp.Symbol("m", real=True)        # mean of q(z|x)
s = sp.Symbol("s", positive=True)    # variance of q(z|x)

# ---------------------------------------------------------------- answers the grader checks ---
y_hat = sp.Symbol("y_hat", positive=True)
x_j = sp.Symbol("x_j", nonnegative=True)
mu_phi, mu_p = sp.symbols("mu_phi mu_p", real=True)
sigma = sp.Symbol("sigma", positive=True)

#: (a) likelihood of one pixel x_j ∈ {0, 1} with decoder mean ŷ_j
BERNOULLI_PIXEL = y_hat ** x_j * (1 - y_hat) ** (1 - x_j)
#: (b) outputs of the encoder for a diagonal Gaussian over z ∈ R²: two means, two variances
ENCODER_OUTPUTS = 4
#: (g) KL(q ‖ q)
KL_SELF = sp.Integer(0)
#: (h) KL(N(mu_phi, σ²) ‖ N(mu_p, σ²))
KL_EQUAL_VARIANCE = (mu_phi - mu_p) ** 2 / (2 * sigma ** 2)


def _expect_q(f):
    """E_{z ~ N(m, s)} f(z), by integration."""
    return sp.simplify(sp.integrate(sp.expand(normal_pdf(z, m, s) * f), (z, -sp.oo, sp.oo)))


def bernoulli_pixel_cases():
    """(a) ŷ^x (1−ŷ)^(1−x) is ŷ at x = 1 and 1 − ŷ at x = 0; its log is x log ŷ + (1−x) log(1−ŷ)."""
    at1 = BERNOULLI_PIXEL.subs(x_j, 1)
    at0 = BERNOULLI_PIXEL.subs(x_j, 0)
    log_form = sp.expand_log(sp.log(BERNOULLI_PIXEL), force=True)
    return {"at1": at1, "at0": at0,
            "log_form_gap": sp.simplify(log_form - (x_j * sp.log(y_hat)
                                                    + (1 - x_j) * sp.log(1 - y_hat)))}


def encoder_output_count(dim: int) -> dict:
    """(b) How many numbers the encoder must output: the free parameters of the Gaussian
    N(μ, Σ) over R^dim, counted as the distinct symbols of its log-density other than z. With a
    diagonal Σ = diag(v) these are the D means and D variances; with a full symmetric Σ, D means
    and D(D+1)/2 covariances."""
    zs = sp.Matrix(sp.symbols(f"z0:{dim}", real=True))
    mu = sp.Matrix(sp.symbols(f"mu0:{dim}", real=True))
    diagonal = sp.diag(*sp.symbols(f"v0:{dim}", positive=True))
    full = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"c{min(i, j)}{max(i, j)}", real=True))

    def parameters(cov):
        d = zs - mu
        log_density = -(d.T * cov.inv() * d)[0] / 2 - sp.log(cov.det()) / 2 \
            - dim * sp.log(2 * sp.pi) / 2
        return len(log_density.free_symbols - set(zs))

    return {"diagonal": parameters(diagonal), "full": parameters(full)}


def elbo_linear_gaussian():
    """(c) For the linear-Gaussian model: ELBO = E_q log p(x|z) − KL(q‖p(z)) and
    log p(x) − ELBO = KL(q ‖ p(z|x)) ≥ 0 (Jensen's gap)."""
    log_joint = normal_logpdf(x, z, 1) + normal_logpdf(z, 0, 1)
    elbo_direct = _expect_q(log_joint - normal_logpdf(z, m, s))
    elbo_split = _expect_q(normal_logpdf(x, z, 1)) - kl_closed_form_1d(m, s, 0, 1)
    log_evidence = normal_logpdf(x, 0, 2)
    gap = sp.simplify(log_evidence - elbo_direct)
    return {"split_minus_direct": sp.simplify(elbo_split - elbo_direct),
            "gap": gap,
            "gap_minus_kl_to_posterior": sp.simplify(gap - kl_closed_form_1d(m, s, x / 2,
                                                                              sp.Rational(1, 2)))}


def kl_properties():
    """(d) KL ≥ 0 with equality iff equal; not symmetric; no triangle inequality."""
    r = sp.Symbol("r", positive=True)                   # ratio of variances v1 / v2
    f = r - 1 - sp.log(r)                               # 2·KL for equal means, as a function of r
    kl = lambda a, va, b, vb: kl_closed_form_1d(*map(sp.Integer, (a, va, b, vb)))  # noqa: E731
    return {
        "f": f, "r": r,
        "f_prime": sp.diff(f, r), "f_second": sp.diff(f, r, 2),
        "stationary": sp.solve(sp.diff(f, r), r),
        "kl_forward": kl(0, 1, 0, 4), "kl_backward": kl(0, 4, 0, 1),
        # P = N(0,1), Q = N(1,1), R = N(2,1): KL(P‖R) = 2 > KL(P‖Q) + KL(Q‖R) = 1
        "triangle_lhs": kl(0, 1, 2, 1), "triangle_rhs": kl(0, 1, 1, 1) + kl(1, 1, 2, 1),
    }


def single_sample_kl_variance():
    """(e) The one-sample estimate log q(z) − log p(z), z ~ q, is unbiased for KL(q ‖ N(0,1))
    but has positive variance unless q = p; the closed form has none."""
    est = normal_logpdf(z, m, s) - normal_logpdf(z, 0, 1)
    mean = _expect_q(est)
    var = sp.simplify(_expect_q(sp.expand(est ** 2)) - mean ** 2)
    return {"bias": sp.simplify(mean - kl_closed_form_1d(m, s, 0, 1)), "variance": var}


def whole_estimator_variances():
    """(e) The variance of the *whole* one-sample ELBO estimate in the linear-Gaussian model,
    z ~ q = N(m, s):

    * Eq. 1: log p(x|z) − KL(q ‖ p(z)), the KL in closed form, only the reconstruction sampled;
    * Eq. 2: log p(x|z) + log p(z) − log q(z), everything sampled.

    Neither is always smaller: at q = p(z|x) = N(x/2, 1/2) the Eq. 2 estimate is log p(x) for
    every z (variance 0) while Eq. 1's is not; at q = p(z) = N(0, 1) Eq. 1 has the smaller one.
    """
    log_lik = normal_logpdf(x, z, 1)
    eq1 = log_lik - kl_closed_form_1d(m, s, 0, 1)
    eq2 = log_lik + normal_logpdf(z, 0, 1) - normal_logpdf(z, m, s)

    def variance(est):
        mean = _expect_q(est)
        return sp.simplify(_expect_q(sp.expand(est ** 2)) - mean ** 2), sp.simplify(mean)

    (var1, mean1), (var2, mean2) = variance(eq1), variance(eq2)
    return {"var_eq1": var1, "var_eq2": var2, "same_mean": sp.simplify(mean1 - mean2)}


def prior_as_posterior_gap():
    """(f) With q(z|x) = p(z) (no encoder) the gap is KL(N(0,1) ‖ N(x/2, 1/2))
    = x²/4 + (1 − log 2)/2, which is > 0 for every x: the bound is loose."""
    gap = sp.simplify(kl_closed_form_1d(0, 1, x / 2, sp.Rational(1, 2)))
    return {"gap": gap, "gap_at_0": gap.subs(x, 0), "min_over_x": sp.solve(sp.diff(gap, x), x)}


def kl_self_and_equal_variance():
    """(g) KL(q‖q) = 0 and (h) the equal-variance KL, from the closed form and by integration."""
    v = sigma ** 2
    by_integration = sp.simplify(sp.integrate(
        sp.expand(normal_pdf(z, mu_phi, v) * (normal_logpdf(z, mu_phi, v)
                                               - normal_logpdf(z, mu_p, v))),
        (z, -sp.oo, sp.oo)))
    return {"self": sp.simplify(kl_closed_form_1d(m, s, m, s)),
            "equal_var_closed": sp.simplify(kl_closed_form_1d(mu_phi, v, mu_p, v)),
            "equal_var_integral": by_integration}


def lagrangian_stationary_point(k: int = 3):
    """(i)–(j) Maximising Σ_k q_k [log p(x|k) + log p(k) − log q_k] subject to Σ_k q_k = 1 gives
    q_k = p(x|k)p(k) / Σ_k' p(x|k')p(k'), i.e. the posterior p(k|x), where the bound is tight."""
    q = sp.symbols(f"q0:{k}", positive=True)
    lik = sp.symbols(f"l0:{k}", positive=True)          # p(x | z = k)
    prior = sp.symbols(f"p0:{k}", positive=True)        # p(z = k)
    lam = sp.Symbol("lambda", real=True)
    objective = sum(q[i] * (sp.log(lik[i]) + sp.log(prior[i]) - sp.log(q[i])) for i in range(k))
    lagrangian = objective + lam * (sum(q) - 1)
    equations = [sp.diff(lagrangian, qi) for qi in q] + [sum(q) - 1]
    (solution,) = sp.solve(equations, list(q) + [lam], dict=True)
    evidence = sum(lik[i] * prior[i] for i in range(k))
    posterior = [lik[i] * prior[i] / evidence for i in range(k)]
    at_solution = sp.simplify(sp.expand_log(objective.subs(solution), force=True))
    return {"solution": [sp.simplify(solution[qi]) for qi in q], "posterior": posterior,
            "hessian_diag": [sp.diff(lagrangian, qi, 2) for qi in q],
            "bound_minus_log_evidence": sp.simplify(at_solution
                                                    - sp.expand_log(sp.log(evidence), force=True))}
