"""Notebook 06 (GAN inversion and latent path finding): the written results as sympy computations.
``derivations/06_inversion.md`` has the prose; ``tests/test_derivations.py`` asserts them."""

from __future__ import annotations

import sympy as sp

t, s = sp.symbols("t s", positive=True)


def _example():
    """A curved path Z(t) in the plane and a positive cost f(z) standing for
    ‖G(z) − x_A‖² + ‖G(z) − x_B‖²."""
    Z = sp.Matrix([t, t ** 2])
    f = lambda z: 1 + z[0] ** 2 + z[1]  # noqa: E731
    return Z, f


def reparametrisation_invariance():
    """U(Z) = ∫₀¹ f(Z(t)) ‖Z'(t)‖ dt does not change when the path is traversed at another speed:
    with t = φ(s) = s² (φ(0) = 0, φ(1) = 1, increasing), Z̃(s) = Z(φ(s)) has ‖Z̃'(s)‖ =
    ‖Z'(φ(s))‖ φ'(s), and the substitution rule gives the same integral. Without the length
    factor, ∫ f(Z(t)) dt depends on the parametrisation (the speed decides where the weight goes)."""
    Z, f = _example()
    phi = s ** 2
    speed = sp.sqrt(sum(c ** 2 for c in Z.diff(t)))
    Zs = Z.subs(t, phi)
    speed_s = sp.sqrt(sum(sp.expand(c) ** 2 for c in Zs.diff(s)))
    u_t = sp.Integral(f(Z) * speed, (t, 0, 1))
    u_s = sp.Integral(f(Zs) * speed_s, (s, 0, 1))
    no_length_t = sp.integrate(f(Z), (t, 0, 1))
    no_length_s = sp.integrate(f(Zs), (s, 0, 1))
    # The substitution rule, pointwise: the integrand in s is the integrand in t at φ(s) times φ'.
    gap = sp.simplify(f(Zs) * speed_s - (f(Z) * speed).subs(t, phi) * sp.diff(phi, s))
    return {"integrand_gap": gap, "with_length_t": sp.N(u_t, 15), "with_length_s": sp.N(u_s, 15),
            "without_length_t": no_length_t, "without_length_s": no_length_s}


def straight_line_energy():
    """On a straight segment from a to b (length L) with f linear along it, f = f_a + (f_b − f_a)t,
    U = L (f_a + f_b)/2 exactly: the trapezoid rule is exact for one segment of a linear f."""
    fa, fb, L = sp.symbols("f_a f_b L", positive=True)
    exact = sp.integrate((fa + (fb - fa) * t) * L, (t, 0, 1))
    return {"exact": sp.simplify(exact), "trapezoid": L * (fa + fb) / 2}


def quadrature_order(order: int = 4):
    """The quadrature's accuracy on a curved path with a nonlinear cost (the example's
    Z(t) = (t, t²), f(z) = 1 + z₁² + z₂), derived as series in the segment's parameter length h.

    On one segment [τ, τ + h] the exact contribution is ∫ f(Z(t)) ‖Z'(t)‖ dt (the integrand's
    Taylor series in t − τ, integrated term by term); the rules use the chord ‖Z(τ+h) − Z(τ)‖.
    The trapezoid's and the midpoint rule's local errors start at h³ (their h⁰, h¹, h² terms
    vanish), so over K = 1/h segments the error is h² ∫₀¹ c(τ) dτ + O(h³) = O(1/K²): second
    order. A left Riemann sum's local error starts at h², a first-order rule. Returns the
    local-error series' coefficients and the predicted constant of the trapezoid's global error
    (``global_constant``: error ≈ global_constant / K²)."""
    tau, h, sig = sp.symbols("tau h sigma", positive=True)
    Z, f = _example()

    def point(v):
        return Z.subs(t, v)

    integrand = f(Z) * sp.sqrt(sum(c ** 2 for c in Z.diff(t)))
    local = sp.series(integrand.subs(t, tau + sig), sig, 0, order).removeO()
    exact = sp.integrate(local, (sig, 0, h))
    chord = sp.sqrt(sum(c ** 2 for c in (point(tau + h) - point(tau))))
    rules = {"trapezoid": (f(point(tau)) + f(point(tau + h))) / 2 * chord,
             "midpoint": f(point(tau + h / 2)) * chord,
             "left": f(point(tau)) * chord}
    coefficients = {}
    for name, rule in rules.items():
        err = sp.expand(sp.series(rule - exact, h, 0, order).removeO())
        coefficients[name] = [sp.simplify(err.coeff(h, j)) for j in range(order)]
    constant = sp.integrate(coefficients["trapezoid"][3], (tau, 0, 1))
    return {"coefficients": coefficients, "global_constant": sp.simplify(constant),
            "tau": tau}


def trapezoid_errors(Ks=(8, 16, 32, 64)):
    """The trapezoid rule of notebook 06 on the example's curved path with K segments, against
    the integral (numerically, 30 digits): the errors, to compare with global_constant / K²."""
    Z, f = _example()
    integrand = f(Z) * sp.sqrt(sum(c ** 2 for c in Z.diff(t)))
    exact = sp.Integral(integrand, (t, 0, 1)).evalf(30)
    import mpmath

    mpmath.mp.dps = 30
    Zf = sp.lambdify(t, Z, "mpmath")
    ff = sp.lambdify(t, f(Z), "mpmath")
    out = {}
    for K in Ks:
        ts = [mpmath.mpf(k) / K for k in range(K + 1)]
        total = mpmath.fsum((ff(a) + ff(b)) / 2 * mpmath.norm(Zf(b) - Zf(a))
                            for a, b in zip(ts, ts[1:]))
        out[K] = sp.Float(total - mpmath.mpf(str(exact)), 20)
    return out


def square_bound():
    """(e) ‖g − a‖² + ‖g − b‖² ≥ ½‖a − b‖² for all g, by completing the square (not the triangle
    inequality): the difference is 2‖g − (a+b)/2‖² ≥ 0. One coordinate suffices, since both
    sides are sums over coordinates."""
    g, a, b = sp.symbols("g a b", real=True)
    return {"gap": sp.factor(sp.expand((g - a) ** 2 + (g - b) ** 2 - (a - b) ** 2 / 2)),
            "expected": 2 * (g - (a + b) / 2) ** 2}
