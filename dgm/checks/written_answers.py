"""Checks for written answers entered as sympy expressions, numbers or choices.

Answers are compared by mathematical equivalence, never by how they are written:
``(mu_phi - mu_p)**2 / (2*sigma**2)`` and ``(mu_p**2 - 2*mu_p*mu_phi + mu_phi**2) / (2*sigma**2)``
are the same answer.

The visible test cells use :func:`check_format` (the answer is filled in and has the right form);
:func:`check_expression`, :func:`check_number` and the choice checks take the expected answer as
an argument, which only the hidden test cells pass.
"""

from __future__ import annotations

import cmath
import decimal
import fractions
import numbers
import random
from typing import Any, Iterable, Mapping

import sympy as sp

from dgm.checks.common import CheckFailed


def _plain(what: str, answer: Any) -> Any:
    """An ordinary number as sympy reads it: ``Fraction(1, 2)`` as 1/2, ``Decimal('0.5')`` as the
    (rounded) number 0.5, a numpy scalar or 0-d array and a one-element tensor as their value.
    Anything else is returned unchanged."""
    if isinstance(answer, fractions.Fraction):
        return sp.Rational(answer.numerator, answer.denominator)
    if isinstance(answer, decimal.Decimal):
        if answer.is_nan():
            return sp.nan
        if answer.is_infinite():
            return -sp.oo if answer < 0 else sp.oo
        return sp.Float(str(answer), max(15, len(answer.as_tuple().digits)))
    if type(answer).__module__ == "numpy" or type(answer).__module__.startswith("torch"):
        shape = getattr(answer, "shape", None)
        if shape is not None and len(tuple(shape)) > 0:
            size = 1
            for n in tuple(shape):
                size *= int(n)
            if size != 1:
                raise CheckFailed(what, f"is a {type(answer).__name__} of shape "
                                        f"{tuple(shape)}, not a single number",
                                  "enter one number (e.g. 0.5, sp.sqrt(2)), not an array")
        item = getattr(answer, "item", None)
        if callable(item):
            try:
                value = item()
            except (TypeError, ValueError, RuntimeError):
                return answer
            if isinstance(value, bool) or not isinstance(value, numbers.Number):
                return answer
            return value
    return answer


def _as_expr(what: str, answer: Any, allowed: Iterable[sp.Symbol]) -> sp.Expr:
    allowed = list(allowed)
    if answer is None or answer is ...:
        raise CheckFailed(what, "has no answer yet",
                          "replace `None` (or `...`) with your expression")
    answer = _plain(what, answer)
    infinity = _infinity_word(answer)         # "inf", "∞", "-Infinity": read as as_number does
    if infinity is not None:
        return infinity
    if isinstance(answer, str):
        from sympy.parsing.sympy_parser import parse_expr, standard_transformations

        local = {str(s): s for s in allowed}
        try:
            answer = parse_expr(answer, local_dict=local, transformations=standard_transformations)
        except Exception as e:  # noqa: BLE001
            raise CheckFailed(what, f"could not be read as a formula ({e})",
                              "write it with the symbols given, e.g. `y_hat**x_j`") from None
    try:
        expr = sp.sympify(answer)
    except (sp.SympifyError, TypeError):
        raise CheckFailed(what, f"is a {type(answer).__name__}, not a formula",
                          "build the answer from the sympy symbols defined in the set-up cell"
                          ) from None
    names = {str(s) for s in allowed}
    unknown = sorted(str(s) for s in expr.free_symbols if str(s) not in names)
    if unknown:
        raise CheckFailed(what, f"uses the symbol(s) {', '.join(unknown)}, which the question "
                                "does not define",
                          f"use only {', '.join(sorted(names)) or 'numbers'}")
    # Match the student's symbols to ours by name, so that assumptions do not matter.
    by_name = {str(s): s for s in allowed}
    return expr.xreplace({s: by_name[str(s)] for s in expr.free_symbols})


