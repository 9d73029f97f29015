"""Numeric written answers: every sensible spelling of the right value is accepted (exact values,
floats from math/numpy, strings, values rounded to four significant digits, every spelling of +∞),
and wrong values, NaN among them, are refused with a message."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from dgm.checks import symbolic as visible_symbolic
from dgm.checks._core import CheckFailed
from grader_tests import symbolic, vae, wgan

NAN = float("nan")
INFINITY_SPELLINGS = [sp.oo, float("inf"), np.inf, "inf", "oo", sp.zoo, -sp.log(0)]

CASES = {
    "01 (b) encoder outputs": (vae.check_encoder_outputs,
                               [4, 4.0, "4", sp.Integer(4), np.int64(4)],
                               [NAN, 2, 6, float("inf"), "four"]),
    "04 (c) minimum cost": (lambda a: symbolic.check_number("(c)", a, -sp.log(4), "hint"),
                            [-sp.log(4), -2 * sp.log(2), -1.3863, -math.log(4), "-log(4)",
                             np.log(0.25)],
                            [NAN, sp.log(4), -sp.log(2), -1.39, 0, -sp.oo]),
    "05 (a) KL(P1 || P2)": (wgan.check_kl_12, INFINITY_SPELLINGS, [NAN, 0, sp.log(2), -sp.oo]),
    "05 (a) KL(P1 || P3)": (wgan.check_kl_13, INFINITY_SPELLINGS, [NAN, 1, sp.log(2), -sp.oo]),
    "05 (a) W1(P1, P2)": (wgan.check_w1_12, [0.5, sp.Rational(1, 2), "1/2", np.float64(0.5),
                                             sp.Float(0.5)],
                          [NAN, 1, sp.oo, 0.49, "inf"]),
    "05 (a) W1(P1, P3)": (wgan.check_w1_13, [1, 1.0, "1", sp.Integer(1)],
                          [NAN, 0.5, 2, sp.oo]),
    "05 (b) JSD(P1, P3)": (wgan.check_jsd_13, [sp.log(2), math.log(2), 0.6931, np.log(2),
                                               "log(2)", sp.log(4) / 2],
                           [NAN, sp.log(4), 0.69, 1, sp.oo, 0]),
}


@pytest.mark.parametrize("cell", sorted(CASES))
def test_right_spellings_are_accepted(cell):
    check, right, _ = CASES[cell]
    for answer in right:
        check(answer)


@pytest.mark.parametrize("cell", sorted(CASES))
def test_wrong_values_and_nan_are_refused_with_a_message(cell):
    check, _, wrong = CASES[cell]
    for answer in wrong:
        with pytest.raises(CheckFailed) as info:
            check(answer)
        message = str(info.value)
        if isinstance(answer, float) and answer != answer:
            assert "NaN" in message


def test_the_visible_format_check_refuses_nan():
    for answer in (NAN, np.nan, sp.nan):
        with pytest.raises(CheckFailed, match="NaN"):
            visible_symbolic.check_format("(b) a number", answer)
    visible_symbolic.check_format("(b) a number", 4)
    visible_symbolic.check_format("(a) KL", sp.oo)


# ------------------------------------------------------------------------ formulas --------------
def test_formulas_with_float_constants_or_sympys_own_piecewise_are_accepted():
    from grader_tests import beta_vae, echo, gan

    J = gan._answers().J
    for right in (2 * J - np.log(4), 2 * J - sp.log(4.0), 2 * J - 2 * sp.log(2)):
        gan.check_cost_at_optimum(right)
    for wrong in (2 * J, 2 * J - np.log(2), J - sp.log(4), 2 * J - 1.38):
        with pytest.raises(CheckFailed):
            gan.check_cost_at_optimum(wrong)
    B = beta_vae._answers()
    x, x_hat, sigma = B.x, B.x_hat, B.sigma
    beta_vae.check_gaussian_pixel_nll((x - x_hat) ** 2 / (2 * sigma ** 2)
                                      + 0.5 * math.log(2 * math.pi) + sp.log(sigma))
    with pytest.raises(CheckFailed):
        beta_vae.check_gaussian_pixel_nll((x - x_hat) ** 2 / (2 * sigma ** 2)
                                          + math.log(2 * math.pi) + sp.log(sigma))
    a, s, k = echo._a, echo._s, sp.Symbol("k", integer=True, nonnegative=True)
    series = sp.summation(a ** 2 * s ** (2 * k), (k, 0, sp.oo))      # a Piecewise in s
    assert series.has(sp.Piecewise)
    echo.check_stationary_variance(series)
    with pytest.raises(CheckFailed):
        echo.check_stationary_variance(sp.summation(a ** 2 * s ** k, (k, 0, sp.oo)))
