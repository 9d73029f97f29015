"""The randomised layer of the hidden checks (:mod:`grader_tests.randomised`): every graded
function has one (or a stated reason why not), the references pass it on many grading-time seeds,
and realistic mistakes that every fixed input of the other hidden checks misses fail it, with a
message that names the shrunk case and the seed."""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch
import torch.nn.functional as F

from dgm_staff import mutants
from grader_tests import randomised
from dgm.checks.common import CheckFailed

MODULES = {nb: spec.grader for nb, spec in mutants.NOTEBOOKS.items()}


def _graded_checks():
    """(notebook, name, check) for every staff check of a graded function or class (the ones
    with a ``level``; written answers have none)."""
    for notebook, module_name in MODULES.items():
        module = importlib.import_module(f"grader_tests.{module_name}")
        for attr, check in vars(module).items():
            if attr.startswith("check_") and "level" in inspect.signature(check).parameters:
                yield notebook, attr[len("check_"):], check


GRADED = list(_graded_checks())


def _staff(name: str):
    """The staff checks module whose references the randomised check of ``name`` compares with."""
    notebook = next(nb for nb, n, _ in GRADED if n == name)
    return importlib.import_module(f"grader_tests.{MODULES[notebook]}")


def test_every_graded_function_has_a_randomised_check_or_a_reason():
    names = {name for _, name, _ in GRADED}
    assert names == set(randomised.SPECS) | set(randomised.NOT_RANDOMISED)
    assert not set(randomised.SPECS) & set(randomised.NOT_RANDOMISED)
    assert all(len(why) > 40 for why in randomised.NOT_RANDOMISED.values())


@pytest.fixture(scope="module")
def references():
    return {nb: mutants.reference_namespace(nb) for nb in MODULES}


def _reference(references, notebook, name):
    ns = references[notebook]
    return ns.get(name) or next(v for k, v in ns.items() if k.lower() == name)


@pytest.mark.parametrize("level", ["hidden", "visible"])
@pytest.mark.parametrize("notebook,name", [(nb, n) for nb, n, _ in GRADED
                                           if n in randomised.SPECS])
def test_the_hidden_check_alone_runs_the_randomised_layer(monkeypatch, references, notebook,
                                                          name, level):
    ran = []
    monkeypatch.setattr(randomised, "check", lambda n, fn, staff: ran.append(n))
    check = dict(((nb, n), c) for nb, n, c in GRADED)[(notebook, name)]
    check(_reference(references, notebook, name), level=level)
    assert ran == ([name] if level == "hidden" else [])


@pytest.mark.parametrize("name", sorted(randomised.SPECS))
def test_the_reference_passes_on_many_seeds(monkeypatch, references, name):
    notebook = next(nb for nb, n, _ in GRADED if n == name)
    fn = _reference(references, notebook, name)
    for seed in (1, 2, 3):
        monkeypatch.setattr(randomised, "grading_seed", lambda seed=seed: seed)
        randomised.check(name, fn, _staff(name))


# ------------------------------------------------------------------------ mistakes ------------
# Each passes every other hidden check of its function (run with the randomised layer switched
# off), and fails the randomised one.
def interpolation_arange(mu_a, mu_b, step=0.1):
    """torch.arange's float steps: one row too many for step = 1/6, 1/9, 1/21, 1/24, ..."""
    alphas = torch.arange(0, 1 + step, step, device=mu_a.device).unsqueeze(1)
    return alphas * mu_a + (1 - alphas) * mu_b


