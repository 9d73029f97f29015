"""Notebook 05 (WGAN-GP; Arjovsky et al. 2017, Gulrajani et al. 2017): each written result as a
sympy computation. ``derivations/05_wgan.md`` has the prose."""

from __future__ import annotations

import sympy as sp

x = sp.Symbol("x", real=True)
eps = sp.Symbol("epsilon", positive=True)
theta = sp.Symbol("theta", positive=True)


def uniform_pdf(lo, hi):
    return sp.Piecewise((1 / (sp.S(hi) - lo), (x >= lo) & (x <= hi)), (0, True))


def uniform_cdf(lo, hi):
    return sp.Piecewise((0, x < lo), ((x - lo) / (hi - lo), x <= hi), (1, True))


def _kl_on_support(p, q, lo, hi):
    """KL(P ‖ Q) = ∫ p log(p/q) over P's support [lo, hi] (the integrand is 0 outside it), with
    both densities built by :func:`uniform_pdf` (or mixtures of them) and integrated piecewise."""
    return sp.integrate(sp.piecewise_fold(p * sp.log(p / q)), (x, lo, hi))


def kl_to_shifted_uniform(shift):
    """KL(U[0,1] ‖ U[shift, 1+shift]) for 0 < shift ≤ 1. The density of the second law is 0 on
    [0, shift), where the first has mass, so the KL is +∞. To see it as a limit, smooth the
    second law into (1 − ε)·P + ε·U[0,1] (a proper density, > 0 on [0, 1]): integrated from
    :func:`uniform_pdf`, KL = −shift·log ε (it no longer depends on anything else), which → +∞
    as ε → 0⁺."""
    p = uniform_pdf(0, 1)
    q = (1 - eps) * uniform_pdf(shift, 1 + shift) + eps * uniform_pdf(0, 1)
    kl = sp.simplify(_kl_on_support(p, q, 0, 1))
    return {"smoothed": kl, "limit": sp.limit(kl, eps, 0, "+")}


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
    """JSD(U[0,1], U[θ,1+θ]) for a symbolic shift θ > 0, integrated from :func:`uniform_pdf` with
    the midpoint law m = (p + q)/2. Overlapping supports (θ = 1/(1+w) < 1, w > 0): θ·log 2.
    Disjoint supports (θ = 1 + u ≥ 1, u ≥ 0): log 2 whatever u is, so its derivative in θ is 0 —
    a near-optimal discriminator gives the generator no gradient. W1 = θ keeps a slope of 1
    everywhere: that is the argument for the Wasserstein critic."""
    p, q = uniform_pdf(0, 1), uniform_pdf(theta, 1 + theta)
    m = (p + q) / 2
    jsd = (_kl_on_support(p, m, 0, 1) + _kl_on_support(q, m, theta, 1 + theta)) / 2
    w, u = sp.Symbol("w", positive=True), sp.Symbol("u", nonnegative=True)
    overlap = sp.simplify(jsd.subs(theta, 1 / (1 + w)))
    disjoint = sp.simplify(jsd.subs(theta, 1 + u))
    return {"overlap": sp.simplify(overlap.subs(w, 1 / theta - 1)),
            "disjoint": disjoint,
            "slope_disjoint": sp.simplify(sp.diff(disjoint.subs(u, theta - 1), theta)),
            "w1_slope": sp.diff(w1_of_a_translation()["upper"], theta)}


def answers():
    """The four numbers of the written question, P1 = U[0,1], P2 = U[0.5,1.5], P3 = U[1,2]."""
    half = sp.Rational(1, 2)
    return {"kl_12": kl_to_shifted_uniform(half)["limit"],
            "kl_13": kl_to_shifted_uniform(sp.S(1))["limit"],
            "w1_12": w1_by_cdfs(half, 1 + half), "w1_13": w1_by_cdfs(1, 2),
            "jsd_13": jsd_of_a_translation()["disjoint"]}


def gradient_penalty_optimum():
    """What the penalised critic objective does, derived on P1 = U[0,1] against P_θ = U[θ, 1+θ]
    with linear critics f(x) = c·x (the optimal 1-Lipschitz critic is f(x) = x, slope 1).

    The critic maximises E_{P_θ} f − E_{P1} f − λ E(|f'| − 1)² (integrated from
    :func:`uniform_pdf`): cθ − λ(c − 1)². Its maximiser is c* = 1 + θ/(2λ): the gradient norm is
    pulled towards 1, and reaches it as λ → ∞, where the objective's value tends to W1 = θ. At
    finite λ the estimate is θ + θ²/(4λ), slightly above W1. Without the penalty the objective cθ
    is unbounded in c (the reason for the Lipschitz constraint)."""
    c = sp.Symbol("c", real=True)
    lam = sp.Symbol("lambda", positive=True)
    f = c * x
    gap = sp.integrate(uniform_pdf(theta, 1 + theta) * f, (x, theta, 1 + theta)) - \
        sp.integrate(uniform_pdf(0, 1) * f, (x, 0, 1))
    slope = sp.diff(f, x)
    objective = sp.expand(gap - lam * (slope - 1) ** 2)
    (c_star,) = sp.solve(sp.diff(objective, c), c)
    value = sp.simplify(objective.subs(c, c_star))
    return {"objective": objective, "c_star": sp.simplify(c_star),
            "curvature": sp.diff(objective, c, 2),
            "c_star_limit": sp.limit(c_star, lam, sp.oo), "value": value,
            "value_limit": sp.limit(value, lam, sp.oo), "unpenalised_sup": sp.limit(gap, c, sp.oo)}
