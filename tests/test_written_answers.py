"""Every autograded written answer (formula, number, choice and set-of-letters cells) against the
graded test cells of the solution notebooks themselves.

For each written answer the test cell's own source is executed, split at its hidden region:

* the visible region (``checks.written_answers.check_format``) must accept every right
  spelling, so that no student is told that a right answer has the wrong form;
* the hidden region must accept every right spelling (the key, rewritten, expanded or factored
  forms, float constants from ``math``/``numpy``, exact and rounded numbers, rounded constants
  inside formulas, ``Fraction``, ``Decimal``, numpy scalars and 0-d tensors, strings, every letter
  the key accepts, in any case and with spaces) and refuse every wrong one (the sign, factor-of-2,
  variance-vs-standard-deviation and log-of-the-wrong-thing mistakes, the original assignment's own
  wrong answers, NaN, ±∞ where they are wrong) with a :class:`CheckFailed` that says something;
* the whole cell, run as grading runs it (by the judge, with ``checks`` bound to the staff module
  and the answer fetched from an in-process kernel agent as plain data), passes every right
  spelling and fails every wrong one.

The cells, their hidden regions, the set-up cell's symbols and the notebooks' own keys are read
from the notebooks, so these tests follow the notebooks; the right and wrong answers below are
stated independently of the keys. A guard test fails when a notebook gains a written answer that
has no cases here.

Known defects of a check are marked ``xfail(strict=True)`` with the reason.
"""

from __future__ import annotations

import ast
import builtins
import decimal
import fractions
import importlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from dgm import manifest
from dgm.checks.common import CheckFailed
from tests import judge_harness

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = list(manifest.IDS)

#: The staff module each notebook's ``checks`` is bound to when it is graded.
STAFF_MODULES = {nb.id: nb.staff_checks for nb in manifest.NOTEBOOKS}

NAN = "float('nan')"
#: Stands for the answer the solution notebook itself gives (read from its answer cell).
KEY = "<the notebook's own answer>"

#: Spellings of +∞ that the hidden check (``as_number``) reads as +∞.
INFINITY_RIGHT = ["sp.oo", "float('inf')", "np.inf", "math.inf", "sp.zoo", "-sp.log(0)", "'oo'",
                  "sp.oo + 1", "2 * sp.oo"]
#: Strings of +∞ that the visible check and the hidden check both read as +∞ (the visible one
#: used to refuse them as unknown symbols).
INFINITY_WORDS = ["'inf'", "' Infinity '", "'+inf'", "'∞'"]
#: Ordinary numeric types that hold +∞.
INFINITY_NUMBERS = ["decimal.Decimal('Infinity')", "torch.tensor(float('inf'))",
                    "np.float64('inf')", "np.float32('inf')"]
#: NaN in ordinary numeric types: refused like float('nan').
NAN_NUMBERS = ["decimal.Decimal('NaN')", "torch.tensor(float('nan'))", "np.float32('nan')"]


# ------------------------------------------------------------------------ the case table -------
@dataclass
class Cases:
    """Right and wrong answers of one written cell, as Python source evaluated with ``sp``, ``np``,
    ``math`` and the set-up cell's symbols. ``known`` maps a spelling to ``(parts, reason)``:
    the parts of the test (``"visible"``, ``"hidden"``, ``"cell"``) known to get it wrong."""

    right: list[str]
    wrong: list[str]
    known: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)


def choice(right: str, wrong: str, not_options: tuple[str, ...] = ("E", "AB", "")) -> Cases:
    """A one-letter choice: every right letter in upper and lower case, with spaces around it;
    every other option, and answers that are no option at all."""
    spellings = []
    for letter in right:
        spellings += [repr(letter), repr(letter.lower()), repr(f" {letter} "),
                      repr(f"{letter.lower()}\n")]
    return Cases(right=spellings, wrong=[repr(w) for w in wrong] + [repr(o) for o in not_options])


