"""Visible checks of notebook 03 (echo noise).

``echo_sample(m_x, s_x, d_max)`` draws z_i = sum_{k < d_max} (prod_{l < k} s(x_l)) m(x_k) with
x_0 = x_i and x_1, x_2, ... drawn independently and uniformly from the *other* examples of the
minibatch. Random draws cannot be compared with a reference directly, so the checks use inputs
whose answer is deterministic (s = 0; d_max = 1; constant m and s; a batch of two, where "the
other example" is fixed). The values compared with were recorded by the course staff; grading
runs further, hidden checks.
"""

from __future__ import annotations

import torch

from dgm.checks import written_answers  # noqa: F401 - used by the notebooks
from dgm.checks.common import (CheckFailed, call, close, expected, explain_mismatch, generator,
                               known_mistakes, require_tensor)

NOTEBOOK = "echo"

#: Constant inputs m = 0.7, s = 0.5 and d_max = 12: the series is geometric.
CONSTANT_CASE = (0.7, 0.5, 12)
#: A batch of two (every echo of one example is the other one), with d_max = 30.
PAIR_M = ((1.0, -2.0), (0.5, 3.0))
PAIR_S = ((0.5, 0.2), (0.3, 0.6))
PAIR_D_MAX = 30


def pair_inputs():
    return torch.tensor(PAIR_M), torch.tensor(PAIR_S)


def run_echo_sample(fn):
    what = "echo_sample"
    values = expected(NOTEBOOK, "echo_sample")
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
    c, sc, d = CONSTANT_CASE
    out = call(what, fn, torch.full((5, 2), c), torch.full((5, 2), sc), d)
    if close(out, torch.full((5, 2), float(values["constant_one_more"])), atol=1e-5) or \
            close(out, torch.full((5, 2), float(values["constant_one_less"])), atol=1e-5):
        raise CheckFailed(what, f"sums the wrong number of terms for d_max = {d}",
                          "keep exactly d_max terms: k = 0, ..., d_max - 1")
    if not close(out, torch.full((5, 2), float(values["constant"])), atol=1e-5):
        raise CheckFailed(what, "with constant m = 0.7 and s = 0.5 the sample is not "
                                "m (1 - s^d_max) / (1 - s)",
                          "z = sum_k (product of the k previous s) * m of the k-th echo")
    m2, s2 = pair_inputs()
    out = require_tensor(what, call(what, fn, m2, s2, PAIR_D_MAX), (2, 2))
    ref = values["pair"]
    if not close(out, ref, atol=1e-5):
        explain_mismatch(what, out, known_mistakes(values, PAIR_MISTAKES),
                         "for a batch of two (where every echo is the other example) the result "
                         f"{out.tolist()} differs from the series {ref.tolist()}",
                         "z_i = m_i + s_i m_j + s_i s_j m_j + ... with j the other example",
                         atol=1e-5)


#: The usual mistakes on the batch of two, in the order they are tried.
PAIR_MISTAKES = {
    "pair_own": ("the echoes come from the example itself",
                 "draw x_1, x_2, ... from the *other* examples of the batch"),
    "pair_own_s": ("the products use s of the example itself at every level",
                   "the coefficient of m(x_k) is s(x_0) s(x_1) ... s(x_{k-1}): multiply by s of "
                   "each echo in turn"),
}


def check_echo_sample(fn):
    run_echo_sample(fn)


RATE_MISTAKES = {
    "negated": ("the sign is flipped",
                "I(x;z) = -E log|det S(x)|: with |s| < 1 the rate must be positive"),
    "mean_over_dims": ("you averaged over dimensions",
                       "sum over dimensions: log|det S| of a diagonal S is sum_d log|s_d|"),
    "doubled": ("the rate is doubled", "use log|s|, not log s^2"),
}


def rate_input():
    return torch.rand(5, 4, generator=generator(0)) * 0.9 + 0.05


def check_echo_rate(fn):
    what = "echo_rate"
    out = require_tensor(what, call(what, fn, rate_input()))
    if tuple(out.shape) == (5, 4):
        raise CheckFailed(what, "returned one value per dimension", "sum over the last dimension")
    require_tensor(what, out, (5,), "one rate per example: shape [batch]")
    values = expected(NOTEBOOK, "echo_rate")
    if not close(out, values["ref"]):
        explain_mismatch(what, out, known_mistakes(values, RATE_MISTAKES),
                         "values differ from -sum_d log|s_d|", "return -sum_d log|s_d|")
