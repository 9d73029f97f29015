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


#: Whether :func:`call` silences warnings raised inside a student's function (it always does
#: when grading; the course's own tests switch it off to prove the reference solutions raise none).
SILENCE_STUDENT_WARNINGS = True


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
            if SILENCE_STUDENT_WARNINGS:
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

    The notebook's other functions that ``fn`` may call (a helper of the student's own that
    calls ``logpdf_bernoulli``) see the replacements too. When the student's code runs in another
    process (the staff's grader), the copy is made there and its replacements answer from this
    one (:data:`REMOTE`).
    """
    if not isinstance(fn, types.FunctionType):
        swap = getattr(REMOTE, "with_globals", None)
        return swap(fn, replacements) if swap is not None else fn
    return swap_globals(fn, replacements)


def swap_globals(fn: types.FunctionType,
                 replacements: Mapping[str, Any]) -> types.FunctionType:
    """:func:`with_globals` for a function of this process. A decorated function (``@torch.
    no_grad()``, ``functools.wraps``) is copied through its closure, so that the function it
    wraps sees the replacements too.

    Self-contained on purpose: the staff's grader sends this function's source, from its own copy
    of this module, to its agent in the student's kernel (``dgm_staff.judge.AGENT_SOURCE``)."""
    import inspect
    import types

    old = getattr(inspect.unwrap(fn), "__globals__", fn.__globals__)
    new = dict(old)
    new.update(replacements)
    memo: dict[int, types.FunctionType] = {}

    def copy(f: types.FunctionType) -> types.FunctionType:
        if id(f) in memo:
            return memo[id(f)]
        closure = f.__closure__
        if closure:
            cells = []
            for cell in closure:
                try:
                    inner = cell.cell_contents
                except ValueError:          # an empty cell
                    cells.append(cell)
                    continue
                cells.append(types.CellType(copy(inner)) if isinstance(
                    inner, types.FunctionType) and inner is not f else cell)
            closure = tuple(cells)
        out = types.FunctionType(f.__code__, new if f.__globals__ is old else f.__globals__,
                                 f.__name__, f.__defaults__, closure)
        out.__kwdefaults__ = f.__kwdefaults__
        out.__qualname__ = f.__qualname__
        out.__dict__.update(f.__dict__)
        memo[id(f)] = out
        return out

    for name, value in old.items():
        if isinstance(value, types.FunctionType) and name not in replacements and \
                getattr(inspect.unwrap(value), "__globals__", None) is old:
            new[name] = copy(value)
    return copy(fn)


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
            if SILENCE_STUDENT_WARNINGS:
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
            if SILENCE_STUDENT_WARNINGS:
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


# ------------------------------------------------------------------------ devices -------------
# The notebooks run on CUDA, Apple's MPS or the CPU, whichever is there; the checks run on the
# CPU. A device check runs the student's function once more with its tensor arguments (and the
# check's test networks) on another device, so that a tensor the function creates on the CPU
# (torch.zeros(D), torch.randn(mu.shape), torch.linspace(0, 1, n)) fails here as it would on a
# GPU. No GPU is needed:
#
# * first on the *meta* device (shapes and dtypes, no data), whose rules for mixing devices are a
#   GPU's: a CPU tensor with dimensions may not meet it, a 0-dim CPU tensor (a constant) may;
# * where meta tensors cannot run the function (``.item()``, ``float(x)``, an ``if`` on values,
#   ``torch.distributions`` validating their arguments), on the *stand-in*: real CPU values that
#   say they are on the meta device (:class:`StandIn`). While the function runs (under
#   :class:`_StandInMode`), tensors it creates on ``x.device`` (``device=x.device``,
#   ``.to(x.device)``) become stand-ins too, and an operation that meets a stand-in and a CPU
#   tensor fails where the same operation on meta tensors fails.

#: The device a device check puts the inputs on (see above).
OTHER_DEVICE = _torch.device("meta")
#: Said with every device check's hint.
GLOBAL_DEVICE = ("Take the device from the inputs (x.device): the notebook's global "
                 "`device` need not be theirs")

#: Words of PyTorch's errors for tensors on two devices (a GPU gives the same ones).
_DEVICE_ERRORS = ("same device", "expected device", "device type tensor to numpy",
                  "indices should be either on")


def mixes_devices(error: BaseException | str) -> bool:
    """Whether an error (a check's failure, or PyTorch's) is about tensors on two devices."""
    text = str(error).lower()
    return any(words in text for words in _DEVICE_ERRORS)


class StandIn(_torch.Tensor):
    """A CPU tensor that says it lives on :data:`OTHER_DEVICE` (see the comment above)."""

    @property
    def device(self):  # noqa: D401 - a tensor's attribute
        return OTHER_DEVICE

    def __reduce_ex__(self, protocol):
        # Sent to the student's kernel by the staff's grader: rebuilt there as a stand-in.
        with _torch._C.DisableTorchFunctionSubclass():
            plain = self.detach()
        return (_rebuild_stand_in, (plain, self.requires_grad, bool(getattr(self, "_is_param",
                                                                            False))))

    @staticmethod
    def __dgm_stand_in__():
        """The context a call with stand-in arguments runs in (also in the student's kernel)."""
        return _StandInMode()


def _rebuild_stand_in(plain: _torch.Tensor, requires_grad: bool, is_param: bool) -> StandIn:
    t = plain.as_subclass(StandIn).requires_grad_(requires_grad)
    if is_param:
        t._is_param = True
    return t


def _as_stand_in(value):
    if not isinstance(value, _torch.Tensor) or isinstance(value, StandIn):
        return value
    if value.is_leaf and value.requires_grad:
        return value.detach().as_subclass(StandIn).requires_grad_(True)
    return value.as_subclass(StandIn)


def _as_plain(value):
    return value.as_subclass(_torch.Tensor) if isinstance(value, StandIn) else value


def _names_other_device(value) -> bool:
    if isinstance(value, _torch.device):
        return value.type == OTHER_DEVICE.type
    return isinstance(value, str) and value.split(":")[0] == OTHER_DEVICE.type


def _to_cpu_if_other(value):
    return _torch.device("cpu") if _names_other_device(value) else value


def _meta_shadow(value):
    if isinstance(value, StandIn):
        return _torch.empty_strided(value.size(), value.stride(), dtype=value.dtype,
                                    device=OTHER_DEVICE)
    return value


_TO_NUMPY = {_torch.Tensor.numpy, _torch.Tensor.__array__}
_AUTOGRAD = {_torch.autograd.grad, _torch.autograd.backward, _torch.Tensor.backward}
#: Getters whose result PyTorch leaves a plain tensor even for a subclass (``p.grad``).
_UNWRAPPED = {_torch.Tensor.grad.__get__, _torch.Tensor._grad.__get__,
              _torch.Tensor._base.__get__}


def _target_device(func, args, kwargs):
    """The device ``x.to(...)`` / ``x.cpu()`` moves to, or None."""
    if func is _torch.Tensor.cpu:
        return _torch.device("cpu")
    if func is _torch.Tensor.to:
        for a in (*args[1:], kwargs.get("device")):
            if isinstance(a, (str, _torch.device)):
                return _torch.device(a)
    return None


class _StandInMode(_torch.overrides.TorchFunctionMode):
    """Runs a function on :class:`StandIn` tensors as if they were on another device."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        from torch.utils import _pytree

        kwargs = kwargs or {}
        leaves = _pytree.tree_leaves((args, kwargs))
        stand_ins = [a for a in leaves if isinstance(a, StandIn)]
        # Created on, or moved to, the other device: made on the CPU, returned as stand-ins.
        devices = [a for a in leaves if isinstance(a, _torch.device)] + [kwargs.get("device")]
        if func is _torch.Tensor.to:
            devices += [a for a in args[1:] if isinstance(a, str)]
        if any(_names_other_device(a) for a in devices):
            args, kwargs = _pytree.tree_map(_to_cpu_if_other, (args, kwargs))
            return _pytree.tree_map(_as_stand_in, func(*args, **kwargs))
        if not stand_ins:
            return func(*args, **kwargs)
        plain = [a for a in leaves if isinstance(a, _torch.Tensor) and not isinstance(a, StandIn)]
        if func in _TO_NUMPY:
            raise TypeError(f"can't convert {OTHER_DEVICE.type} device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        if func in _AUTOGRAD:
            # A gradient given for an output on another device must be there too (or 0-dim).
            if any(t.dim() > 0 for t in plain):
                raise RuntimeError(f"invalid gradient - expected device {OTHER_DEVICE.type} "
                                   "but got cpu")
        elif plain:
            # Decide as a GPU would: the same operation on meta tensors.
            shadow_args, shadow_kwargs = _pytree.tree_map(_meta_shadow, (args, kwargs))
            try:
                func(*shadow_args, **shadow_kwargs)
            except Exception as e:  # noqa: BLE001 - only a device error is the student's
                if mixes_devices(e):
                    raise RuntimeError(str(e)) from None
        out = func(*args, **kwargs)
        target = _target_device(func, args, kwargs)
        if target is not None and target.type == "cpu":
            return _pytree.tree_map(_as_plain, out)
        if func in _UNWRAPPED or (func is _torch.tensor and isinstance(args[0], StandIn)):
            return _as_stand_in(out)      # torch.tensor(x) copies x on x's device
        return out


def _moved(value, to_meta: bool, seen: dict):
    """``value`` with its tensors (and the networks' parameters and buffers) on the meta device
    (``to_meta``) or as stand-ins; networks are copied, never changed."""
    import copy

    if isinstance(value, _torch.Tensor):
        if to_meta:
            return value.detach().to(OTHER_DEVICE).requires_grad_(value.requires_grad)
        return _rebuild_stand_in(value.detach().clone(), value.requires_grad, False)
    if isinstance(value, _torch.nn.Module):
        if id(value) not in seen:
            net = copy.deepcopy(value)
            if to_meta:
                net.to(OTHER_DEVICE)
            else:
                for m in net.modules():
                    for k, p in list(m._parameters.items()):
                        if p is not None:
                            m._parameters[k] = _torch.nn.Parameter(
                                _rebuild_stand_in(p.detach().clone(), False, False),
                                requires_grad=p.requires_grad)
                    for k, b in list(m._buffers.items()):
                        if b is not None:
                            m._buffers[k] = _rebuild_stand_in(b.detach().clone(), False, False)
            seen[id(value)] = net
        return seen[id(value)]
    if isinstance(value, (list, tuple)):
        return type(value)(_moved(v, to_meta, seen) for v in value)
    return value


def _off_device(value) -> list[_torch.Tensor]:
    """The tensors of a result that are not on the other device."""
    if isinstance(value, _torch.Tensor):
        return [] if value.device.type == OTHER_DEVICE.type else [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _off_device(v)]
    return []


def _runs_here(fn) -> bool:
    """Whether ``fn`` runs in this process (a function or method, not the staff grader's handle
    of code in the student's kernel, where the kernel enters the stand-in's mode itself)."""
    return REMOTE is None or isinstance(fn, (types.FunctionType, types.MethodType))


def on_another_device(what: str, fn: Callable, *args, hint: str, meta: bool = True,
                      returns: bool = True):
    """Call ``fn(*args)`` with the tensors and networks of ``args`` on another device than the
    CPU (see the comment above): on meta tensors first (``meta=False`` skips them), on the
    stand-in where meta tensors cannot run it. Fails, with ``hint`` on how to fix it, when the
    function mixes devices or (``returns``) returns a tensor on the CPU; other errors are left
    to the checks that run on the CPU. Returns the result (no values on meta tensors)."""
    problem = ("creates a tensor on the CPU: with its inputs on another device (a GPU) it "
               "fails")
    hint = f"{hint}. {GLOBAL_DEVICE}"
    if meta:
        try:
            out = call(what, fn, *_moved(args, True, {}))
        except CheckFailed as e:
            if mixes_devices(e):
                raise CheckFailed(what, f"{problem} ({_device_error(e)})", hint) from None
        else:
            return _check_result(what, out, hint, returns)
    try:
        moved = _moved(args, False, {})
        if _runs_here(fn):
            with _StandInMode():
                out = call(what, fn, *moved)
        else:
            out = call(what, fn, *moved)
    except CheckFailed as e:
        if mixes_devices(e):
            raise CheckFailed(what, f"{problem} ({_device_error(e)})", hint) from None
        return None          # it cannot run here at all: the CPU checks say why
    return _check_result(what, out, hint, returns)


def _device_error(error: CheckFailed) -> str:
    text = error.problem
    if text.startswith("raised "):
        text = text[len("raised "):].rsplit(" (called with ", 1)[0]
    return text


def _check_result(what, out, hint, returns):
    if returns and _off_device(out):
        raise CheckFailed(what, "returns a tensor on the CPU when its inputs are on another "
                                "device (a GPU)", hint)
    return out
