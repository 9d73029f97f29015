"""Notebook 03 (echo noise; Brekelmans, Moyer, Galstyan & Ver Steeg, NeurIPS 2019): each written
result as a sympy computation. ``derivations/03_echo.md`` has the prose."""

from __future__ import annotations

import sympy as sp

from derivations.gaussian import normal_pdf

a = sp.Symbol("a", positive=True)        # m(x) = a·x
s = sp.Symbol("s", real=True)            # constant s(x) = s, |s| < 1
k = sp.Symbol("k", integer=True, nonnegative=True)

m0, m1, m2, m3 = sp.symbols("m0:4", real=True)
s0, s1, s2 = sp.symbols("s0:3", real=True)
z3 = sp.Symbol("z3", real=True)


def recursion_to_z3():
    """z = m(x) + s(x) z₁, z₁ = m(x₁) + s(x₁) z₂, z₂ = m(x₂) + s(x₂) z₃ unrolled:
    z = m₀ + s₀m₁ + s₀s₁m₂ + s₀s₁s₂ z₃; the series is z = Σ_k (Π_{j<k} s_j) m_k."""
    z2 = m2 + s2 * z3
    z1 = m1 + s1 * z2
    z = m0 + s0 * z1
    expected = m0 + s0 * m1 + s0 * s1 * m2 + s0 * s1 * s2 * z3
    return {"gap": sp.expand(z - expected)}


def linear_gaussian_stationary_variance():
    """1-D case m(x) = a·x, x ~ N(0, 1), s(x) = s: the stationary z = a x + s z' (z' an
    independent copy) has Var z = a²/(1 − s²), both from the fixed point and from the series."""
    v = sp.Symbol("v", positive=True)
    (fixed_point,) = sp.solve(sp.Eq(v, a ** 2 + s ** 2 * v), v)
    series = sp.summation(a ** 2 * (s ** 2) ** k, (k, 0, sp.oo))
    series = sp.piecewise_fold(series)
    if isinstance(series, sp.Piecewise):       # sympy returns the |s| < 1 branch first
        series = series.args[0][0]
    return {"fixed_point": sp.simplify(fixed_point), "series": sp.simplify(series),
            "expected": a ** 2 / (1 - s ** 2)}


def linear_gaussian_rate():
    """I(x; z) = H(z) − H(z|x) for the 1-D case: z|x = a x + s·z' is Gaussian with variance
    s²·Var z, so I = ½ log(Var z) − ½ log(s² Var z) = −log|s|. The entropies are computed by
    integration."""
    t = sp.Symbol("t", positive=True)     # |s|: everything depends on s only through s² = t²
    var = a ** 2 / (1 - t ** 2)
    u = sp.Symbol("u", real=True)
    v = sp.Symbol("v", positive=True)
    entropy = sp.simplify(-sp.integrate(normal_pdf(u, 0, v) * sp.log(normal_pdf(u, 0, v)),
                                        (u, -sp.oo, sp.oo)))
    h_z = entropy.subs(v, var)
    h_zx = entropy.subs(v, t ** 2 * var)
    mi = sp.simplify(sp.expand_log(h_z - h_zx, force=True))
    return {"entropy": entropy, "mi": mi.subs(t, sp.Abs(s)), "expected": -sp.log(sp.Abs(s))}


def rate_sign():
    """For the series to converge |det S| < 1, so log|det S| < 0: the rate is −E log|det S|
    (≥ 0); the sign-less "E log det S" would be a negative mutual information."""
    d = sp.Symbol("d", positive=True)
    return {"rate_at": -sp.log(d), "positive_for_d_below_1": sp.Lt(d, 1)}


def clip_for_truncation(d_max: int, eps: float = 2.0 ** -23):
    """Truncating after d_max terms neglects a tail whose coefficient is a product of d_max
    factors |s| ≤ s_max: it is below float32's eps when s_max = eps^(1/d_max)."""
    s_max = sp.Float(eps) ** (sp.Rational(1, d_max))
    return {"s_max": s_max, "tail_factor": s_max ** d_max}
