"""Every written result of the course, verified with sympy (see derivations/*.md)."""

from __future__ import annotations

import pytest
import sympy as sp

from derivations import gaussian as G
from derivations import vae as V


# ------------------------------------------------------------------------ Gaussian KL ---------
def test_kl_1d_by_integration_equals_closed_form():
    expr, (m1, v1, m2, v2) = G.kl_gaussian_1d()
    assert sp.simplify(expr - G.kl_closed_form_1d(m1, v1, m2, v2)) == 0


def test_kl_diagonal_is_sum_of_1d_terms_by_double_integral():
    assert G.kl_diagonal_gaussian_by_integration_2d() == 0


def test_kl_to_standard_normal_is_special_case():
    expr, (mq, vq, mp, vp) = G.kl_diagonal_gaussian(3)
    std, (mu, v) = G.kl_to_standard_normal(3)
    sub = {**{mp[d]: 0 for d in range(3)}, **{vp[d]: 1 for d in range(3)},
           **{mq[d]: mu[d] for d in range(3)}, **{vq[d]: v[d] for d in range(3)}}
    assert sp.simplify(expr.subs(sub) - std) == 0


def test_kl_to_standard_normal_vanishes_only_at_the_prior():
    std, (mu, v) = G.kl_to_standard_normal(1)
    assert std.subs({mu[0]: 0, v[0]: 1}) == 0
    assert sp.solve([sp.diff(std, mu[0]), sp.diff(std, v[0])], [mu[0], v[0]], dict=True) == \
        [{mu[0]: 0, v[0]: 1}]


# ------------------------------------------------------------------------ notebook 01 ---------
def test_a_bernoulli_pixel():
    r = V.bernoulli_pixel_cases()
    assert r["at1"] == V.y_hat
    assert r["at0"] == 1 - V.y_hat
    assert r["log_form_gap"] == 0


def test_b_encoder_outputs():
    assert V.encoder_output_count(2) == {"diagonal": V.ENCODER_OUTPUTS, "full": 5}


def test_c_elbo_split_and_jensen_gap():
    r = V.elbo_linear_gaussian()
    assert r["split_minus_direct"] == 0                   # Eq. 1 == Eq. 2
    assert r["gap_minus_kl_to_posterior"] == 0            # log p(x) - ELBO = KL(q || p(z|x))
    # The gap is >= 0 and vanishes exactly at the posterior N(x/2, 1/2).
    assert sp.simplify(r["gap"].subs({V.m: V.x / 2, V.s: sp.Rational(1, 2)})) == 0
    crit = sp.solve([sp.diff(r["gap"], V.m), sp.diff(r["gap"], V.s)], [V.m, V.s], dict=True)
    assert crit == [{V.m: V.x / 2, V.s: sp.Rational(1, 2)}]


def test_d_kl_properties():
    r = V.kl_properties()
    assert r["stationary"] == [1] and r["f"].subs(r["r"], 1) == 0
    assert sp.simplify(r["f_second"] - 1 / r["r"] ** 2) == 0          # convex: minimum at r = 1
    assert sp.N(r["kl_forward"]) != sp.N(r["kl_backward"])            # not symmetric
    assert r["triangle_lhs"] > r["triangle_rhs"]                      # no triangle inequality


def test_e_closed_form_kl_removes_estimator_variance():
    r = V.single_sample_kl_variance()
    assert r["bias"] == 0
    var = r["variance"]
    # Var = m² s + (s - 1)² / 2: zero only at q = p = N(0, 1), positive elsewhere.
    assert sp.simplify(var - (V.m ** 2 * V.s + (V.s - 1) ** 2 / 2)) == 0
    assert var.subs({V.m: 0, V.s: 1}) == 0


def test_f_prior_as_q_leaves_a_gap():
    r = V.prior_as_posterior_gap()
    assert sp.simplify(r["gap"] - (V.x ** 2 / 4 + (1 - sp.log(2)) / 2)) == 0
    assert r["min_over_x"] == [0] and sp.N(r["gap_at_0"]) > 0


def test_g_h_kl_values():
    r = V.kl_self_and_equal_variance()
    assert r["self"] == V.KL_SELF == 0
    assert sp.simplify(r["equal_var_closed"] - V.KL_EQUAL_VARIANCE) == 0
    assert sp.simplify(r["equal_var_integral"] - V.KL_EQUAL_VARIANCE) == 0


@pytest.mark.parametrize("k", [2, 3])
def test_i_j_lagrangian_gives_the_posterior(k):
    r = V.lagrangian_stationary_point(k)
    assert all(sp.simplify(a - b) == 0 for a, b in zip(r["solution"], r["posterior"]))
    assert all(h.is_negative for h in r["hessian_diag"])             # a maximum
    assert r["bound_minus_log_evidence"] == 0                        # the bound is tight there
