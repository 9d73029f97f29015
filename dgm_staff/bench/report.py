"""``python -m dgm_staff.bench report``: the measurements of a run as Markdown, figures and a README table.

Everything here reads the JSON files a run wrote (and the notebooks' own result files in
``DIR/outputs-<budget>``); nothing is measured, so a report can be rebuilt at any time.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from dgm.runtime import BUDGET_ENV
from dgm_staff.bench.common import (ANCHOR, NOTEBOOKS, PHASES, TOLERANCES, load_phase,
                                    notebook_folder,
                                    notebook_quality)

README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"


# ------------------------------------------------------------------------ reading a run -------
def quality(run: Path, budget: str = "full") -> dict:
    """Per notebook, the quality numbers of a run: re-read from the notebooks' files when they
    are there (a report can follow a notebook re-run), else as the run recorded them."""
    recorded = (load_phase(run, budget) or load_phase(run, budget + ".partial") or {})
    out = {}
    for name in NOTEBOOKS:
        fresh = notebook_quality(name, Path(run) / f"outputs-{budget}")
        old = recorded.get("notebooks", {}).get(name, {}).get("quality", {})
        out[name] = fresh if any(fresh.values()) else old
    return out


def quality_metrics(q: dict) -> dict[str, tuple[float, str]]:
    """The quality numbers of a run, flattened: ``name -> (value, kind)`` (kind selects the
    tolerance)."""
    m: dict[str, tuple[float, str]] = {}
    vae = q.get("01_vae", {})
    if "test_elbo" in vae:
        m["01 VAE test ELBO (nats)"] = (vae["test_elbo"], "nats")
        m[f"01 VAE log-likelihood, k = {vae['iw_samples']} (nats)"] = (vae["iw_log_likelihood"],
                                                                       "nats")
    for name, tag in (("02_beta_vae", "02 β-VAE"), ("03_echo", "03 echo")):
        for p in q.get(name, {}).get("points", []):
            m[f"{tag} β = {p['beta']:g}: rate (nats)"] = (p["rate"], "rate")
            m[f"{tag} β = {p['beta']:g}: distortion"] = (p["distortion"], "distortion")
    for name in ("04_gan", "05_wgan"):
        for g in q.get(name, {}).get("generators", []):
            m[f"{g['name']} IS"] = (g["inception_score"], "IS")
            m[f"{g['name']} FID"] = (g["fid"], "FID")
    inv = q.get("06_inversion", {})
    if inv:
        m["06 known codes recovered (fraction)"] = (inv["known_codes"]["recovery_rate"],
                                                    "fraction")
        m["06 path energy ratio, 1 → 7"] = (inv["path"]["ratio"], "ratio")
        for r in inv.get("part3", []):
            m[f"06 {r['generator']}: path energy ratio"] = (r["ratio"], "ratio")
    return m


def within(a: float, b: float, kind: str) -> bool:
    if kind == "FID":                                 # relative: FID spans orders of magnitude
        return abs(a - b) <= TOLERANCES["FID"] * max(abs(a), abs(b), 1.0)
    return abs(a - b) <= TOLERANCES[kind]


def reproducibility(run: Path, repeat: Path) -> list[dict]:
    rows = []
    for budget in ("smoke", "full"):
        first, second = quality_metrics(quality(run, budget)), quality_metrics(quality(repeat, budget))
        for key in first:
            if key in second:
                (a, kind), (b, _) = first[key], second[key]
                rows.append({"budget": budget, "metric": key, "run1": a, "run2": b,
                             "diff": abs(a - b), "kind": kind, "ok": within(a, b, kind)})
    return rows


def _rate(rates: dict[str, float], generator: str) -> str:
    """The throughput phase's images/s of ``generator`` (``"conv GAN (04)"`` → model
    ``"conv GAN"``), or a dash when that phase did not measure it."""
    model = generator.split(" (")[0]
    return f"{rates[model]:.0f}" if model in rates else "–"


def _metric_notebook(metric: str) -> str:
    """``"01"`` … ``"06"``: the notebook a reproducibility metric belongs to."""
    if metric[:2].isdigit():
        return metric[:2]
    found = re.search(r"\((0\d)\)", metric)
    return found.group(1) if found else ""


def merged_reproducibility(run: Path, repeat: Path | None, earlier: Path | None) -> list[dict]:
    """:func:`reproducibility` of ``run`` against ``repeat`` (none without a repeat), plus the
    rows of an earlier report's ``measurements.json`` that still describe ``run``: rows of
    notebooks the repeat did not run again (``--only``) whose first-run number is still this run's
    number, marked ``"earlier": True``. Re-measuring some notebooks keeps the others'
    reproducibility; a row whose number has changed is dropped."""
    rows = reproducibility(run, repeat) if repeat else []
    measured = {_metric_notebook(r["metric"]) for r in rows}
    current = {b: quality_metrics(quality(run, b)) for b in ("smoke", "full")}
    if earlier is not None and Path(earlier).exists():
        old = json.loads(Path(earlier).read_text()).get("reproducibility") or []
        rows += [{**r, "earlier": True} for r in old
                 if _metric_notebook(r["metric"]) not in measured
                 and r["metric"] in current[r["budget"]]
                 and current[r["budget"]][r["metric"]][0] == r["run1"]]
    return rows


# ------------------------------------------------------------------------ formatting ----------
def _table(header: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _s(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def _wall(phase: dict | None, name: str) -> float | None:
    row = (phase or {}).get("notebooks", {}).get(name)
    return row["seconds"] if row and row.get("ok") else None


# ------------------------------------------------------------------------ figures -------------
def _wall_figure(plt, smoke, full):
    """Wall seconds per notebook, both budgets, on a log scale."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = range(len(NOTEBOOKS))
    for k, (label, phase) in enumerate((("smoke budget", smoke), ("full budget", full))):
        vals = [_wall(phase, n) or 0 for n in NOTEBOOKS]
        ax.bar([x + (k - 0.5) * 0.4 for x in xs], vals, width=0.4, label=label)
    ax.set_yscale("log")
    top = max(_wall(ph, n) or 1 for ph in (smoke, full) if ph for n in NOTEBOOKS)
    ax.set_ylim(top=top * 6)                        # room for the legend
    ax.set_xticks(list(xs), NOTEBOOKS, rotation=20)
    ax.set_ylabel("wall seconds (log)")
    ax.set_title("Wall time per notebook")
    ax.legend()
    return fig


