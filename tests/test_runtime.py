"""Budgets, device choice, seeding, the training loop, and the feedback sanitiser."""

from __future__ import annotations

import os

import nbformat
import pytest
import torch

from dgm import runtime
from dgm.manifest import BEGIN_HIDDEN, END_HIDDEN
from dgm.runtime import AUTOGRADE_ENV, BUDGET_ENV, CI_ENV, DEVICE_ENV, OUTPUT_ENV
from dgm_staff.pipeline import HIDDEN_NOTE, HideHiddenTests, strip_hidden
from dgm.training import fit


@pytest.fixture
def clean_env(monkeypatch):
    for var in (AUTOGRADE_ENV, BUDGET_ENV, CI_ENV):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_students_get_the_full_budget(clean_env):
    assert runtime.budget() == "full"


@pytest.mark.parametrize("env,expected", [
    ({AUTOGRADE_ENV: "autograde"}, "smoke"),
    ({AUTOGRADE_ENV: "autograde", BUDGET_ENV: "full"}, "smoke"),  # grading stays fast
    ({CI_ENV: "true"}, "smoke"),
    ({CI_ENV: "false"}, "full"),
    ({CI_ENV: "true", BUDGET_ENV: "full"}, "full"),
    ({BUDGET_ENV: "smoke"}, "smoke"),
])
def test_budget_rules(clean_env, env, expected):
    for k, v in env.items():
        clean_env.setenv(k, v)
    assert runtime.budget() == expected


def test_bad_budget_value_is_explained(clean_env):
    clean_env.setenv(BUDGET_ENV, "tiny")
    with pytest.raises(ValueError, match="'full' or 'smoke'"):
        runtime.budget()


def test_device_override_and_missing_cuda(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert runtime.pick_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            runtime.pick_device("cuda")


def test_seed_everything_makes_runs_repeat():
    runtime.seed_everything(7)
    a = torch.randn(3)
    runtime.seed_everything(7)
    assert torch.equal(a, torch.randn(3))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the flag is for CPU-only machines")
def test_seed_everything_makes_indexing_gradients_repeat_on_the_cpu():
    """The backward of indexing with repeated indices (notebook 03's echo sampler) accumulates in
    a thread-dependent order unless PyTorch's deterministic algorithms are on."""
    grads = []
    for _ in range(3):
        runtime.seed_everything(0)
        m = torch.randn(256, 8, requires_grad=True)
        index = torch.randint(0, 256, (256, 50))
        (m[index] * torch.randn(256, 50, 8)).sum().backward()
        grads.append(m.grad)
    assert torch.are_deterministic_algorithms_enabled()
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def test_output_dir_is_independent_of_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(OUTPUT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert runtime.output_root() == runtime.repo_root() / "outputs"


def test_fit_maximises_the_objective():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.zeros(3))
    target = torch.tensor([1.0, -2.0, 0.5])
    x = target + 0.01 * torch.randn(200, 3)
    history = fit(lambda b: -((b - w) ** 2).sum(-1).mean(), [w], x, x[:50], epochs=30,
                  batch_size=20, lr=0.05, progress=False)
    assert history.test[-1] > history.test[0]
    assert torch.allclose(w.detach(), target, atol=0.05)


def test_fit_stops_on_nan_with_advice():
    w = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(FloatingPointError, match="log\\(0\\)"):
        fit(lambda b: (w * b).sum() * float("nan"), [w], torch.ones(4, 1), None, epochs=1,
            batch_size=2, progress=False)


# ------------------------------------------------------------------------ feedback ------------
SOURCE = f"""checks.check_visible(f)
{BEGIN_HIDDEN}
secret_case = build_the_secret_case(seed=123)
checks.check_hidden(f, secret_case)
{END_HIDDEN}"""


def test_strip_hidden_removes_the_region():
    out, found = strip_hidden(SOURCE)
    assert found and "secret" not in out and HIDDEN_NOTE in out
    assert out.startswith("checks.check_visible(f)")
    assert strip_hidden("print(1)") == ("print(1)", False)


def test_feedback_preprocessor_keeps_message_drops_traceback():
    cell = nbformat.v4.new_code_cell(SOURCE)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="secret_case = 42\n"),
        nbformat.v4.new_output("error", ename="CheckFailed", evalue="f: wrong sign\n  How to fix: x",
                               traceback=["Traceback", "  secret_case = build_the_secret_case()",
                                          "CheckFailed: f: wrong sign"]),
    ]
    plain = nbformat.v4.new_code_cell("x = 1")
    nb = nbformat.v4.new_notebook(cells=[cell, plain])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    text = nbformat.writes(nb)
    assert "secret" not in text
    assert nb.cells[0].outputs[0].traceback == ["CheckFailed: f: wrong sign\n  How to fix: x"]
    assert nb.cells[1].source == "x = 1"


