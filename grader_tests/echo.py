"""Checks for notebook 03 (echo noise): staff side.

``level="visible"`` runs the student-side check of :mod:`dgm.checks.echo` (deterministic inputs:
s = 0, d_max = 1, constant m and s, a batch of two); ``"hidden"`` runs it, then gradients (also at
s = 0) and the stationary law of the 1-D linear-Gaussian case. :func:`record` gives the values the
visible checks compare with.
"""

from __future__ import annotations

import sys

import sympy as sp
import torch

from dgm.checks import echo as visible
from grader_tests import randomised, written_answers
from grader_tests.grading_inputs import grading_seed, on_fresh_inputs
from dgm.checks.common import (CheckFailed, backward, call, close, explain_mismatch, generator,
                               known_mistakes, on_another_device, require_tensor)


def series_pair(m, s, d_max):
    """Deterministic answer for a batch of two: every echo of example i is the other one."""
    z = m.clone()
    for i in range(2):
        j = 1 - i
        coef = s[i].clone()
        for k in range(1, d_max):
            z[i] = z[i] + coef * m[j]
            coef = coef * s[j]
    return z


def echo_sample_values():
    c, sc, d = visible.CONSTANT_CASE
    m2, s2 = visible.pair_inputs()
    n = visible.PAIR_D_MAX
    geometric = lambda terms: c * (1 - sc ** terms) / (1 - sc)  # noqa: E731
    return {
        "constant": torch.tensor(geometric(d), dtype=torch.float64),
        "constant_one_more": torch.tensor(geometric(d + 1), dtype=torch.float64),
        "constant_one_less": torch.tensor(geometric(d - 1), dtype=torch.float64),
        "pair": series_pair(m2, s2, n),
        "pair_own": m2 * (1 - s2 ** n) / (1 - s2),
        "pair_own_s": m2 + s2 * m2.flip(0) * (1 - s2 ** (n - 1)) / (1 - s2),
    }


def echo_rate_values(s):
    ref = -torch.log(s).sum(-1)
    return {"ref": ref, "negated": -ref, "mean_over_dims": ref / s.shape[-1], "doubled": 2 * ref}


def record() -> dict[str, dict[str, torch.Tensor]]:
    """The values the visible checks of :mod:`dgm.checks.echo` compare with."""
    return {"echo_sample": echo_sample_values(),
            "echo_rate": echo_rate_values(visible.rate_input())}


def _answers():
    from derivations import echo

    return echo


# ------------------------------------------------------------------------ written part --------
def check_recursion(answer):
    E = _answers()
    written_answers.check_expression(
        "(a) z after three echoes", answer,
        E.m0 + E.s0 * E.m1 + E.s0 * E.s1 * E.m2 + E.s0 * E.s1 * E.s2 * E.z3,
        [E.m0, E.m1, E.m2, E.s0, E.s1, E.s2, E.z3],
        hint="substitute z1 = m1 + s1*z2 and z2 = m2 + s2*z3 into z = m0 + s0*z1")


_a, _s = sp.Symbol("a", positive=True), sp.Symbol("s", positive=True)


def check_stationary_variance(answer):
    written_answers.check_expression(
        "(d) stationary variance", answer, _a ** 2 / (1 - _s ** 2), [_a, _s],
        hint="take the variance of both sides of z = a*x + s*z' with z' an independent copy "
             "of z, and solve for Var z")


def check_linear_rate(answer):
    written_answers.check_expression(
        "(d) I(x; z) in the 1-D case", answer, -sp.log(_s), [_s],
        hint="I = H(z) - H(z|x); z given x is a*x + s*z', whose entropy is H(z) + log|s|")