def _throughput_figure(plt, throughput):
    """Training samples per second of each model, tensor-resident and through a DataLoader."""
    rows = throughput["rows"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["tensor_samples_per_s"] for r in rows], width=0.4,
           label="tensor-resident")
    ax.bar([x + 0.2 for x in xs], [r["dataloader_samples_per_s"] for r in rows], width=0.4,
           label="torchvision DataLoader")
    ax.set_yscale("log")
    ax.set_xticks(list(xs), [f"{r['model']} ({r['notebook']})" for r in rows], rotation=20)
    ax.set_ylabel("training samples / s (log)")
    ax.set_title(f"Training throughput ({throughput['device']})")
    ax.legend()
    return fig


def _vae_figure(plt, history: list[dict], vae: dict):
    """Notebook 01's training and test ELBO per epoch, with the final log-likelihood and the
    published anchor."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot([h["epoch"] for h in history], [h["train"] for h in history], label="train ELBO")
    ax.plot([h["epoch"] for h in history], [h["test"] for h in history], label="test ELBO")
    ax.axhline(vae["iw_log_likelihood"], color="k", ls="--",
               label=f"test log-likelihood, k = {vae['iw_samples']} (final model)")
    ax.axhline(ANCHOR["elbo"], color="grey", ls=":", label="Davidson et al. 2018: ELBO")
    ax.set_ylim(max(min(h["test"] for h in history) - 5, -200), None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.set_title("Notebook 01: VAE with a 2-D latent, full budget")
    ax.legend(fontsize=8)
    return fig


#: The figures the notebooks saved themselves, copied as they are: (key, notebook, file).
NOTEBOOK_FIGURES = (("gan_samples", "04_gan", "gan_samples.png"),
                    ("gan_progress", "04_gan", "gan_progress.png"),
                    ("fc_gan_progress", "04_gan", "fc_gan_progress.png"),
                    ("gan_quality_progress", "04_gan", "gan_quality_progress.png"),
                    ("wgan_progress", "05_wgan", "wgan_progress.png"),
                    ("quality_vs_time", "05_wgan", "quality_vs_time.png"),
                    ("wgan_samples", "05_wgan", "gan_vs_wgan_samples.png"),
                    ("paths", "06_inversion", "paths.png"))


def _copy_notebook_figures(run: Path, figs: Path) -> dict[str, str]:
    """The full run's own figures (:data:`NOTEBOOK_FIGURES`) that exist, copied into ``figs``."""
    made = {}
    for key, notebook, name in NOTEBOOK_FIGURES:
        src = notebook_folder(run / "outputs-full", notebook) / name
        if src.exists():
            shutil.copy(src, figs / src.name)
            made[key] = f"figures/{src.name}"
    return made