def test_environ_sets_and_restores(monkeypatch):
    from dgm.runtime import environ

    monkeypatch.setenv("DGM_TEST_A", "old")
    monkeypatch.delenv("DGM_TEST_B", raising=False)
    with environ(DGM_TEST_A="new", DGM_TEST_B="set"):
        assert os.environ["DGM_TEST_A"] == "new" and os.environ["DGM_TEST_B"] == "set"
    assert os.environ["DGM_TEST_A"] == "old" and "DGM_TEST_B" not in os.environ


def test_a_notebook_chooses_its_budget_in_its_budget_cell_and_nbgrader_still_wins(monkeypatch,
                                                                                  capsys):
    for name in (AUTOGRADE_ENV, BUDGET_ENV, CI_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(runtime, "_chosen", None)
    assert runtime.choose_budget("smoke") == "smoke" and runtime.budget() == "smoke"
    assert runtime.choose_budget("full") == "full" and runtime.budget() == "full"  # run again
    monkeypatch.setenv(AUTOGRADE_ENV, "validate")
    assert runtime.choose_budget("full") == "smoke"
    assert "nbgrader" in capsys.readouterr().out
    monkeypatch.delenv(AUTOGRADE_ENV)
    monkeypatch.setenv(BUDGET_ENV, "smoke")
    assert runtime.choose_budget("full") == "smoke"
    assert "DGM_BUDGET=smoke is set" in capsys.readouterr().out
    with pytest.raises(ValueError, match="use 'full'"):
        runtime.choose_budget("quick")


def test_an_unknown_dgm_variable_is_refused_with_the_known_names(monkeypatch):
    from dgm.runtime import KNOWN_ENV, budget, check_environment

    check_environment({name: "x" for name in KNOWN_ENV} | {"HOME": "/", "DGMX": "1"})
    monkeypatch.setenv("DGM_BUGDET", "smoke")          # a misspelt DGM_BUDGET
    with pytest.raises(ValueError, match="DGM_BUGDET") as info:
        budget()
    assert "DGM_BUDGET" in str(info.value) and "DGM_SANDBOX_HIDE" in str(info.value)


def test_every_dgm_name_the_course_spells_out_is_registered():
    import re

    from dgm.runtime import KNOWN_ENV, repo_root

    root = repo_root()
    files = [*root.glob("dgm*/**/*.py"), *root.glob("tests/*.py"), *root.glob("scripts/*.py"),
             root / "tasks.py", root / ".ci" / "run", *root.glob("solutions/*/*.ipynb")]
    spelled = {m for f in files if f.is_file()
               for m in re.findall(r"\bDGM_[A-Z][A-Z_]*[A-Z]\b", f.read_text())}
    spelled -= {"DGM_TEST_A", "DGM_TEST_B", "DGM_BUGDET"}     # this file's own examples
    assert spelled <= set(KNOWN_ENV), sorted(spelled - set(KNOWN_ENV))
