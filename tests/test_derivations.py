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


@pytest.mark.slow
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


def test_b_encoder_outputs_counted_from_the_gaussian_density():
    assert V.encoder_output_count(2) == {"diagonal": V.ENCODER_OUTPUTS, "full": 5}
    assert V.encoder_output_count(3) == {"diagonal": 6, "full": 9}


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


@pytest.mark.slow
def test_e_closed_form_kl_removes_estimator_variance():
    r = V.single_sample_kl_variance()
    assert r["bias"] == 0
    var = r["variance"]
    # Var = m² s + (s - 1)² / 2: zero only at q = p = N(0, 1), positive elsewhere.
    assert sp.simplify(var - (V.m ** 2 * V.s + (V.s - 1) ** 2 / 2)) == 0
    assert var.subs({V.m: 0, V.s: 1}) == 0


@pytest.mark.slow
def test_e_neither_estimator_always_has_the_lower_variance():
    r = V.whole_estimator_variances()
    assert r["same_mean"] == 0                                       # the same ELBO
    at_posterior = {V.m: V.x / 2, V.s: sp.Rational(1, 2)}
    assert sp.simplify(r["var_eq2"].subs(at_posterior)) == 0           # Eq. 2 exact at q = p(z|x)
    assert sp.simplify(r["var_eq1"].subs(at_posterior) - (V.x ** 2 + 1) / 8) == 0  # Eq. 1: not
    at_prior = {V.m: 0, V.s: 1}
    assert sp.simplify(r["var_eq1"].subs(at_prior) - r["var_eq2"].subs(at_prior)) == 0
    away = {V.m: 1, V.s: 2, V.x: 0}
    assert r["var_eq1"].subs(away) < r["var_eq2"].subs(away)           # usually lower


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


# ------------------------------------------------------------------------ notebook 02 ---------
from derivations import beta_vae as B  # noqa: E402
from derivations import echo as E  # noqa: E402


def test_02a_gaussian_decoder_is_scaled_squared_error():
    r = B.gaussian_decoder_nll()
    assert r["nll_minus_reference"] == 0
    assert sp.simplify(r["scale"] - 1 / (2 * B.sigma ** 2)) == 0
    assert B.x not in r["constant"].free_symbols and B.x_hat not in r["constant"].free_symbols
    assert r["scale_at_half"] == 1


def test_02b_beta_vae_is_a_vae_with_decoder_variance_beta_over_2():
    assert B.beta_vae_as_decoder_variance()["gap_at_sigma2_beta_half"] == 0


def test_02b_collapsed_decoder_outputs_the_mean_image():
    r = B.posterior_collapse_mean_image()
    assert sp.simplify(r["argmin"] - r["mean"]) == 0


def test_02c_rate_is_mutual_information_plus_aggregate_kl():
    r = B.rate_decomposition()
    assert r["gap"] == 0
    # Numerically: I <= rate, with equality when the aggregate posterior is the prior.
    pi, a, b, rr = r["symbols"]
    point = {pi: sp.Rational(1, 3), a: sp.Rational(4, 5), b: sp.Rational(1, 4), rr: sp.Rational(1, 2)}
    assert sp.N(r["mi"].subs(point)) < sp.N(r["rate"].subs(point))
    qz0 = sp.Rational(1, 3) * sp.Rational(4, 5) + sp.Rational(2, 3) * sp.Rational(1, 4)
    assert abs(sp.N((r["rate"] - r["mi"]).subs({**point, rr: qz0}))) < 1e-12


def test_02c_minibatch_estimate_is_capped_at_log_n():
    r = B.minibatch_mi_cap()
    assert r["term_minus_cap"] == 0
    excess = r["term"].subs({r["a"]: 2, r["S"]: 0, r["N"]: 64}) - sp.log(64)
    assert sp.simplify(excess) == 0                       # reached when the others add nothing
    assert sp.N(r["term"].subs({r["a"]: 2, r["S"]: 1, r["N"]: 64})) < sp.N(sp.log(64))


