"""Notebook 04's hidden checks test the task, both ways: the reference and other correct code
pass, code that does not do the task fails with a hint.

* Inputs the student cannot see: the hidden checks of ``d_loss`` / ``g_loss`` / ``sample_z`` also
  draw networks, batches and shapes at grading time (a seed taken when they run) and compare
  with the reference computed in the grader on those same inputs, value and gradient; so the
  recorded answers of the visible check (``dgm/checks/expected.pt``, shipped) earn nothing.
* No false alarms from the device check: a loss that prints ``loss.item()`` and a sampler built on
  ``torch.distributions.Uniform`` on the device asked for pass (the stand-in runs what meta
  tensors cannot); codes or labels made on the CPU still fail.
* Separate discriminator calls: with a discriminator that looks at the whole batch, one call on
  ``torch.cat([real, fake])`` gives another loss and fails.
* NaN never passes a comparison.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgm.checks import common
from grader_tests import gan
from dgm.checks.common import CheckFailed
from tests import judge_harness
from tests.helpers import fails

bce = nn.BCEWithLogitsLoss()



def _seed(monkeypatch, seed):
    from grader_tests import randomised

    for module in (gan, randomised):
        monkeypatch.setattr(module, "grading_seed", lambda: seed)


# ------------------------------------------------------------------------ correct variants ----
def d_loss_reference(d_net, g_net, real, z):
    logits_real = d_net(real)
    logits_fake = d_net(g_net(z).detach())
    return bce(logits_real, torch.ones_like(logits_real)) + \
        bce(logits_fake, torch.zeros_like(logits_fake))


def d_loss_prints_item(d_net, g_net, real, z):
    loss = d_loss_reference(d_net, g_net, real, z)
    print(f"d loss {loss.item():.4f}")
    return loss


def d_loss_logsigmoid(d_net, g_net, real, z):
    with torch.no_grad():
        fake = g_net(z)
    return -(F.logsigmoid(d_net(real)).mean() + F.logsigmoid(-d_net(fake)).mean())


def d_loss_functional_fake_first(d_net, g_net, real, z):
    lf = d_net(g_net(z).detach())
    lr = d_net(real)
    ones = torch.ones(len(lr), 1, device=lr.device)
    return F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)) + \
        F.binary_cross_entropy_with_logits(lr, ones)


def g_loss_reference(d_net, g_net, z):
    logits = d_net(g_net(z))
    return bce(logits, torch.ones_like(logits))


def g_loss_float_and_logsigmoid(d_net, g_net, z):
    loss = -F.logsigmoid(d_net(g_net(z))).mean()
    if float(loss) > 1e6:                     # reads a value: meta tensors cannot run this
        raise RuntimeError("diverged")
    return loss


def sample_z_uniform(n, zdim, device="cpu"):
    low, high = torch.tensor(-1.0, device=device), torch.tensor(1.0, device=device)
    return torch.distributions.Uniform(low, high).sample((n, zdim))


def sample_z_uniform_(n, zdim, device="cpu"):
    return torch.empty(n, zdim, device=device).uniform_(-1, 1)


@pytest.mark.parametrize("check,fn", [
    (gan.check_d_loss, d_loss_prints_item),
    (gan.check_d_loss, d_loss_logsigmoid),
    (gan.check_d_loss, d_loss_functional_fake_first),
    (gan.check_g_loss, g_loss_float_and_logsigmoid),
    (gan.check_sample_z, sample_z_uniform),
    (gan.check_sample_z, sample_z_uniform_),
], ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("seed", [11, 123457, 2 ** 31 - 1])
def test_correct_variants_pass_hidden(monkeypatch, check, fn, seed):
    _seed(monkeypatch, seed)
    check(fn, level="hidden")


def test_the_reference_passes_under_many_grading_seeds(monkeypatch, gan_reference):
    for seed in range(1, 40, 3):
        _seed(monkeypatch, seed * 7919)
        gan.check_d_loss(gan_reference["d_loss"], level="hidden")
        gan.check_g_loss(gan_reference["g_loss"], level="hidden")


# ------------------------------------------------------------------------ devices -------------
@pytest.mark.parametrize("check,fn,match,hint", [
    (gan.check_sample_z, lambda n, zdim, device="cpu": 2 * torch.rand(n, zdim) - 1,
     "returned codes on the cpu device", "device=device"),
    (gan.check_sample_z, lambda n, zdim, device="cpu": torch.distributions.Uniform(
        -1.0, 1.0).sample((n, zdim)), "returned codes on the cpu device", "device=device"),
    (gan.check_d_loss, lambda d, g, real, z: (
        lambda lr, lf: bce(lr, torch.ones(len(lr), 1)) + bce(lf, torch.zeros(len(lf), 1)))(
        d(real), d(g(z).detach())), "creates a tensor on the CPU", "device=logits.device"),
    (gan.check_g_loss, lambda d, g, z: (lambda lf: bce(lf, torch.ones(len(lf), 1)))(d(g(z))),
     "creates a tensor on the CPU", "device=logits.device"),
], ids=["rand_on_cpu", "uniform_on_cpu", "d_labels_on_cpu", "g_labels_on_cpu"])
def test_tensors_made_on_the_cpu_fail_hidden_only(check, fn, match, hint):
    check(fn, level="visible")
    error = fails(check, fn, match)
    assert hint in error.hint


# ------------------------------------------------------------------------ separate calls ------
def d_loss_joint(d_net, g_net, real, z):
    logits = d_net(torch.cat([real, g_net(z).detach()]))
    n = len(real)
    return bce(logits[:n], torch.ones_like(logits[:n])) + \
        bce(logits[n:], torch.zeros_like(logits[n:]))


def d_loss_per_image(d_net, g_net, real, z):
    fake = g_net(z).detach()
    lr = torch.cat([d_net(x[None]) for x in real])
    lf = torch.cat([d_net(x[None]) for x in fake])
    return bce(lr, torch.ones_like(lr)) + bce(lf, torch.zeros_like(lf))


def test_one_joint_discriminator_call_fails_hidden_only():
    gan.check_d_loss(d_loss_joint, level="visible")
    error = fails(gan.check_d_loss, d_loss_joint, "in one call")
    assert "separately" not in error.problem and "d_net(real)" in error.hint


def test_per_image_discriminator_calls_fail_hidden_only():
    gan.check_d_loss(d_loss_per_image, level="visible")
    fails(gan.check_d_loss, d_loss_per_image, "depends on the whole batch")


def test_the_batch_spread_discriminator_tells_the_calls_apart():
    for seed in (1, 99, 2024, 77777):
        d, g, real, z = gan.spread_setup(seed)
        with torch.no_grad():
            separate = d_loss_reference(d, g, real, z)
            joint = d_loss_joint(d, g, real, z)
            assert not common.close(separate, joint, atol=1e-3)
            # the same networks with twice the batch (each image twice) keep their spread
            twice = d_loss_reference(d, g, real.repeat(2, 1, 1, 1), z.repeat(2, 1))
            assert common.close(separate, twice, atol=1e-5)


# ------------------------------------------------------------------------ shipped answers -----
SHIPPED_D = common.expected("gan", "d_loss")["ref"]
SHIPPED_G = common.expected("gan", "g_loss")["ref"]


def d_loss_shipped(d_net, g_net, real, z):
    """The recorded value of the visible check, with a live term that is 0 but has a gradient
    for the discriminator (and none for the generator)."""
    live = d_net(real).mean()
    return SHIPPED_D + live - live.detach()


def g_loss_shipped(d_net, g_net, z):
    live = d_net(g_net(z)).mean()
    return SHIPPED_G + live - live.detach()


def g_loss_shipped_zero_term(d_net, g_net, z):
    return SHIPPED_G + 0 * d_net(g_net(z)).sum()


@pytest.mark.parametrize("check,fn", [(gan.check_d_loss, d_loss_shipped),
                                      (gan.check_g_loss, g_loss_shipped)],
                         ids=["d_loss", "g_loss"])
def test_the_shipped_value_passes_the_visible_check_only(check, fn):
    check(fn, level="visible")
    error = fails(check, fn, "value of the visible check's inputs")
    assert "drawn at grading time" in str(error)


def test_a_zero_term_without_gradient_fails():
    fails(gan.check_g_loss, g_loss_shipped_zero_term, "no gradient", level="visible")


@pytest.mark.parametrize("name,check,source", [
    ("d_loss", gan.check_d_loss, "checks.check_d_loss(d_loss{})"),
    ("g_loss", gan.check_g_loss, "checks.check_g_loss(g_loss{})"),
])
def test_the_shipped_value_fails_the_hidden_check_in_the_judge(name, check, source):
    ns = {name: d_loss_shipped if name == "d_loss" else g_loss_shipped}
    assert judge_harness.judged(ns, gan, source.format("")) is None
    error = judge_harness.judged(ns, gan, source.format(', level="hidden"'))
    assert isinstance(error, CheckFailed) and "visible check's inputs" in str(error), error


def d_loss_cpu_labels(d_net, g_net, real, z):
    lr, lf = d_net(real), d_net(g_net(z).detach())
    print(f"d loss {float(bce(lr, torch.ones_like(lr))):.4f}")
    return bce(lr, torch.ones(len(lr), 1)) + bce(lf, torch.zeros(len(lf), 1))


@pytest.mark.parametrize("check,name,verdict", [
    ("d_loss", "d_loss_prints_item", None),
    ("d_loss", "d_loss_logsigmoid", None),
    ("d_loss", "d_loss_joint", "in one call"),
    ("d_loss", "d_loss_cpu_labels", "creates a tensor on the CPU"),
    ("g_loss", "g_loss_float_and_logsigmoid", None),
    ("sample_z", "sample_z_uniform", None),
    ("sample_z", "sample_z_fixed", "same codes on every call"),
    ("sample_z", "sample_z_three_values", "not uniform"),
])
def test_the_judge_decides_the_new_checks_as_the_direct_ones(check, name, verdict):
    """Through the judge (the student's functions as handles, the checks' networks sent to the
    kernel by source) the verdict is the direct check's."""
    fn = globals()[name]
    source = f'checks.check_{check}({name}, level="hidden")'
    error = judge_harness.judged({name: fn}, gan, source)
    if verdict is None:
        assert error is None, error
    else:
        assert isinstance(error, CheckFailed) and verdict in str(error), error
        fails(getattr(gan, f"check_{check}"), fn, verdict)


