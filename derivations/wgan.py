"""Notebook 05 (WGAN-GP; Arjovsky et al. 2017, Gulrajani et al. 2017): each written result as a
sympy computation. ``derivations/05_wgan.md`` has the prose."""

from __future__ import annotations

import sympy as sp

x = sp.Symbol("x", real=True)
eps = sp.Symbol("epsilon", positive=True)
theta = sp.Symbol("theta", positive=True)


def uniform_pdf(lo, hi):
    return sp.Piecewise((1 / (hi - lo), (x >= lo) & (x <= hi)), (0, True))


def uniform_cdf(lo, hi):
    return sp.Piecewise((0, x < lo), ((x - lo) / (hi - lo), x <= hi), (1, True))


def kl_to_shifted_uniform(shift):
    """KL(U[0,1] ‖ U[shift, 1+shift]) for 0 < shift ≤ 1. The density of the second law is 0 on
    [0, shift), where the first has mass, so the KL is +∞. To see it as a limit, smooth the
    second law into (1 − ε)·P + ε·U[0,1] (a proper density, > 0 on [0, 1]): KL = −shift·log ε
    (it no longer depends on anything else), which → +∞ as ε → 0⁺."""
    q_on_gap = eps                       # mixture density on [0, shift): only ε·U[0,1] is there
    q_on_overlap = (1 - eps) + eps       # on [shift, 1]: both parts, each density 1
    kl = sp.integrate(sp.log(1 / q_on_gap), (x, 0, shift)) + \
        sp.integrate(sp.log(1 / q_on_overlap), (x, shift, 1))
    return {"smoothed": sp.simplify(kl), "limit": sp.limit(kl, eps, 0, "+")}


def w1_by_cdfs(lo2, hi2):
    """W1(U[0,1], U[lo2,hi2]) = ∫ |F1 − F2| dx (the 1-D formula), integrated piece by piece."""
    f1, f2 = uniform_cdf(0, 1), uniform_cdf(lo2, hi2)
    points = sorted({sp.S(0), sp.S(1), sp.S(lo2), sp.S(hi2)})
    total = sum(sp.integrate(sp.Abs(sp.piecewise_fold(f1 - f2)), (x, u, v))
                for u, v in zip(points, points[1:]))
    return sp.nsimplify(sp.simplify(total))


def w1_of_a_translation():
    """For any θ ≥ 0, W1(U[0,1], U[θ, 1+θ]) = θ: the coupling x ↦ x + θ moves every unit of mass
    by θ (so W1 ≤ θ), and the 1-Lipschitz critic f(x) = x gives E_Q f − E_P f = θ (so W1 ≥ θ,
    Kantorovich–Rubinstein). Both bounds computed."""
    coupling_cost = sp.integrate(theta, (x, 0, 1))             # |(x + θ) − x| = θ for x in [0,1]
    dual_value = sp.integrate(x, (x, theta, 1 + theta)) - sp.integrate(x, (x, 0, 1))
    return {"upper": coupling_cost, "lower": sp.simplify(dual_value)}


def jsd_of_a_translation():
    """JSD(U[0,1], U[θ,1+θ]) with m the midpoint law: θ·log 2 for 0 ≤ θ ≤ 1, and log 2 (a
    constant, zero gradient in θ) once the supports are disjoint (θ ≥ 1). W1 = θ keeps a slope of
    1 everywhere: that is the argument for the Wasserstein critic."""
    t = sp.Symbol("t", positive=True)
    # overlap θ ≤ 1: on [0, θ) p = 1, q = 0, m = 1/2; on [θ, 1] p = q = m = 1; on (1, 1+θ] mirror.
    kl_p_m_overlap = sp.integrate(sp.log(2), (x, 0, t)) + sp.integrate(sp.log(1), (x, t, 1))
    jsd_overlap = kl_p_m_overlap                     # KL(q‖m) is the mirror image: same value
    # disjoint θ ≥ 1: p = 1 on [0, 1] where m = 1/2, and q likewise on [θ, 1+θ].
    jsd_disjoint = sp.integrate(sp.log(2), (x, 0, 1))
    return {"overlap": sp.simplify(jsd_overlap.subs(t, theta)), "disjoint": jsd_disjoint,
            "slope_disjoint": sp.diff(jsd_disjoint, theta)}


def answers():
    """The four numbers of the written question, P1 = U[0,1], P2 = U[0.5,1.5], P3 = U[1,2]."""
    half = sp.Rational(1, 2)
    return {"kl_12": kl_to_shifted_uniform(half)["limit"],
            "kl_13": kl_to_shifted_uniform(sp.S(1))["limit"],
            "w1_12": w1_by_cdfs(half, 1 + half), "w1_13": w1_by_cdfs(1, 2),
            "jsd_13": jsd_of_a_translation()["disjoint"]}


def gradient_penalty_optimum():
    """The penalty λ(‖∇D(x̂)‖ − 1)² is zero exactly where the gradient norm is 1 (what an optimal
    critic has on lines between coupled points, Gulrajani et al. Prop. 1) and grows on both sides:
    its derivative in the norm g is 2λ(g − 1)."""
    g, lam = sp.symbols("g lambda", positive=True)
    pen = lam * (g - 1) ** 2
    return {"zero_at": sp.solve(sp.Eq(pen, 0), g), "slope": sp.diff(pen, g)}