def _points(symbols: list[sp.Symbol], trials: int, seed: int,
            ranges: Mapping[str, tuple[float, float]] | None):
    """``trials`` random points of the question's domain (positive symbols in (0.1, 0.9), the
    others in (-2, 2), unless ``ranges`` says otherwise)."""
    rng = random.Random(seed)
    for _ in range(trials):
        point = {}
        for sym in symbols:
            lo, hi = (ranges or {}).get(str(sym), (0.1, 0.9) if sym.is_positive else (-2.0, 2.0))
            point[sym] = sp.Float(rng.uniform(lo, hi))
        yield point


def _value(expr: sp.Expr, point: Mapping) -> complex:
    try:
        return complex(expr.evalf(subs=point))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return complex(float("nan"), 0.0)


def _agree(a: sp.Expr, b: sp.Expr, symbols: list[sp.Symbol], tolerance, trials: int = 12,
           ranges: Mapping[str, tuple[float, float]] | None = None) -> bool:
    """Whether ``a`` and ``b`` agree at random points: ``|a - b| <= tolerance(point, b)`` at every
    point where ``b`` is finite (NaN or an infinity in ``a`` there never agrees), and ``b`` is
    finite at one point at least."""
    compared = 0
    for point in _points(symbols, trials, 0, ranges):
        va, vb = _value(a, point), _value(b, point)
        if not cmath.isfinite(vb):
            continue                       # the reference is not defined there
        compared += 1
        if not (cmath.isfinite(va) and abs(va - vb) <= tolerance(point, vb)):
            return False
    return compared > 0


def _numerically_equal(a: sp.Expr, b: sp.Expr, symbols: list[sp.Symbol], trials: int = 12,
                       ranges: Mapping[str, tuple[float, float]] | None = None) -> bool:
    return _agree(a, b, symbols, lambda point, vb: 1e-9 * (1 + abs(vb)), trials, ranges)


def _equal_up_to_rounding(answer: sp.Expr, reference: sp.Expr, symbols: list[sp.Symbol],
                          ranges: Mapping[str, tuple[float, float]] | None = None,
                          rtol: float | None = None) -> bool:
    """Whether ``answer`` is ``reference`` with its float constants rounded as a numeric answer
    may be (:data:`NUMBER_RTOL`): at random points, ``|answer - reference|`` is at most what
    moving every float constant c by ``rtol * max(1, |c|)`` can change ``answer`` by (to first
    order). ``3*x + 0.3333`` for ``3*x + 1/3`` agrees; ``3*x + 0.3``, ``3*x - 0.3333`` and
    ``x + 0.3333`` do not."""
    rtol = NUMBER_RTOL if rtol is None else rtol
    constants = sorted(answer.atoms(sp.Float), key=lambda c: (abs(float(c)), float(c)))
    if not constants:
        return False
    stand_ins = [sp.Dummy(f"c{i}") for i in range(len(constants))]
    template = answer.xreplace(dict(zip(constants, stand_ins)))
    slopes = [sp.diff(template, c) for c in stand_ins]
    at_constants = dict(zip(stand_ins, constants))

    def tolerance(point, vb):
        full = {**point, **at_constants}
        allowed = 1e-9 * (1 + abs(vb))
        for c, slope in zip(constants, slopes):
            allowed += abs(_value(slope, full)) * rtol * max(1.0, abs(float(c)))
        return allowed if allowed == allowed else -1.0      # NaN slope: never agrees

    return _agree(answer, reference, symbols, tolerance, ranges=ranges)


