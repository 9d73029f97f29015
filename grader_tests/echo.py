"""Checks for notebook 03 (echo noise).

``echo_sample(m_x, s_x, d_max)`` draws z_i = sum_{k < d_max} (prod_{l < k} s(x_l)) m(x_k) with
x_0 = x_i and x_1, x_2, ... drawn independently and uniformly from the *other* examples of the
minibatch. Random draws cannot be compared with a reference directly, so the checks use inputs
whose answer is deterministic (constant m and s; a batch of two, where "the other example" is
fixed) and, in the hidden tests, the stationary law of the 1-D linear-Gaussian case.
"""

from __future__ import annotations

import sympy as sp
import torch

from grader_tests import symbolic
from grader_tests._core import (CheckFailed, call, close, explain_mismatch, generator,
                                require_tensor)


def _answers():
    from derivations import echo

    return echo


# ------------------------------------------------------------------------ written part --------
def check_recursion(answer):
    E = _answers()
    symbolic.check_expression(
        "(a) z after three echoes", answer,
        E.m0 + E.s0 * E.m1 + E.s0 * E.s1 * E.m2 + E.s0 * E.s1 * E.s2 * E.z3,
        [E.m0, E.m1, E.m2, E.s0, E.s1, E.s2, E.z3],
        hint="substitute z1 = m1 + s1*z2 and z2 = m2 + s2*z3 into z = m0 + s0*z1")


_a, _s = sp.Symbol("a", positive=True), sp.Symbol("s", positive=True)


def check_stationary_variance(answer):
    symbolic.check_expression(
        "(d) stationary variance", answer, _a ** 2 / (1 - _s ** 2), [_a, _s],
        hint="take the variance of both sides of z = a*x + s*z' with z' an independent copy "
             "of z, and solve for Var z")


def check_linear_rate(answer):
    symbolic.check_expression(
        "(d) I(x; z) in the 1-D case", answer, -sp.log(_s), [_s],
        hint="I = H(z) - H(z|x); z given x is a*x + s*z', whose entropy is H(z) + log|s|")


# ------------------------------------------------------------------------ code ----------------
def _series_pair(m, s, d_max):
    """Deterministic answer for a batch of two: every echo of example i is the other one."""
    z = m.clone()
    for i in range(2):
        j = 1 - i
        coef = s[i].clone()
        for k in range(1, d_max):
            z[i] = z[i] + coef * m[j]
            coef = coef * s[j]
    return z