CASES: dict[tuple[str, str], Cases] = {
    # ------------------------------------------------------------------ 01 · VAE ---------------
    ("01_vae", "test_a"): Cases(
        right=["y_hat**x_j * (1 - y_hat)**(1 - x_j)",
               "x_j*y_hat + (1 - x_j)*(1 - y_hat)",
               "(2*y_hat - 1)*x_j + 1 - y_hat",
               "sp.exp(x_j*sp.log(y_hat) + (1 - x_j)*sp.log(1 - y_hat))",
               "y_hat**x_j / (1 - y_hat)**(x_j - 1)",
               "sp.Piecewise((y_hat, sp.Eq(x_j, 1)), (1 - y_hat, True))",
               "'y_hat**x_j * (1 - y_hat)**(1 - x_j)'",
               "1.0*y_hat**x_j * (1 - y_hat)**(1.0 - x_j)"],
        wrong=["y_hat**(1 - x_j) * (1 - y_hat)**x_j",                     # the two cases swapped
               "x_j*sp.log(y_hat) + (1 - x_j)*sp.log(1 - y_hat)",         # its log
               "-(x_j*sp.log(y_hat) + (1 - x_j)*sp.log(1 - y_hat))",      # minus its log (BCE)
               "y_hat**x_j",                                              # 1 at x_j = 0
               "y_hat",
               NAN, "sp.oo", "'y_hat^x_j'"]),
    ("01_vae", "test_b"): Cases(
        right=["4", "4.0", "'4'", "np.int64(4)", "sp.Integer(4)", "2 * 2", "sp.Float(4)",
               "' 4 '", "fractions.Fraction(4)", "fractions.Fraction(8, 2)",
               "decimal.Decimal('4')", "decimal.Decimal('4.000')", "np.float32(4)",
               "torch.tensor(4)", "torch.tensor(4.0)", "torch.tensor(4.0, dtype=torch.float64)"],
        wrong=["2",              # the original text's identity covariance: the means only
               "5",              # a full covariance: 2 means + 3 covariance entries
               "6", "8", NAN, "float('inf')", "sp.oo", "'four'", "-4",
               "fractions.Fraction(9, 2)", "decimal.Decimal('4.1')", "torch.tensor(5)",
               "torch.tensor([4, 4])", *NAN_NUMBERS]),
    ("01_vae", "test_c"): choice("A", "BCD"),
    ("01_vae", "test_d"): Cases(
        right=["{'A', 'B'}", "['B', 'A']", "('a', 'b')", "frozenset({'A', 'B'})",
               "{' a ', 'B '}", "['A', 'B', 'A']"],
        wrong=["{'A'}", "{'B'}", "{'A', 'B', 'C'}", "{'A', 'B', 'D'}", "{'A', 'B', 'E'}",
               "{'C', 'D', 'E'}", "{'A', 'B', 'C', 'D', 'E'}", "set()", "{'A', 'B', 'F'}",
               "'AB'"]),
    ("01_vae", "test_e"): choice("A", "BCD"),
    ("01_vae", "test_f"): choice("A", "BCD"),
    ("01_vae", "test_g"): Cases(
        right=["0", "0.0", "'0'", "sp.Integer(0)", "sp.log(1)", "np.float64(0.0)", "-0.0",
               "math.log(1)", "fractions.Fraction(0)", "decimal.Decimal('0')",
               "decimal.Decimal('-0.0')", "np.float32(0)", "torch.tensor(0.0)",
               "torch.zeros(())"],
        wrong=["1", "sp.log(2)", "-1", NAN, "sp.oo", "-sp.oo", "'inf'",
               "fractions.Fraction(1, 2)", "decimal.Decimal('0.1')", "torch.tensor(1.0)",
               *NAN_NUMBERS],
        ),
    ("01_vae", "test_h"): Cases(
        right=["(mu_phi - mu_p)**2 / (2 * sigma**2)",
               "(mu_p - mu_phi)**2 / 2 / sigma**2",
               "(mu_phi**2 - 2*mu_phi*mu_p + mu_p**2) / (2*sigma**2)",
               "0.5 * (mu_phi - mu_p)**2 * sigma**-2",
               "sp.Rational(1, 2) * ((mu_phi - mu_p) / sigma)**2",
               "(sp.Symbol('mu_phi') - sp.Symbol('mu_p'))**2 / (2 * sp.Symbol('sigma')**2)",
               "sp.log(sigma / sigma) + (sigma**2 + (mu_phi - mu_p)**2) / (2*sigma**2) - "
               "sp.Rational(1, 2)",
               "'(mu_phi - mu_p)**2 / (2*sigma**2)'"],
        wrong=["(mu_phi - mu_p)**2 / (2 * sigma)",        # sigma taken for the variance
               "(mu_phi - mu_p)**2 / sigma**2",           # factor 2
               "(mu_phi - mu_p)**2 / (4 * sigma**2)",
               "-(mu_phi - mu_p)**2 / (2 * sigma**2)",    # sign
               "(mu_phi - mu_p) / (2 * sigma**2)",        # no square
               "sp.log((mu_phi - mu_p)**2 / (2 * sigma**2))",
               "(mu_phi - mu_p)**2 / (2 * sigma**2) + sp.log(2*sp.pi*sigma**2) / 2",
               NAN, "sp.oo"]),
    ("01_vae", "test_i"): choice("A", "BCD"),
    ("01_vae", "test_j"): choice("B", "ACD"),
    # ------------------------------------------------------------------ 02 · β-VAE -------------
    ("02_beta_vae", "test_a"): Cases(
        right=["(x - x_hat)**2 / (2 * sigma**2) + sp.log(2 * sp.pi * sigma**2) / 2",
               "(x - x_hat)**2 / (2*sigma**2) + sp.log(sigma) + sp.log(2*sp.pi) / 2",
               "(x - x_hat)**2 / (2*sigma**2) + 0.5*math.log(2*math.pi) + sp.log(sigma)",
               "(x**2 - 2*x*x_hat + x_hat**2) / (2*sigma**2) + sp.log(sigma*sp.sqrt(2*sp.pi))",
               "-sp.log(sp.exp(-(x - x_hat)**2 / (2*sigma**2)) / sp.sqrt(2*sp.pi*sigma**2))",
               "(x_hat - x)**2 / (2*sigma**2) + np.log(np.sqrt(2*np.pi)) + sp.log(sigma)",
               "'(x - x_hat)**2/(2*sigma**2) + log(2*pi*sigma**2)/2'",
               "(x - x_hat)**2 / (2*sigma**2) + sp.log(sigma) + 0.9189",    # log(2 pi)/2, rounded
               "0.5 * (x - x_hat)**2 / sigma**2 + sp.log(sigma) + 0.919"],
        wrong=["(x - x_hat)**2 / (2*sigma**2)",                          # the constant dropped
               "(x - x_hat)**2 / (2*sigma**2) + sp.log(2*sp.pi*sigma**2)",  # factor 2 on the log
               "(x - x_hat)**2 / sigma**2 + sp.log(2*sp.pi*sigma**2) / 2",  # factor 2
               "(x - x_hat)**2 / (2*sigma) + sp.log(2*sp.pi*sigma) / 2",    # sigma as variance
               "-(x - x_hat)**2 / (2*sigma**2) - sp.log(2*sp.pi*sigma**2) / 2",  # log p, not -log p
               "sp.exp(-(x - x_hat)**2 / (2*sigma**2)) / sp.sqrt(2*sp.pi*sigma**2)",  # p itself
               "(x - x_hat)**2 / (2*sigma**2) + 0.92",                    # a rounded constant
               "(x - x_hat)**2 / (2*sigma**2) + sp.log(sigma) + 0.92",    # rounded too far
               "(x - x_hat)**2 / (2*sigma**2) + sp.log(sigma) + 1.8379",  # log(2 pi), no 1/2
               "(x - x_hat)**2 / (2*sigma**2) + sp.log(sigma) - 0.9189",  # the constant's sign
               NAN, "sp.oo"]),
    ("02_beta_vae", "test_b_variance"): Cases(
        right=["beta / 2", "0.5 * beta", "sp.Rational(1, 2) * beta", "'beta/2'",
               "beta * 0.5", "sp.sqrt(beta / 2)**2", "1 / (2 / beta)", "0.5000 * beta",
               "fractions.Fraction(1, 2) * beta", "beta * decimal.Decimal('0.5')"],
        wrong=["beta",                   # factor 2
               "2 * beta",
               "sp.sqrt(beta / 2)",      # the standard deviation
               "1 / (2 * beta)",
               "beta**2 / 4",
               "-beta / 2",
               "0.49 * beta",            # a factor rounded too far
               "fractions.Fraction(1, 2)",
               NAN, "sp.oo", "sp.Integer(0)"]),
    ("02_beta_vae", "test_b_limits"): choice("AD", "BC"),
    ("02_beta_vae", "test_b_limits_infinity"): choice("B", "ACD"),
    ("02_beta_vae", "test_c"): Cases(
        right=["'<='", "' <= '", "'<=\\n'", "' <='"],
        wrong=["'='", "'>='", "'<'", "'>'", "'=<'", "''", "'LE'"]),
    ("02_beta_vae", "test_c_difficulties"): Cases(
        right=["{'A', 'B'}", "['B', 'A']", "('a', 'b')", "frozenset({'A', 'B'})",
               "{' A', 'b '}", "['A', 'B', 'B']"],
        wrong=["{'A'}", "{'B'}", "{'A', 'B', 'C'}", "{'A', 'B', 'D'}", "{'C', 'D'}",
               "{'A', 'B', 'C', 'D'}", "set()", "{'A', 'B', 'E'}", "'AB'"]),
    ("02_beta_vae", "test_d"): Cases(
        right=["(v + mu**2 - 1 - sp.log(v)) / 2",
               "v/2 + mu**2/2 - sp.Rational(1, 2) - sp.log(v)/2",
               "0.5*(v + mu**2 - 1) - 0.5*sp.log(v)",
               "(v + mu**2 - 1 + sp.log(1/v)) / 2",
               "-sp.log(sp.sqrt(v)) + (v + mu**2)/2 - 0.5",
               "(sp.log(1/v) + (v + (mu - 0)**2)/1 - 1) / 2",
               "(sp.Symbol('v') + sp.Symbol('mu')**2 - 1 - sp.log(sp.Symbol('v'))) / 2",
               "'(v + mu**2 - 1 - log(v))/2'"],
        wrong=["(v + mu**2 - 1 + sp.log(v)) / 2",                 # sign of the log
               "v + mu**2 - 1 - sp.log(v)",                       # factor 2
               "(v + mu**2 - sp.log(v)) / 2",                     # the -1 dropped
               "(v**2 + mu**2 - 1 - 2*sp.log(v)) / 2",            # v taken for the std
               "(1/v + mu**2/v - 1 + sp.log(v)) / 2",             # KL(N(0,1) || N(mu, v))
               "(v + mu**2 - 1 - sp.log(v**2)) / 2",
               NAN, "sp.oo"]),
    # ------------------------------------------------------------------ 03 · echo --------------
    ("03_echo", "test_a"): Cases(
        right=["m0 + s0*m1 + s0*s1*m2 + s0*s1*s2*z3",
               "m0 + s0*(m1 + s1*(m2 + s2*z3))",
               "sp.expand(m0 + s0*(m1 + s1*(m2 + s2*z3)))",
               "m0 + s0*m1 + s0*s1*(m2 + s2*z3)",
               "1.0*m0 + s0*m1 + s0*s1*m2 + s0*s1*s2*z3",
               "'m0 + s0*(m1 + s1*(m2 + s2*z3))'"],
        wrong=["m0 + s0*m1 + s1*m2 + s2*z3",                      # the products of s forgotten
               "m0 + s0*m1 + s0*s1*m2",                           # z3 dropped
               "m0 + s0*m1 + s0*s1*m2 + s0*s1*s2*m2",
               "m0 + s1*m1 + s1*s2*m2 + s1*s2*z3",                # the scales shifted by one
               "s0*m0 + s0*s1*m1 + s0*s1*s2*m2 + s0*s1*s2*z3",
               "m0*m1*m2 + s0*s1*s2*z3",
               NAN, "sp.oo"]),
    ("03_echo", "test_b"): choice("A", "BCD"),    # B: the often-quoted E log det S, sign lost
    ("03_echo", "test_c"): Cases(
        right=["{'A', 'B', 'C'}", "['C', 'B', 'A']", "('a', 'b', 'c')",
               "frozenset({'A', 'B', 'C'})", "{' A', 'b', 'C '}", "['A', 'B', 'C', 'A']"],
        wrong=["{'A', 'B'}", "{'A', 'C'}", "{'B', 'C'}", "{'A', 'B', 'C', 'D'}",
               "{'A', 'B', 'C', 'E'}", "{'D', 'E'}", "{'A', 'B', 'C', 'D', 'E'}", "set()",
               "{'A', 'B', 'C', 'F'}", "'ABC'"]),
    ("03_echo", "test_d_variance"): Cases(
        right=["a**2 / (1 - s**2)",
               "-a**2 / (s**2 - 1)",
               "a**2 / ((1 - s) * (1 + s))",
               "a**2 * (1 - s**2)**-1",
               "a**2 / (1.0 - s**2)",
               "sp.summation(a**2 * s**(2*k), (k, 0, sp.oo))",   # sympy's own Piecewise
               "'a**2/(1 - s**2)'"],
        wrong=["a**2 / (1 - s)",                 # s taken for the variance of the scale
               "a / (1 - s**2)",                 # a taken for its square
               "a**2 / (1 + s**2)",              # sign
               "a**2 * s**2 / (1 - s**2)",       # Var(z | x), not Var z
               "1 / (1 - s**2)",
               "a**2 * (1 - s**2)",
               "sp.summation(a**2 * s**k, (k, 0, sp.oo))",
               NAN, "sp.oo"]),
    ("03_echo", "test_d_rate"): Cases(
        right=["-sp.log(s)", "sp.log(1 / s)", "-sp.log(s**2) / 2", "sp.log(1 / s**2) / 2",
               "'-log(s)'", "-1.0 * sp.log(s)", "sp.log(sp.sqrt(1 / s**2))",
               "-sp.log(s) / sp.log(sp.E)", "-sp.log(sp.Symbol('s'))"],
        wrong=["sp.log(s)",                      # the sign the often-quoted formula loses
               "-2 * sp.log(s)",                 # the 1/2 of the log of a variance ratio
               "-sp.log(s) / 2",
               "-sp.log(1 - s**2) / 2",          # the log of the wrong thing
               "-sp.log(s) / sp.log(2)",         # in bits
               "s", "-sp.log(a * s)",            # a is not part of the answer
               NAN, "sp.oo", "-sp.oo"]),
    # ------------------------------------------------------------------ 04 · GAN ---------------
    ("04_gan", "test_a"): choice("A", "BCD"),
    ("04_gan", "test_b"): Cases(
        right=["a / (a + b)", "1 / (1 + b / a)", "1 - b / (a + b)", "a * (a + b)**-1",
               "sp.exp(sp.log(a) - sp.log(a + b))", "'a/(a + b)'", "(a / b) / (1 + a / b)",
               "sp.Symbol('a') / (sp.Symbol('a') + sp.Symbol('b'))"],
        wrong=["b / (a + b)",                    # the two densities swapped
               "a / b",
               "sp.Rational(1, 2)",              # its value at the equilibrium only
               "a / (a + b)**2",
               "a / (a - b)",
               "sp.log(a / (a + b))",
               NAN, "sp.oo"]),
    ("04_gan", "test_c_cost"): Cases(
        right=["2 * J - sp.log(4)", "2 * J - 2 * sp.log(2)", "2 * J - np.log(4)",
               "2 * (J - sp.log(2))", "2 * J + sp.log(sp.Rational(1, 4))",
               "2 * J - math.log(4)", "'2*J - log(4)'", "2.0 * J - sp.log(4.0)",
               "2 * J - 1.3863", "2 * J - 1.386", "'2*J - 1.3863'", "2 * (J - 0.6931)",
               "2 * J + float(np.float32(-1.3863))"],
        wrong=["2 * J",                          # the constant dropped
               "2 * J - sp.log(2)",
               "J - sp.log(4)",                  # factor 2
               "2 * J + sp.log(4)",              # sign
               "-sp.log(4)",                     # the minimum, not the cost
               "2 * J - 1.39",                   # a constant rounded too far
               "2 * J - 1.2",
               "2 * J + 1.3863",                 # sign, with the rounded constant
               "J - 1.3863",                     # factor 2, with the rounded constant
               "2 * J - 0.6931",                 # log 2 for log 4
               "1.9 * J - 1.3863",               # a coefficient rounded too far
               NAN, "sp.oo"]),
    ("04_gan", "test_c_min"): Cases(
        right=["-sp.log(4)", "-2 * sp.log(2)", "-math.log(4)", "np.log(0.25)",
               "sp.log(sp.Rational(1, 4))", "-1.386", "-1.3863", "'-log(4)'",
               "sp.Float(-math.log(4))", "decimal.Decimal('-1.3863')", "np.float32(-1.3863)",
               "torch.tensor(-1.3863)", "torch.tensor(-math.log(4), dtype=torch.float64)",
               "np.float64(-math.log(4))"],
        wrong=["sp.log(4)",                      # sign
               "-sp.log(2)",                     # factor 2
               "0",                              # the minimum of the JSD, not of the cost
               "-2", NAN, "-sp.oo", "sp.oo", "'-inf'", "decimal.Decimal('-1.39')",
               "fractions.Fraction(-3, 2)", "torch.tensor(-1.2)", *NAN_NUMBERS],
        ),
    ("04_gan", "test_d"): choice("B", "AC", not_options=("D", "BC", "")),
    # ------------------------------------------------------------------ 05 · WGAN --------------
    ("05_wgan", "test_a_kl_12"): Cases(
        right=INFINITY_RIGHT + INFINITY_WORDS + INFINITY_NUMBERS,
        wrong=["0",                              # "KL is 0": only for equal laws
               "sp.log(2)", "1", "-sp.oo", "'-inf'", NAN, "sp.Rational(1, 2)",
               "decimal.Decimal('-Infinity')", "torch.tensor(-float('inf'))",
               "fractions.Fraction(1, 2)", *NAN_NUMBERS],
        ),
    ("05_wgan", "test_a_kl_13"): Cases(
        right=INFINITY_RIGHT + INFINITY_WORDS + INFINITY_NUMBERS,
        wrong=["1", "sp.log(2)", "0", "-sp.oo", "'-inf'", NAN, "torch.tensor(1.0)",
               *NAN_NUMBERS],
        ),
    ("05_wgan", "test_a_w1_12"): Cases(
        right=["sp.Rational(1, 2)", "0.5", "'1/2'", "np.float64(0.5)", "sp.Float(0.5)",
               "1 / 2", "'0.5'", "sp.S(1) / 2", "fractions.Fraction(1, 2)",
               "fractions.Fraction('1/2')", "decimal.Decimal('0.5')", "decimal.Decimal('0.50')",
               "np.float32(0.5)", "np.float16(0.5)", "torch.tensor(0.5)",
               "torch.tensor(0.5, dtype=torch.float64)", "torch.tensor(0.5, requires_grad=True)",
               "np.array(0.5)"],
        wrong=["1", "0.25", "sp.oo", NAN, "0.49", "-0.5", "0", "'inf'",
               "fractions.Fraction(1, 3)", "decimal.Decimal('0.49')", "torch.tensor(0.25)",
               "np.float32(0.49)", "torch.tensor([0.5, 0.5])", *NAN_NUMBERS],
        ),
    ("05_wgan", "test_a_w1_13"): Cases(
        right=["1", "1.0", "'1'", "sp.Integer(1)", "np.int64(1)", "sp.Rational(2, 2)",
               "np.float32(1)", "fractions.Fraction(1)", "fractions.Fraction(3, 3)",
               "decimal.Decimal('1')", "decimal.Decimal('1.0000')", "torch.tensor(1)",
               "torch.tensor(1.0)", "np.int32(1)"],
        wrong=["sp.Rational(1, 2)", "2", "0", "-1", "sp.oo", NAN, "sp.log(2)",
               "fractions.Fraction(1, 2)", "decimal.Decimal('0.5')", "torch.tensor(2)",
               *NAN_NUMBERS]),
    ("05_wgan", "test_b"): Cases(
        right=["sp.log(2)", "math.log(2)", "0.6931", "np.log(2)", "'log(2)'", "sp.log(4) / 2",
               "0.693147", "-sp.log(sp.Rational(1, 2))", "decimal.Decimal('0.6931')",
               "np.float32(0.6931)", "np.float32(math.log(2))", "torch.tensor(0.6931)",
               "torch.tensor(math.log(2), dtype=torch.float64)", "torch.log(torch.tensor(2.0))"],
        wrong=["sp.log(4)",                      # KL(P1 || m) + KL(P3 || m), without the 1/2
               "1",                              # in bits
               "0",                              # "disjoint, so nothing in common"
               "sp.oo",                          # the KL of disjoint laws
               NAN, "-sp.log(2)", "sp.log(2) / 2",
               "np.log(4)",                      # a numpy float reaches the check as a float
               "decimal.Decimal('0.69')", "fractions.Fraction(1, 2)", "torch.tensor(0.69)",
               *NAN_NUMBERS]),
    ("05_wgan", "test_c"): choice("A", "BCD"),
    ("05_wgan", "test_d"): choice("A", "BCD"),   # D: the one-sided penalty
    # ------------------------------------------------------------------ 06 · paths -------------
    ("06_inversion", "test_d"): choice("A", "BC", not_options=("D", "AB", "")),
}