# ------------------------------------------------------------------------ code ----------------
def check_echo_sample(fn, level: str = "visible"):
    what = "echo_sample"
    visible.check_echo_sample(fn)
    if level == "visible":
        return
    # Gradients reach m and s, also at s = 0 (a log-space product would give NaN there).
    m3 = torch.randn(8, 2, generator=generator(5), requires_grad=True)
    s3 = (torch.rand(8, 2, generator=generator(6)) * 0.6)
    s3[0, 0] = 0.0
    s3.requires_grad_(True)
    hint = ("build the series with differentiable torch operations (cumprod, gather, sum); "
            "avoid exp(sum(log s)), which fails at s = 0")
    backward(what, call(what, fn, m3, s3, 20), hint, reduce="sum")
    for name, t in (("m_x", m3), ("s_x", s3)):
        if t.grad is None or not bool(torch.isfinite(t.grad).all()):
            raise CheckFailed(what, f"gradients with respect to {name} are missing or not finite",
                              hint)
    # A batch of two drawn at grading time (every echo of one example is the other one): the
    # series is deterministic.
    seed = grading_seed()
    g = generator(seed)
    m2, s2 = torch.randn(2, 3, generator=g), torch.rand(2, 3, generator=g) * 0.8
    # Short series too (d_max = 2, 3: one or two echoes), where a special case is easy to get
    # wrong.
    with on_fresh_inputs(seed):
        for d_max in (2, 3, 25):
            out = require_tensor(what, call(what, fn, m2, s2, d_max), (2, 3),
                                 "return one sample per row, with the shape of m_x")
            ref = series_pair(m2, s2, d_max)
            if not close(out, ref, atol=1e-5):
                raise CheckFailed(what, f"for a batch of two and d_max = {d_max} the result "
                                        f"{out.tolist()} differs from the series {ref.tolist()}",
                                  "z_i = m_i + s_i m_j + s_i s_j m_j + ... with j the other "
                                  "example, d_max terms in all")
    # Stationary law of the 1-D linear-Gaussian case: Var z = a²/(1-s²), Cov(z, x) = a.
    torch.manual_seed(1)
    x = torch.randn(6000, 1, generator=generator(7))
    a, sv = 0.8, 0.6
    z = call(what, fn, a * x, torch.full_like(x, sv), 60).detach()
    var, cov = float(z.var()), float(((z - z.mean()) * (x - x.mean())).mean())
    if not abs(cov - a) <= 0.08:
        raise CheckFailed(what, f"Cov(z, x) = {cov:.2f}, expected a = {a}",
                          "only the first term may depend on x itself; the echoes use other "
                          "examples")
    if not abs(var - a ** 2 / (1 - sv ** 2)) <= 0.12:
        raise CheckFailed(what, f"Var z = {var:.2f}, expected a^2/(1-s^2) = "
                                f"{a ** 2 / (1 - sv ** 2):.2f}",
                          "draw every echo x_k independently (a new random index per term and "
                          "per example)")
    randomised.check("echo_sample", fn, sys.modules[__name__])
    # Inputs on another device than the CPU (a GPU): a product started as torch.ones(B, D) is
    # on the CPU.
    g = generator(8)
    on_another_device(what, fn, torch.randn(5, 3, generator=g),
                      torch.rand(5, 3, generator=g) * 0.5, 6,
                      hint="make helper tensors on the inputs' device: torch.ones_like(s_x), "
                           "torch.randint(..., device=m_x.device)")


def check_echo_rate(fn, level: str = "visible"):
    what = "echo_rate"
    visible.check_echo_rate(fn)
    if level == "hidden":
        seed = grading_seed()                # rates drawn at grading time
        s = torch.rand(7, 3, generator=generator(seed)) * 0.9 + 0.05
        with on_fresh_inputs(seed):
            out = require_tensor(what, call(what, fn, s), (7,), "one rate per example: shape "
                                                                "[batch]")
            values = echo_rate_values(s)
            if not close(out, values["ref"]):
                explain_mismatch(what, out, known_mistakes(values, visible.RATE_MISTAKES),
                                 "values differ from -sum_d log|s_d|", "return -sum_d log|s_d|")
        s_neg = torch.tensor([[-0.5, 0.25]])
        out = require_tensor(what, call(what, fn, s_neg), (1,))
        if not close(out, torch.tensor([-torch.log(torch.tensor(0.125))])):
            raise CheckFailed(what, "is wrong (or NaN) for negative s", "take log|s|: torch.abs")
        randomised.check("echo_rate", fn, sys.modules[__name__])