def _right_value_wrong_gradient(loss):
    return loss.detach() + 2 * (loss - loss.detach())        # the value, twice the gradient


@pytest.mark.parametrize("check,fn,whose", [
    (gan.check_d_loss, lambda *a: _right_value_wrong_gradient(d_loss_reference(*a)),
     "the discriminator"),
    (gan.check_g_loss, lambda *a: _right_value_wrong_gradient(g_loss_reference(*a)),
     "the generator"),
], ids=["d_loss", "g_loss"])
def test_the_right_value_with_a_wrong_gradient_fails_hidden_only(check, fn, whose):
    check(fn, level="visible")
    fails(check, fn, f"gives {whose} a wrong gradient")


def _key(*args) -> tuple | None:
    try:
        return tuple((tuple(t.shape), tuple(t.detach().double().flatten().tolist()))
                     for t in args if isinstance(t, torch.Tensor))
    except (NotImplementedError, RuntimeError):
        return None


@pytest.mark.parametrize("check,right", [(gan.check_d_loss, d_loss_reference),
                                         (gan.check_g_loss, g_loss_reference)],
                         ids=["d_loss", "g_loss"])
def test_a_loss_right_on_every_input_the_check_used_fails_under_another_seed(
        monkeypatch, check, right):
    known: set = set()

    def recorder(*args):
        known.add(_key(*args))
        return right(*args)

    def leaked(*args):                 # right where it has seen the inputs, 10 % off elsewhere
        key = _key(*args)
        return right(*args) * (1.0 if key is None or key in known else 1.1)

    _seed(monkeypatch, 1234)
    check(recorder, level="hidden")
    check(leaked, level="hidden")
    _seed(monkeypatch, 98765)
    error = fails(check, leaked)
    assert "drawn at grading time" in str(error)