def test_02c_minibatch_estimate_is_the_infonce_lower_bound():
    """E[estimate] over every batch of K i.i.d. pairs, enumerated exactly, is I(x; z) minus an
    expected KL (so at most I), at most log K, 0 for K = 1, and tends to I as K grows."""
    r = B.infonce_iid(2)
    pi, a, b = r["symbols"]
    assert sp.simplify(sp.expand_log(r["mi"] - r["estimate"] - r["gap_kl"], force=True)) == 0
    for point in ({pi: sp.Rational(1, 3), a: sp.Rational(4, 5), b: sp.Rational(1, 4)},
                  {pi: sp.Rational(1, 2), a: sp.Rational(99, 100), b: sp.Rational(1, 100)},
                  {pi: sp.Rational(9, 10), a: sp.Rational(1, 2), b: sp.Rational(2, 5)}):
        estimate, mi = (sp.N(r[k].subs(point), 30) for k in ("estimate", "mi"))
        assert 0 < estimate < mi and estimate < sp.log(2)
    independent = {pi: sp.Rational(1, 3), a: sp.Rational(3, 5), b: sp.Rational(3, 5)}
    for value in ("estimate", "mi", "gap_kl"):                  # equality when z ignores x
        assert abs(sp.N(r[value].subs(independent), 30)) < 1e-25
    r3 = B.infonce_iid(3)
    point = {pi: sp.Rational(1, 3), a: sp.Rational(4, 5), b: sp.Rational(1, 4)}
    gaps = [float(sp.N((q["mi"] - q["estimate"]).subs(point), 30)) for q in (r, r3)]
    assert abs(gaps[1] - float(sp.N(r3["gap_kl"].subs(point), 30))) < 1e-12
    closed = [B.infonce_iid_gap(1 / 3, 4 / 5, 1 / 4, k) for k in (1, 2, 3, 10, 100, 1000)]
    assert closed[0] == pytest.approx(float(sp.N(r["mi"].subs(point))))   # K = 1: estimate 0
    assert closed[1:3] == pytest.approx(gaps, abs=1e-12)      # closed form = enumeration
    assert all(x > y > 0 for x, y in zip(closed, closed[1:]))  # tighter with every K ...
    assert 1000 * closed[-1] == pytest.approx(100 * closed[-2], rel=0.05)   # ... as 1/K


def test_02c_infonce_bound_holds_for_batches_of_distinct_test_images():
    """x uniform on 3 images, batches of K distinct ones (a split of the test set): the bound
    and the cap hold; codes that tell the images apart reach log K, and with K = all images, I."""
    r = B.infonce_without_replacement(2, 3)
    assert sp.simplify(sp.expand_log(r["mi"] - r["estimate"] - r["gap_kl"], force=True)) == 0
    for e in (sp.Rational(1, 10), sp.Rational(1, 2), sp.Rational(3, 5)):
        estimate, mi = (sp.N(r[k].subs(r["e"], e), 30) for k in ("estimate", "mi"))
        assert 0 < estimate < mi and estimate < sp.log(2)
    assert sp.simplify(r["estimate"].subs(r["e"], sp.Rational(2, 3))) == 0    # z independent of x
    apart = B.infonce_without_replacement(2, 3, e=0)
    assert (sp.simplify(apart["estimate"]), sp.simplify(apart["mi"])) == (sp.log(2), sp.log(3))
    whole = B.infonce_without_replacement(3, 3, e=0)
    assert sp.simplify(whole["estimate"] - whole["mi"]) == 0


def test_02c_leaving_the_positive_out_is_no_bound():
    """The check can fail: the leave-one-out variant of the estimate exceeds I and log K."""
    r = B.infonce_without_replacement(2, 3, B.leave_one_out_estimate)
    estimate, mi = (sp.N(r[k].subs(r["e"], sp.Rational(1, 10)), 30) for k in ("estimate", "mi"))
    assert estimate > mi and estimate > sp.log(2)


