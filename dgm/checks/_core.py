"""What every check shares: its failure type, tensor comparisons, isolation of a function, the
recorded values the visible checks compare with, and the two ways a check takes gradients of
what the student's code returned (:func:`backward` and :func:`grad`).

The comparison helpers are bound when this module is imported, before any student code runs, so
that a notebook that later replaces ``torch.allclose`` or ``numpy.allclose`` does not change what
the checks see. For the same reason the recorded values (``expected.pt``) are read at import.

Checks call the student's code only through :func:`call`, and take gradients of the values it
returned only through :func:`backward` and :func:`grad`.
"""

from __future__ import annotations

import math
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

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

    Used to grade one function on its own: ``elbo_loss`` is checked with stand-ins for the
    log-densities (:func:`replay` in the visible checks, the references in the hidden ones), so
    that a mistake in ``logpdf_bernoulli`` costs points once, not twice.
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




# ------------------------------------------------------------------------ gradients -----------
#: Set by the staff's grader when the student's code runs in another process: gradients of the
#: values that code returned are then taken there (see ``dgm_staff.judge``). ``None`` otherwise.
REMOTE = None

_REDUCTIONS = (None, "sum", "mean")


def _reduced(value: _torch.Tensor, reduce: str | None) -> _torch.Tensor:
    if reduce not in _REDUCTIONS:
        raise ValueError(f"reduce must be one of {_REDUCTIONS}, not {reduce!r}")
    if reduce == "sum":
        return value.sum()
    if reduce == "mean":
        return value.mean()
    return value


def _require_graph(what: str, value: Any, hint: str) -> None:
    if not isinstance(value, _torch.Tensor) or not value.requires_grad:
        raise CheckFailed(what, "returned a value without a computation graph (detached, or "
                                "computed under no_grad)", hint)


def backward(what: str, loss, hint: str, reduce: str | None = None) -> None:
    """``loss.backward()`` (``loss.sum().backward()`` with ``reduce="sum"``) for a value the
    student's code returned, failing with ``hint`` when it carries no graph."""
    _require_graph(what, loss, hint)
    if REMOTE is not None and REMOTE.backward(loss, reduce):
        return
    target = _reduced(loss, reduce)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target.backward()
    except Exception as e:  # noqa: BLE001 - the student's graph failed: a graded failure
        raise CheckFailed(what, f"backward() through the returned value raised "
                                f"{type(e).__name__}: {e}", hint) from None


def grad(what: str, output, inputs: Iterable[_torch.Tensor], hint: str,
         reduce: str | None = None) -> tuple:
    """``torch.autograd.grad(output, inputs, allow_unused=True)`` for a value the student's code
    returned: one gradient per input, ``None`` for an input the output does not depend on."""
    _require_graph(what, output, hint)
    inputs = tuple(inputs)
    if REMOTE is not None:
        grads = REMOTE.grad(output, inputs, reduce)
        if grads is not None:
            return tuple(grads)
    target = _reduced(output, reduce)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tuple(_torch.autograd.grad(target, inputs, allow_unused=True))
    except Exception as e:  # noqa: BLE001 - the student's graph failed: a graded failure
        raise CheckFailed(what, f"taking the gradient of the returned value raised "
                                f"{type(e).__name__}: {e}", hint) from None


# ------------------------------------------------------------------------ recorded values -----
#: The values the visible checks compare with, recorded by the staff from their references on
#: the visible inputs (``python -m grader_tests.record_expected``): the right results and those
#: of the usual mistakes. Read once, at import.
EXPECTED_FILE = Path(__file__).resolve().with_name("expected.pt")


def _read_expected() -> dict:
    try:
        return _torch.load(EXPECTED_FILE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return {}


_EXPECTED = _read_expected()


def expected(notebook: str, name: str) -> dict[str, _torch.Tensor]:
    """A fresh copy of the values recorded for the visible check ``name`` of ``notebook``."""
    try:
        values = _EXPECTED[notebook][name]
    except KeyError:
        raise CheckFailed(name, "the check cannot find the values it compares with "
                                "(dgm/checks/expected.pt)",
                          "restore the course's dgm package (e.g. `pip install -e .` in the "
                          "course folder) and restart the kernel") from None
    return {key: value.clone() for key, value in values.items()}


def known_mistakes(values: Mapping[str, Any], mistakes: Mapping[str, tuple[str, str]]
                   ) -> list[tuple[Any, str, str]]:
    """``(value, problem, hint)`` for :func:`explain_mismatch`: each mistake of ``mistakes``
    (name -> (problem, hint), in the order they are tried) whose value ``values`` holds."""
    return [(values[name], problem, hint) for name, (problem, hint) in mistakes.items()
            if name in values]


def _same(a: Any, b: _torch.Tensor) -> bool:
    try:
        if not isinstance(a, _torch.Tensor):
            a = _torch.as_tensor(a, dtype=b.dtype)
        a = a.detach().to("cpu", b.dtype)
        shape = _torch.broadcast_shapes(a.shape, b.shape)
        return bool(_torch.equal(a.broadcast_to(shape), b.broadcast_to(shape)))
    except (RuntimeError, TypeError, ValueError):
        return False


def replay(names: tuple[str, ...], calls: list[tuple[tuple, _torch.Tensor]]) -> Callable:
    """A stand-in for a helper that the checked function calls (``elbo_loss`` calls
    ``logpdf_bernoulli``), so that the function is judged on its own.

    It returns the recorded result for the recorded inputs (equal up to broadcasting, given by
    position or by the helper's parameter ``names``) and NaN for any other input: it knows the
    answers on the check's inputs only, and computes nothing.
    """
    def stand_in(*args, **kwargs):
        given = list(args) + [kwargs[n] for n in names[len(args):] if n in kwargs]
        for inputs, result in calls:
            if len(given) == len(inputs) and all(_same(a, b) for a, b in zip(given, inputs)):
                return result.clone()
        first = given[0] if given and isinstance(given[0], _torch.Tensor) else None
        shape = tuple(first.shape[:-1]) if first is not None and first.dim() > 0 else ()
        return _torch.full(shape, float("nan"))
    return stand_in


def set_parameters(layers: Iterable[_torch.nn.Module], seed: int) -> None:
    """Give the weights of ``layers`` fixed uniform values (in the Kaiming bound, drawn in the
    order of the layers) and their biases zero, so that a forward pass can be compared with
    values recorded for the same weights, whatever the student's initialisation."""
    g = generator(seed)
    with _torch.no_grad():
        for layer in layers:
            weight = getattr(layer, "weight", None)
            if not isinstance(weight, _torch.Tensor):
                continue
            bound = math.sqrt(6.0 / weight[0].numel())
            weight.copy_((_torch.rand(weight.shape, generator=g) * 2 - 1) * bound)
            if isinstance(getattr(layer, "bias", None), _torch.Tensor):
                layer.bias.zero_()