# ------------------------------------------------------------------------ reading the notebooks
@dataclass(frozen=True)
class WrittenCell:
    notebook: str
    grade_id: str
    variable: str
    source: str                  # the whole test cell (visible and hidden)
    visible: str
    hidden: str
    options: tuple[str, ...] | None   # None for a formula or a number
    many: bool
    answer_source: str           # the solution cell that assigns the variable


def _notebook(name: str) -> list[dict]:
    path = ROOT / "solutions" / name / f"{name}.ipynb"
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _split_hidden(source: str) -> tuple[str, str]:
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == manifest.BEGIN_HIDDEN:
            inside = True
        elif line.strip() == manifest.END_HIDDEN:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return "\n".join(visible), "\n".join(hidden)


def _check_format_call(tree: ast.Module) -> ast.Call | None:
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call)
                and ast.unparse(node.func) == "checks.written_answers.check_format"):
            return node
    return None


def _assigned(source: str) -> list[str]:
    return [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def is_written_answer_cell(cell: dict) -> bool:
    """A solution code cell made only of assignments (``name = None`` then the answer)."""
    if cell["cell_type"] != "code" or not _nbgrader(cell).get("solution"):
        return False
    body = ast.parse(_source(cell)).body
    return bool(body) and all(isinstance(node, ast.Assign) for node in body)


@lru_cache(maxsize=None)
def written_cells(notebook: str) -> dict[str, WrittenCell]:
    """The graded test cells of a notebook that check a written answer, by grade id."""
    cells = _notebook(notebook)
    answers = {}
    for cell in cells:
        if is_written_answer_cell(cell):
            for name in _assigned(_source(cell)):
                answers[name] = _source(cell)
    found = {}
    for cell in cells:
        md = _nbgrader(cell)
        if cell["cell_type"] != "code" or not md.get("grade"):
            continue
        source = _source(cell)
        call = _check_format_call(ast.parse(source))
        if call is None:
            continue
        variable = call.args[1].id
        keywords = {k.arg: k.value for k in call.keywords}
        options = None
        if "options" in keywords:
            value = ast.literal_eval(keywords["options"])
            options = tuple(value)
        many = bool(ast.literal_eval(keywords["many"])) if "many" in keywords else False
        visible, hidden = _split_hidden(source)
        found[md["grade_id"]] = WrittenCell(notebook, md["grade_id"], variable, source, visible,
                                            hidden, options, many, answers.get(variable, ""))
    return found


def setup_source(notebook: str) -> str:
    return next(_source(c) for c in _notebook(notebook) if _nbgrader(c).get("grade_id") == "setup")


@lru_cache(maxsize=None)
def setup_symbols(notebook: str) -> dict[str, sp.Symbol]:
    """The symbols the set-up cell defines: its top-level assignments from ``sp.symbols``/
    ``sp.Symbol`` calls, executed as they are written."""
    ns: dict = {"sp": sp}
    for node in ast.parse(setup_source(notebook)).body:
        if not isinstance(node, ast.Assign):
            continue
        calls = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        if calls and all(isinstance(c, ast.Call) and ast.unparse(c.func) in
                         ("sp.symbols", "sp.Symbol") for c in calls):
            exec(compile(ast.Module([node], []), f"<{notebook} set-up>", "exec"), ns)  # noqa: S102
    return {k: v for k, v in ns.items() if isinstance(v, sp.Basic)}


def staff_checks(notebook: str):
    from dgm_staff.judge import checks_module_of

    return importlib.import_module(checks_module_of(setup_source(notebook)))


def answer_value(cell: WrittenCell, spelling: str):
    if spelling == KEY:
        ns = {"sp": sp, "np": np, "math": math, **setup_symbols(cell.notebook)}
        exec(compile(cell.answer_source, "<answer>", "exec"), ns)  # noqa: S102
        return ns[cell.variable]
    ns = {"sp": sp, "np": np, "math": math, "k": sp.Symbol("k", integer=True, nonnegative=True),
          "fractions": fractions, "decimal": decimal, "torch": torch,
          **setup_symbols(cell.notebook)}
    return eval(spelling, ns)  # noqa: S307 - the spellings are this file's own


# ------------------------------------------------------------------------ running the cells ----
def run_region(cell: WrittenCell, region: str, value) -> None:
    ns = {"__builtins__": builtins, "checks": staff_checks(cell.notebook), "sp": sp, "np": np,
          "math": math, **setup_symbols(cell.notebook), cell.variable: value}
    exec(compile(region, f"<{cell.notebook}:{cell.grade_id}>", "exec"), ns)  # noqa: S102


def judged(cell: WrittenCell, value) -> BaseException | None:
    """The whole test cell as grading runs it: by the judge, with the student's names (the set-up
    symbols and the answer) in a kernel namespace, fetched as plain data."""
    user_ns = {**setup_symbols(cell.notebook), cell.variable: value}
    return judge_harness.judged(user_ns, staff_checks(cell.notebook), cell.source)


# ------------------------------------------------------------------------ parametrisation ------
def _params(kind: str, part: str):
    params = []
    for (notebook, grade_id), cases in CASES.items():
        spellings = ([KEY] + cases.right) if kind == "right" else (cases.wrong + ["None"])
        for spelling in spellings:
            marks = []
            parts, reason = cases.known.get(spelling, ((), ""))
            if part in parts:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(notebook, grade_id, spelling, marks=marks,
                                       id=f"{notebook}-{grade_id}-{spelling}"))
    return params


