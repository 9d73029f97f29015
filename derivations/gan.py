"""Notebook 04 (GAN; Goodfellow et al., NeurIPS 2014): each written result as a sympy computation.
``derivations/04_gan.md`` has the prose; ``tests/test_derivations.py`` asserts them."""

from __future__ import annotations

import sympy as sp

a, b = sp.symbols("a b", positive=True)           # p_data(x) and p_G(x) at one point x
D = sp.Symbol("D", positive=True)                 # D(x) in (0, 1)
J = sp.Symbol("J", nonnegative=True)              # JSD(p_data || p_G)

#: The optimal discriminator at a point where p_data = a and p_G = b.
OPTIMAL_D = a / (a + b)
#: The generator's cost at the optimal discriminator, in terms of J = JSD(p_data || p_G).
COST_AT_OPTIMUM = 2 * J - sp.log(4)


def optimal_discriminator():
    """max over D in (0, 1) of a·log D + b·log(1 − D): the only stationary point is
    D* = a/(a + b), and the second derivative −a/D² − b/(1 − D)² < 0 makes it the maximum."""
    f = a * sp.log(D) + b * sp.log(1 - D)
    stationary = sp.solve(sp.diff(f, D), D)
    second = sp.simplify(sp.diff(f, D, 2).subs(D, OPTIMAL_D))
    return {"stationary": stationary, "second_derivative_at_optimum": second}


def _kl(p, q):
    return sum(pi * sp.log(pi / qi) for pi, qi in zip(p, q))


def cost_at_optimum_pointwise():
    """At D*, the integrand of the value function is a·log(a/(a+b)) + b·log(b/(a+b)); it equals
    a·log(2a/(a+b)) + b·log(2b/(a+b)) − (a + b)·log 2. Integrated, with ∫p_data = ∫p_G = 1, this
    is KL(p_data‖m) + KL(p_G‖m) − log 4 = 2·JSD − log 4, m = (p_data + p_G)/2."""
    lhs = a * sp.log(OPTIMAL_D) + b * sp.log(1 - OPTIMAL_D)
    m = (a + b) / 2
    rhs = a * sp.log(a / m) + b * sp.log(b / m) - (a + b) * sp.log(2)
    return {"gap": sp.simplify(sp.expand_log(lhs - rhs, force=True))}


def cost_on_two_point_laws():
    """A family where everything is explicit: p_data = (p1, p2), p_G = (q1, q2) with
    p1 + p2 = q1 + q2 = 1. The cost at D* equals 2·JSD − log 4 identically (the gap is
    (p1 + p2 + q1 + q2 − 2)·log 2, zero for probability vectors); with p_data = (π, 1 − π) and
    p_G = (θ, 1 − θ) it is stationary at θ = π with value −log 4 and positive curvature, and
    JSD = 0 there (and > 0 at every other tested θ)."""
    p1, p2, q1, q2 = sp.symbols("p1 p2 q1 q2", positive=True)
    n1, n2 = sp.symbols("n1 n2", positive=True)          # n_i = p_i + q_i, so m_i = n_i / 2
    p, q, n = (p1, p2), (q1, q2), (n1, n2)
    m = tuple(v / 2 for v in n)
    cost = sum(u * sp.log(u / w) + v * sp.log(v / w) for u, v, w in zip(p, q, n))
    jsd = (_kl(p, m) + _kl(q, m)) / 2
    gap = sp.expand(sp.expand_log(cost - (2 * jsd - sp.log(4)), force=True))
    sums = {n1: p1 + q1, n2: p2 + q2}
    gap, cost, jsd = gap.subs(sums), cost.subs(sums), jsd.subs(sums)
    pi_, th = sp.symbols("pi theta", positive=True)
    family = {p1: pi_, p2: 1 - pi_, q1: th, q2: 1 - th}
    cost_f, jsd_f = cost.subs(family), jsd.subs(family)
    samples = [jsd_f.subs({pi_: sp.Rational(3, 10), th: t}) for t in
               (sp.Rational(1, 10), sp.Rational(1, 2), sp.Rational(9, 10))]
    return {"gap": sp.factor(gap), "gap_on_simplex": sp.simplify(gap.subs(family)),
            "cost_at_equal": sp.simplify(cost_f.subs(th, pi_)),
            "slope_at_equal": sp.simplify(sp.diff(cost_f, th).subs(th, pi_)),
            "curvature_at_equal": sp.simplify(sp.diff(cost_f, th, 2).subs(th, pi_)),
            "curvature_at_0.3": sp.diff(cost_f, th, 2).subs({th: sp.Rational(3, 10),
                                                              pi_: sp.Rational(3, 10)}),
            "jsd_at_equal": sp.simplify(jsd_f.subs(th, pi_)),
            "jsd_elsewhere": [sp.N(v) for v in samples]}


def non_saturating_gradients():
    """Why the generator minimises −log D(G(z)) in practice: with D = σ(ℓ) (ℓ the logit), the
    saturating loss log(1 − σ(ℓ)) has gradient −σ(ℓ) in ℓ, which → 0 when D confidently rejects
    the sample (ℓ → −∞); −log σ(ℓ) has gradient σ(ℓ) − 1 → −1 there."""
    l = sp.Symbol("l", real=True)
    sig = 1 / (1 + sp.exp(-l))
    saturating = sp.diff(sp.log(1 - sig), l)
    non_saturating = sp.diff(-sp.log(sig), l)
    return {"saturating_limit": sp.limit(saturating, l, -sp.oo),
            "non_saturating_limit": sp.limit(non_saturating, l, -sp.oo),
            "saturating": sp.simplify(saturating + sig),
            "non_saturating": sp.simplify(non_saturating - (sig - 1))}