def _figures(run: Path, dest: Path, smoke, full, throughput, q) -> dict[str, str]:
    """Draw the report's figures into ``dest/figures`` (made afresh); figure key -> its path
    relative to ``dest``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dgm.plotting import plot_rate_distortion, save
    from dgm.rate_distortion import RDPoint

    figs = dest / "figures"
    # the VAE curve needs notebook 01's saved history, which a run that re-measured only later
    # notebooks (``--only``) does not have: then the earlier report's figure is kept
    earlier_vae = (figs / "vae_elbo.png").read_bytes() if (figs / "vae_elbo.png").exists() \
        else None
    if figs.exists():
        shutil.rmtree(figs)
    figs.mkdir(parents=True)
    made = {}

    def keep(fig, key: str, name: str) -> None:
        save(fig, figs / name)
        plt.close(fig)
        made[key] = f"figures/{name}"

    if smoke or full:
        keep(_wall_figure(plt, smoke, full), "wall", "wall_times.png")
    if throughput:
        keep(_throughput_figure(plt, throughput), "throughput", "throughput.png")
    vae_file = notebook_folder(run / "outputs-full", "01_vae") / "results.json"
    if vae_file.exists():
        keep(_vae_figure(plt, json.loads(vae_file.read_text())["history"], q["01_vae"]), "vae",
             "vae_elbo.png")
    elif earlier_vae is not None:
        (figs / "vae_elbo.png").write_bytes(earlier_vae)
        made["vae"] = "figures/vae_elbo.png"
    rd = {label: [RDPoint(**p) for p in q.get(name, {}).get("points", [])]
          for name, label in (("02_beta_vae", "β-VAE (02)"), ("03_echo", "echo noise (03)"))}
    if any(rd.values()):
        keep(plot_rate_distortion(rd, title="Rate–distortion points, full budget (test set)"),
             "rd", "rate_distortion.png")
    made.update(_copy_notebook_figures(run, figs))
    return made


# ------------------------------------------------------------------------ the report ----------
def _layout_effect(profile: dict, full: dict | None, q: dict) -> list[str]:
    """What the layout change does to whole notebooks at the full budget: the GAN training time
    each notebook measured (channels-last) scaled by the loop's measured step ratio gives the
    time it would have taken in the default layout."""
    speed = {r["loop"]: r["speedup"] for r in profile["loops"]}
    trained = {
        # the FC GAN has no convolutions: same code in both layouts, factor 1
        "04_gan": [(g["seconds"], speed.get("conv GAN", 1.0) if g["name"].startswith("conv")
                    else 1.0) for g in q.get("04_gan", {}).get("generators", [])],
        "05_wgan": [(g["seconds"], speed.get("WGAN-GP", 1.0))
                    for g in q.get("05_wgan", {}).get("generators", [])],
        # 06 trains the course's networks (older runs measured only notebook 04's)
        "06_inversion": [(r["train_seconds"], speed.get("course GAN", speed.get("conv GAN", 1.0)))
                         for r in q.get("06_inversion", {}).get("part3", [])],
    }
    rows, before = [], {}
    for name, parts in trained.items():
        wall = _wall(full, name)
        if wall is None or not parts:
            continue
        gan_s = sum(s for s, _ in parts)
        before[name] = wall + sum(s * (k - 1) for s, k in parts)
        rows.append([name, _s(wall), _s(gan_s), _s(before[name]),
                     f"{before[name] / wall:.2f}×"])
    if not rows:
        return []
    walls = {n: _wall(full, n) for n in NOTEBOOKS if _wall(full, n) is not None}
    slowest_now = max(walls, key=walls.get)
    slowest_before = max({**walls, **before}.items(), key=lambda kv: kv[1])
    lines = ["Effect on whole notebooks at the full budget. The GAN training time each notebook "
             "measured (channels-last) is scaled by its loop's step ratio above to give the time "
             "in the default layout (derived from the measured ratios, not a second full run):",
             "", _table(["notebook", "wall (channels-last)", "of which GAN training",
                         "default layout (derived)", "speed-up"], rows), ""]
    lines += [f"Slowest notebook with the default layout: {slowest_before[0]} "
              f"({_s(slowest_before[1])}); now: {slowest_now} ({_s(walls[slowest_now])}).", ""]
    return lines


def summary_rows(smoke, full, throughput, profile, autograde, q, repro) -> list[list[str]]:
    rows = []
    if full:
        walls = {n: _wall(full, n) for n in NOTEBOOKS}
        done = {n: s for n, s in walls.items() if s is not None}
        slowest = max(done, key=done.get) if done else None
        rows.append(["all six notebooks at the full budget, one after the other",
                     _s(sum(done.values())) + ("" if len(done) == len(NOTEBOOKS)
                                               else f" ({len(done)} of 6 ran)")])
        if slowest:
            rows.append(["slowest notebook at the full budget", f"{slowest}: {_s(done[slowest])}"])
    if smoke:
        total = sum(s for n in NOTEBOOKS if (s := _wall(smoke, n)) is not None)
        rows.append(["all six notebooks at the smoke budget (CI, autograde)", _s(total)])
    if profile:
        conv = next(r for r in profile["loops"] if r["loop"] == "conv GAN")
        rows.append(["conv GAN training step, default → channels-last layout",
                     f"{conv['before_ms']:.0f} → {conv['after_ms']:.0f} ms "
                     f"({conv['speedup']:.2f}× faster)"])
    if throughput:
        ratios = [r["ratio"] for r in throughput["rows"]]
        rows.append(["training throughput, tensor-resident ÷ DataLoader",
                     f"{min(ratios):.2f}× to {max(ratios):.2f}× (per model below)"])
    vae = q.get("01_vae", {})
    if "test_elbo" in vae:
        rows.append(["VAE (2-D latent) test ELBO / log-likelihood (k = "
                     f"{vae['iw_samples']})",
                     f"{vae['test_elbo']:.1f} / {vae['iw_log_likelihood']:.1f} nats "
                     f"(anchor {ANCHOR['elbo']:.1f} / {ANCHOR['log_likelihood']:.1f})"])
    rd = [(tag, q.get(name, {}).get("points", [])) for name, tag in
          (("02_beta_vae", "β-VAE"), ("03_echo", "echo noise"))]
    if any(points for _, points in rd):
        rows.append(["rate–distortion points (test set): rate range (nats), distortion range",
                     "; ".join(f"{tag} ({len(pts)} β): rate {min(p['rate'] for p in pts):.1f}–"
                               f"{max(p['rate'] for p in pts):.1f}, distortion "
                               f"{min(p['distortion'] for p in pts):.1f}–"
                               f"{max(p['distortion'] for p in pts):.1f}"
                               for tag, pts in rd if pts)])
    gens = q.get("04_gan", {}).get("generators", []) + q.get("05_wgan", {}).get("generators", [])
    if gens:
        rows.append(["classifier IS / FID, 10 000 samples",
                     "; ".join(f"{g['name'].split(' (')[0]} {g['inception_score']:.2f} / "
                               f"{g['fid']:.0f}" for g in gens)])
    inv = q.get("06_inversion", {})
    if inv:
        kc = inv["known_codes"]
        rows.append(["inversion: starts returning to a known z* (median ‖z − z*‖/‖z*‖); "
                     "optimised ÷ straight path energy (1 → 7)",
                     f"{kc['recovery_rate']:.0%} ({kc['relative_distance_median']:.2f}); "
                     f"{inv['path']['ratio']:.3f}"])
    if autograde:
        rows.append(["autograde, whole-course submission (6 notebooks, release + feedback)",
                     _s(autograde["whole_course_seconds"])])
    if repro:
        ok = sum(r["ok"] for r in repro)
        same = sum(r["diff"] == 0 for r in repro)
        per = {b: sum(r["budget"] == b for r in repro) for b in ("smoke", "full")}
        rows.append(["second seeded run, same machine: quality numbers repeated",
                     f"{same} of {len(repro)} identical ({per['smoke']} at the smoke budget, "
                     f"{per['full']} at the full budget), {ok} within tolerance; largest "
                     f"difference {max(r['diff'] for r in repro):.3g}"])
    return rows


def _machine_line(*phases) -> str:
    """The machine the first measured phase ran on, as the report's header and README say it."""
    any_phase = next((p for p in phases if p), None)
    mach = (any_phase or {}).get("machine", {})
    where = (f"{mach.get('cpus', '?')} CPU cores, torch {mach.get('torch', '?')} "
             f"({mach.get('torch_threads', '?')} threads), "
             f"GPU: {mach.get('gpu') or 'none'}; measured {mach.get('date', '')[:10]}")
    if not mach.get("gpu"):
        where += (". GPU times are not measured: no GPU was available for this run, and the "
                  "notebooks' headers say so")
    return where


