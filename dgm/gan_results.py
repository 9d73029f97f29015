"""The GAN notebooks' results on disk: the rows of the comparison tables that one notebook saves
and a later one reads (with the provenance of the run, :mod:`dgm.artifacts`), and the course's
own measurement of what the gradient penalty buys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from dgm.artifacts import read_json, write_json


@dataclass(frozen=True)
class GanResult:
    """One trained generator, as the comparison tables show it."""

    name: str
    epochs: int
    seconds: float
    inception_score: float
    inception_score_std: float
    fid: float
    d_steps: int
    g_steps: int
    classes: int = 10              # digit classes with at least 2 % of the samples


def save_results(results: list[GanResult], path: Path, provenance: dict | None = None) -> Path:
    """Save results for a later notebook, with the provenance of the run that made them
    (:func:`dgm.artifacts.provenance`)."""
    return write_json(path, [asdict(r) for r in results], provenance)


def load_results(path: Path) -> list[GanResult]:
    """Results saved by another notebook; ``[]`` if that notebook has not been run yet."""
    if not Path(path).exists():
        return []
    return [GanResult(**row) for row in read_json(Path(path))[0]]


def format_results(results: list[GanResult]) -> str:
    header = (f"{'generator':<22} {'epochs':>6} {'wall s':>8} {'D/critic steps':>14} "
              f"{'G steps':>8} {'IS':>12} {'FID':>8} {'classes':>8}")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r.name:<22} {r.epochs:>6} {r.seconds:>8.0f} {r.d_steps:>14} "
                     f"{r.g_steps:>8} {r.inception_score:>6.2f} ± {r.inception_score_std:<4.2f}"
                     f"{r.fid:>8.2f} {r.classes:>8}")
    return "\n".join(lines)


COURSE_PENALTY_COMPARISON = Path(__file__).resolve().parent / "assets" / "gan_vs_wgan.json"


def course_penalty_comparison() -> tuple[dict, dict]:
    """The course's measurement of what the gradient penalty buys (``dgm_staff.bench.
    gan_diagnosis stability``): per seed, at a reduced budget on a 2-core CPU, WGAN-GP against
    the plain GAN on the same networks at equal training time, and on the second seed's fully
    connected networks. Returns the table and its provenance."""
    table, record = read_json(COURSE_PENALTY_COMPARISON)
    return table, record or {}


def format_penalty_comparison(table: dict) -> str:
    """The comparison as text: one line per networks, loss and seed, then the mean over seeds."""
    header = (f"{'networks':<26} {'loss':<8} {'seed':>4} {'epochs':>6} {'train s':>8} "
              f"{'IS':>6} {'FID':>7} {'classes':>8}")
    lines = [header, "-" * len(header)]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in table["rows"]:
        groups.setdefault((row["networks"], row["loss"]), []).append(row)
    for (networks, loss), rows in groups.items():
        for r in rows:
            lines.append(f"{networks:<26} {loss:<8} {r['seed']:>4} {r['epochs']:>6} "
                         f"{r['seconds']:>8.0f} {r['IS']:>6.2f} {r['FID']:>7.0f} "
                         f"{r['classes']:>8}")
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("seconds", "IS", "FID")}
        lines.append(f"{'':<26} {'mean':<8} {'':>4} {'':>6} {mean['seconds']:>8.0f} "
                     f"{mean['IS']:>6.2f} {mean['FID']:>7.0f}")
    return "\n".join(lines)