def _cell(notebook: str, grade_id: str) -> WrittenCell:
    cells = written_cells(notebook)
    if grade_id not in cells:
        pytest.fail(f"{notebook} has no written test cell {grade_id} any more: update CASES")
    return cells[grade_id]


@pytest.mark.parametrize("notebook,grade_id,spelling", _params("right", "visible"))
def test_the_visible_check_accepts_a_right_answer(notebook, grade_id, spelling):
    cell = _cell(notebook, grade_id)
    run_region(cell, cell.visible, answer_value(cell, spelling))


@pytest.mark.parametrize("notebook,grade_id,spelling", _params("right", "hidden"))
def test_the_hidden_check_accepts_a_right_answer(notebook, grade_id, spelling):
    cell = _cell(notebook, grade_id)
    run_region(cell, cell.hidden, answer_value(cell, spelling))


@pytest.mark.parametrize("notebook,grade_id,spelling", _params("wrong", "hidden"))
def test_the_hidden_check_refuses_a_wrong_answer_with_a_message(notebook, grade_id, spelling):
    cell = _cell(notebook, grade_id)
    with pytest.raises(CheckFailed) as info:
        run_region(cell, cell.hidden, answer_value(cell, spelling))
    assert str(info.value).strip()
    assert info.value.problem.strip()