def _header_section(where: str) -> list[str]:
    return ["# Benchmark report", "",
            "Written by `python -m dgm_staff.bench report` from the measurements of "
            "`python3 tasks.py bench` (raw numbers: `measurements.json`). Machine: " + where + ".",
            "All runs are seeded (every notebook calls `seed_everything` with its config's seed).",
            ""]


def _wall_section(smoke, full, figs: dict[str, str]) -> list[str]:
    """Section 1: wall time per notebook at both budgets, and what failed or was not run."""
    out = ["## 1. Wall time per notebook", "",
           "Each solution notebook executed top to bottom in a fresh kernel (`nbclient`), in "
           "course order, outputs of one notebook available to the next (03 reads 02's points, "
           f"05 and 06 read 04's generator). Smoke: `{BUDGET_ENV}=smoke` (what CI and the "
           "autograder run); full: the assignments' budgets (what a student runs).", ""]
    rows = [[n, _s(_wall(smoke, n)), _s(_wall(full, n))] for n in NOTEBOOKS]
    out += [_table(["notebook", "smoke budget", "full budget"], rows), ""]
    failed = [f"{n} ({b})" for b, ph in (("smoke", smoke), ("full", full)) if ph
              for n, r in ph.get("notebooks", {}).items() if not r.get("ok")]
    if failed:
        out += ["Failed: " + ", ".join(failed) + ".", ""]
    if not full:
        out += ["The full-budget phase has not been run yet (`python -m dgm_staff.bench run --phases "
                "full`).", ""]
    if "wall" in figs:
        out += [f"![wall times]({figs['wall']})", ""]
    return out