def equivalent(answer: sp.Expr, reference: sp.Expr, symbols: list[sp.Symbol],
               ranges: Mapping[str, tuple[float, float]] | None = None) -> bool:
    """True when ``answer`` and ``reference`` are the same function of ``symbols``; float
    constants in ``answer`` may be rounded as a numeric answer may be (:data:`NUMBER_RTOL`)."""
    diff = sp.simplify(answer - reference)
    if diff == 0:
        return True
    if not _numerically_equal(answer, reference, symbols, ranges=ranges):
        # A constant rounded inside a formula (``3*x + 0.3333`` for ``3*x + 1/3``) is
        # judged like the rounded number alone.
        return answer.has(sp.Float) and _equal_up_to_rounding(answer, reference, symbols,
                                                               ranges=ranges)
    if answer.has(sp.Float) or answer.has(sp.Piecewise):
        # A float constant (``np.sqrt(3)``) cannot be proved equal to sqrt(3), and sympy's own
        # results (``sp.summation`` gives a Piecewise over the domain) resist simplification:
        # agreement at random points of the question's domain decides.
        return True
    proved = diff.equals(0)
    return True if proved is None else bool(proved)


def check_expression(what: str, answer: Any, reference: sp.Expr, symbols: Iterable[sp.Symbol],
                     hint: str, on: Mapping[sp.Symbol, Iterable] | None = None) -> None:
    """Fail unless ``answer`` equals ``reference`` as a function of ``symbols``.

    ``on`` restricts the comparison to given values of some symbols (for a Bernoulli likelihood,
    x_j ∈ {0, 1}), so that every formula that agrees there is accepted.
    """
    symbols = list(symbols)
    expr = _as_expr(what, answer, symbols)
    if on:
        (sym, values), = on.items()
        rest = [s for s in symbols if s != sym]
        for value in values:
            if not equivalent(expr.subs(sym, value), reference.subs(sym, value), rest):
                raise CheckFailed(what, f"is not right when {sym} = {value}", hint)
        return
    if not equivalent(expr, reference, symbols):
        raise CheckFailed(what, "is not equivalent to the expected result", hint)


#: Relative precision a numeric answer (or a float constant in a formula) is accepted with: four
#: significant digits; exact values are always accepted.
NUMBER_RTOL = 5e-4
_INFINITY_WORDS = {"inf", "infinity", "oo", "∞"}


def _infinity_word(answer: Any) -> sp.Expr | None:
    """±∞ for a string spelling of it (``"inf"``, ``"+Infinity"``, ``"-oo"``, ``"∞"``), else
    ``None``."""
    if not isinstance(answer, str):
        return None
    word = answer.strip().lower()
    sign = -1 if word.startswith("-") else 1
    return sign * sp.oo if word.lstrip("+-").strip() in _INFINITY_WORDS else None


def as_number(what: str, answer: Any) -> sp.Expr:
    """A numeric answer as a sympy number: an int, a float (``math.sqrt(2)``), a ``Fraction``, a
    ``Decimal``, a numpy scalar, a one-element tensor, a sympy expression without symbols, or a
    string. ``sp.oo``, ``sp.zoo`` (what ``-sp.log(0)`` gives), ``float("inf")`` and ``"inf"`` all
    read as +∞; NaN is refused."""
    if answer is None or answer is ...:
        raise CheckFailed(what, "has no answer yet", "replace `None` with your value")
    answer = _plain(what, answer)
    infinity = _infinity_word(answer)
    if infinity is not None:
        return infinity
    try:
        value = sp.sympify(answer)
    except (sp.SympifyError, TypeError, ValueError):
        raise CheckFailed(what, f"is a {type(answer).__name__}, not a number",
                          "enter a number, sp.oo or a sympy expression without symbols"
                          ) from None
    if not isinstance(value, sp.Expr):
        raise CheckFailed(what, f"is a {type(answer).__name__}, not a number",
                          "enter a single number")
    if value.free_symbols:
        raise CheckFailed(what, "contains symbols", "enter a number (e.g. sp.sqrt(2), sp.oo)")
    if value is sp.nan or value.has(sp.nan):
        raise CheckFailed(what, "is NaN (not a number)",
                          "enter the value itself; NaN usually comes from 0/0 or inf - inf")
    if value is sp.zoo:
        return sp.oo
    if value.is_infinite:
        return sp.oo if value.is_extended_positive is not False else -sp.oo
    try:
        number = complex(value.evalf())
    except (TypeError, ValueError):
        raise CheckFailed(what, f"{value} could not be evaluated to a number",
                          "enter a number") from None
    if number != number:           # NaN after evaluation
        raise CheckFailed(what, "is NaN (not a number)", "enter the value itself")
    return value