@pytest.mark.parametrize("notebook,grade_id,spelling", _params("right", "cell"))
def test_the_judged_cell_passes_a_right_answer(notebook, grade_id, spelling):
    cell = _cell(notebook, grade_id)
    error = judged(cell, answer_value(cell, spelling))
    assert error is None, f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("notebook,grade_id,spelling", _params("wrong", "cell"))
def test_the_judged_cell_fails_a_wrong_answer_with_a_message(notebook, grade_id, spelling):
    cell = _cell(notebook, grade_id)
    error = judged(cell, answer_value(cell, spelling))
    assert isinstance(error, CheckFailed), f"{type(error).__name__}: {error}"
    assert str(error).strip()
    if spelling in (NAN, *NAN_NUMBERS):   # the visible check names the problem first
        assert "NaN" in str(error)


# ------------------------------------------------------------------------ guards ---------------
def test_each_notebook_is_graded_with_its_staff_module():
    for notebook, module in STAFF_MODULES.items():
        assert staff_checks(notebook).__name__ == module


def test_every_written_answer_has_cases():
    """A written cell added to a notebook fails here until it has cases; a cell removed or
    renamed fails here until its cases go."""
    found = {(nb, gid) for nb in NOTEBOOKS for gid in written_cells(nb)}
    assert sorted(found - set(CASES)) == [], "written cells without cases in CASES"
    assert sorted(set(CASES) - found) == [], "cases for cells the notebooks no longer have"
    # every written answer variable is checked by one of those cells
    for nb in NOTEBOOKS:
        checked = {c.variable for c in written_cells(nb).values()}
        for cell in _notebook(nb):
            if is_written_answer_cell(cell):
                unchecked = set(_assigned(_source(cell))) - checked
                assert not unchecked, f"{nb}: {sorted(unchecked)} have no check_format test cell"


