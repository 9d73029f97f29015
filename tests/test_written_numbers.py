"""Numeric written answers: every sensible spelling of the right value is accepted (exact values,
floats from math/numpy, strings, values rounded to four significant digits, every spelling of +∞),
and wrong values, NaN among them, are refused with a message."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch

from dgm.checks import written_answers as visible_answers
from dgm.checks.common import CheckFailed
from grader_tests import vae, wgan, written_answers

NAN = float("nan")
INFINITY_SPELLINGS = [sp.oo, float("inf"), np.inf, "inf", "oo", sp.zoo, -sp.log(0)]

CASES = {
    "01 (b) encoder outputs": (vae.check_encoder_outputs,
                               [4, 4.0, "4", sp.Integer(4), np.int64(4), Fraction(4),
                                Decimal("4"), torch.tensor(4), torch.tensor(4.0)],
                               [NAN, 2, 6, float("inf"), "four", Fraction(7, 2),
                                Decimal("NaN"), torch.tensor(NAN), torch.tensor([4, 4])]),
    "04 (c) minimum cost": (lambda a: written_answers.check_number("(c)", a, -sp.log(4), "hint"),
                            [-sp.log(4), -2 * sp.log(2), -1.3863, -math.log(4), "-log(4)",
                             np.log(0.25), Decimal("-1.3863"), np.float32(-1.3863),
                             torch.tensor(-1.3863), torch.tensor(-1.3863, dtype=torch.float64)],
                            [NAN, sp.log(4), -sp.log(2), -1.39, 0, -sp.oo]),
    "05 (a) KL(P1 || P2)": (wgan.check_kl_12, INFINITY_SPELLINGS, [NAN, 0, sp.log(2), -sp.oo]),
    "05 (a) KL(P1 || P3)": (wgan.check_kl_13, INFINITY_SPELLINGS, [NAN, 1, sp.log(2), -sp.oo]),
    "05 (a) W1(P1, P2)": (wgan.check_w1_12, [0.5, sp.Rational(1, 2), "1/2", np.float64(0.5),
                                             sp.Float(0.5), Fraction(1, 2), Decimal("0.5"),
                                             np.float32(0.5), torch.tensor(0.5),
                                             torch.tensor(0.5, dtype=torch.float64)],
                          [NAN, 1, sp.oo, 0.49, "inf", Fraction(1, 3), Decimal("0.49"),
                           torch.tensor(0.25), Decimal("Infinity")]),
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
        assert "How to fix" in message


def test_the_visible_format_check_refuses_nan():
    for answer in (NAN, np.nan, sp.nan):
        with pytest.raises(CheckFailed, match="NaN"):
            visible_answers.check_format("(b) a number", answer)
    visible_answers.check_format("(b) a number", 4)
    visible_answers.check_format("(a) KL", sp.oo)


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


# ------------------------------------------------------------------------ rounded constants -----
x = sp.Symbol("x", real=True)


@pytest.mark.parametrize("answer", [3 * x + 0.3333, 3 * x + 0.333, 2.9999 * x + sp.Rational(1, 3),
                                    (x + 0.1111) * 3, "3*x + 0.3333", 3 * x + Decimal("0.3333")])
def test_a_rounded_constant_inside_a_formula_counts_like_the_rounded_number(answer):
    visible_answers.check_expression("f", answer, 3 * x + sp.Rational(1, 3), [x], hint="h")
    written_answers.check_expression("f", answer, 3 * x + sp.Rational(1, 3), [x], hint="h")


@pytest.mark.parametrize("answer", [3 * x + 0.3, 3 * x - 0.3333, x + 0.3333, 3 * x + 0.334,
                                    2.9 * x + 0.3333, 3 * x, 3 * x + 0.3333 + 0.01 * x ** 2,
                                    3 * x + 0.3333 * sp.zoo, 3 * x + sp.nan])
def test_a_wrong_formula_with_float_constants_is_refused(answer):
    for module in (visible_answers, written_answers):
        with pytest.raises(CheckFailed, match="How to fix"):
            module.check_expression("f", answer, 3 * x + sp.Rational(1, 3), [x], hint="h")


def test_nan_at_some_points_never_counts_as_agreement():
    """An answer that is NaN (or infinite) where the reference is finite is not equivalent."""
    y = sp.Symbol("y", positive=True)
    assert not visible_answers.equivalent(sp.sqrt(-y) * 0 + sp.nan, y, [y])
    assert not visible_answers._numerically_equal(sp.zoo * y, y, [y])
    assert visible_answers._numerically_equal(y * 1.0, y, [y])


def test_the_shipped_written_answers_module_gives_no_answer_away():
    from pathlib import Path

    text = Path(visible_answers.__file__).read_text()
    for give_away in ("0.6931", "1.3863", "1.386", "log(4)", "log 4", "log(2)", "log 2"):
        assert give_away not in text, give_away