def _throughput_section(throughput, figs: dict[str, str]) -> list[str]:
    """Section 2: training samples per second, tensor-resident against a DataLoader."""
    out = ["## 2. Training throughput", ""]
    if not throughput:
        return out + ["Not measured in this run.", ""]
    out += [f"Device {throughput['device']}; DataLoader with {throughput['dataloader_workers']}"
            " worker processes; each model's own training step from the notebook's reference "
            "solution, at the notebook's batch size; the two data paths timed in "
            "alternating blocks in one run.", ""]
    out += [_table(["model", "notebook", "batch", "tensor-resident samples/s",
                    "DataLoader samples/s", "ratio"],
                   [[r["model"], r["notebook"], r["batch_size"],
                     f"{r['tensor_samples_per_s']:,.0f}",
                     f"{r['dataloader_samples_per_s']:,.0f}", f"{r['ratio']:.2f}×"]
                    for r in throughput["rows"]]), ""]
    if "throughput" in figs:
        out += [f"![throughput]({figs['throughput']})", ""]
    return out


def _vae_quality(q: dict, figs: dict[str, str]) -> list[str]:
    """Section 3, notebook 01: the VAE's ELBO and log-likelihood against the published anchor."""
    vae = q.get("01_vae", {})
    if "test_elbo" not in vae:
        return []
    out = ["### Notebook 01: VAE, 2-D latent", "",
           _table(["", "this course", "Davidson et al. 2018"],
                  [["test ELBO (nats)", f"{vae['test_elbo']:.2f}", f"{ANCHOR['elbo']:.2f}"],
                   [f"test log-likelihood, importance-weighted, k = {vae['iw_samples']}",
                    f"{vae['iw_log_likelihood']:.2f}", f"{ANCHOR['log_likelihood']:.2f}"],
                   ["gap (nats)", f"{vae['iw_log_likelihood'] - vae['test_elbo']:.2f}",
                    f"{ANCHOR['log_likelihood'] - ANCHOR['elbo']:.2f}"],
                   ["best test ELBO during training (epoch)",
                    f"{vae['best_test_elbo']:.2f} ({vae['best_epoch']})", "–"],
                   ["training ELBO, last epoch", f"{vae['train_elbo']:.2f}", "–"]]), "",
           "The anchor is not the same experiment: Davidson et al. binarise MNIST "
           "*dynamically* (a new Bernoulli draw per epoch), use other networks and stop "
           "early on a validation set; this course keeps the assignment's *static* "
           "threshold at 0.5 and its 200 epochs, on which the model overfits (the test "
           "ELBO peaks, then falls while the training ELBO keeps rising). The gap between "
           "log-likelihood and ELBO (the mean KL from q(z|x) to the posterior) is the "
           "comparable number; a larger gap means q(z|x) matches the test images' "
           "posteriors less well, as expected of a model that has overfitted its training "
           "images.", ""]
    if "vae" in figs:
        out += [f"![VAE ELBO]({figs['vae']})", ""]
    return out


def _rate_distortion_quality(q: dict, figs: dict[str, str]) -> list[str]:
    """Section 3, notebooks 02 and 03: their rate–distortion points."""
    out = []
    for name, title in (("02_beta_vae", "Notebook 02: β-VAE"), ("03_echo", "Notebook 03: echo noise")):
        pts = q.get(name, {}).get("points", [])
        if pts:
            out += [f"### {title}, rate–distortion points (test set)", "",
                    _table(["β", "rate (nats)", "distortion", "train s"],
                           [[f"{p['beta']:g}", f"{p['rate']:.2f}", f"{p['distortion']:.2f}",
                             f"{p['seconds']:.0f}"] for p in pts]), ""]
    if "rd" in figs:
        out += [f"![rate-distortion]({figs['rd']})", ""]
    return out


