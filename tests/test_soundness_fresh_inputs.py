"""The hidden checks do not only reuse inputs whose answers are known in advance: the values the
visible checks compare with ship to students (``dgm/checks/expected.pt``), and the hidden checks'
own fixed inputs are written in the grader. Each hidden check of notebooks 01, 02, 03 and 05 also
draws inputs at grading time (a seed taken when it runs) and checks properties (gradients against
autograd through the reference, batch-size independence), so that

* a function that returns the shipped value for the visible inputs passes the visible check and
  fails the hidden one;
* a function that is right on *every* fixed input of the checks (a leaked grader) and wrong
  elsewhere fails the hidden check too, on the fresh inputs.
"""

from __future__ import annotations

import pytest
import torch

from dgm.checks import common
from grader_tests import beta_vae, echo, vae, wgan
from dgm.checks.common import CheckFailed
from tests import judge_harness
from tests.helpers import fails


def _key(*tensors) -> tuple | None:
    """The values of the tensor arguments (None on the device checks' meta tensors)."""
    try:
        return tuple((tuple(t.shape), tuple(t.detach().to("cpu", torch.float64).flatten().tolist()))
                     for t in tensors if isinstance(t, torch.Tensor))
    except (NotImplementedError, RuntimeError):
        return None



def _seed(monkeypatch, seed):
    from grader_tests import randomised

    for module in (vae, beta_vae, echo, wgan, randomised):
        monkeypatch.setattr(module, "grading_seed", lambda: seed)


def test_the_grading_seed_is_drawn_when_the_check_runs():
    # one helper serves every notebook's staff checks
    from grader_tests import gan, grading_inputs, inversion

    assert all(m.grading_seed is grading_inputs.grading_seed for m in (vae, beta_vae,
                                                                       echo, wgan, gan,
                                                                       inversion))
    assert len({grading_inputs.grading_seed() for _ in range(8)}) > 1


# ------------------------------------------------------------------------ elbo_loss ------------
def _right_elbo(sampled_z, mu, sigma_square, x, p):
    prior = (torch.zeros_like(sampled_z), torch.ones_like(sampled_z))
    return (vae.ref_logpdf_bernoulli(x, p) + vae.ref_logpdf_diagonal_gaussian(sampled_z, *prior)
            - vae.ref_logpdf_diagonal_gaussian(sampled_z, mu, sigma_square)).mean()


def _wrong_elbo(sampled_z, mu, sigma_square, x, p):       # sums over the batch
    return _right_elbo(sampled_z, mu, sigma_square, x, p) * len(x)


def shipped_elbo(sampled_z, mu, sigma_square, x, p):
    """Returns the value shipped in expected.pt for the visible inputs (with a graph), and the
    usual mistake elsewhere."""
    import torch as t

    from dgm.checks import common as core, vae as visible

    inputs = visible.elbo_inputs(*visible.ELBO_VISIBLE)
    if all(a.shape == b.shape and bool(t.equal(a.detach(), b)) for a, b in
           zip((sampled_z, mu, sigma_square, x, p), inputs)):
        shipped = core.expected("vae", "elbo_loss")["ref"]
        return shipped + 0 * (mu.sum() + sigma_square.sum() + p.sum())
    return (sampled_z.sum() * 0 + mu.sum() + sigma_square.sum() + p.sum()) * len(x)


def test_the_shipped_value_passes_the_visible_check_only():
    vae.check_elbo_loss(shipped_elbo, level="visible")
    fails(vae.check_elbo_loss, shipped_elbo)


def test_the_shipped_value_fails_the_hidden_check_in_the_judge():
    ns = {"elbo_loss": shipped_elbo}
    assert judge_harness.judged(ns, vae, "checks.check_elbo_loss(elbo_loss)") is None
    error = judge_harness.judged(ns, vae, 'checks.check_elbo_loss(elbo_loss, level="hidden")')
    assert isinstance(error, CheckFailed) and "How to fix:" in str(error)


def _recorder(right, seen):
    def fn(*args):
        seen.add(_key(*args))
        return right(*args)
    return fn


def _right_on(known, right, wrong):
    """Right on the inputs of ``known``, wrong elsewhere."""
    def fn(*args):
        key = _key(*args)
        return (right if key is None or key in known else wrong)(*args)
    return fn


def _leaked_grader_case(monkeypatch, check, right, wrong):
    """A function right on every input the check used under one grading seed fails the check
    under another (and passes under the same one: only the fresh inputs tell it apart)."""
    known: set = set()
    _seed(monkeypatch, 1234)
    check(_recorder(right, known), level="hidden")
    leaked = _right_on(known, right, wrong)
    check(leaked, level="hidden")                          # the inputs it knows: it passes
    _seed(monkeypatch, 98765)
    error = fails(check, leaked)
    assert "drawn at grading time" in str(error)


def test_a_function_right_on_every_fixed_input_fails_elbo_loss(monkeypatch):
    _leaked_grader_case(monkeypatch, vae.check_elbo_loss, _right_elbo, _wrong_elbo)


def test_a_zero_gradient_is_told_apart_from_the_right_one():
    def value_without_gradient(sampled_z, mu, sigma_square, x, p):
        value = _right_elbo(sampled_z, mu, sigma_square, x, p).detach()
        return value + 0 * (mu.sum() + sigma_square.sum() + p.sum())

    vae.check_elbo_loss(value_without_gradient, level="visible")
    fails(vae.check_elbo_loss, value_without_gradient, "gradient with respect to mu")


# ------------------------------------------------------------------------ other functions ------
def _right_gaussian(z, mu, sigma_square):
    return vae.ref_logpdf_diagonal_gaussian(z, mu, sigma_square)


def _right_kl(mu, sigma_square):
    return beta_vae.ref_kl_diagonal_gaussian(mu, sigma_square)


def _right_rate(s_x):
    return -torch.log(s_x.abs()).sum(-1)


def _right_critic_loss(critic, real, fake):
    return critic(fake).mean() - critic(real).mean()


def _right_generator_loss(critic, fake):
    return -critic(fake).mean()


@pytest.mark.parametrize("check,right,wrong", [
    (vae.check_logpdf_diagonal_gaussian, _right_gaussian,
     lambda z, mu, v: _right_gaussian(z, mu, v) * 1.01),
    (beta_vae.check_kl_diagonal_gaussian, _right_kl, lambda mu, v: _right_kl(mu, v) + 0.01),
    (echo.check_echo_rate, _right_rate, lambda s: _right_rate(s) * 0.5),
    (wgan.check_critic_loss, _right_critic_loss,
     lambda c, r, f: _right_critic_loss(c, r, f) * 1.1),
    (wgan.check_generator_loss, _right_generator_loss,
     lambda c, f: _right_generator_loss(c, f) + 0.1),
], ids=lambda v: getattr(v, "__name__", ""))
def test_a_function_right_on_every_fixed_input_fails(monkeypatch, check, right, wrong):
    _leaked_grader_case(monkeypatch, check, right, wrong)


def test_the_shipped_critic_loss_with_the_right_gradient_fails_hidden():
    """Before, the hidden check of critic_loss used the visible inputs only."""
    shipped = common.expected("wgan", "critic_loss")["ref"]

    def critic_loss(critic, real, fake):
        live = critic(fake).mean() - critic(real).mean()
        return shipped + live - live.detach()              # the shipped value, the right gradient

    wgan.check_critic_loss(critic_loss, level="visible")
    fails(wgan.check_critic_loss, critic_loss)
