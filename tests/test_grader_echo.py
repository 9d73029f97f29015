"""Checks of notebook 03 both ways: the reference passes, realistic mistakes fail with a hint."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from grader_tests import echo as checks
from dgm.checks.common import CheckFailed

from tests.helpers import fails


def _series(m_x, s_x, index):
    m_k, s_k = m_x[index], s_x[index]
    coef = torch.cumprod(torch.cat([torch.ones_like(s_k[:, :1]), s_k[:, :-1]], 1), 1)
    return (coef * m_k).sum(1)


def _others(batch, d_max):
    rows = torch.arange(batch).unsqueeze(1)
    return torch.cat([rows, (rows + torch.randint(1, batch, (batch, d_max - 1))) % batch], 1)


def echo_self(m_x, s_x, d_max):                         # every echo is x itself
    index = torch.arange(m_x.shape[0]).unsqueeze(1).expand(-1, d_max)
    return _series(m_x, s_x, index)


def echo_any_example(m_x, s_x, d_max):                   # may pick x itself as an echo
    b = m_x.shape[0]
    index = torch.cat([torch.arange(b).unsqueeze(1), torch.randint(0, b, (b, d_max - 1))], 1)
    return _series(m_x, s_x, index)


def echo_own_s(m_x, s_x, d_max):                         # s(x)^k instead of prod of the echoes' s
    index = _others(m_x.shape[0], d_max)
    powers = s_x.unsqueeze(1) ** torch.arange(d_max).view(1, -1, 1)
    return (powers * m_x[index]).sum(1)


def echo_one_partner(m_x, s_x, d_max):                   # the same echo for every term
    b = m_x.shape[0]
    partner = (torch.arange(b) + torch.randint(1, b, (b,))) % b
    index = torch.cat([torch.arange(b).unsqueeze(1), partner.unsqueeze(1).expand(-1, d_max - 1)], 1)
    return _series(m_x, s_x, index)


def echo_off_by_one(m_x, s_x, d_max):                    # d_max + 1 terms
    return _series(m_x, s_x, _others(m_x.shape[0], d_max + 1))


def echo_log_space(m_x, s_x, d_max):                     # exp(cumsum(log s)): NaN gradient at 0
    index = _others(m_x.shape[0], d_max)
    m_k, s_k = m_x[index], s_x[index]
    logs = torch.log(torch.cat([torch.ones_like(s_k[:, :1]), s_k[:, :-1]], 1))
    return (torch.exp(torch.cumsum(logs, 1)) * m_k).sum(1)


@pytest.mark.parametrize("mutant,match,level", [
    (echo_self, "from the example itself", "visible"),
    (echo_any_example, "batch of two", "visible"),
    (echo_own_s, "s of the example itself", "visible"),
    (echo_off_by_one, "wrong number of terms", "visible"),
    (echo_one_partner, "Var z", "hidden"),
    (echo_log_space, "not finite", "hidden"),
])
def test_echo_sample_mutants_fail(mutant, match, level):
    fails(checks.check_echo_sample, mutant, match, level=level)


@pytest.mark.parametrize("mutant,match,level", [
    (lambda s: torch.log(s).sum(-1), "sign is flipped", "visible"),
    (lambda s: -torch.log(s).mean(-1), "averaged", "visible"),
    (lambda s: -torch.log(s ** 2).sum(-1), "doubled", "visible"),
    (lambda s: -torch.log(s).sum(-1), "negative s", "hidden"),
    (lambda s: -torch.log(s), "one value per dimension", "visible"),
])
def test_echo_rate_mutants_fail(mutant, match, level):
    fails(checks.check_echo_rate, mutant, match, level=level)


m0, m1, m2 = sp.symbols("m0 m1 m2", real=True)
s0, s1, s2 = sp.symbols("s0 s1 s2", real=True)
z3 = sp.Symbol("z3", real=True)
a, s = sp.symbols("a s", positive=True)


def test_written_answers():
    checks.check_recursion(m0 + s0 * (m1 + s1 * (m2 + s2 * z3)))
    checks.check_stationary_variance(-a ** 2 / (s ** 2 - 1))
    checks.check_linear_rate(sp.log(1 / s))
    for check, wrong in [(checks.check_recursion, m0 + s0 * m1 + s0 ** 2 * m2 + s0 ** 3 * z3),
                         (checks.check_stationary_variance, a ** 2 / (1 - s)),
                         (checks.check_linear_rate, sp.log(s))]:            # the sign-less rate
        with pytest.raises(CheckFailed, match="not equivalent"):
            check(wrong)


# ------------------------------------------------------------------------ devices -------------
def echo_cpu_ones(m_x, s_x, d_max):             # the products started on the CPU
    index = _others(m_x.shape[0], d_max)
    m_k, s_k = m_x[index], s_x[index]
    ones = torch.ones(m_x.shape[0], 1, m_x.shape[1])
    return (torch.cumprod(torch.cat([ones, s_k[:, :-1]], 1), 1) * m_k).sum(1)


def test_products_started_on_the_cpu_fail_hidden_only():
    checks.check_echo_sample(echo_cpu_ones, level="visible")
    error = fails(checks.check_echo_sample, echo_cpu_ones, "creates a tensor on the CPU")
    assert "torch.ones_like(s_x)" in error.hint


def test_random_indices_on_the_cpu_pass():
    """Indexing a GPU tensor with CPU indices works there: so it does here."""
    checks.check_echo_sample(lambda m_x, s_x, d_max: _series(m_x, s_x, _others(len(m_x), d_max)),
                             level="hidden")


def test_a_short_series_special_case_fails_hidden_only(echo_reference):
    # the mutation test's survivor: the first echo dropped for d_max = 2 (the visible check and
    # the long series never see it)
    def short_wrong(m_x, s_x, d_max):
        if d_max == 2:
            return m_x
        return echo_reference["echo_sample"](m_x, s_x, d_max)

    checks.check_echo_sample(short_wrong)
    with pytest.raises(CheckFailed, match="d_max = 2") as info:
        checks.check_echo_sample(short_wrong, level="hidden")
    assert "How to fix" in str(info.value)