def _gan_quality(q: dict, throughput, figs: dict[str, str]) -> list[str]:
    """Section 3, notebooks 04 and 05: every generator's scores, training cost and figures."""
    gens = q.get("04_gan", {}).get("generators", []) + q.get("05_wgan", {}).get("generators", [])
    if not gens:
        return []
    rates = {r["model"]: r["tensor_samples_per_s"] for r in (throughput or {}).get("rows", [])}
    n_train = 60_000
    out = ["### Notebooks 04–05: GANs (classifier IS / FID on 10 000 samples)", "",
           _table(["generator", "epochs", "train s", "D/critic steps", "G steps", "IS",
                   "FID", "classes ≥ 2 %", "images/s in the run", "images/s (throughput)"],
                  [[g["name"], g["epochs"], f"{g['seconds']:.0f}", g["d_steps"],
                    g["g_steps"], f"{g['inception_score']:.2f} ± "
                    f"{g['inception_score_std']:.2f}", f"{g['fid']:.1f}",
                    g.get("classes", "–"), f"{n_train * g['epochs'] / g['seconds']:.0f}",
                    _rate(rates, g["name"])] for g in gens]),
           "", "*Images/s* counts real training images through the discriminator or "
           "critic per second of training: in the full run itself (epochs × 60 000 ÷ train "
           "s; the scoring every 5 epochs is not counted) and in the throughput phase "
           "(training steps alone, fixed batches).", ""]
    for key in ("gan_quality_progress", "quality_vs_time", "gan_progress",
                "fc_gan_progress", "wgan_progress"):
        if key in figs:
            out += [f"![{key}]({figs[key]})", ""]
    out += ["The classifier is the course's MNIST network (`dgm.metrics`, 99.26 % test "
            "accuracy), not Inception: these numbers compare the course's models with each "
            "other, not with published ImageNet-Inception scores. On 10 000 test digits "
            "the same classifier gives IS 9.64; uniform noise gives IS 1.00.", ""]
    for key in ("gan_samples", "wgan_samples"):
        if key in figs:
            out += [f"![{key}]({figs[key]})", ""]
    return out


def _inversion_quality(q: dict, figs: dict[str, str]) -> list[str]:
    """Section 3, notebook 06: inversion of known codes and test digits, and path energies."""
    inv = q.get("06_inversion", {})
    if not inv:
        return []
    kc = inv["known_codes"]
    out = ["### Notebook 06: inversion and latent paths", "",
           f"Generator: {inv['generator'].split(' (')[0]}.", "",
           _table(["", "value"],
                  [["starts that return to a known code z* (‖z − z*‖ < 0.1‖z*‖)",
                    f"{kc['recovery_rate']:.0%}"],
                   ["median ‖z − z*‖ / ‖z*‖ after inversion",
                    f"{kc['relative_distance_median']:.2f}"],
                   ["median squared error of G(z) on G(z*) images", f"{kc['error_median']:.3f}"],
                   ["test digits: median of the best start's squared error",
                    f"{inv['inversion_error_min_median']:.2f}"],
                   ["path energy, straight line (1 → 7)", f"{inv['path']['straight']:.1f}"],
                   ["path energy, optimised path (1 → 7)", f"{inv['path']['optimised']:.1f}"],
                   ["ratio optimised ÷ straight", f"{inv['path']['ratio']:.3f}"]], "ll"), ""]
    if inv.get("part3"):
        out += [_table(["generator (trained in 06)", "train s", "mean U*", "mean U line",
                        "ratio", "IS", "FID"],
                       [[r["generator"], f"{r['train_seconds']:.0f}",
                         f"{r['optimal_energy']:.1f}", f"{r['straight_energy']:.1f}",
                         f"{r['ratio']:.3f}", f"{r['inception_score']:.2f}",
                         f"{r['fid']:.1f}"] for r in inv["part3"]]), ""]
    if "paths" in figs:
        out += [f"![paths]({figs['paths']})", ""]
    return out


def _quality_section(q: dict, throughput, figs: dict[str, str]) -> list[str]:
    """Section 3: the quality numbers of the full budget, notebook by notebook."""
    out = ["## 3. Quality at the full budget", ""]
    out += _vae_quality(q, figs)
    out += _rate_distortion_quality(q, figs)
    out += _gan_quality(q, throughput, figs)
    out += _inversion_quality(q, figs)
    if not any(q.values()):
        out += ["No full-budget results yet.", ""]
    return out


def _profile_section(profile, full, q: dict) -> list[str]:
    """Section 4: the training loops in both memory layouts, their top operators, and what the
    layout does to whole notebooks."""
    out = ["## 4. Profile of the slowest notebook", ""]
    if not profile:
        return out + ["Not measured in this run.", ""]
    out += ["Notebook 04 trains a convolutional and a fully connected GAN; notebooks 05 and 06 "
            "train the "
            "course's convolutional networks (`dgm.gan_networks.course_critic`, `course_generator`). "
            "The course's training loops, one epoch over the same images, with the networks "
            "in PyTorch's default layout and in the channels-last layout (`channels_last="
            "False/True` of `dgm.gan_training.train_gan` and `train_wgan_gp`), timed alternately:", "",
            _table(["training loop", "steps timed", "default ms/step", "channels-last ms/step",
                    "speed-up", "last loss (default / channels-last)"],
                   [[r["loop"], r["steps"], f"{r['before_ms']:.1f}", f"{r['after_ms']:.1f}",
                     f"{r['speedup']:.2f}×",
                     f"{r['last_loss_before']:.4f} / {r['last_loss_after']:.4f}"]
                    for r in profile["loops"]]), "",
            "The fully connected GAN has no convolutions, so its layout is never switched: "
            "its ratio shows how much two timings of the same code differ on this machine.",
            ""]
    for layout, ops in profile["operators"].items():
        out += [f"Operators with the most self time in a conv GAN step, {layout} layout:", "",
                _table(["operator", "ms per step", "share"],
                       [[f"`{o['op']}`", f"{o['ms_per_step']:.1f}", f"{o['share']:.0%}"]
                        for o in ops]), ""]
    return out + _layout_effect(profile, full, q)