# ------------------------------------------------------------------------ the prior -----------
def sample_z_fixed(n, zdim, device="cpu"):
    g = torch.Generator().manual_seed(0)
    return (2 * torch.rand(n, zdim, generator=g) - 1).to(device)


def sample_z_three_values(n, zdim, device="cpu"):
    """-1, 0, 1 with probabilities 1/6, 2/3, 1/6: mean 0 and variance 1/3, as U[-1, 1]."""
    u = torch.rand(n, zdim, device=device)
    return (u > 5 / 6).float() - (u < 1 / 6).float()


@pytest.mark.parametrize("fn,match", [
    (sample_z_fixed, "same codes on every call"),
    (lambda n, zdim, device="cpu": (2 * torch.rand(n, 1, device=device) - 1).expand(n, zdim),
     "correlated"),
    (sample_z_three_values, "not uniform"),
], ids=["fixed", "one_value_per_code", "three_values"])
def test_samplers_that_pass_the_visible_check_fail_hidden(fn, match):
    gan.check_sample_z(fn, level="visible")
    fails(gan.check_sample_z, fn, match)


# ------------------------------------------------------------------------ NaN -----------------
@pytest.mark.parametrize("check,fn,match", [
    (gan.check_sample_z, lambda n, zdim, device="cpu": torch.full((n, zdim), float("nan"),
                                                                  device=device), "NaN"),
    (gan.check_d_loss, lambda d, g, real, z: d(real).mean() * float("nan"), "nan"),
    (gan.check_g_loss, lambda d, g, z: d(g(z)).mean() * float("nan"), "nan"),
], ids=["sample_z", "d_loss", "g_loss"])
def test_nan_fails_the_visible_check(check, fn, match):
    fails(check, fn, match, level="visible")
