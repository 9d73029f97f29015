"""Gaussian facts the course reuses, derived and verified with sympy.

* :func:`kl_gaussian_1d` — KL(N(m1, v1) ‖ N(m2, v2)) by direct integration;
* :func:`kl_diagonal_gaussian` — the closed form for diagonal Gaussians in D dimensions, the sum of
  the 1-D terms (the log-density of a product is a sum, and each term depends on one coordinate);
* :func:`kl_to_standard_normal` — the special case q ‖ N(0, I) used by the VAE and β-VAE losses.

Variances (not standard deviations) are the parameters throughout, as in the notebooks.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

z = sp.Symbol("z", real=True)


def normal_pdf(x, mean, var):
    return sp.exp(-(x - mean) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def normal_logpdf(x, mean, var):
    return -sp.log(2 * sp.pi * var) / 2 - (x - mean) ** 2 / (2 * var)


def kl_closed_form_1d(m1, v1, m2, v2):
    """KL(N(m1, v1) ‖ N(m2, v2)) = ½[log(v2/v1) + (v1 + (m1 − m2)²)/v2 − 1]."""
    return (sp.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1) / 2


@lru_cache(maxsize=None)
def kl_gaussian_1d() -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """KL(N(m1, v1) ‖ N(m2, v2)) computed as ∫ q log(q/p) dz; returns (expr, symbols)."""
    m1, m2 = sp.symbols("m1 m2", real=True)
    v1, v2 = sp.symbols("v1 v2", positive=True)
    q = normal_pdf(z, m1, v1)
    integrand = q * sp.expand(normal_logpdf(z, m1, v1) - normal_logpdf(z, m2, v2))
    return sp.simplify(sp.integrate(integrand, (z, -sp.oo, sp.oo))), (m1, v1, m2, v2)


def kl_diagonal_gaussian(dim: int):
    """Closed-form KL between two D-dimensional diagonal Gaussians, with its symbols."""
    mq = sp.symbols(f"mq0:{dim}", real=True)
    vq = sp.symbols(f"vq0:{dim}", positive=True)
    mp = sp.symbols(f"mp0:{dim}", real=True)
    vp = sp.symbols(f"vp0:{dim}", positive=True)
    expr = sum(kl_closed_form_1d(mq[d], vq[d], mp[d], vp[d]) for d in range(dim))
    return expr, (mq, vq, mp, vp)


def kl_diagonal_gaussian_by_integration_2d() -> sp.Expr:
    """The 2-D diagonal case by a genuine double integral (checks the 'sum of 1-D terms' step)."""
    z1, z2 = sp.symbols("z1 z2", real=True)
    a1, a2, b1, b2 = sp.symbols("a1 a2 b1 b2", real=True)
    s1, s2, t1, t2 = sp.symbols("s1 s2 t1 t2", positive=True)
    q = normal_pdf(z1, a1, s1) * normal_pdf(z2, a2, s2)
    log_ratio = (normal_logpdf(z1, a1, s1) + normal_logpdf(z2, a2, s2)
                 - normal_logpdf(z1, b1, t1) - normal_logpdf(z2, b2, t2))
    inner = sp.integrate(sp.expand(q * log_ratio), (z1, -sp.oo, sp.oo))
    value = sp.simplify(sp.integrate(sp.expand(inner), (z2, -sp.oo, sp.oo)))
    closed = kl_closed_form_1d(a1, s1, b1, t1) + kl_closed_form_1d(a2, s2, b2, t2)
    return sp.simplify(value - closed)


def kl_to_standard_normal(dim: int):
    """KL(N(mu, diag(v)) ‖ N(0, I)) = ½ Σ_d (v_d + mu_d² − 1 − log v_d)."""
    mu = sp.symbols(f"mu0:{dim}", real=True)
    v = sp.symbols(f"v0:{dim}", positive=True)
    expr = sum((v[d] + mu[d] ** 2 - 1 - sp.log(v[d])) / 2 for d in range(dim))
    return expr, (mu, v)