def _autograde_section(autograde) -> list[str]:
    """Section 5: one whole-course submission graded, notebook by notebook."""
    out = ["## 5. Autograde", ""]
    if not autograde:
        return out + ["Not measured in this run.", ""]
    return out + ["One student's whole-course submission (the reference solutions), graded with "
                  "`python -m dgm_staff.grade_class` (one worker): release, autograde, feedback.",
                  "",
                  _table(["notebook", "autograde s", "status", "autograded score"],
                         [[r["notebook"], f"{r['seconds']:.1f}", r["status"],
                           f"{r['auto_score']:g} / {r['auto_max']:g}"]
                          for r in autograde["notebooks"]]
                         + [["whole course", f"{autograde['whole_course_seconds']:.1f}", "", ""]]),
                  ""]


def _reproducibility_section(repro: list[dict]) -> list[str]:
    """Section 6: the tolerances, and a second seeded run's numbers against the first."""
    out = ["## 6. Reproducibility", "",
           "Tolerances (absolute unless said): " + ", ".join(
               f"{k} {'±' + format(v, 'g') if k != 'FID' else '±' + format(v, '.0%') + ' relative'}"
               for k, v in TOLERANCES.items()) + ". On one machine with the same thread count, "
           "seeded CPU runs repeat bit for bit (`seed_everything` switches on PyTorch's "
           "deterministic algorithms where there is no GPU: without them notebook 03's echo "
           "sampler, whose indexing backward adds in thread order, moved the rate of one "
           "β by 0.86 nats between two runs); the tolerances are for another machine, thread "
           "count or a GPU.", ""]
    if not repro:
        return out + ["No second run given (`python -m dgm_staff.bench report --repeat DIR2`).",
                      ""]
    if any(r.get("earlier") for r in repro):
        out += ["Rows marked *earlier* are from the previous pair of runs: those notebooks "
                "were not run again for this report.", ""]
    return out + [_table(["budget", "metric", "run 1", "run 2", "difference", "within tolerance"],
                         [[r["budget"] + (" (*earlier*)" if r.get("earlier") else ""),
                           r["metric"], f"{r['run1']:.4g}", f"{r['run2']:.4g}",
                           f"{r['diff']:.3g}", "yes" if r["ok"] else "**no**"] for r in repro]),
                  ""]


def render(run: Path, dest: Path, repeat: Path | None = None) -> tuple[str, str]:
    """(report Markdown, README table Markdown): the header and summary, then one section per
    kind of measurement, each built by its own function."""
    run = Path(run)
    smoke, full = load_phase(run, "smoke"), load_phase(run, "full") or load_phase(run, "full.partial")
    throughput, profile = load_phase(run, "throughput"), load_phase(run, "profile")
    autograde = load_phase(run, "autograde")
    q = quality(run, "full")
    repro = merged_reproducibility(run, Path(repeat) if repeat else None,
                                   dest / "measurements.json")
    figs = _figures(run, dest, smoke, full, throughput, q)
    where = _machine_line(full, smoke, throughput, profile, autograde)
    summary = _table(["what", "measured"], summary_rows(smoke, full, throughput, profile,
                                                        autograde, q, repro), "ll")
    out = _header_section(where) + ["## Summary", "", summary, ""]
    out += _wall_section(smoke, full, figs)
    out += _throughput_section(throughput, figs)
    out += _quality_section(q, throughput, figs)
    out += _profile_section(profile, full, q)
    out += _autograde_section(autograde)
    out += grading_scale_block(dest)
    out += mutation_block(dest)
    out += _reproducibility_section(repro)
    readme = "\n".join([summary, "",
                        f"Machine: {where}. Full report: [benchmarks/REPORT.md]"
                        "(benchmarks/REPORT.md)."])
    return "\n".join(out), readme


GRADING_SCALE_BEGIN = "<!-- grading-scale: python -m dgm_staff.bench.cluster -->"
GRADING_SCALE_END = "<!-- /grading-scale -->"


