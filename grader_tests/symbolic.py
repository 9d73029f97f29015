"""Checks for written answers: the student-side module :mod:`dgm.checks.symbolic` (format checks
and the equivalence machinery, which take the expected answer as an argument), re-exported."""

from dgm.checks.symbolic import *  # noqa: F401,F403
from dgm.checks.symbolic import _as_expr, _numerically_equal  # noqa: F401
