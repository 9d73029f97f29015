"""The student-side checks (``dgm/checks``): their recorded values are what the staff references
give, they import no staff code, and they pass the reference solutions on their own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dgm.checks import common
from dgm.checks import beta_vae, echo, gan, inversion, vae, wgan
from grader_tests import record_expected

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "dgm" / "checks"
STAFF = ("grader_tests", "derivations", "dgm_staff", "solutions")


def _compare(where: str, committed, fresh) -> list[str]:
    if isinstance(fresh, dict):
        if not isinstance(committed, dict):
            return [f"{where}: committed a {type(committed).__name__}, expected a dict"]
        problems = [f"{where}/{k}: missing from the committed file"
                    for k in fresh.keys() - committed.keys()]
        problems += [f"{where}/{k}: no reference gives it any more"
                     for k in committed.keys() - fresh.keys()]
        for k in fresh.keys() & committed.keys():
            problems += _compare(f"{where}/{k}", committed[k], fresh[k])
        return problems
    if not isinstance(committed, torch.Tensor):
        return [f"{where}: committed a {type(committed).__name__}, expected a tensor"]
    if committed.shape != fresh.shape or committed.dtype != fresh.dtype:
        return [f"{where}: committed {tuple(committed.shape)} {committed.dtype}, the references "
                f"give {tuple(fresh.shape)} {fresh.dtype}"]
    if not torch.allclose(committed, fresh, atol=1e-6, rtol=1e-6, equal_nan=True):
        diff = float((committed.double() - fresh.double()).abs().max())
        return [f"{where}: differs from the references by up to {diff:.3g}"]
    return []


def test_committed_values_are_what_the_references_give():
    committed = torch.load(common.EXPECTED_FILE, map_location="cpu", weights_only=True)
    problems = _compare("expected.pt", committed, record_expected.compute())
    assert not problems, ("dgm/checks/expected.pt is out of date; regenerate it with "
                          "`python -m grader_tests.record_expected`:\n  " + "\n  ".join(problems))


def test_the_checks_read_the_committed_values():
    assert common._EXPECTED, "dgm/checks/expected.pt was not found at import"
    assert set(common._EXPECTED) == set(record_expected.MODULES)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) in ("import_module", "__import__"):
            names.append("<dynamic import>")
    return names


@pytest.mark.parametrize("path", sorted(CHECKS.glob("*.py")), ids=lambda p: p.name)
def test_student_checks_import_no_staff_code(path):
    bad = [n for n in _imports(path)
           if n == "<dynamic import>" or n.split(".")[0] in STAFF]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_importing_the_student_checks_loads_no_staff_module():
    code = ("import sys\n"
            "from dgm.checks import beta_vae, echo, gan, inversion, vae, written_answers, wgan\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {STAFF!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


# ------------------------------------------------------------------------ on their own --------
@pytest.mark.parametrize("module,fixture,names", [
    (vae, "vae_reference", {"check_decoder": "Decoder",
                            "check_logpdf_diagonal_gaussian": "logpdf_diagonal_gaussian",
                            "check_logpdf_bernoulli": "logpdf_bernoulli",
                            "check_sample_diagonal_gaussian": "sample_diagonal_gaussian",
                            "check_sample_bernoulli": "sample_bernoulli",
                            "check_elbo_loss": "elbo_loss",
                            "check_sample_data_space": "sample_data_space",
                            "check_encode_means": "encode_means",
                            "check_interpolation_path": "interpolation_path"}),
    (beta_vae, "beta_vae_reference", {"check_kl_diagonal_gaussian": "kl_diagonal_gaussian",
                                      "check_beta_vae_loss": "beta_vae_loss",
                                      "check_log_aggregate_posterior": "log_aggregate_posterior"}),
    (echo, "echo_reference", {"check_echo_sample": "echo_sample",
                              "check_echo_rate": "echo_rate"}),
    (gan, "gan_reference", {"check_sample_z": "sample_z", "check_dnet": "DNet",
                            "check_gnet": "GNet", "check_d_loss": "d_loss",
                            "check_g_loss": "g_loss"}),
    (wgan, "wgan_reference", {"check_critic_loss": "critic_loss",
                              "check_generator_loss": "generator_loss",
                              "check_gradient_penalty": "gradient_penalty"}),
    (inversion, "inversion_reference", {"check_invert": "invert", "check_path_energy": "path_energy",
                                "check_find_path": "find_path"}),
], ids=["vae", "beta_vae", "echo", "gan", "wgan", "inversion"])
def test_student_checks_pass_the_reference_solution(request, module, fixture, names):
    reference = request.getfixturevalue(fixture)
    for check, name in names.items():
        assert getattr(module, check)(reference[name]) is None


def test_student_checks_judge_a_function_on_its_own(vae_reference, beta_vae_reference):
    """The stand-ins replay the helpers' recorded values: a wrong helper does not show."""
    def wrong(*args, **kwargs):
        return torch.zeros(())

    vae.check_elbo_loss(common.with_globals(vae_reference["elbo_loss"], logpdf_bernoulli=wrong,
                                            logpdf_diagonal_gaussian=wrong))
    beta_vae.check_beta_vae_loss(common.with_globals(beta_vae_reference["beta_vae_loss"],
                                                     kl_diagonal_gaussian=wrong))


@pytest.mark.parametrize("check,mutant,match", [
    (vae.check_logpdf_diagonal_gaussian,
     lambda z, mu, v: torch.distributions.Normal(mu, v).log_prob(z).sum(-1), "standard deviation"),
    (beta_vae.check_kl_diagonal_gaussian,
     lambda mu, v: (v + mu ** 2 - 1 - torch.log(v)).sum(-1), "factor 1/2"),
    (echo.check_echo_rate, lambda s: torch.log(s).sum(-1), "sign is flipped"),
    (wgan.check_critic_loss, lambda c, r, f: c(r).mean() - c(f).mean(), "sign is flipped"),
])
def test_student_checks_name_the_usual_mistakes(check, mutant, match):
    with pytest.raises(common.CheckFailed, match=match) as info:
        check(mutant)
    assert "How to fix:" in str(info.value)


def test_elbo_stand_ins_give_nan_on_other_inputs():
    values = common.expected("vae", "elbo_loss")
    gaussian, bernoulli = vae.recorded_log_densities(values, vae.ELBO_VISIBLE)
    z, mu, var, x, p = vae.elbo_inputs(*vae.ELBO_VISIBLE)
    assert torch.equal(gaussian(z, mu, var), values["log_q"])
    assert torch.equal(gaussian(z, torch.zeros_like(mu), torch.ones_like(var)), values["log_pz"])
    assert torch.equal(bernoulli(x=x, p=p), values["log_px"])
    assert torch.isnan(bernoulli(p, x)).all()
