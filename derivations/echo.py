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


def rate_sign(D: int = 3):
    """(b) The sign, derived for a diagonal S(x) of D contractions. Convergence of the series
    needs every |s_d| < 1: write |s_d| = 1/(1 + w_d) with w_d > 0. Then the rate
    −log|det S| = Σ_d log(1 + w_d) is positive for every such S, while the sign-less
    "log|det S|" is negative for every such S: it cannot be a mutual information."""
    w = sp.symbols(f"w0:{D}", positive=True)
    abs_det = sp.Mul(*[1 / (1 + wd) for wd in w])
    rate = sp.expand_log(-sp.log(abs_det), force=True)
    signless = sp.expand_log(sp.log(abs_det), force=True)
    return {"rate": rate, "signless": signless, "w": w,
            "rate_positive": rate.is_positive, "signless_negative": signless.is_negative}


def binary_counterexample(s_value=sp.Rational(2, 5)):
    """When the assumptions of (b) fail. x uniform on {−1, 1}, m(x) = x, constant s < 1/2: the
    code z = x + Σ_{k≥1} s^k x_k (x_k i.i.d. like x) has no density (a Cantor-like law), and the
    tail is at most s/(1 − s) < 1 in absolute value, so sign(z) = x: z determines x and
    I(x;z) = H(x) = log 2, whatever s is — not the −log s that the density-based formula gives."""
    k_ = sp.Symbol("k", integer=True, positive=True)
    tail_bound = sp.summation(s_value ** k_, (k_, 1, sp.oo))
    half = sp.Rational(1, 2)
    mi = sp.simplify(-2 * half * sp.log(half))  # I = H(x) − H(x|z), H(x|z) = 0 as sign(z) = x
    return {"tail_bound": sp.nsimplify(tail_bound), "mi": mi, "formula": -sp.log(s_value)}


def clip_for_truncation(d_max: int, eps: float = 2.0 ** -23):
    """Truncating the series after d_max terms: with every |s| ≤ s_max and |m| ≤ M, the neglected
    tail Σ_{k≥d_max} s_max^k M, relative to the whole series' bound Σ_{k≥0} s_max^k M, is
    s_max^d_max (summed here, not assumed). The largest s_max that keeps it below float32's eps
    solves s_max^d_max = eps: s_max = eps^(1/d_max), about 0.727 for d_max = 50."""
    r = sp.Symbol("r", positive=True)
    k_ = sp.Symbol("k", integer=True, nonnegative=True)
    tail = sp.summation(r ** k_, (k_, d_max, sp.oo)).args[0][0]       # the |r| < 1 branch
    whole = sp.summation(r ** k_, (k_, 0, sp.oo)).args[0][0]
    relative = sp.simplify(tail / whole)
    roots = [v for v in sp.solve(sp.Eq(relative, sp.Float(eps)), r) if v.is_real and 0 < v < 1]
    (s_max,) = roots
    return {"relative_tail": relative, "s_max": s_max, "r": r,
            "tail_factor": relative.subs(r, s_max)}
