"""Checks for written answers: the student-side module :mod:`dgm.checks.written_answers`
(format checks and the equivalence machinery, which take the expected answer as an argument),
re-exported.

When grading, the answer comes from the student's kernel through the judge: numbers, sympy
expressions and tensors arrive as themselves, but a ``fractions.Fraction`` or a
``decimal.Decimal`` may arrive as an opaque stand-in that shows its type and ``repr`` only. The
checks here read those back (:func:`from_kernel`) before the student-side checks see them, so that
``Fraction(1, 2)`` and ``Decimal('0.5')`` are judged as in the kernel.
"""

from __future__ import annotations

import decimal
import fractions
import re
from typing import Any

from dgm.checks import written_answers as _visible
from dgm.checks.written_answers import *  # noqa: F401,F403
from dgm.checks.written_answers import (_as_expr, _equal_up_to_rounding,  # noqa: F401
                                        _numerically_equal, _plain)

_FRACTION = re.compile(r"Fraction\(\s*(-?\d+)\s*,\s*(\d+)\s*\)")
_DECIMAL = re.compile(r"Decimal\(\s*'([^']{1,200})'\s*\)")


def from_kernel(answer: Any) -> Any:
    """``answer``, with a ``Fraction`` or ``Decimal`` that reached the judge as an opaque
    stand-in (its type name and ``repr``) read back as one; anything else unchanged."""
    if type(answer).__name__ != "Opaque":
        return answer
    kind, text = getattr(answer, "type_name", None), getattr(answer, "text", None)
    if not isinstance(text, str):
        return answer
    if kind == "Fraction":
        match = _FRACTION.fullmatch(text.strip())
        if match and int(match[2]) != 0:
            return fractions.Fraction(int(match[1]), int(match[2]))
    if kind == "Decimal":
        match = _DECIMAL.fullmatch(text.strip())
        if match:
            try:
                return decimal.Decimal(match[1])
            except decimal.InvalidOperation:
                return answer
    return answer


def check_format(what: str, answer: Any, **kwargs) -> None:
    _visible.check_format(what, from_kernel(answer), **kwargs)


def check_expression(what: str, answer: Any, *args, **kwargs) -> None:
    _visible.check_expression(what, from_kernel(answer), *args, **kwargs)


def check_number(what: str, answer: Any, *args, **kwargs) -> None:
    _visible.check_number(what, from_kernel(answer), *args, **kwargs)


def as_number(what: str, answer: Any):
    return _visible.as_number(what, from_kernel(answer))