def check_number(what: str, answer: Any, reference: Any, hint: str,
                 rtol: float = NUMBER_RTOL) -> None:
    """Fail unless the numeric ``answer`` is ``reference``: exactly for ±∞, else to ``rtol``
    relative precision (absolute below 1)."""
    value = as_number(what, answer)
    reference = sp.sympify(reference)
    if reference.is_infinite or value.is_infinite:
        if value != reference:
            raise CheckFailed(what, f"{value} is not right", hint)
        return
    a, b = complex(value.evalf()), complex(reference.evalf())
    if not (cmath.isfinite(a) and abs(a - b) <= rtol * max(1.0, abs(b))):
        raise CheckFailed(what, f"{value} is not right", hint)


def check_choice(what: str, answer: Any, correct: str, options: Iterable[str], hint: str,
                 also_right: Iterable[str] = ()) -> None:
    """One letter among ``options``: ``correct``, or one of ``also_right`` (options that are
    defensible too)."""
    options = [o.upper() for o in options]
    if not isinstance(answer, str) or answer.strip().upper() not in options:
        raise CheckFailed(what, f"{answer!r} is not one of the options",
                          f"set it to one of {', '.join(repr(o) for o in options)}")
    if answer.strip().upper() not in {correct.upper(), *(o.upper() for o in also_right)}:
        raise CheckFailed(what, f"option {answer.strip().upper()!r} is not right", hint)


def check_choices(what: str, answer: Any, correct: Iterable[str], options: Iterable[str],
                  hint: str) -> None:
    """A set of letters: all the true statements and none of the false ones."""
    options = {o.upper() for o in options}
    if isinstance(answer, str):
        answer = [answer]
    try:
        chosen = {str(a).strip().upper() for a in answer}
    except TypeError:
        raise CheckFailed(what, f"{answer!r} is not a set of options",
                          "write a set of letters, e.g. {'A', 'C'}") from None
    if not chosen <= options:
        raise CheckFailed(what, f"{sorted(chosen - options)} are not options",
                          f"choose among {sorted(options)}")
    correct = {c.upper() for c in correct}
    if chosen != correct:
        missing, extra = len(correct - chosen), len(chosen - correct)
        raise CheckFailed(what, f"{extra} chosen statement(s) are false and {missing} true "
                                "statement(s) are missing", hint)


def check_format(what: str, answer: Any, *, symbols: Iterable[sp.Symbol] = (),
                 options: Iterable[str] = (), many: bool = False) -> None:
    """The visible check of a written answer: it is filled in and has the right form.

    It says nothing about whether the answer is right; the hidden check does that.
    """
    options = list(options)
    if not options:
        expr = _as_expr(what, answer, symbols)
        if expr.has(sp.nan):
            raise CheckFailed(what, "is NaN (not a number)",
                              "enter the value itself; NaN usually comes from 0/0 or inf - inf")
        return
    if many:
        chosen = {answer} if isinstance(answer, str) else answer
        if chosen is None or not hasattr(chosen, "__iter__"):
            raise CheckFailed(what, "has no answer yet", "write a set of letters, e.g. {'A'}")
        bad = sorted(str(a) for a in chosen if str(a).strip().upper() not in options)
        if bad or not chosen:
            raise CheckFailed(what, f"{bad or 'an empty set'} is not a choice of options",
                              f"choose among {options}")
    elif not isinstance(answer, str) or answer.strip().upper() not in options:
        raise CheckFailed(what, f"{answer!r} is not one of the options",
                          f"set it to one of {options}")
