"""The inputs a hidden check draws at grading time: the seed, drawn when the check runs, and the
note a failure on those inputs carries. What every check shares otherwise (the failure type,
comparisons, isolation and the gradient helpers) is the student-side :mod:`dgm.checks.common`."""

import contextlib
import secrets

from dgm.checks.common import CheckFailed


def grading_seed() -> int:
    """A seed drawn when the check runs: the hidden checks also judge inputs that no recorded
    answer (``dgm/checks/expected.pt``, shipped to students) knows."""
    return secrets.randbelow(2 ** 31 - 2) + 1


@contextlib.contextmanager
def on_fresh_inputs(seed: int):
    """A failure inside says that the inputs were drawn at grading time, and with which seed."""
    try:
        yield
    except CheckFailed as e:
        problem = f"{e.problem} (on inputs drawn at grading time, seed {seed})"
        raise CheckFailed(e.what, problem, e.hint) from None