def grading_scale_section(d: dict) -> str:
    """Section 5b, grading at scale, from ``benchmarks/grading_scale.json``."""
    rows = [[r["engine"], r["submissions"], f"{r['wall_s']:.1f}", f"{r['per_minute']:.1f}",
             f"{r['p50_s']:.1f}", f"{r['p95_s']:.1f}", ", ".join(r["statuses"])]
            for r in d["rows"]]
    per_nb = ", ".join(f"{k} {v:.1f} s" for k, v in d["per_notebook_s"].items())
    return "\n".join([
        "## 5b. Grading at scale (Dask)", "",
        f"`python -m dgm_staff.bench.cluster`, {d['date']}, {d['cpus']} CPU cores: the same "
        f"{d['students']} submissions of {d['notebook']} (reference, buggy and untouched in turn) "
        "graded by `grade_class` with the embedded cluster (1 and 2 workers) and through "
        "`--scheduler` on a `dask scheduler` with 2 `dask worker` processes on this machine. Wall "
        "time includes the release, the cluster's start and the merge; latency is one "
        "submission's grading on its worker (autograde and feedback).", "",
        _table(["engine", "submissions", "wall s", "per minute", "p50 s", "p95 s", "status"],
               rows), "",
        f"grades.csv identical across the three: {'yes' if d['grades_identical'] else '**no**'}.",
        "",
        f"**Projection** for 500 students × 6 notebooks (3000 submissions), from the measured "
        f"per-notebook autograde times of section 5 ({per_nb}; {d['course_s']:.1f} s per "
        "student). Assumptions: each worker has the two cores those times were measured with "
        "(so N workers need 2N cores), the work divides evenly, and the client's merge, the "
        "release and the cluster's start (seconds) are left out:", "",
        _table(["workers", "hours"], [[p["workers"], f"{p['hours']:.2f}"]
                                       for p in d["projection"]]), ""])


def grading_scale_block(dest: Path) -> list[str]:
    path = Path(dest) / "grading_scale.json"
    if not path.exists():
        return []
    return [GRADING_SCALE_BEGIN, grading_scale_section(json.loads(path.read_text())),
            GRADING_SCALE_END, ""]


def _put_block(report: Path, begin: str, end: str, block: list[str]) -> None:
    """Put the section between the markers ``begin`` and ``end`` into an existing ``REPORT.md``:
    in place of the one there, or before section 6."""
    text = Path(report).read_text()
    block = "\n".join(block)
    if begin in text:
        pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end) + "\n\n?", re.S)
        text = pattern.sub(lambda _: block + "\n", text)
    else:
        text = text.replace("## 6. Reproducibility", block + "\n## 6. Reproducibility", 1)
    Path(report).write_text(text)


def update_grading_scale(report: Path, data: Path) -> None:
    """Put section 5b into an existing ``REPORT.md`` (replacing it, or before section 6)."""
    _put_block(report, GRADING_SCALE_BEGIN, GRADING_SCALE_END,
               grading_scale_block(Path(data).parent))


MUTATION_BEGIN = "<!-- mutation-score: python -m dgm_staff.mutants --out benchmarks/MUTANTS.md -->"
MUTATION_END = "<!-- /mutation-score -->"


def mutation_block(dest: Path) -> list[str]:
    """Section 5c, the mutation score of the hidden checks, from the table of ``MUTANTS.md``."""
    path = Path(dest) / "MUTANTS.md"
    if not path.exists():
        return []
    table = [line for line in path.read_text().split("## Survivors")[0].splitlines()
             if line.startswith("|")]
    return [MUTATION_BEGIN, "## 5c. Mutation score of the graders", "",
            "`python -m dgm_staff.mutants` applies standard mutations (sign, sum vs mean, a "
            "missing detach, off by one, a constant return, a NaN return, a dropped term) to "
            "every graded reference function and runs each mutant against its hidden check; a "
            "mutant is killed when the check fails it. Survivors, and why each survives or what "
            "was done about it: [MUTANTS.md](MUTANTS.md).", "", *table, "", MUTATION_END, ""]


def update_mutation_score(report: Path) -> None:
    """Put section 5c into an existing ``REPORT.md`` (replacing it, or before section 6)."""
    report = Path(report)
    if report.exists():
        _put_block(report, MUTATION_BEGIN, MUTATION_END, mutation_block(report.parent))


def write_report(run: Path, dest: Path, repeat: Path | None = None,
                 readme: Path | None = None) -> Path:
    run, dest = Path(run).resolve(), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    repro = merged_reproducibility(run, Path(repeat) if repeat else None,
                                   dest / "measurements.json")
    text, table = render(run, dest, repeat)
    report = dest / "REPORT.md"
    report.write_text(text + "\n")
    phases = {p: load_phase(run, p) for p in PHASES}
    for budget in ("smoke", "full"):            # as re-read, like the report (no file paths)
        if phases[budget]:
            fresh = quality(run, budget)
            for name, row in phases[budget]["notebooks"].items():
                row["quality"] = fresh.get(name, row.get("quality", {}))
    phases["quality_full"] = quality(run, "full")
    phases["reproducibility"] = repro
    (dest / "measurements.json").write_text(json.dumps(phases, indent=1))
    if readme is not None:
        update_readme(Path(readme), table)
    return report


def update_readme(path: Path, table: str) -> None:
    """Replace what stands between the README's ``bench`` markers with ``table``."""
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{path} has no {README_BEGIN} … {README_END} markers: add them where "
                         "the benchmark table should go")
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    path.write_text(pattern.sub(lambda _: f"{README_BEGIN}\n{table}\n{README_END}", text))