def test_02c_the_derived_estimate_is_the_notebooks_formula():
    """Part 3 computes (log q(z_i|x_i) − log_aggregate_posterior(z, mu, sigma_square)).mean(): on
    a Gaussian encoder's batch it equals minibatch_mi_estimate of the matrix q(z_i|x_j)."""
    import math
    from pathlib import Path

    import nbformat
    import torch
    from torch.distributions import Normal

    from grader_tests.beta_vae import ref_log_aggregate_posterior

    sweep = next(c.source for c in nbformat.read(
        Path(__file__).resolve().parent.parent / "solutions/02_beta_vae/02_beta_vae.ipynb", 4).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "sweep")
    assert "mi = (log_q_zx - log_aggregate_posterior(z, mu, sigma_square)).mean()" in sweep
    assert "log_q_zx = Normal(mu, sigma_square.sqrt()).log_prob(z).sum(-1)" in sweep
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 3, generator=g, dtype=torch.float64)
    sigma_square = 0.2 + torch.rand(6, 3, generator=g, dtype=torch.float64)
    z = mu + sigma_square.sqrt() * torch.randn(6, 3, generator=g, dtype=torch.float64)
    log_q_zx = Normal(mu, sigma_square.sqrt()).log_prob(z).sum(-1)
    notebook = (log_q_zx - ref_log_aggregate_posterior(z, mu, sigma_square)).mean().item()
    q = Normal(mu.unsqueeze(0), sigma_square.sqrt().unsqueeze(0)).log_prob(
        z.unsqueeze(1)).sum(-1).exp().tolist()                       # q[i][j] = q(z_i | x_j)
    assert notebook == pytest.approx(B.minibatch_mi_estimate(q, log=math.log), abs=1e-10)
    assert notebook != pytest.approx(B.leave_one_out_estimate(q, log=math.log), abs=1e-3)


# ------------------------------------------------------------------------ notebook 03 ---------
def test_03_recursion_unrolls_to_the_series():
    assert E.recursion_to_z3()["gap"] == 0


def test_03_linear_gaussian_stationary_law():
    r = E.linear_gaussian_stationary_variance()
    assert sp.simplify(r["fixed_point"] - r["expected"]) == 0
    assert sp.simplify(r["series"] - r["expected"]) == 0


def test_03_rate_is_minus_log_abs_s():
    r = E.linear_gaussian_rate()
    assert sp.simplify(r["mi"] - r["expected"]) == 0
    # For every convergent |s| = 1/(1 + w) < 1 the rate is positive, the sign-less one negative.
    w = sp.Symbol("w", positive=True)
    assert sp.simplify(r["mi"].subs(E.s, 1 / (1 + w))).is_positive
    assert sp.simplify(-r["mi"].subs(E.s, 1 / (1 + w))).is_negative


def test_03b_rate_sign_for_every_contracting_diagonal_s():
    r = E.rate_sign(3)
    assert r["rate_positive"] is True and r["signless_negative"] is True
    assert sp.simplify(r["rate"] + r["signless"]) == 0


def test_03b_the_formula_needs_a_density():
    r = E.binary_counterexample(sp.Rational(2, 5))
    assert r["tail_bound"] == sp.Rational(2, 3) and r["tail_bound"] < 1     # sign(z) = x
    assert r["mi"] == sp.log(2)
    assert sp.N(r["formula"] - r["mi"]) > 0.2                              # -log 0.4 != log 2


def test_03_clip_makes_the_tail_negligible():
    r = E.clip_for_truncation(50)
    assert r["relative_tail"] == r["r"] ** 50                     # summed, not assumed
    assert float(r["tail_factor"]) <= 2.0 ** -23 * (1 + 1e-9)
    assert 0.72 < float(r["s_max"]) < 0.73
    assert float(r["relative_tail"].subs(r["r"], 0.75)) > 2.0 ** -23   # a larger clip is not enough


# ------------------------------------------------------------------------ notebook 04 ---------
from derivations import gan as GAN  # noqa: E402
from derivations import wgan as W  # noqa: E402


def test_04b_optimal_discriminator_is_the_unique_maximum():
    r = GAN.optimal_discriminator()
    assert r["stationary"] == [GAN.OPTIMAL_D]
    # -(a+b)^3 / (ab) < 0 for a, b > 0
    assert r["second_derivative_at_optimum"].subs({GAN.a: 2, GAN.b: 3}) < 0
    assert sp.simplify(r["second_derivative_at_optimum"] + (GAN.a + GAN.b) ** 3
                       / (GAN.a * GAN.b)) == 0