@pytest.mark.parametrize("notebook,grade_id", sorted(CASES), ids=lambda v: str(v))
def test_the_cases_of_a_cell_are_enough(notebook, grade_id):
    cell, cases = _cell(notebook, grade_id), CASES[(notebook, grade_id)]
    assert len(cases.right) >= 3 and len(cases.wrong) >= 3
    assert len(set(cases.right)) == len(cases.right) and len(set(cases.wrong)) == len(cases.wrong)
    assert not set(cases.right) & set(cases.wrong)
    assert set(cases.known) <= set(cases.right) | set(cases.wrong), "known: no such spelling"
    assert cell.answer_source, f"no solution cell assigns {cell.variable}"
    if cell.options is None:                       # a formula or a number: NaN and an infinity
        assert NAN in cases.wrong
        assert {"sp.oo", "-sp.oo", "float('inf')"} & set(cases.wrong)
    elif not cell.many:
        # every option is stated either right or wrong
        def options_among(spellings):
            values = (answer_value(cell, sp_) for sp_ in spellings)
            return {v.strip().upper() for v in values if isinstance(v, str)} & set(cell.options)
        right, wrong = options_among(cases.right), options_among(cases.wrong)
        assert right and not right & wrong
        assert right | wrong == {o.upper() for o in cell.options}
