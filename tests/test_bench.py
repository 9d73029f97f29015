"""The benchmark (dgm_staff.bench): phases on disk, resuming, failures, and the report it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from dgm.runtime import BUDGET_ENV
from dgm_staff.bench import runner as bench
from dgm_staff.bench import profile, report, solution_namespace, throughput

ROOT = Path(__file__).resolve().parent.parent

README = """# Course

Intro text.

<!-- bench:begin -->
old table
<!-- bench:end -->

After the table.
"""


def _phase(run: Path, name: str, payload: dict) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / f"{name}.json").write_text(json.dumps(payload))


def _notebooks(seconds: dict) -> dict:
    return {"machine": {"cpus": 2, "torch": "x", "torch_threads": 2, "gpu": None, "date": "d"},
            "notebooks": {n: {"ok": True, "seconds": s, "quality": {}}
                          for n, s in seconds.items()}}


def fake_run(run: Path, is_conv: float = 5.0, fid_conv: float = 100.0) -> Path:
    walls = dict(zip(bench.NOTEBOOKS, (10, 20, 30, 100, 40, 50)))
    _phase(run, "smoke", _notebooks({n: 1.0 for n in bench.NOTEBOOKS}))
    _phase(run, "full", _notebooks(walls))
    out = run / "outputs-full"
    (out / "01_vae").mkdir(parents=True)
    (out / "01_vae" / "results.json").write_text(json.dumps(dict(
        test_elbo=-150.0, best_test_elbo=-145.0, best_epoch=40, train_elbo=-130.0,
        iw_log_likelihood=-146.5, iw_samples=500, train_seconds=9.0,
        history=[dict(epoch=1, train=-160.0, test=-155.0, seconds=1.0),
                 dict(epoch=2, train=-150.0, test=-150.0, seconds=1.0)])))
    for name, betas in (("02_beta_vae", (0.1, 1.0)), ("03_echo", (0.3,))):
        (out / name).mkdir()
        (out / name / "rd_points.json").write_text(json.dumps(
            [dict(label=name, beta=b, rate=10 / b, distortion=20 * b, seconds=3.0) for b in betas]))
    for name, gens in (("04_gan", [("conv GAN (04)", is_conv, fid_conv, 60.0)]),
                       ("05_wgan", [("WGAN-GP (05)", 4.0, 250.0, 30.0)])):
        (out / name).mkdir()
        (out / name / "results.json").write_text(json.dumps(
            [dict(name=g, epochs=30, seconds=s, inception_score=i, inception_score_std=0.1,
                  fid=f, d_steps=7, g_steps=7) for g, i, f, s in gens]))
    (out / "06_inversion").mkdir()
    (out / "06_inversion" / "results.json").write_text(json.dumps(dict(
        generator="notebook 04",
        inversion=[dict(error_min=e, code_distance_mean=2.0) for e in (3.0, 1.0, 2.0)],
        known_codes=dict(recovery_rate=0.2, relative_distance_median=0.9, error_median=0.5),
        path=dict(straight=100.0, optimised=80.0, ratio=0.8),
        part3=[dict(generator="GAN", train_seconds=5.0, optimal_energy=8.0, straight_energy=10.0,
                    ratio=0.8, inception_score=3.0, fid=300.0)])))
    _phase(run, "throughput", {"device": "cpu", "dataloader_workers": 0, "rows": [
        dict(model="VAE", notebook="01", batch_size=100, samples=1000,
             tensor_samples_per_s=3000.0, dataloader_samples_per_s=1000.0, ratio=3.0)]})
    _phase(run, "profile", {"device": "cpu", "threads": 2, "operators": {}, "loops": [
        dict(loop="conv GAN", steps=10, before_ms=200.0, after_ms=100.0, speedup=2.0,
             last_loss_before=1.0, last_loss_after=1.0)]})
    _phase(run, "autograde", {"whole_course_seconds": 70.0, "notebooks": [
        dict(notebook="01_vae", seconds=8.0, status="graded", auto_score=37, auto_max=37)]})
    return run


def test_report_states_the_numbers_of_the_run(tmp_path):
    run = fake_run(tmp_path / "run")
    readme = tmp_path / "README.md"
    readme.write_text(README)
    path = report.write_report(run, tmp_path / "benchmarks", readme=readme)
    text = path.read_text()
    assert "| all six notebooks at the full budget, one after the other | 250 s (4.2 min) |" in text
    assert "04_gan: 100 s" in text                                     # the slowest
    assert "-150.0 / -146.5 nats (anchor -137.1 / -135.7)" in text
    assert "| gap (nats) | 3.50 | 1.35 |" in text
    # notebook 04: 100 s with 60 s of conv GAN training at 2x -> 160 s before, 1.60x;
    # notebook 05: no WGAN-GP loop measured -> unchanged
    assert "| 04_gan | 100 s | 60 s | 160 s (2.7 min) | 1.60× |" in text
    assert "| 05_wgan | 40 s | 30 s | 40 s | 1.00× |" in text
    assert "Slowest notebook with the default layout: 04_gan (160 s (2.7 min)); now: 04_gan" in text
    assert "| VAE | 01 | 100 | 3,000 | 1,000 | 3.00× |" in text
    assert "| whole course | 70.0 |" in text
    assert "| 0.1 | 100.00 | 2.00 | 3 |" in text                       # an RD point
    assert "β-VAE (2 β): rate 10.0–100.0, distortion 2.0–20.0" in text
    for fig in ("wall_times", "throughput", "vae_elbo", "rate_distortion"):
        assert (tmp_path / "benchmarks" / "figures" / f"{fig}.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "benchmarks" / "measurements.json").read_text())
    assert saved["quality_full"]["01_vae"]["iw_log_likelihood"] == -146.5
    new = readme.read_text()
    assert "old table" not in new and new.startswith("# Course\n\nIntro text.\n")
    assert new.endswith("<!-- bench:end -->\n\nAfter the table.\n")
    assert "| slowest notebook at the full budget | 04_gan: 100 s |" in new


def test_report_of_a_partial_run_says_what_is_missing(tmp_path):
    run = tmp_path / "run"
    _phase(run, "smoke", _notebooks({"01_vae": 2.0}))
    text = report.write_report(run, tmp_path / "b").read_text()
    assert "The full-budget phase has not been run yet" in text
    assert text.count("Not measured in this run.") == 3
    assert "No second run given" in text


def test_reproducibility_table_applies_the_tolerances(tmp_path):
    first = fake_run(tmp_path / "a")
    close = fake_run(tmp_path / "b", is_conv=5.0 + 0.2, fid_conv=100.0 * 1.2)
    far = fake_run(tmp_path / "c", is_conv=5.0 + 0.5, fid_conv=100.0 * 1.5)
    rows = {r["metric"]: r for r in report.reproducibility(first, close) if r["budget"] == "full"}
    assert rows["conv GAN (04) IS"]["ok"] and rows["conv GAN (04) FID"]["ok"]
    assert rows["01 VAE test ELBO (nats)"]["diff"] == 0
    rows = {r["metric"]: r for r in report.reproducibility(first, far)}
    assert not rows["conv GAN (04) IS"]["ok"] and not rows["conv GAN (04) FID"]["ok"]
    assert rows["WGAN-GP (05) IS"]["ok"]
    text = report.write_report(first, tmp_path / "r", repeat=far).read_text()
    assert "**no**" in text and "within tolerance" in text


def test_a_repeat_of_some_notebooks_keeps_the_others_earlier_rows(tmp_path):
    import shutil

    first = fake_run(tmp_path / "a")
    dest = tmp_path / "r"
    report.write_report(first, dest, repeat=fake_run(tmp_path / "b"))
    # a second report whose repeat ran only notebook 04 again (and moved its IS)
    partial = fake_run(tmp_path / "c", is_conv=5.1)
    for name in ("01_vae", "02_beta_vae", "03_echo", "05_wgan", "06_inversion"):
        shutil.rmtree(partial / "outputs-full" / name)
    (partial / "full.json").unlink()
    report.write_report(first, dest, repeat=partial)
    rows = json.loads((dest / "measurements.json").read_text())["reproducibility"]
    by = {(r["budget"], r["metric"]): r for r in rows}
    new = by[("full", "conv GAN (04) IS")]
    assert not new.get("earlier") and new["run2"] == 5.1
    kept = by[("full", "01 VAE test ELBO (nats)")]
    assert kept["earlier"] and kept["diff"] == 0
    assert not any(r.get("earlier") and report._metric_notebook(r["metric"]) == "04"
                   for r in rows)
    assert "*earlier*" in (dest / "REPORT.md").read_text()
    # a report of a new run of notebook 04, without a repeat: its changed rows go, the rest stay
    changed = fake_run(tmp_path / "d", is_conv=6.0)
    report.write_report(changed, dest)
    rows = json.loads((dest / "measurements.json").read_text())["reproducibility"]
    metrics = {r["metric"] for r in rows}
    assert "conv GAN (04) IS" not in metrics and "conv GAN (04) FID" in metrics
    assert "01 VAE test ELBO (nats)" in metrics and all(r["earlier"] for r in rows)


def test_readme_without_markers_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="bench:begin"):
        report.update_readme(readme, "table")
    assert readme.read_text() == "# no markers\n"


def _notebook(path: Path, source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)


@pytest.mark.slow
@pytest.mark.nbgrader
def test_a_failing_notebook_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    from dgm_staff import course_folder

    sources = tmp_path / "solutions"
    _notebook(sources / "01_vae" / "01_vae.ipynb", "raise RuntimeError('the cell broke')")
    _notebook(sources / "02_beta_vae" / "02_beta_vae.ipynb",
              "import json, os\n"
              "from dgm.runtime import output_dir\n"
              "d = output_dir('02_beta_vae')\n"
              "(d / 'rd_points.json').write_text(json.dumps(\n"
              f"    [{{'beta': os.environ[{BUDGET_ENV!r}]}}]))")
    monkeypatch.setattr(course_folder, "solutions_dir", lambda: sources)
    monkeypatch.chdir(tmp_path)                  # a relative --out must still work
    assert bench.run(Path("out"), ["smoke"], ["01_vae", "02_beta_vae"], timeout=60) == 1
    saved = bench.load_phase(tmp_path / "out", "smoke")
    assert not saved["notebooks"]["01_vae"]["ok"]
    assert "the cell broke" in saved["notebooks"]["01_vae"]["error"]
    assert saved["notebooks"]["02_beta_vae"]["ok"]
    assert saved["notebooks"]["02_beta_vae"]["quality"] == {"points": [{"beta": "smoke"}]}
    # one notebook measured again: the other's row is kept
    rows = saved["notebooks"]
    assert bench.run(Path("out"), ["smoke"], ["01_vae"], force=True, timeout=60) == 1
    again = bench.load_phase(tmp_path / "out", "smoke")["notebooks"]
    assert again["02_beta_vae"] == rows["02_beta_vae"] and not again["01_vae"]["ok"]
    # measured phases are kept: a second call skips them
    before = (tmp_path / "out" / "smoke.json").read_text()
    assert bench.run(Path("out"), ["smoke"], ["02_beta_vae"]) == 0
    assert (tmp_path / "out" / "smoke.json").read_text() == before


def test_the_reference_solutions_are_what_throughput_trains():
    ns = solution_namespace("05_wgan")
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1))
    real, fake = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    expected = critic(fake).mean() - critic(real).mean()
    torch.testing.assert_close(ns["critic_loss"](critic, real, fake), expected)
    assert callable(ns["gradient_penalty"]) and "cfg" in ns


def test_throughput_times_both_data_paths():
    seen = []
    model = throughput.Model("probe", "00", 50, True, True, lambda x: seen.append(x))
    row = throughput.time_model(model, torch.device("cpu"), samples=200, rounds=2)
    assert row["samples"] == 2 * 4 * 50
    assert row["tensor_samples_per_s"] > 0 and row["dataloader_samples_per_s"] > 0
    assert len(seen) == 6 + 2 * 2 * 4                     # warm-up, then 2 rounds of each
    assert all(x.shape == (50, 784) and set(x.unique().tolist()) <= {0.0, 1.0} for x in seen)


@pytest.mark.slow
def test_profile_compares_the_layouts_on_the_real_loops():
    rows = profile.loop_timings(steps=2, rounds=1)
    assert [r["loop"] for r in rows] == ["conv GAN", "WGAN-GP", "course GAN", "FC GAN"]
    for r in rows:
        assert r["before_ms"] > 0 and r["after_ms"] > 0
        assert abs(r["last_loss_before"] - r["last_loss_after"]) < 1e-3


def test_the_course_readme_has_the_table_markers(tmp_path):
    copy = tmp_path / "README.md"
    copy.write_text((ROOT / "README.md").read_text())
    report.update_readme(copy, "| what | measured |")
    assert "| what | measured |" in copy.read_text()


def test_phases_without_notebooks_are_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "run_phase", lambda phase, out, names, timeout: {
        "notebooks": [{"notebook": "01_vae", "seconds": 1.0}], "whole_course_seconds": 1.0})
    assert bench.run(tmp_path, ["autograde"], ["01_vae"]) == 0
    assert bench.load_phase(tmp_path, "autograde")["whole_course_seconds"] == 1.0


def test_the_channels_last_switch_is_an_argument_not_an_environment_variable(monkeypatch):
    calls = []

    def fake_train(d, g, *args, channels_last, **kw):
        calls.append(channels_last)
        from dgm.gan_training import GanHistory
        return GanHistory(d_loss=[0.5], d_steps=1, g_steps=1)

    monkeypatch.setattr(profile.gan_training, "train_gan", fake_train)
    rows = profile.loop_timings(steps=1, rounds=1, loops=("conv GAN", "FC GAN"))
    assert calls == [True, False, True] * 2                    # warm-up, then off and on
    assert [r["loop"] for r in rows] == ["conv GAN", "FC GAN"]


def _python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
def test_report_and_runner_import_without_a_cycle():
    """What both need lives in ``common``: ``report`` never imports ``runner``, and each module
    imports on its own, whichever comes first."""
    import dgm_staff.bench
    from dgm_staff.bench import common

    for first in ("common", "report", "throughput", "profile", "autograde", "runner"):
        code = (f"import sys, dgm_staff.bench.{first}; "
                f"sys.exit('{first}' != 'runner' and 'dgm_staff.bench.runner' in sys.modules)")
        result = _python("-c", code)
        assert result.returncode == 0, f"{first}: {result.stderr or 'imported runner'}"
    assert bench.report is report
    for name in ("PHASES", "NOTEBOOKS", "ANCHOR", "TOLERANCES", "load_phase", "notebook_quality",
                 "default_out", "machine", "solution_namespace"):
        assert getattr(common, name) is getattr(dgm_staff.bench, name)
    assert bench.NOTEBOOKS is common.NOTEBOOKS and bench.load_phase is common.load_phase


@pytest.mark.slow
def test_python_m_runs_the_benchmark_and_its_tools():
    """``python -m dgm_staff.bench run|report`` and the two stand-alone measurements."""
    for module, words in (("dgm_staff.bench", ("run", "report")),
                          ("dgm_staff.bench.gan_step", ("--channels-last", "--nets")),
                          ("dgm_staff.bench.grading", ("--students", "--skip-class"))):
        result = _python("-m", module, "--help")
        assert result.returncode == 0, result.stderr
        assert all(w in result.stdout for w in words), result.stdout
    assert not (ROOT / "scripts" / "bench_gan_step.py").exists()
    assert not (ROOT / "scripts" / "bench_grading.py").exists()


def test_report_via_python_m(tmp_path):
    run = fake_run(tmp_path / "run")
    result = _python("-m", "dgm_staff.bench", "report", "--out", str(run),
                     "--dest", str(tmp_path / "b"), "--no-readme", timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b" / "REPORT.md").read_text().startswith("# Benchmark report")


def test_gan_step_runs_on_both_pairs_of_networks(capsys):
    from dgm_staff.bench import gan_step

    for nets in ("04", "course"):
        assert gan_step.main(["--steps", "1", "--batch", "8", "--device", "cpu",
                              "--nets", nets]) == 0
        out = capsys.readouterr().out
        assert "| GAN step (1 D + 1 G update) |" in out and "WGAN-GP iteration" in out


@pytest.mark.slow
def test_the_gan_diagnosis_prints_one_row_per_variant(capsys):
    from dgm_staff.bench import gan_diagnosis

    assert gan_diagnosis.main(["fc", "--epochs", "1", "--only", "1", "7", "--n-eval", "200",
                               "--train-subset", "512"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(rows) == 3                                   # header and two variants
    assert "seed settings" in rows[1] and "batch norm in G" in rows[2]
    spread_default, spread_bn = (float(r.split("|")[3]) for r in rows[1:])
    assert spread_default < 0.02 < spread_bn      # the seed's generator: one image for all codes
    # the WGAN-GP variants train with notebook 05's reference losses
    assert gan_diagnosis.main(["wgan", "--epochs", "1", "--only", "4", "--n-eval", "200",
                               "--train-subset", "512"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 and "n_critic 2" in rows[1]


@pytest.mark.slow
def test_the_notebook_fc_diagnosis_trains_notebook_04s_fc_cell(capsys):
    from dgm_staff.bench import gan_diagnosis

    assert gan_diagnosis.main(["notebook-fc", "--epochs", "2", "--every", "1", "--only", "1",
                               "4", "--n-eval", "200", "--train-subset", "512"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    # the header, then per variant a row per scored epoch and the final row with class shares
    assert len(rows) == 1 + 2 * 3
    assert rows[1].startswith("| dropout | 1 ") and rows[2].startswith("| dropout | 2 ")
    assert rows[6].startswith("| dropout, minibatch std, lr 2e-4, 200 samples | 2 ")
    shares = [float(v) for v in rows[6].split("|")[-2].split("/")]
    assert len(shares) == 10 and abs(sum(shares) - 100) < 0.5
    # the last variant is notebook 04's own setting
    assert gan_diagnosis.NOTEBOOK_FC["dropout, minibatch std, lr 2e-4"] == {}