def test_04c_cost_at_optimum_is_2jsd_minus_log4():
    assert GAN.cost_at_optimum_pointwise()["gap"] == 0
    r = GAN.cost_on_two_point_laws()
    p1, p2, q1, q2 = sp.symbols("p1 p2 q1 q2", positive=True)
    assert sp.simplify(r["gap"] + (p1 + p2 + q1 + q2 - 2) * sp.log(2)) == 0
    assert r["gap_on_simplex"] == 0
    assert sp.simplify(r["cost_at_equal"] + sp.log(4)) == 0
    assert r["slope_at_equal"] == 0 and r["curvature_at_0.3"] > 0
    assert r["jsd_at_equal"] == 0 and all(v > 0 for v in r["jsd_elsewhere"])
    assert sp.simplify(GAN.COST_AT_OPTIMUM.subs(GAN.J, 0) + sp.log(4)) == 0


def test_04d_non_saturating_loss_keeps_its_gradient():
    r = GAN.non_saturating_gradients()
    assert r["saturating_limit"] == 0 and r["non_saturating_limit"] == -1
    assert r["saturating"] == 0 and r["non_saturating"] == 0


# ------------------------------------------------------------------------ notebook 05 ---------
def test_05a_kl_is_infinite_and_w1_is_the_shift():
    r = W.answers()
    assert r["kl_12"] == sp.oo and r["kl_13"] == sp.oo
    assert r["w1_12"] == sp.Rational(1, 2) and r["w1_13"] == 1
    smoothed = W.kl_to_shifted_uniform(sp.Rational(1, 2))["smoothed"]
    assert sp.simplify(smoothed + sp.log(W.eps) / 2) == 0
    assert sp.simplify(W.kl_to_shifted_uniform(sp.S(1))["smoothed"] + sp.log(W.eps)) == 0
    t = W.w1_of_a_translation()
    assert t["upper"] == W.theta and t["lower"] == W.theta
    assert W.w1_by_cdfs(sp.Rational(1, 4), sp.Rational(5, 4)) == sp.Rational(1, 4)


def test_05b_jsd_saturates_at_log2_for_disjoint_supports():
    r = W.jsd_of_a_translation()
    assert r["disjoint"] == sp.log(2) and r["slope_disjoint"] == 0
    assert sp.simplify(r["overlap"] - W.theta * sp.log(2)) == 0
    assert r["w1_slope"] == 1
    assert W.answers()["jsd_13"] == sp.log(2)


def test_05d_the_penalised_critic_has_slope_near_1_and_estimates_w1():
    r = W.gradient_penalty_optimum()
    lam = sp.Symbol("lambda", positive=True)
    assert sp.simplify(r["c_star"] - (1 + W.theta / (2 * lam))) == 0
    assert r["curvature"].is_negative                                  # a maximum
    assert r["c_star_limit"] == 1 and r["value_limit"] == W.theta      # W1 as lambda -> oo
    assert sp.simplify(r["value"] - W.theta - W.theta ** 2 / (4 * lam)) == 0
    assert r["unpenalised_sup"] == sp.oo                               # why a constraint


# ------------------------------------------------------------------------ notebook 06 ---------
from derivations import inversion as INVERSION  # noqa: E402


def test_06d_path_energy_ignores_the_parametrisation():
    r = INVERSION.reparametrisation_invariance()
    assert r["integrand_gap"] == 0
    assert abs(r["with_length_t"] - r["with_length_s"]) < 1e-12
    assert r["without_length_t"] != r["without_length_s"]      # 5/3 vs 7/5


def test_06_trapezoid_is_exact_on_one_linear_segment():
    r = INVERSION.straight_line_energy()
    assert sp.simplify(r["exact"] - r["trapezoid"]) == 0


@pytest.mark.slow
def test_06_trapezoid_and_midpoint_are_second_order_on_a_curved_path():
    r = INVERSION.quadrature_order()
    c = r["coefficients"]
    for rule in ("trapezoid", "midpoint"):                  # local error O(h^3): global O(1/K^2)
        assert c[rule][:3] == [0, 0, 0] and c[rule][3] != 0, rule
    assert c["left"][:2] == [0, 0] and c["left"][2] != 0    # local O(h^2): first order
    predicted = float(r["global_constant"])
    errors = INVERSION.trapezoid_errors((8, 16, 32, 64))
    assert predicted > 0
    for K, err in errors.items():
        assert float(err) * K ** 2 == pytest.approx(predicted, rel=0.01), K
    assert float(errors[32] / errors[64]) == pytest.approx(4, rel=0.01)


def test_06e_square_bound():
    r = INVERSION.square_bound()
    assert sp.simplify(r["gap"] - r["expected"]) == 0
