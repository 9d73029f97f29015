"""A student's work is never lost or silently replaced: budgets write to folders of their own, a
file one notebook reads from another carries its provenance and is refused when it comes from
another budget or course version, and interrupted training resumes with the same result."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import dgm
from dgm import artifacts, gan_networks, gan_results, gan_training, generator_archive, runtime
from dgm.rate_distortion import RDPoint, course_beta_vae_points, load_points, save_points
from dgm.training import fit


@dataclass(frozen=True)
class Cfg:
    budget: str = "full"
    epochs: int = 30
    lr: float = 2e-4


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    for name in (runtime.AUTOGRADE_ENV, runtime.BUDGET_ENV, runtime.CI_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(runtime.OUTPUT_ENV, str(tmp_path / "outputs"))
    return tmp_path / "outputs"


def _tiny_generator(zdim=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(zdim, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))


# ------------------------------------------------------------------------ budgets ---------------
def test_each_budget_writes_to_a_folder_of_its_own(outputs, monkeypatch):
    full = runtime.output_dir("04_gan")
    monkeypatch.setenv(runtime.AUTOGRADE_ENV, "validate")        # what nbgrader's Validate sets
    smoke = runtime.output_dir("04_gan")
    assert full == outputs / "full" / "04_gan" and smoke == outputs / "smoke" / "04_gan"
    with pytest.raises(ValueError, match="unknown budget"):
        runtime.output_dir("04_gan", "medium")


def test_a_full_budget_generator_survives_validate(outputs):
    full, smoke = Cfg(), Cfg(budget="smoke", epochs=1)       # a notebook's FULL and SMOKE
    path = generator_archive.save_generator(
        _tiny_generator(), runtime.output_dir("04_gan", full.budget) / "gnet.pt2", zdim=4,
        provenance=artifacts.provenance("04_gan", full))
    before = path.read_bytes()
    generator_archive.save_generator(                  # Validate's run, at the smoke budget
        _tiny_generator(), runtime.output_dir("04_gan", smoke.budget) / "gnet.pt2", zdim=4,
        provenance=artifacts.provenance("04_gan", smoke))
    assert path.read_bytes() == before
    choice = artifacts.choose_input("04_gan", "gnet.pt2", want=full.budget, what="generator",
                                    verbose=False)
    assert choice.path == path and choice.provenance["epochs"] == 30
    assert "full budget, 30 epochs" in choice.message


# ------------------------------------------------------------------------ refusing inputs -------
def test_a_smoke_budget_file_is_refused_in_a_full_budget_run(outputs, capsys):
    # e.g. copied by hand, or saved by an older version that shared one folder
    folder = outputs / "full" / "02_beta_vae"
    record = artifacts.provenance("02_beta_vae", Cfg(budget="smoke", epochs=1))
    save_points([RDPoint("beta-VAE", 1.0, 10.0, 18.0)], folder / "rd_points.json", record)
    choice = artifacts.choose_input("02_beta_vae", "rd_points.json", want="full",
                                    what="beta-VAE points")
    assert not choice.found
    printed = capsys.readouterr().out
    assert "made at the smoke budget (1 epochs)" in printed and "full-budget run" in printed
    assert "re-run notebook 02_beta_vae at the full budget" in printed


def test_only_a_validate_run_saved_one_so_the_course_copy_is_used(outputs):
    smoke = Cfg(budget="smoke", epochs=1)
    save_points([RDPoint("beta-VAE", 1.0, 10.0, 18.0)],
                runtime.output_dir("02_beta_vae", smoke.budget) / "rd_points.json",
                artifacts.provenance("02_beta_vae", smoke))
    choice = artifacts.choose_input("02_beta_vae", "rd_points.json", want="full",
                                    what="beta-VAE points", verbose=False)
    assert not choice.found
    assert "has not saved one at the full budget" in choice.message
    assert "one from a smoke-budget run, e.g. Validate" in choice.message
    points, record = course_beta_vae_points()
    assert len(points) == 8 and record["budget"] == "full" and record["epochs"] == 20


@pytest.mark.parametrize("change, reason", [
    (lambda r: None, "no provenance record"),
    (lambda r: dict(r, course_version="0.0.1"), "made by course version 0.0.1"),
])
def test_a_stale_file_is_refused_with_the_reason(outputs, change, reason):
    path = runtime.output_dir("02_beta_vae") / "rd_points.json"
    record = change(artifacts.provenance("02_beta_vae", Cfg()))
    if record is None:
        path.write_text(json.dumps([{"label": "beta-VAE", "beta": 1.0, "rate": 1.0,
                                     "distortion": 2.0}]))
    else:
        save_points([RDPoint("beta-VAE", 1.0, 10.0, 18.0)], path, record)
    choice = artifacts.choose_input("02_beta_vae", "rd_points.json", want="full", what="points",
                                    verbose=False)
    assert not choice.found and reason in choice.message
    assert load_points(path)                       # the file itself is left as it was


def test_a_corrupt_generator_is_refused_and_the_course_generator_used(outputs):
    (runtime.output_dir("04_gan") / "gnet.pt2").write_bytes(b"half a file")
    choice = artifacts.choose_input("04_gan", "gnet.pt2", want="full", what="generator",
                                    verbose=False)
    assert not choice.found and "cannot be read" in choice.message
    if not generator_archive.FALLBACK_GENERATOR.exists():
        pytest.skip("the course's generator is not trained in this checkout")
    _, info, source = generator_archive.trained_generator(choice)
    assert "the course's generator" in source and info["zdim"] == 64


def test_the_budget_is_the_notebooks_value_not_the_environments(outputs, monkeypatch):
    monkeypatch.setenv(runtime.BUDGET_ENV, "smoke")   # e.g. a Jupyter started with DGM_BUDGET
    assert artifacts.provenance("04_gan", Cfg())["budget"] == "full"
    assert artifacts.provenance("04_gan", None, budget="smoke")["budget"] == "smoke"
    with pytest.raises(ValueError, match="budget is not known; pass the notebook's cfg"):
        artifacts.provenance("04_gan", {"epochs": 3})
    with pytest.raises(ValueError, match=r"want='medium' is not a budget; use one of"):
        artifacts.choose_input("04_gan", "gnet.pt2", want="medium", what="generator")


def test_every_notebook_passes_its_cfg_budget():
    """Each set-up cell gives FULL and SMOKE their budget, and every cell that saves or reads a
    file from another notebook, or picks the output folder, passes it on."""
    import nbformat

    from dgm.manifest import NOTEBOOKS
    from dgm_staff.running_page import budgets_of, setup_source

    for nb in NOTEBOOKS:
        path = runtime.repo_root() / "solutions" / nb.id / nb.file
        settings = budgets_of(setup_source(path), nb.id)
        assert (settings["full"]["budget"], settings["smoke"]["budget"]) == ("full", "smoke"), \
            nb.id
        code = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        assert f'output_dir("{nb.id}", cfg.budget)' in code, nb.id
        assert code.count("choose_input(") == code.count("want=cfg.budget"), nb.id


def test_provenance_names_budget_epochs_config_version_and_date(outputs):
    record = artifacts.provenance("04_gan", Cfg(), device="cpu")
    assert record["budget"] == "full" and record["epochs"] == 30
    assert record["config"] == {"budget": "full", "epochs": 30, "lr": 2e-4}
    assert record["course_version"] == dgm.__version__ and record["created"][:4].isdigit()
    path = generator_archive.save_generator(_tiny_generator(), outputs / "g.pt2", zdim=4,
                                            provenance=record)
    assert artifacts.read_provenance(path) == record
    assert gan_results.load_results(gan_results.save_results([], outputs / "r.json", record)) == []


# ------------------------------------------------------------------------ resuming --------------
def _vae_like(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 3), nn.Tanh(), nn.Linear(3, 6))


class Interrupt(Exception):
    pass


def _fit(net, data, path, stop_after_calls=None, epochs=4):
    calls = {"n": 0}

    def objective(x):
        calls["n"] += 1
        if stop_after_calls is not None and calls["n"] > stop_after_calls:
            raise Interrupt                       # as a KeyboardInterrupt or a dead kernel would
        noise = torch.randn_like(x)             # the run uses the global random state
        return -((net(x + 0.1 * noise) - x) ** 2).sum(-1).mean()

    history = fit(objective, net.parameters(), data, data[:8], epochs=epochs, batch_size=5,
                  lr=1e-2, modules=[net], progress=False, checkpoint=path)
    return history, calls["n"]


def test_an_interrupted_fit_resumes_with_the_result_of_an_uninterrupted_run(tmp_path, capsys):
    data = torch.randn(20, 6, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(1)
    reference = _vae_like()
    whole, _ = _fit(reference, data, tmp_path / "whole.ckpt")

    torch.manual_seed(1)
    with pytest.raises(Interrupt):
        _fit(_vae_like(), data, tmp_path / "run.ckpt", stop_after_calls=2 * 5 + 3)  # in epoch 3
    torch.manual_seed(1)                         # the cell runs again after a restart
    net = _vae_like()
    history, calls = _fit(net, data, tmp_path / "run.ckpt")
    assert "resuming from" in capsys.readouterr().out
    assert calls == 2 * 5                        # epochs 3 and 4 only (4 batches + 1 test batch)
    assert history.epoch == [1, 2, 3, 4] and history.train == whole.train
    assert history.test == whole.test
    for (k, v), w in zip(net.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(v, w), k


def _trained(data, path):
    torch.manual_seed(1)
    net = _vae_like()
    _fit(net, data, path)
    return net.state_dict()


def test_a_finished_fit_is_loaded_not_trained_again_unless_the_code_changes(tmp_path, capsys):
    data = torch.randn(20, 6, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "done.ckpt"
    first = _trained(data, path)
    torch.manual_seed(1)
    net = _vae_like()
    history, calls = _fit(net, data, path)
    assert calls == 0 and history.epoch == [1, 2, 3, 4]
    assert "already trained with these settings" in capsys.readouterr().out
    assert all(torch.equal(v, first[k]) for k, v in net.state_dict().items())
    _fit(_vae_like(), data, path, epochs=5)      # another budget: trained from epoch 1
    assert "from other settings" in capsys.readouterr().out


def test_checkpoint_code_fingerprint_follows_the_functions_a_loss_calls():
    def helper(x):
        return x + 1

    def loss(x):
        return helper(x)

    before = artifacts.code_fingerprint(loss)

    def helper(x):  # noqa: F811 - the student edits the helper the loss calls
        return x + 2

    def loss(x):  # noqa: F811
        return helper(x)

    assert artifacts.code_fingerprint(loss) != before


def _gan_run(path, carry, stop_epoch=None, epochs=3):
    torch.manual_seed(0)
    d = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))
    g = nn.Sequential(nn.Linear(4, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(2))

    def keep(epoch, g_net):
        carry[epoch] = g_net(torch.ones(1, 4)).detach()
        if epoch == stop_epoch:
            raise Interrupt

    history = gan_training.train_gan(d, g, gan_networks.least_squares_d_loss,
                                     gan_networks.least_squares_g_loss, x,
                                     zdim=4, epochs=epochs, batch_size=16, seed=0, on_epoch=keep,
                                     progress=False, checkpoint=path, carry=carry)
    return g, history


def test_an_interrupted_gan_resumes_with_the_same_weights_losses_and_grids(tmp_path):
    g_whole, h_whole = _gan_run(tmp_path / "whole.ckpt", whole := {})
    with pytest.raises(Interrupt):
        _gan_run(tmp_path / "run.ckpt", {}, stop_epoch=2)
    # epoch 2's callback raised before its checkpoint: epoch 1 is the last one saved
    g, h = _gan_run(tmp_path / "run.ckpt", grids := {})
    assert h.d_loss == h_whole.d_loss and h.g_loss == h_whole.g_loss
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(),
                                                 g_whole.state_dict().values()))
    assert sorted(grids) == [1, 2, 3] and all(torch.equal(grids[e], whole[e]) for e in grids)
