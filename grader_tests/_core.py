"""What every check shares: the student-side module :mod:`dgm.checks._core`, re-exported (it holds
no answer: the failure type, comparisons, isolation, and the gradient helpers)."""

from dgm.checks._core import *  # noqa: F401,F403
from dgm.checks._core import (_EXPECTED, _np_abs, _np_asarray, _np_float64,  # noqa: F401
                              _np_isfinite, _np_max, _same)
