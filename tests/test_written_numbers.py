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