def penalty_per_channel(critic, real, fake, lambda_gp):
    """The gradient norm per channel (flatten(2)), which is the norm per sample for 1 channel."""
    eps = torch.rand(len(real), 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return lambda_gp * ((grad.flatten(2).norm(dim=-1) - 1) ** 2).mean()


def d_loss_squeezed(d_net, g_net, real, z):
    """Labels made by length: breaks for a batch of one, where squeeze() leaves a scalar."""
    lr, lf = d_net(real).squeeze(), d_net(g_net(z).detach()).squeeze()
    return F.binary_cross_entropy_with_logits(lr, torch.ones(len(real), device=lr.device)) + \
        F.binary_cross_entropy_with_logits(lf, torch.zeros(len(z), device=lf.device))


def kl_guarded(mu, sigma_square):
    """A guard inside the log, small enough to change nothing that matters."""
    return 0.5 * (sigma_square + mu ** 2 - 1 - torch.log(sigma_square + 1e-8)).sum(-1)


def rate_guarded(s_x):
    return -torch.log(s_x.abs() + 1e-6).sum(-1)


def bernoulli_clamped(x, p):
    p = p.clamp(1e-6, 1 - 1e-6)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


def interpolation_float64_alphas(mu_a, mu_b, step=0.1):
    k = round(1 / step)
    alphas = torch.arange(k + 1, dtype=torch.float64, device=mu_a.device) / k
    return (alphas[:, None] * mu_a + (1 - alphas[:, None]) * mu_b).to(mu_a.dtype)


@pytest.mark.parametrize("name,fn", [("kl_diagonal_gaussian", kl_guarded),
                                     ("echo_rate", rate_guarded),
                                     ("logpdf_bernoulli", bernoulli_clamped),
                                     ("interpolation_path", interpolation_float64_alphas)],
                         ids=["kl_guarded", "rate_guarded", "bernoulli_clamped",
                              "float64_alphas"])
def test_harmless_variants_pass(monkeypatch, name, fn):
    for seed in (11, 12):
        monkeypatch.setattr(randomised, "grading_seed", lambda seed=seed: seed)
        randomised.check(name, fn, _staff(name))


MISTAKES = [
    ("01_vae", "interpolation_path", interpolation_arange, "shape"),
    ("05_wgan", "gradient_penalty", penalty_per_channel, "differs from the reference"),
    ("04_gan", "d_loss", d_loss_squeezed, "batch 1"),
]


@pytest.mark.parametrize("notebook,name,fn,match", MISTAKES,
                         ids=[m[2].__name__ for m in MISTAKES])
def test_a_mistake_every_fixed_input_misses_fails_the_randomised_layer(monkeypatch, notebook,
                                                                       name, fn, match):
    check = dict(((nb, n), c) for nb, n, c in GRADED)[(notebook, name)]
    real_check = randomised.check
    monkeypatch.setattr(randomised, "check", lambda n, f, staff: None)
    check(fn, level="hidden")                        # the other hidden checks miss it
    monkeypatch.setattr(randomised, "check", real_check)
    monkeypatch.setattr(randomised, "grading_seed", lambda: 12345)
    with pytest.raises(CheckFailed) as e:
        check(fn, level="hidden")
    message = str(e.value)
    assert "randomised check, seed 12345" in message and "How to fix" in message
    assert match in message


def test_a_disagreement_is_shrunk_to_a_simple_case(monkeypatch):
    monkeypatch.setattr(randomised, "grading_seed", lambda: 7)
    with pytest.raises(CheckFailed) as e:
        randomised.check("echo_rate", lambda s: -torch.log(s.abs()).sum(-1) * 1.01,
                         _staff("echo_rate"))
    # any batch and dimension show the mistake: hypothesis reports the smallest
    assert "batch 1, D 1" in str(e.value)


def test_a_crash_on_some_inputs_is_reported_with_the_case(monkeypatch):
    def only_float32(s):
        if s.dtype != torch.float32:
            raise TypeError("expected float32")
        return -torch.log(s.abs()).sum(-1)

    monkeypatch.setattr(randomised, "grading_seed", lambda: 3)
    with pytest.raises(CheckFailed) as e:
        randomised.check("echo_rate", only_float32, _staff("echo_rate"))
    assert "dtype float64" in str(e.value)


# ------------------------------------------------------------------------ through the judge ---
@pytest.mark.parametrize("name", sorted(randomised.SPECS))
def test_the_reference_passes_through_the_judge(references, name):
    from tests import judge_harness

    notebook = next(nb for nb, n, _ in GRADED if n == name)
    checks = importlib.import_module(f"grader_tests.{MODULES[notebook]}")
    verdict = judge_harness.judged(dict(references[notebook]), checks,
                                   f'checks.check_{name}({name}, level="hidden")')
    assert verdict is None, verdict


@pytest.mark.parametrize("notebook,name,fn,match", MISTAKES[:2],
                         ids=[m[2].__name__ for m in MISTAKES[:2]])
def test_a_mistake_fails_the_randomised_layer_through_the_judge(monkeypatch, references,
                                                                notebook, name, fn, match):
    from tests import judge_harness

    monkeypatch.setattr(randomised, "grading_seed", lambda: 12345)
    checks = importlib.import_module(f"grader_tests.{MODULES[notebook]}")
    verdict = judge_harness.judged({**references[notebook], name: fn}, checks,
                                   f'checks.check_{name}({name}, level="hidden")')
    assert isinstance(verdict, CheckFailed) and "randomised check" in str(verdict), verdict


def test_grading_leaves_the_folder_as_it_was(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    randomised.check("echo_rate", lambda s: -torch.log(s.abs()).sum(-1), _staff("echo_rate"))
    assert list(tmp_path.iterdir()) == []