def check_echo_sample(fn, level: str = "visible"):
    what = "echo_sample"
    torch.manual_seed(0)
    g = generator(0)
    m = torch.randn(6, 3, generator=g)
    s = torch.rand(6, 3, generator=g) * 0.7
    z = require_tensor(what, call(what, fn, m, s, 10), (6, 3),
                       "return one sample per row, with the shape of m_x")
    if not bool(torch.isfinite(z).all()):
        raise CheckFailed(what, "returned non-finite values", "check the products of s_x")
    if not close(call(what, fn, m, torch.zeros_like(s), 10), m, atol=1e-6):
        raise CheckFailed(what, "with s_x = 0 the sample is not m_x",
                          "the first term of the series is m(x) itself, with coefficient 1")
    if not close(call(what, fn, m, s, 1), m, atol=1e-6):
        raise CheckFailed(what, "with d_max = 1 the sample is not m_x: it sums the wrong "
                                "number of terms",
                          "keep exactly d_max terms, k = 0, ..., d_max - 1, the first being m(x)")
    c, sc, d = 0.7, 0.5, 12
    out = call(what, fn, torch.full((5, 2), c), torch.full((5, 2), sc), d)
    expect = c * (1 - sc ** d) / (1 - sc)
    if close(out, torch.full((5, 2), c * (1 - sc ** (d + 1)) / (1 - sc)), atol=1e-5) or \
            close(out, torch.full((5, 2), c * (1 - sc ** (d - 1)) / (1 - sc)), atol=1e-5):
        raise CheckFailed(what, f"sums the wrong number of terms for d_max = {d}",
                          "keep exactly d_max terms: k = 0, ..., d_max - 1")
    if not close(out, torch.full((5, 2), expect), atol=1e-5):
        raise CheckFailed(what, "with constant m = 0.7 and s = 0.5 the sample is not "
                                "m (1 - s^d_max) / (1 - s)",
                          "z = sum_k (product of the k previous s) * m of the k-th echo")
    m2 = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    s2 = torch.tensor([[0.5, 0.2], [0.3, 0.6]])
    out = require_tensor(what, call(what, fn, m2, s2, 30), (2, 2))
    ref = _series_pair(m2, s2, 30)
    if not close(out, ref, atol=1e-5):
        own = m2 * (1 - s2 ** 30) / (1 - s2)
        mixed = m2 + s2 * m2.flip(0) * (1 - s2 ** 29) / (1 - s2)
        if close(out, own, atol=1e-5):
            raise CheckFailed(what, "the echoes come from the example itself",
                              "draw x_1, x_2, ... from the *other* examples of the batch")
        if close(out, mixed, atol=1e-5):
            raise CheckFailed(what, "the products use s of the example itself at every level",
                              "the coefficient of m(x_k) is s(x_0) s(x_1) ... s(x_{k-1}): "
                              "multiply by s of each echo in turn")
        raise CheckFailed(what, "for a batch of two (where every echo is the other example) "
                                f"the result {out.tolist()} differs from the series "
                                f"{ref.tolist()}",
                          "z_i = m_i + s_i m_j + s_i s_j m_j + ... with j the other example")
    if level == "visible":
        return
    # Gradients reach m and s, also at s = 0 (a log-space product would give NaN there).
    m3 = torch.randn(8, 2, generator=generator(5), requires_grad=True)
    s3 = (torch.rand(8, 2, generator=generator(6)) * 0.6)
    s3[0, 0] = 0.0
    s3.requires_grad_(True)
    out = call(what, fn, m3, s3, 20)
    out.sum().backward()
    for name, t in (("m_x", m3), ("s_x", s3)):
        if t.grad is None or not bool(torch.isfinite(t.grad).all()):
            raise CheckFailed(what, f"gradients with respect to {name} are missing or not finite",
                              "build the series with differentiable torch operations (cumprod, "
                              "gather, sum); avoid exp(sum(log s)), which fails at s = 0")
    # Stationary law of the 1-D linear-Gaussian case: Var z = a²/(1-s²), Cov(z, x) = a.
    torch.manual_seed(1)
    x = torch.randn(6000, 1, generator=generator(7))
    a, sv = 0.8, 0.6
    z = call(what, fn, a * x, torch.full_like(x, sv), 60).detach()
    var, cov = float(z.var()), float(((z - z.mean()) * (x - x.mean())).mean())
    if abs(cov - a) > 0.08:
        raise CheckFailed(what, f"Cov(z, x) = {cov:.2f}, expected a = {a}",
                          "only the first term may depend on x itself; the echoes use other "
                          "examples")
    if abs(var - a ** 2 / (1 - sv ** 2)) > 0.12:
        raise CheckFailed(what, f"Var z = {var:.2f}, expected a^2/(1-s^2) = "
                                f"{a ** 2 / (1 - sv ** 2):.2f}",
                          "draw every echo x_k independently (a new random index per term and "
                          "per example)")


def check_echo_rate(fn, level: str = "visible"):
    what = "echo_rate"
    s = torch.rand(5, 4, generator=generator(0)) * 0.9 + 0.05
    out = require_tensor(what, call(what, fn, s))
    if tuple(out.shape) == (5, 4):
        raise CheckFailed(what, "returned one value per dimension", "sum over the last dimension")
    require_tensor(what, out, (5,), "one rate per example: shape [batch]")
    ref = -torch.log(s).sum(-1)
    if not close(out, ref):
        known = [(-ref, "the sign is flipped",
                  "I(x;z) = -E log|det S(x)|: with |s| < 1 the rate must be positive"),
                 (ref / 4, "you averaged over dimensions", "sum over dimensions: log|det S| of "
                                                           "a diagonal S is sum_d log|s_d|"),
                 (2 * ref, "the rate is doubled", "use log|s|, not log s^2")]
        explain_mismatch(what, out, known,
                         "values differ from -sum_d log|s_d|", "return -sum_d log|s_d|")
    if level == "hidden":
        s_neg = torch.tensor([[-0.5, 0.25]])
        out = require_tensor(what, call(what, fn, s_neg), (1,))
        if not close(out, torch.tensor([-torch.log(torch.tensor(0.125))])):
            raise CheckFailed(what, "is wrong (or NaN) for negative s", "take log|s|: torch.abs")
