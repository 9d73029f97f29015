"""Mutation test of the graders on a fast scope: every ast mutant of notebook 02's graded functions
(and of notebook 04's d_loss, the fast function that has a ``.detach()`` to drop) is killed by
the hidden check, or is listed below as equivalent."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm_staff import mutants as mut

SCOPE = [("02_beta_vae", "kl_diagonal_gaussian"), ("02_beta_vae", "beta_vae_loss"),
         ("02_beta_vae", "log_aggregate_posterior"), ("04_gan", "d_loss")]

# Equivalent mutants, by (function, "old -> new" diff). Each one computes the same function on
# every input the documented contract allows, so no check can (or should) kill it.
EQUIVALENT = {
    # The docstring fixes mu and sigma_square to [batch, D]: on 2-D tensors dimension 1 *is*
    # dimension -1, so dropping the unary minus of sum(-1) changes nothing.
    ("kl_diagonal_gaussian",
     "return 0.5 * (sigma_square + mu ** 2 - 1 - torch.log(sigma_square)).sum(-1)  ->  "
     "return 0.5 * (sigma_square + mu ** 2 - 1 - torch.log(sigma_square)).sum(1)"),
    # Same reason: x and x_recon are [batch, D], so sum(1) == sum(-1).
    ("beta_vae_loss",
     "distortion = ((x - x_recon) ** 2).sum(-1)  ->  distortion = ((x - x_recon) ** 2).sum(1)"),
}


@pytest.fixture(scope="module")
def results():
    out = []
    for notebook, function in SCOPE:
        mutants, skipped = mut.run_function(notebook, function)
        assert not skipped, f"{notebook}:{function} skipped: {skipped}"
        out += mutants
    return out


def test_every_kind_is_generated(results):
    kinds = {m.kind for m in results}
    assert kinds == set(mut.KINDS), f"no mutant of kind {set(mut.KINDS) - kinds}"
    assert len(results) >= 30


def test_mutants_are_killed_or_equivalent(results):
    survivors = [m for m in results if m.status == "survived"]
    unexplained = [f"{m.label}: {m.diff}" for m in survivors
                   if (m.function, m.diff) not in EQUIVALENT]
    assert not unexplained, "surviving mutants:\n" + "\n".join(unexplained)


def test_allow_list_is_not_stale(results):
    generated = {(m.function, m.diff) for m in results}
    assert EQUIVALENT <= generated, EQUIVALENT - generated


def test_mutation_is_one_site():
    """A mutant differs from the reference on exactly one line."""
    for m in mut.generate("02_beta_vae", "beta_vae_loss"):
        old, new = m.diff.split("  ->  ")
        assert " | " not in old and " | " not in new and old != new


def test_the_benchmark_report_shows_the_mutation_table(tmp_path):
    from dgm_staff.bench import report

    (tmp_path / "MUTANTS.md").write_text(
        "# Mutation test\n\n| notebook | mutants | killed | survived | score |\n|---|---|---|---|---|\n"
        "| 01_vae | 10 | 9 | 1 | 90% |\n\n## Survivors\n\n- `x`\n")
    (tmp_path / "REPORT.md").write_text("# Report\n\n## 5. Autograde\n\n## 6. Reproducibility\n")
    report.update_mutation_score(tmp_path / "REPORT.md")
    first = (tmp_path / "REPORT.md").read_text()
    assert "| 01_vae | 10 | 9 | 1 | 90% |" in first
    assert first.index("5c. Mutation score") < first.index("## 6. Reproducibility")
    (tmp_path / "MUTANTS.md").write_text((tmp_path / "MUTANTS.md").read_text()
                                         .replace("| 9 | 1 | 90%", "| 10 | 0 | 100%"))
    report.update_mutation_score(tmp_path / "REPORT.md")
    second = (tmp_path / "REPORT.md").read_text()
    assert "| 01_vae | 10 | 10 | 0 | 100% |" in second and "90%" not in second
    assert second.count("5c. Mutation score") == 1


def test_the_committed_report_is_in_step_with_the_mutation_table():
    root = Path(__file__).resolve().parent.parent / "benchmarks"
    rows = [line for line in (root / "MUTANTS.md").read_text().split("## Survivors")[0]
            .splitlines() if line.startswith("| 0")]
    assert rows and all(row in (root / "REPORT.md").read_text() for row in rows)
