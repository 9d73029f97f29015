"""What every check shares: its failure type, tensor comparisons, and isolation of a function.

The comparison helpers are bound when this module is imported, before any student code runs, so
that a notebook that later replaces ``torch.allclose`` or ``numpy.allclose`` does not change what
the checks see.
"""

from __future__ import annotations

import math
import types
import warnings
from typing import Any, Callable

import numpy as _np
import torch as _torch

# Bound at import time on purpose (see the module docstring).
_np_asarray = _np.asarray
_np_abs = _np.abs
_np_isfinite = _np.isfinite
_np_max = _np.max
_np_float64 = _np.float64


class CheckFailed(AssertionError):
    """A graded check found a mistake; the message says what is wrong and how to fix it."""

    def __init__(self, what: str, problem: str, hint: str = ""):
        self.what, self.problem, self.hint = what, problem, hint
        text = f"{what}: {problem}"
        if hint:
            text += f"\n  How to fix: {hint}"
        super().__init__(text)


def to_numpy(x: Any) -> _np.ndarray:
    """A float64 NumPy copy of a tensor, array or number (detached, on the CPU)."""
    if isinstance(x, _torch.Tensor):
        x = x.detach().to("cpu", _torch.float64).numpy()
    return _np_asarray(x, dtype=_np_float64).copy()


def max_abs_diff(a: Any, b: Any) -> float:
    a, b = to_numpy(a), to_numpy(b)
    if a.shape != b.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    both_inf = (~_np_isfinite(a)) & (~_np_isfinite(b)) & (a == b)
    diff = _np_abs(a - b)
    diff[both_inf] = 0.0
    diff[_np.isnan(diff)] = math.inf
    return float(_np_max(diff))


def close(a: Any, b: Any, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    """Same shape and ``|a - b| <= atol + rtol * |b|`` everywhere (NaN never matches)."""
    a, b = to_numpy(a), to_numpy(b)
    if a.shape != b.shape:
        return False
    if _np.isnan(a).any() or _np.isnan(b).any():
        return False
    same_inf = (~_np_isfinite(a)) & (a == b)
    ok = (_np_abs(a - b) <= atol + rtol * _np_abs(b)) | same_inf
    return bool(ok.all())


def explain_mismatch(what: str, out: Any, known: list[tuple[Any, str, str]], problem: str,
                     hint: str, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """Raise for a wrong ``out``: name the first known mistake it matches, else ``problem``.

    ``known`` lists ``(what that mistake would return, problem, hint)``.
    """
    for candidate, known_problem, known_hint in known:
        if close(out, candidate, atol=atol, rtol=rtol):
            raise CheckFailed(what, known_problem, known_hint)
    raise CheckFailed(what, problem, hint)


def require_tensor(what: str, value: Any, shape: tuple[int, ...] | None = None,
                   hint_shape: str = "") -> _torch.Tensor:
    """Fail unless ``value`` is a tensor of ``shape`` (if given)."""
    if not isinstance(value, _torch.Tensor):
        raise CheckFailed(what, f"returned a {type(value).__name__}, expected a torch.Tensor",
                          "compute with torch operations on the input tensors and return the "
                          "result (not a NumPy array, a list or a Python number)")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailed(what, f"returned shape {tuple(value.shape)}, expected {tuple(shape)}",
                          hint_shape)
    return value


def call(what: str, fn: Callable, *args, **kwargs):
    """Call the student's function, turning a crash into a message that names the call.

    Warnings raised inside it are silenced (see the comment below).
    """
    if fn is None or not callable(fn):
        raise CheckFailed(what, "is not defined (or is not a function)",
                          "run the cell that defines it first, and keep the name unchanged")
    try:
        # nbgrader scores a test cell 0 if it writes anything to stderr: a harmless warning
        # raised by correct student code must not cost points.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(what, "is not implemented yet",
                          "replace `raise NotImplementedError()` with your code") from None
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001 - any crash becomes a graded failure with context
        shapes = ", ".join(tuple(a.shape).__repr__() if isinstance(a, _torch.Tensor) else
                           type(a).__name__ for a in args)
        raise CheckFailed(what, f"raised {type(e).__name__}: {e} (called with {shapes})",
                          "read the error above and test your function on inputs of these "
                          "shapes") from None


def with_globals(fn: Callable, **replacements: Callable) -> Callable:
    """A copy of ``fn`` that sees ``replacements`` instead of the global names it uses.

    Used to grade one function on its own: ``elbo_loss`` is checked with the reference
    log-densities, so that a mistake in ``logpdf_bernoulli`` costs points once, not twice.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    g = dict(fn.__globals__)
    g.update(replacements)
    copy = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def generator(seed: int) -> _torch.Generator:
    return _torch.Generator().manual_seed(seed)


def backward(what: str, loss, hint: str) -> None:
    """``loss.backward()``, failing with ``hint`` when the loss carries no graph."""
    if not isinstance(loss, _torch.Tensor) or not loss.requires_grad:
        raise CheckFailed(what, "returned a value without a computation graph (detached, or "
                                "computed under no_grad)", hint)
    loss.backward()
